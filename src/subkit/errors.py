"""Every refusal subkit makes, as one tree rooted at :class:`SubkitError` (R-ERR).

Each class has a stable ``code`` (a host maps it to a message key), an ``http_status`` (what a
JSON API answers with) and typed facts: the keyword arguments its ``__init__`` declares, kept
as attributes and returned together by :attr:`SubkitError.facts`. Bad input never changes
stored state. A host can catch a whole branch (``except Conflict``); the builtin mix-ins
(``ValueError``, ``LookupError``, ``TypeError``, ``ImportError``) stay so that existing
``except ValueError`` callers keep working.

    SubkitError                       400  the generic refusal
    ├── InvalidInput                  422  the request itself is wrong
    │   ├── InvalidArgument (ValueError)      argument, value
    │   │   └── InvalidCursor                 a history cursor subkit did not hand out
    │   ├── InvalidAmount (ValueError)        amount?
    │   ├── InvalidQuantity (ValueError)      addon?, quantity?, maximum?
    │   ├── NaiveDatetime (ValueError)        argument?
    │   ├── TopUpOutOfRange (ValueError)      minimum, maximum
    │   ├── UnknownPlan (LookupError)         plan
    │   ├── UnknownAddOn (LookupError)        addon
    │   ├── IntervalNotOffered                plan, interval
    │   └── CurrencyMismatch (TypeError)      expected, received
    ├── NotFound                      404
    │   ├── AccountNotFound (LookupError)     account_id
    │   ├── InvoiceNotFound (LookupError)     invoice_code, account_id?
    │   └── HoldNotFound (LookupError)        hold_id, account_id
    ├── Conflict                      409  valid, but the account's state refuses it
    │   ├── AccountExists                     account_id
    │   ├── IdempotencyConflict               key, scope, account_id
    │   ├── ConcurrencyConflict               account_id?, invoice_code?
    │   ├── AlreadyPaidAhead                  paid_through
    │   ├── ChangeAlreadyPaid                 plan
    │   ├── ChangeScheduled
    │   ├── SamePlan                          plan
    │   ├── NotRenewable
    │   ├── NothingToCancel
    │   ├── NotCancelling
    │   ├── AddOnNotHeld                      addon, active
    │   ├── AddOnNotAvailable                 addon, plan
    │   ├── PaymentAmountMismatch             expected, received, invoice_code?
    │   ├── InvalidTime (ValueError)          now?, as_of?
    │   ├── BillingProfileRequired            account_id
    │   └── InvalidTransition                 invoice_code, current, target
    ├── InsufficientBalance           402  shortfall, balance, required, available
    ├── LimitExceeded                 403  limit, resource, wanted
    ├── InvalidSignature              401  a gateway notification failed its check (R-GW)
    ├── GatewayError                  503  status?, detail
    ├── StoreError                    503  invoice_code?
    ├── CatalogueError (ValueError)   500  problems
    └── MissingExtra (ImportError)    500  extra

A fact marked ``?`` may be ``None`` (the raise site does not always know it).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from datetime import datetime

    from subkit.kinds import Balance, Interval, InvoiceStatus
    from subkit.money import Money


_FACT_NAMES: dict[type[SubkitError], tuple[str, ...]] = {}


def _fact_names(cls: type[SubkitError]) -> tuple[str, ...]:
    if cls not in _FACT_NAMES:
        parameters = inspect.signature(cls.__init__).parameters
        _FACT_NAMES[cls] = tuple(name for name in parameters if name not in ("self", "message"))
    return _FACT_NAMES[cls]


def _restore(cls: type[SubkitError], args: tuple[Any, ...]) -> SubkitError:
    # Unpickling without calling __init__ (its facts are keyword-only); the state follows.
    error = cls.__new__(cls)
    error.args = args
    return error


class SubkitError(Exception):
    """The root of every error subkit raises on purpose."""

    code: ClassVar[str] = "subkit_error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (worker pools, multi-process tests) intact.
        return (_restore, (type(self), self.args), self.__dict__)

    @classmethod
    def fact_names(cls) -> tuple[str, ...]:
        """The facts this class declares: its ``__init__``'s arguments after the message."""
        return _fact_names(cls)

    @property
    def facts(self) -> dict[str, Any]:
        """The declared facts and their values (``subkit.serialize.to_dict`` makes them JSON)."""
        return {name: getattr(self, name) for name in self.fact_names()}


# --- 422: the request itself is wrong -------------------------------------------------------


class InvalidInput(SubkitError):
    """The request is malformed or names something the catalogue does not have."""

    code = "invalid_input"
    http_status = 422


class InvalidArgument(InvalidInput, ValueError):
    """An argument outside the values subkit accepts (R-LIM-2/3), named by ``argument``."""

    code = "invalid_argument"

    def __init__(self, message: str, *, argument: str, value: object) -> None:
        super().__init__(message)
        self.argument = argument
        self.value = value


class InvalidCursor(InvalidArgument):
    """A history cursor that subkit did not hand out.

    An :class:`InvalidArgument` (R-LIM-4 says a malformed or foreign cursor is one), so a
    host catching ``InvalidArgument`` catches it too; the own code says which argument failed.
    """

    code = "invalid_cursor"

    def __init__(self, message: str, *, argument: str = "cursor", value: object = None) -> None:
        super().__init__(message, argument=argument, value=value)


class InvalidAmount(InvalidInput, ValueError):
    """A money amount that is not positive, zero where it must not be, or out of bounds."""

    code = "invalid_amount"

    def __init__(self, message: str, *, amount: Money | None = None) -> None:
        super().__init__(message)
        self.amount = amount


class InvalidQuantity(InvalidInput, ValueError):
    """A count or add-on quantity that is not an int in its range (R-LIM-1, R-ADD-1)."""

    code = "invalid_quantity"

    def __init__(
        self,
        message: str,
        *,
        addon: str | None = None,
        quantity: int | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(message)
        self.addon = addon
        self.quantity = quantity
        self.maximum = maximum


class NaiveDatetime(InvalidInput, ValueError):
    """A datetime without a timezone; ``argument`` names it."""

    code = "naive_datetime"

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class TopUpOutOfRange(InvalidInput, ValueError):
    """A top-up below the balance's minimum or above its maximum (R-TOP)."""

    code = "top_up_out_of_range"

    def __init__(self, message: str, *, minimum: Money, maximum: Money) -> None:
        super().__init__(message)
        self.minimum = minimum
        self.maximum = maximum


class UnknownPlan(InvalidInput, LookupError):
    code = "unknown_plan"

    def __init__(self, message: str, *, plan: str) -> None:
        super().__init__(message)
        self.plan = plan


class UnknownAddOn(InvalidInput, LookupError):
    code = "unknown_addon"

    def __init__(self, message: str, *, addon: str) -> None:
        super().__init__(message)
        self.addon = addon


class IntervalNotOffered(InvalidInput):
    code = "interval_not_offered"

    def __init__(self, message: str, *, plan: str, interval: Interval) -> None:
        super().__init__(message)
        self.plan = plan
        self.interval = interval


class CurrencyMismatch(InvalidInput, TypeError):
    """Money in another currency than expected; the facts are currency codes."""

    code = "currency_mismatch"

    def __init__(self, message: str, *, expected: str, received: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.received = received


# --- 404 ------------------------------------------------------------------------------------


class NotFound(SubkitError):
    """The account or invoice named does not exist."""

    code = "not_found"
    http_status = 404


class AccountNotFound(NotFound, LookupError):
    code = "account_not_found"

    def __init__(self, message: str, *, account_id: str) -> None:
        super().__init__(message)
        self.account_id = account_id


class InvoiceNotFound(NotFound, LookupError):
    code = "invoice_not_found"

    def __init__(self, message: str, *, invoice_code: str, account_id: str | None = None) -> None:
        super().__init__(message)
        self.invoice_code = invoice_code
        self.account_id = account_id


class HoldNotFound(NotFound, LookupError):
    """No open broadcast hold with this id: never made, or settled, released or expired."""

    code = "hold_not_found"

    def __init__(self, message: str, *, hold_id: str, account_id: str) -> None:
        super().__init__(message)
        self.hold_id = hold_id
        self.account_id = account_id


# --- 409: the request is valid but the account's state refuses it ---------------------------


class Conflict(SubkitError):
    """The request is valid, but the state of the account (or invoice) refuses it now."""

    code = "conflict"
    http_status = 409


class AccountExists(Conflict):
    code = "account_exists"

    def __init__(self, message: str, *, account_id: str) -> None:
        super().__init__(message)
        self.account_id = account_id


class IdempotencyConflict(Conflict):
    """An idempotency key used again with other arguments (R-IDEM)."""

    code = "idempotency_conflict"

    def __init__(self, message: str, *, key: str, scope: str, account_id: str) -> None:
        super().__init__(message)
        self.key = key
        self.scope = scope
        self.account_id = account_id


class ConcurrencyConflict(Conflict):
    """Another writer changed the account or invoice meanwhile, after the facade's retries."""

    code = "concurrency_conflict"

    def __init__(
        self, message: str, *, account_id: str | None = None, invoice_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.invoice_code = invoice_code


class AlreadyPaidAhead(Conflict):
    code = "already_paid_ahead"

    def __init__(self, message: str, *, paid_through: datetime) -> None:
        super().__init__(message)
        self.paid_through = paid_through


class ChangeAlreadyPaid(Conflict):
    code = "change_already_paid"

    def __init__(self, message: str, *, plan: str) -> None:
        super().__init__(message)
        self.plan = plan


class ChangeScheduled(Conflict):
    code = "change_scheduled"


class SamePlan(Conflict):
    code = "same_plan"

    def __init__(self, message: str, *, plan: str) -> None:
        super().__init__(message)
        self.plan = plan


class NotRenewable(Conflict):
    code = "not_renewable"


class NothingToCancel(Conflict):
    code = "nothing_to_cancel"


class NotCancelling(Conflict):
    code = "not_cancelling"


class AddOnNotHeld(Conflict):
    """Stopping more of an add-on than is active (``active`` is what could be stopped), or
    resuming more than is stopping (``stopping`` is what could be resumed)."""

    code = "addon_not_held"

    def __init__(
        self, message: str, *, addon: str, active: int, stopping: int | None = None
    ) -> None:
        super().__init__(message)
        self.addon = addon
        self.active = active
        self.stopping = stopping


class AddOnNotAvailable(Conflict):
    """An add-on the account's plan (or the plan already bought next) does not sell."""

    code = "addon_not_available"

    def __init__(self, message: str, *, addon: str, plan: str) -> None:
        super().__init__(message)
        self.addon = addon
        self.plan = plan


class PaymentAmountMismatch(Conflict):
    """A gateway paid another amount than the invoice's total; nothing is applied."""

    code = "payment_amount_mismatch"

    def __init__(
        self,
        message: str,
        *,
        expected: Money,
        received: Money,
        invoice_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.received = received
        self.invoice_code = invoice_code


class InvalidTime(Conflict, ValueError):
    """A time the account's history refuses: a clock behind the account's last change, a
    period or grant ending before it starts, an unknown timezone."""

    code = "invalid_time"

    def __init__(
        self, message: str, *, now: datetime | None = None, as_of: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.now = now
        self.as_of = as_of


class BillingProfileRequired(Conflict):
    code = "billing_profile_required"

    def __init__(self, message: str, *, account_id: str) -> None:
        super().__init__(message)
        self.account_id = account_id


class InvalidTransition(Conflict):
    """An invoice status move R-INV-3 forbids.

    A :class:`Conflict`: the move is well formed, but the invoice's current status refuses
    it (paying a void invoice), the same kind of refusal as the account-state ones.
    """

    code = "invalid_transition"

    def __init__(
        self, message: str, *, invoice_code: str, current: InvoiceStatus, target: InvoiceStatus
    ) -> None:
        super().__init__(message)
        self.invoice_code = invoice_code
        self.current = current
        self.target = target


# --- the others, each with its own status ---------------------------------------------------


class InsufficientBalance(SubkitError):
    """A charge the balance (with its overdraft allowance) cannot cover: 402 Payment Required.

    ``required`` is the charge, ``available`` what the balance could give, ``shortfall`` the
    difference (what to top up).
    """

    code = "insufficient_balance"
    http_status = 402

    def __init__(
        self,
        message: str,
        *,
        shortfall: Money,
        balance: Balance,
        required: Money,
        available: Money,
    ) -> None:
        super().__init__(message)
        self.shortfall = shortfall
        self.balance = balance
        self.required = required
        self.available = available


class LimitExceeded(SubkitError):
    """More users or contacts than the plan and add-ons allow: 403 Forbidden."""

    code = "limit_exceeded"
    http_status = 403

    def __init__(self, message: str, *, limit: int, resource: str, wanted: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.resource = resource
        self.wanted = wanted


class InvalidSignature(SubkitError):
    """A gateway notification whose signature or callback token does not check (R-GW-1/2).

    401: the caller did not prove it is the gateway. Nothing from such a notification is
    applied. The message never holds a key or token.
    """

    code = "invalid_signature"
    http_status = 401


class GatewayError(SubkitError):
    """A payment gateway refused or failed a call; ``status`` is its HTTP status (or None
    when it could not be reached) and ``detail`` its own message, secrets removed.

    503 Service Unavailable: the host's request was fine and is worth sending again (with
    the same idempotency key) once the gateway answers. Not 502: R-WEB-2 lets the HTTP API
    answer no 5xx but 503, the status of a dependency that is down.
    """

    code = "gateway_error"
    http_status = 503

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class StoreError(SubkitError):
    """A store that cannot be opened or used (503: try again or page the operator)."""

    code = "store_error"
    http_status = 503

    def __init__(self, message: str, *, invoice_code: str | None = None) -> None:
        super().__init__(message)
        self.invoice_code = invoice_code


class CatalogueError(SubkitError, ValueError):
    """A catalogue failed validation; ``problems`` lists every one with its key path.

    500: a host's configuration error, not the end user's request.
    """

    code = "catalogue_invalid"
    http_status = 500

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid catalogue:\n  " + "\n  ".join(self.problems))


class MissingExtra(SubkitError, ImportError):
    """An optional dependency is not installed; ``extra`` names the extra to install.

    500, like :class:`CatalogueError`: the host's installation, not the request, is wrong.
    """

    code = "missing_extra"
    http_status = 500

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


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
    "Conflict",
    "CurrencyMismatch",
    "GatewayError",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientBalance",
    "IntervalNotOffered",
    "InvalidAmount",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidInput",
    "InvalidQuantity",
    "InvalidSignature",
    "InvalidTime",
    "InvalidTransition",
    "InvoiceNotFound",
    "LimitExceeded",
    "MissingExtra",
    "NaiveDatetime",
    "NotCancelling",
    "NotFound",
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
