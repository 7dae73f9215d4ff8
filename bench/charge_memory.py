"""Reply charges in memory: ``Billing.charge_replies`` on ``InMemoryStore`` against bare Python.

The baseline is the least the same work needs in a process: a dict of balances, a list
ledger of tuples and a dict of idempotency keys, checked before charging. Rounds alternate
which side runs first and the ratio is taken per round.
"""

from __future__ import annotations

from collections.abc import Callable

from bench._common import START, Section, rate, rate_for

ACCOUNTS = 100
REPLY_RATE = 30


class BareCharger:
    """A reply charge with nothing but built-in containers."""

    def __init__(self) -> None:
        self.balances: dict[str, int] = {}
        self.seqs: dict[str, int] = {}
        self.ledger: list[tuple[str, int, object, str, str, int, int, int, str]] = []
        self.keys: dict[tuple[str, str, str], tuple[int, int]] = {}

    def open(self, account_id: str, balance: int) -> None:
        self.balances[account_id] = balance
        self.seqs[account_id] = 1

    def charge(self, account_id: str, key: str, count: int = 1) -> tuple[int, int]:
        token = (account_id, "reply", key)
        earlier = self.keys.get(token)
        if earlier is not None:
            return earlier
        amount = REPLY_RATE * count
        balance = self.balances[account_id]
        if balance < amount:
            raise ValueError(f"{account_id} is short of {amount}")
        after = balance - amount
        seq = self.seqs[account_id]
        self.balances[account_id] = after
        self.seqs[account_id] = seq + 1
        self.ledger.append(
            (account_id, seq, START, "conversation", "reply", count, -amount, after, key)
        )
        result = self.keys[token] = (amount, after)
        return result


def run(*, rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.testing import FakeGateway, FixedClock, InMemoryStore

    section = Section("Reply charge, in memory")
    billing = Billing(Catalogue.default(), InMemoryStore(), FakeGateway(), FixedClock(START))
    ids = [f"acc-{i:04d}" for i in range(ACCOUNTS)]
    for account_id in ids:
        billing.open_account(account_id)
        billing.adjust_balance(account_id, "conversation", 1_000_000, key="top-up", reason="bench")

    def charge_subkit(prefix: str) -> Callable[[int], None]:
        def work(i: int) -> None:
            billing.charge_replies(ids[i % ACCOUNTS], key=f"{prefix}-{i}")

        return work

    def charge_bare(bare: BareCharger, prefix: str) -> Callable[[int], None]:
        def work(i: int) -> None:
            bare.charge(ids[i % ACCOUNTS], f"{prefix}-{i}")

        return work

    rate(charge_subkit("warm"), ACCOUNTS)
    ours, base, ratios = [], [], []
    charged = ACCOUNTS
    for r in range(rounds):
        # A fresh baseline each round: it runs ~50 times more charges than subkit, and
        # keeping them all would measure the memory allocator rather than the charge.
        bare = BareCharger()
        for account_id in ids:
            bare.open(account_id, 10**12)
        sides = [("subkit", charge_subkit(f"r{r}")), ("bare", charge_bare(bare, f"r{r}"))]
        if r % 2:
            sides.reverse()
        got = {}
        for name, work in sides:
            got[name], count = rate_for(work, seconds, batch=ACCOUNTS)
            if name == "subkit":
                charged += count
            elif bare.balances[ids[0]] != 10**12 - REPLY_RATE * count // ACCOUNTS:
                raise RuntimeError("the baseline's balance is not what was charged")
        ours.append(got["subkit"])
        base.append(got["bare"])
        ratios.append(got["subkit"] / got["bare"])
    if billing.balances(ids[0]).conversation.amount != 1_015_000 - REPLY_RATE * charged // ACCOUNTS:
        raise RuntimeError("subkit's balance after the run is not what was charged")
    section.add("subkit charge_replies (InMemoryStore)", ours, "charges/s")
    section.add("bare Python baseline", base, "charges/s")
    # Informational since issue 20: it measures the test fake, not a store a host runs.
    section.add("ratio subkit / baseline (info)", ratios, "x")
    section.notes.append(
        f"{rounds} rounds of {seconds} s per side over {ACCOUNTS} accounts; ratio taken per round."
    )
    return section
