"""The read side of the facade: one snapshot, with what is due applied in memory (R-CON-2).

A read never writes, so it never takes the write lock and never waits for a writer: it opens
``Store.snapshot()``, loads the account and applies what is due up to the call's time with
the very catch-up a write would save (:func:`subkit.account.catch_up`, then :func:`settled`
for the account and :func:`voided` for the invoices it expires or cancels; the write path
saves through the same two functions). What the snapshot's rows do not show yet, the
catch-up's ledger entries and the invoices it ends, is laid over the pages read from the
store, so a read returns what the same read returns once the next write or billing run has
saved that catch-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from subkit import paging
from subkit.account import Account, CatchUp
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType, move
from subkit.paging import Page, instant_us
from subkit.wallet import Balance, EntryKind, LedgerEntry

if TYPE_CHECKING:
    from subkit.ports import ReadUnit

#: Invoices read at a time when a status filter has to be applied in memory.
WALK_PAGE = 500


def settled(before: Account, caught: CatchUp, until: datetime) -> Account:
    """The account a unit of work saves after ``caught``: one version on, and as of ``until``
    unless its last change is later."""
    as_of = until if before.as_of is None else max(before.as_of, until)
    return attrs.evolve(caught.account, version=before.version + 1, as_of=as_of)


def voided(invoice: Invoice | None, status: InvoiceStatus, at: datetime) -> Invoice | None:
    """A pending invoice expired or cancelled at ``at``, as saved; ``None`` when there is
    nothing to change (no such invoice, or it is no longer pending)."""
    if invoice is None or invoice.status is not InvoiceStatus.PENDING:
        return None
    return move(invoice, status, at, version=invoice.version + 1)


def _key(entry: LedgerEntry) -> tuple[int, int]:
    # A cursor's position (subkit.paging): the instant in microseconds, then the order.
    return instant_us(entry.at), entry.seq


@attrs.frozen
class Seen:
    """One snapshot of an account, as the next write would save it at ``now``.

    ``account`` is the account after the catch-up; ``entries`` the ledger entries the
    catch-up adds; ``ended`` the invoices it expires or cancels, by code, as saved.
    """

    view: ReadUnit
    account: Account
    now: datetime
    entries: tuple[LedgerEntry, ...] = ()
    ended: Mapping[str, Invoice] = attrs.field(factory=dict)

    @classmethod
    def of(cls, view: ReadUnit, before: Account, caught: CatchUp, now: datetime) -> Seen:
        """What ``view`` shows of ``before``, with ``caught`` (due up to ``now``) applied."""
        if caught.account is before:
            return cls(view, before, now)
        ended: dict[str, Invoice] = {}
        # In the order the write path voids them: expiries, then cancellations.
        for status, items in (
            (InvoiceStatus.EXPIRED, caught.expired_invoices),
            (InvoiceStatus.CANCELLED, caught.cancelled_invoices),
        ):
            for code, at in items:
                changed = voided(ended.get(code) or view.get_invoice(code), status, at)
                if changed is not None:
                    ended[code] = changed
        return cls(view, settled(before, caught, now), now, caught.entries, ended)

    def invoice(self, code: str) -> Invoice | None:
        return self.ended.get(code) or self.view.get_invoice(code)

    def ledger_page(
        self,
        *,
        balance: Balance | None,
        kind: EntryKind | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[LedgerEntry]:
        """The store's ledger page merged with the catch-up's entries (R-BAL-7 order)."""
        stored = self.view.ledger_page(
            self.account.account_id,
            balance=balance,
            kind=kind,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        if not self.entries:
            return stored
        query = paging.ledger_query(
            self.account.account_id, balance=balance, kind=kind, since=since, until=until
        )
        position = query.position(cursor, 2)
        mine = [
            entry
            for entry in self.entries
            if (position is None or _key(entry) < position)
            and (balance is None or entry.balance == balance)
            and (kind is None or entry.kind == kind)
            and (since is None or entry.at >= since)
            and (until is None or entry.at < until)
        ]
        # The newest ``limit`` of both lists are among the newest ``limit`` of each.
        merged = sorted([*mine, *stored.items], key=_key, reverse=True)
        page = merged[:limit]
        more = len(merged) > limit or stored.next_cursor is not None
        next_cursor = query.encode(*_key(page[-1])) if more and page else None
        return Page(tuple(page), next_cursor)

    def invoice_page(
        self,
        *,
        type: InvoiceType | None,
        status: InvoiceStatus | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Invoice]:
        """The store's invoice page with the invoices the catch-up ends shown as ended.

        Ending an invoice moves it from the ``pending`` list to the ``expired`` or
        ``cancelled`` one without moving it in the order. With no status filter, or one no
        ended invoice enters or leaves, the stored page is right once the ended ones are
        replaced. Otherwise the filter is applied in memory over the unfiltered list, and
        the page's cursor is the store's own (from the unfiltered list, cut after the page's
        last invoice): a rare read, between an invoice falling due and the next write.
        """
        account_id = self.account.account_id
        affected = {InvoiceStatus.PENDING, *(i.status for i in self.ended.values())}
        if status is None or not self.ended or status not in affected:
            stored = self.view.invoice_page(
                account_id,
                type=type,
                status=status,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
            items = tuple(self.ended.get(invoice.code, invoice) for invoice in stored.items)
            return Page(items, stored.next_cursor)
        # The walk reads the unfiltered list: a cursor of this (filtered) query says where in
        # it to start, and the page's cursor is cut from it and bound to this query again.
        filtered, unfiltered = (
            paging.invoice_query(account_id, type=type, status=wanted, since=since, until=until)
            for wanted in (status, None)
        )
        start = filtered.position(cursor, 2)
        cursor = None if start is None else unfiltered.encode(*start)
        kept: list[tuple[int, Invoice]] = []  # (place in the unfiltered list, invoice)
        walked, at = 0, cursor
        while len(kept) <= limit:
            page = self.view.invoice_page(
                account_id,
                type=type,
                status=None,
                since=since,
                until=until,
                limit=WALK_PAGE,
                cursor=at,
            )
            for invoice in page.items:
                walked += 1
                shown = self.ended.get(invoice.code, invoice)
                if shown.status is status:
                    kept.append((walked, shown))
            if page.next_cursor is None:
                break
            at = page.next_cursor
        if len(kept) <= limit:
            return Page(tuple(invoice for _, invoice in kept), None)
        last = kept[limit - 1][0]
        cut = self.view.invoice_page(
            account_id,
            type=type,
            status=None,
            since=since,
            until=until,
            limit=last,
            cursor=cursor,
        )
        rebound = None
        if cut.next_cursor is not None:
            rebound = filtered.encode(*unfiltered.decode(cut.next_cursor, 2))
        return Page(tuple(invoice for _, invoice in kept[:limit]), rebound)


__all__ = ["WALK_PAGE", "Seen", "settled", "voided"]
