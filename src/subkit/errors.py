"""Every refusal subkit makes, as one tree rooted at :class:`SubkitError`.

Each class has a stable ``code`` (a host maps it to an HTTP status or a message key) and keeps
the facts a host needs as attributes. Bad input never changes stored state.

    SubkitError
    ├── CatalogueError (ValueError)          problems: list of "key.path: message"
    ├── CurrencyMismatch (TypeError)
    ├── NaiveDatetime (ValueError)
    ├── InvalidTime (ValueError)
    ├── InvalidArgument (ValueError)          argument, value
    ├── InvalidAmount (ValueError)
    ├── InvalidQuantity (ValueError)
    ├── UnknownPlan (LookupError)
    ├── UnknownAddOn (LookupError)
    ├── AddOnNotAvailable
    ├── AddOnNotHeld
    ├── AccountNotFound (LookupError)
    ├── AccountExists
    ├── InvoiceNotFound (LookupError)
    ├── BillingProfileRequired
    ├── TopUpOutOfRange (ValueError)         minimum, maximum
    ├── InsufficientBalance                  shortfall
    ├── IdempotencyConflict
    ├── PaymentAmountMismatch                expected, received
    ├── LimitExceeded                        limit
    ├── AlreadyPaidAhead
    ├── ChangeAlreadyPaid
    ├── ChangeScheduled
    ├── SamePlan
    ├── IntervalNotOffered
    ├── NotRenewable
    ├── NotCancelling
    ├── NothingToCancel
    ├── InvalidTransition                    an invoice status move R-INV-3 forbids
    ├── InvalidCursor (ValueError)           a history cursor subkit did not hand out
    ├── MissingExtra (ImportError)           an optional extra (subkit[pdf]) is not installed
    ├── InvalidSignature                     a gateway notification failed its check (R-GW)
    ├── GatewayError                         a gateway refused or failed a call: status, detail
    ├── ConcurrencyConflict
    └── StoreError
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from subkit.money import Money


class SubkitError(Exception):
    """The root of every error subkit raises on purpose."""

    code: ClassVar[str] = "subkit_error"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in facts.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return self.message


class CatalogueError(SubkitError, ValueError):
    """A catalogue failed validation; ``problems`` lists every one with its key path."""

    code = "catalogue_invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid catalogue:\n  " + "\n  ".join(self.problems))


class CurrencyMismatch(SubkitError, TypeError):
    code = "currency_mismatch"


class NaiveDatetime(SubkitError, ValueError):
    code = "naive_datetime"


class InvalidTime(SubkitError, ValueError):
    code = "invalid_time"


class InvalidArgument(SubkitError, ValueError):
    """An argument outside the values subkit accepts (an unknown status or kind filter)."""

    code = "invalid_argument"


class InvalidAmount(SubkitError, ValueError):
    code = "invalid_amount"


class InvalidQuantity(SubkitError, ValueError):
    code = "invalid_quantity"


class UnknownPlan(SubkitError, LookupError):
    code = "unknown_plan"


class UnknownAddOn(SubkitError, LookupError):
    code = "unknown_addon"


class AddOnNotAvailable(SubkitError):
    code = "addon_not_available"


class AddOnNotHeld(SubkitError):
    code = "addon_not_held"


class AccountNotFound(SubkitError, LookupError):
    code = "account_not_found"


class AccountExists(SubkitError):
    code = "account_exists"


class InvoiceNotFound(SubkitError, LookupError):
    code = "invoice_not_found"


class BillingProfileRequired(SubkitError):
    code = "billing_profile_required"


class TopUpOutOfRange(SubkitError, ValueError):
    code = "top_up_out_of_range"
    minimum: Money
    maximum: Money


class InsufficientBalance(SubkitError):
    code = "insufficient_balance"
    shortfall: Money


class IdempotencyConflict(SubkitError):
    code = "idempotency_conflict"


class PaymentAmountMismatch(SubkitError):
    code = "payment_amount_mismatch"
    expected: Money
    received: Money


class LimitExceeded(SubkitError):
    code = "limit_exceeded"
    limit: int


class AlreadyPaidAhead(SubkitError):
    code = "already_paid_ahead"


class ChangeAlreadyPaid(SubkitError):
    code = "change_already_paid"


class ChangeScheduled(SubkitError):
    code = "change_scheduled"


class SamePlan(SubkitError):
    code = "same_plan"


class IntervalNotOffered(SubkitError):
    code = "interval_not_offered"


class NotRenewable(SubkitError):
    code = "not_renewable"


class NotCancelling(SubkitError):
    code = "not_cancelling"


class NothingToCancel(SubkitError):
    code = "nothing_to_cancel"


class InvalidTransition(SubkitError):
    code = "invalid_transition"


class InvalidCursor(SubkitError, ValueError):
    """A history cursor that subkit did not hand out."""

    code = "invalid_cursor"


class MissingExtra(SubkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"


class InvalidSignature(SubkitError):
    """A gateway notification whose signature or callback token does not check (R-GW-1/2).

    Nothing from such a notification is applied. The message never holds a key or token.
    """

    code = "invalid_signature"


class GatewayError(SubkitError):
    """A payment gateway refused or failed a call; ``status`` is its HTTP status (or None
    when it could not be reached) and ``detail`` its own message, secrets removed."""

    code = "gateway_error"


class ConcurrencyConflict(SubkitError):
    code = "concurrency_conflict"


class StoreError(SubkitError):
    code = "store_error"


__all__ = [
    "AccountExists",
    "AccountNotFound",
    "AddOnNotAvailable",
    "AddOnNotHeld",
    "AlreadyPaidAhead",
    "BillingProfileRequired",
    "CatalogueError",
    "ChangeAlreadyPaid",
    "ChangeScheduled",
    "ConcurrencyConflict",
    "CurrencyMismatch",
    "GatewayError",
    "IdempotencyConflict",
    "InsufficientBalance",
    "IntervalNotOffered",
    "InvalidAmount",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidQuantity",
    "InvalidSignature",
    "InvalidTime",
    "InvalidTransition",
    "InvoiceNotFound",
    "LimitExceeded",
    "MissingExtra",
    "NaiveDatetime",
    "NotCancelling",
    "NotRenewable",
    "NothingToCancel",
    "PaymentAmountMismatch",
    "SamePlan",
    "StoreError",
    "SubkitError",
    "TopUpOutOfRange",
    "UnknownAddOn",
    "UnknownPlan",
]
