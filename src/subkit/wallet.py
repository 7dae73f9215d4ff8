"""The Wallet aggregate: two prepaid WhatsApp balances kept as lots, with a ledger (R-BAL).

(Filled in by the wallet issue; the names below are shared with the catalogue.)
"""

from __future__ import annotations

import enum

import attrs

from subkit.money import Money


class Balance(enum.StrEnum):
    """The two prepaid balances of an account."""

    CONVERSATION = "conversation"
    BROADCAST = "broadcast"


@attrs.frozen
class TopUpLimit:
    """The inclusive range a single top-up of one balance must fall in (R-CAT-5)."""

    minimum: Money
    maximum: Money


@attrs.frozen
class WalletRules:
    """What the catalogue decides for wallets: rates, top-up limits, overdraft, expiry."""

    currency: str
    reply_rate: Money
    broadcast_rate: Money
    topup: dict[Balance, TopUpLimit]
    overdraft: dict[Balance, Money]
    included_balance_expires: bool = True
