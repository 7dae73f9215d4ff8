"""Display labels for subkit's enumerations and documents, from gettext catalogues.

A host shows ``label(invoice.type, "id_ID")`` on its invoice list and the renderers take
their field names from :func:`document_labels`. The words live in gettext catalogues:
``subkit/locale/<locale>/LC_MESSAGES/subkit.po``, compiled to ``subkit.mo`` next to it
(``make messages`` extracts, updates and compiles them with Babel). subkit ships ``id_ID``
and ``en``; a host adds a locale (``ms_MY``, ``en_SG``) by shipping its own catalogue in a
directory of the same layout and calling :func:`add_locale_dir`.

Locales are matched as gettext does (``ms_MY``, then ``ms``); ``id-ID``, ``id`` and the
legacy ``in`` find the Indonesian catalogue; a locale without a catalogue gets English.
"""

from __future__ import annotations

import enum
import functools
import gettext
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from types import MappingProxyType

#: The gettext domain of subkit's catalogues (``subkit.po`` / ``subkit.mo``).
DOMAIN = "subkit"
#: Where subkit's own catalogues are installed.
LOCALE_DIR = Path(__file__).parent / "locale"
#: The languages subkit ships catalogues for; the first is the fallback.
LANGUAGES = ("en", "id")

_FALLBACK = "en"
_host_dirs: list[Path] = []


def N_(context: str, message: str) -> tuple[str, str]:
    """Mark ``message`` (in ``context``) for extraction; translated when looked up."""
    return context, message


# One namespace per kind of value. A ``StrEnum`` is matched to the namespace whose keys
# cover all of its values, so this module imports no enumeration and any module may use it.
# The message context is the kind: "Top-up" as a ledger entry and as a lot source may
# translate differently.
_NAMESPACES: dict[str, dict[str, tuple[str, str]]] = {
    "invoice_type": {
        "plan_purchase": N_("invoice_type", "Plan purchase"),
        "renewal": N_("invoice_type", "Renewal"),
        "plan_change": N_("invoice_type", "Plan change"),
        "add_on": N_("invoice_type", "Add-on purchase"),
        "top_up": N_("invoice_type", "Balance top-up"),
    },
    "invoice_status": {
        "pending": N_("invoice_status", "Pending"),
        "paid": N_("invoice_status", "Paid"),
        "failed": N_("invoice_status", "Failed"),
        "expired": N_("invoice_status", "Expired"),
        "cancelled": N_("invoice_status", "Cancelled"),
        "refunded": N_("invoice_status", "Refunded"),
    },
    "balance": {
        "conversation": N_("balance", "Conversation balance"),
        "broadcast": N_("balance", "Broadcast balance"),
    },
    "interval": {
        "monthly": N_("interval", "Monthly"),
        "annual": N_("interval", "Annual"),
    },
    "entry_kind": {
        "grant": N_("entry_kind", "Included balance"),
        "top_up": N_("entry_kind", "Top-up"),
        "reply": N_("entry_kind", "Reply"),
        "broadcast": N_("entry_kind", "Broadcast"),
        "expiry": N_("entry_kind", "Expiry"),
        "adjustment": N_("entry_kind", "Adjustment"),
    },
    "subscription_status": {
        "active": N_("subscription_status", "Active"),
        "past_due": N_("subscription_status", "Past due"),
        "cancelling": N_("subscription_status", "Cancelling"),
    },
    "addon_event": {
        "bought": N_("addon_event", "Bought"),
        "stopped": N_("addon_event", "Stopped"),
        "resumed": N_("addon_event", "Resumed"),
        "ended": N_("addon_event", "Ended"),
    },
    "lot_source": {
        "included": N_("lot_source", "Included in plan"),
        "top_up": N_("lot_source", "Top-up"),
        "adjustment": N_("lot_source", "Adjustment"),
    },
    "direction": {
        "upgrade": N_("direction", "Upgrade"),
        "downgrade": N_("direction", "Downgrade"),
        "interval_switch": N_("direction", "Billing interval change"),
    },
    # What an invoice line for a top-up of each balance is called.
    "top_up_line": {
        "conversation": N_("top_up_line", "Conversation balance top-up"),
        "broadcast": N_("top_up_line", "Broadcast balance top-up"),
    },
}

#: The kinds :func:`label` accepts as ``kind=``, in the order a plain string is looked up.
KINDS = tuple(_NAMESPACES)

_DOCUMENT: dict[str, tuple[str, str]] = {
    "title": N_("document", "Invoice"),
    "seller": N_("document", "From"),
    "buyer": N_("document", "Bill to"),
    "code": N_("document", "Invoice number"),
    "type": N_("document", "Invoice type"),
    "requested_at": N_("document", "Request date"),
    "paid_at": N_("document", "Paid date"),
    "expires_at": N_("document", "Pay before"),
    "payment_link": N_("document", "Pay at"),
    "status": N_("document", "Status"),
    "package": N_("document", "Package"),
    "reference": N_("document", "Payment reference"),
    "description": N_("document", "Description"),
    "period": N_("document", "Period"),
    "quantity": N_("document", "Qty"),
    "unit_price": N_("document", "Unit price"),
    "amount": N_("document", "Amount"),
    "subtotal": N_("document", "Subtotal"),
    "tax": N_("document", "Tax"),
    # ``{base}`` is a fraction such as 11/12: "PPN 12% × 11/12", "Tax 12% on 11/12".
    "tax_base": N_("document", "on {base}"),
    "tax_included": N_("document", "(included)"),
    "total": N_("document", "Total"),
    "email": N_("document", "Email"),
    "address": N_("document", "Address"),
    "tax_number": N_("document", "Tax number"),
    "page": N_("document", "Page {page} of {pages}"),
    "none": N_("document", "–"),
    # An invoice line's words: a plan period, and the credit for a plan's unused time.
    "plan_line": N_("document", "{plan} ({interval})"),
    "credit_line": N_("document", "Unused time on {plan} ({interval})"),
}


# The words of the reference Settings > Subscription page (subkit.web.page). Keys are what
# the templates write (``t.buy_now``); ``{name}`` placeholders are filled by the template.
_PAGE: dict[str, tuple[str, str]] = {
    "settings": N_("page", "Settings"),
    "subscription": N_("page", "Subscription"),
    "language": N_("page", "Language"),
    "usage_overview": N_("page", "Usage Overview"),
    "plan": N_("page", "Plan"),
    "status": N_("page", "Status"),
    "period": N_("page", "Current period"),
    "days_left": N_("page", "{days} days left"),
    "paid_through": N_("page", "Paid through"),
    "users": N_("page", "Users"),
    "contacts": N_("page", "Contacts"),
    "broadcast_quota": N_("page", "Broadcast quota"),
    "conversation": N_("page", "Included conversation balance"),
    "used_of": N_("page", "{used} of {limit}"),
    "addons": N_("page", "Add-ons"),
    "manage": N_("page", "Manage"),
    "scheduled_change": N_("page", "From {date} the plan becomes {plan}."),
    "awaiting_payment": N_("page", "Awaiting payment of invoice {code}."),
    "cancel_change": N_("page", "Cancel this change"),
    "ends_on": N_("page", "Your subscription ends on {date}."),
    "upgrade": N_("page", "Upgrade Subscription"),
    "renew": N_("page", "Renew Subscription"),
    "buy_addon": N_("page", "Buy Add-On"),
    "unsubscribe": N_("page", "Unsubscribe"),
    "resume": N_("page", "Resume subscription"),
    "choose_plan": N_("page", "Choose a plan"),
    "billing_interval": N_("page", "Billing"),
    "current_plan": N_("page", "Current plan"),
    "choose": N_("page", "Choose {plan}"),
    "per_monthly": N_("page", "per month"),
    "per_annual": N_("page", "per year"),
    "order_summary": N_("page", "Order Summary"),
    "more_of": N_("page", "Add one {name}"),
    "less_of": N_("page", "Remove one {name}"),
    "quantity_of": N_("page", "Quantity of {name}"),
    "buy_now": N_("page", "Buy Now"),
    "continue_to_payment": N_("page", "Continue To Payment"),
    "downgrade_notice": N_("page", "This is a downgrade: some features will be reduced."),
    "reduction": N_("page", "{what}: {before} → {after}"),
    "in_use": N_("page", "{count} in use"),
    "dropped": N_("page", "These add-ons end with the change: {names}"),
    "effective": N_("page", "Takes effect on {date}."),
    "nothing_to_pay": N_("page", "Nothing to pay."),
    "add": N_("page", "Add {name}"),
    "adds": N_("page", "+{count} {what} each"),
    "can_buy": N_("page", "Up to {count} more"),
    "unit_price": N_("page", "{price} per unit per period"),
    "none_available": N_("page", "Your plan sells no add-ons. Upgrade to buy them."),
    "manage_addons": N_("page", "Manage Add-Ons"),
    "addon_history": N_("page", "Add-on History"),
    "quantity": N_("page", "Quantity"),
    "held": N_("page", "Held"),
    "stop": N_("page", "Stop {name}"),
    "stopping": N_("page", "{count} stopping on {date}"),
    "resume_addon": N_("page", "Resume {name}"),
    "stop_title": N_("page", "Stop this add-on?"),
    "stop_text": N_("page", "{name} stays until the paid period ends, then it is removed."),
    "yes_stop": N_("page", "Yes, Stop"),
    "cancel": N_("page", "Cancel"),
    "no_addons": N_("page", "No add-ons yet."),
    "whatsapp_balance": N_("page", "WhatsApp Balance"),
    "top_up": N_("page", "Top up"),
    "balance": N_("page", "Balance"),
    "amount": N_("page", "Amount"),
    "limits": N_("page", "Minimum {min}, maximum {max}"),
    "out_of_range": N_("page", "A top-up must be between {min} and {max}."),
    "usage_history": N_("page", "Usage History"),
    "topup_history": N_("page", "Top-up History"),
    "date": N_("page", "Date"),
    "kind": N_("page", "Type"),
    "count": N_("page", "Messages"),
    "balance_after": N_("page", "Balance after"),
    "more": N_("page", "More"),
    "nothing_yet": N_("page", "Nothing yet."),
    "invoices": N_("page", "Invoices"),
    "invoice_code": N_("page", "Invoice Code"),
    "invoice_type": N_("page", "Invoice Type"),
    "request_date": N_("page", "Request Date"),
    "package": N_("page", "Package"),
    "invoice_more": N_("page", "More"),
    "details": N_("page", "Details of {code}"),
    "download_pdf": N_("page", "Download PDF"),
    "pay_invoice": N_("page", "Pay {code}"),
    "cancel_invoice": N_("page", "Cancel {code}"),
    "renew_title": N_("page", "Renew your subscription?"),
    "renew_text": N_("page", "{plan} for one more period, until {date}: {total}."),
    "unsubscribe_title": N_("page", "Unsubscribe?"),
    "unsubscribe_text": N_("page", "Your plan stays until {date}, then moves to {plan}."),
    "yes_unsubscribe": N_("page", "Yes, Unsubscribe"),
    "invoice_banner": N_("page", "Invoice {code}: {status}"),
    "failed": N_("page", "The request was refused: {detail}"),
}


def _tag(locale: str | None) -> str:
    tag = str(locale or "").strip().replace("-", "_")
    parts = tag.split("_")
    if parts[0].lower() == "in":  # the legacy code of Indonesian
        parts[0] = "id"
    parts[0] = parts[0].lower()
    return "_".join(part if index == 0 else part.upper() for index, part in enumerate(parts))


def _find(tag: str) -> Path | None:
    """The catalogue file for ``tag``: host directories first, then subkit's own."""
    if not tag:
        return None
    for directory in (*_host_dirs, LOCALE_DIR):
        found = gettext.find(DOMAIN, str(directory), languages=[tag])
        if found is None and "_" not in tag:
            # A bare language finds its one regional catalogue: "id" -> "id_ID".
            regional = sorted(directory.glob(f"{tag}_*/LC_MESSAGES/{DOMAIN}.mo"))
            found = str(regional[0]) if regional else None
        if found is not None:
            return Path(found)
    return None


@functools.cache
def _catalogue(locale: str | None) -> tuple[str, gettext.GNUTranslations]:
    path = _find(_tag(locale)) or _find(_FALLBACK)
    if path is None:  # pragma: no cover - the package ships its catalogues
        raise FileNotFoundError(f"subkit's {_FALLBACK} catalogue is missing from {LOCALE_DIR}")
    with path.open("rb") as file:
        return path.parent.parent.name, gettext.GNUTranslations(file)


def add_locale_dir(directory: str | PathLike[str]) -> None:
    """Look for catalogues in ``directory`` (``<locale>/LC_MESSAGES/subkit.mo``) first.

    A host ships ``ms_MY/LC_MESSAGES/subkit.mo`` (or overrides ``id_ID``) and calls this
    once at start-up; later calls put their directory before earlier ones.
    """
    path = Path(directory)
    if path in _host_dirs:
        _host_dirs.remove(path)
    _host_dirs.insert(0, path)
    _catalogue.cache_clear()


def catalogue_locale(locale: str | None) -> str:
    """The locale of the catalogue ``locale`` is shown in: ``"id_ID"``, ``"en"``, ``"ms_MY"``.

    >>> catalogue_locale("id"), catalogue_locale("in-ID"), catalogue_locale("fr_FR")
    ('id_ID', 'id_ID', 'en')
    """
    return _catalogue(locale)[0]


def language(locale: str | None) -> str:
    """The language of the catalogue ``locale`` is shown in: ``"id"``, ``"en"``, ...

    >>> language("id_ID"), language("id-ID"), language("en_US"), language("fr")
    ('id', 'id', 'en', 'en')
    """
    return catalogue_locale(locale).split("_")[0]


def translate(message: tuple[str, str], locale: str | None) -> str:
    """``message`` (a context and an English text, as :func:`N_` marks it) in ``locale``."""
    context, text = message
    return _catalogue(locale)[1].pgettext(context, text)


def messages() -> tuple[tuple[str, str], ...]:
    """Every message subkit translates, as (context, English text)."""
    every = [entry for entries in _NAMESPACES.values() for entry in entries.values()]
    return tuple(dict.fromkeys([*every, *_DOCUMENT.values(), *_PAGE.values()]))


def _namespace_of(value: enum.StrEnum) -> str | None:
    values = {member.value for member in type(value)}
    for kind, entries in _NAMESPACES.items():
        if values <= entries.keys():
            return kind
    return None


def label(value: enum.StrEnum | str, locale: str | None = "en", *, kind: str | None = None) -> str:
    """The display label of an enumeration value in ``locale``.

    A ``StrEnum`` member finds its own labels (``Balance.BROADCAST`` is "Broadcast balance",
    a ledger entry of kind ``broadcast`` is "Broadcast"). A plain string is looked up in
    ``kind`` when given (one of :data:`KINDS`), else in the first kind that knows it.

    Raises:
        KeyError: the value (or ``kind``) has no label.
    """
    text = str(value)
    if kind is None and isinstance(value, enum.StrEnum):
        kind = _namespace_of(value)
    if kind is not None:
        if kind not in _NAMESPACES:
            raise KeyError(f"unknown label kind {kind!r}; known: {', '.join(KINDS)}")
        entry = _NAMESPACES[kind].get(text)
        if entry is None:
            raise KeyError(f"no {kind} label for {text!r}")
        return translate(entry, locale)
    for entries in _NAMESPACES.values():
        if text in entries:
            return translate(entries[text], locale)
    raise KeyError(f"no label for {text!r}")


def labels(kind: str, locale: str | None = "en") -> Mapping[str, str]:
    """Every label of one ``kind`` (value -> label) in ``locale``."""
    return MappingProxyType(
        {value: translate(entry, locale) for value, entry in _NAMESPACES[kind].items()}
    )


def document_labels(locale: str | None = "en") -> Mapping[str, str]:
    """The field labels of an invoice document in ``locale`` (read-only)."""
    return MappingProxyType({key: translate(entry, locale) for key, entry in _DOCUMENT.items()})


def page_labels(locale: str | None = "en") -> Mapping[str, str]:
    """The words of the reference subscription page in ``locale`` (read-only)."""
    return MappingProxyType({key: translate(entry, locale) for key, entry in _PAGE.items()})


__all__ = [
    "DOMAIN",
    "KINDS",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "add_locale_dir",
    "catalogue_locale",
    "document_labels",
    "label",
    "labels",
    "language",
    "messages",
    "page_labels",
    "translate",
]
