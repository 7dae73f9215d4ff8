"""Display labels in Indonesian and English for subkit's enumerations and documents.

Pure data and two look-ups. A host shows ``label(invoice.type, "id_ID")`` on its invoice
list and the renderers take their field names from :func:`document_labels`.

Locales are matched by language: ``id_ID``, ``id-ID``, ``id`` (and the legacy ``in``) are
Indonesian; every other locale, known or not, gets English.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

#: The languages subkit has labels for; the first is the fallback.
LANGUAGES = ("en", "id")

# One namespace per kind of value. A ``StrEnum`` is matched to the namespace whose keys
# cover all of its values, so this module imports no enumeration and any module may use it.
_NAMESPACES: dict[str, dict[str, dict[str, str]]] = {
    "invoice_type": {
        "plan_purchase": {"en": "Plan purchase", "id": "Pembelian paket"},
        "renewal": {"en": "Renewal", "id": "Perpanjangan"},
        "plan_change": {"en": "Plan change", "id": "Perubahan paket"},
        "add_on": {"en": "Add-on purchase", "id": "Pembelian add-on"},
        "top_up": {"en": "Balance top-up", "id": "Isi ulang saldo"},
    },
    "invoice_status": {
        "pending": {"en": "Pending", "id": "Menunggu"},
        "paid": {"en": "Paid", "id": "Lunas"},
        "failed": {"en": "Failed", "id": "Gagal"},
        "expired": {"en": "Expired", "id": "Kedaluwarsa"},
        "cancelled": {"en": "Cancelled", "id": "Dibatalkan"},
        "refunded": {"en": "Refunded", "id": "Dikembalikan"},
    },
    "balance": {
        "conversation": {"en": "Conversation balance", "id": "Saldo percakapan"},
        "broadcast": {"en": "Broadcast balance", "id": "Saldo broadcast"},
    },
    "interval": {
        "monthly": {"en": "Monthly", "id": "Bulanan"},
        "annual": {"en": "Annual", "id": "Tahunan"},
    },
    "entry_kind": {
        "grant": {"en": "Included balance", "id": "Saldo dari paket"},
        "top_up": {"en": "Top-up", "id": "Isi ulang"},
        "reply": {"en": "Reply", "id": "Balasan"},
        "broadcast": {"en": "Broadcast", "id": "Broadcast"},
        "expiry": {"en": "Expiry", "id": "Kedaluwarsa"},
        "adjustment": {"en": "Adjustment", "id": "Penyesuaian"},
    },
    "subscription_status": {
        "active": {"en": "Active", "id": "Aktif"},
        "past_due": {"en": "Past due", "id": "Lewat jatuh tempo"},
        "cancelling": {"en": "Cancelling", "id": "Akan berhenti"},
    },
    "addon_event": {
        "bought": {"en": "Bought", "id": "Dibeli"},
        "stopped": {"en": "Stopped", "id": "Dihentikan"},
        "ended": {"en": "Ended", "id": "Berakhir"},
    },
    "lot_source": {
        "included": {"en": "Included in plan", "id": "Termasuk paket"},
        "top_up": {"en": "Top-up", "id": "Isi ulang"},
        "adjustment": {"en": "Adjustment", "id": "Penyesuaian"},
    },
    "direction": {
        "upgrade": {"en": "Upgrade", "id": "Naik paket"},
        "downgrade": {"en": "Downgrade", "id": "Turun paket"},
        "interval_switch": {"en": "Billing interval change", "id": "Ganti periode tagihan"},
    },
}

#: The kinds :func:`label` accepts as ``kind=``, in the order a plain string is looked up.
KINDS = tuple(_NAMESPACES)

_DOCUMENT: dict[str, dict[str, str]] = {
    "title": {"en": "Invoice", "id": "Invoice"},
    "seller": {"en": "From", "id": "Dari"},
    "buyer": {"en": "Bill to", "id": "Ditagihkan kepada"},
    "code": {"en": "Invoice number", "id": "Nomor invoice"},
    "type": {"en": "Invoice type", "id": "Jenis invoice"},
    "requested_at": {"en": "Request date", "id": "Tanggal permintaan"},
    "paid_at": {"en": "Paid date", "id": "Tanggal bayar"},
    "expires_at": {"en": "Pay before", "id": "Bayar sebelum"},
    "payment_link": {"en": "Pay at", "id": "Bayar di"},
    "status": {"en": "Status", "id": "Status"},
    "package": {"en": "Package", "id": "Paket"},
    "reference": {"en": "Payment reference", "id": "Referensi pembayaran"},
    "description": {"en": "Description", "id": "Deskripsi"},
    "period": {"en": "Period", "id": "Periode"},
    "quantity": {"en": "Qty", "id": "Kuantitas"},
    "unit_price": {"en": "Unit price", "id": "Harga satuan"},
    "amount": {"en": "Amount", "id": "Jumlah"},
    "subtotal": {"en": "Subtotal", "id": "Subtotal"},
    "tax": {"en": "Tax", "id": "PPN"},
    # ``{base}`` is a fraction such as 11/12: "PPN 12% × 11/12", "Tax 12% on 11/12".
    "tax_base": {"en": "on {base}", "id": "× {base}"},
    "tax_included": {"en": "(included)", "id": "(termasuk)"},
    "total": {"en": "Total", "id": "Total"},
    "email": {"en": "Email", "id": "Email"},
    "address": {"en": "Address", "id": "Alamat"},
    "tax_number": {"en": "Tax number", "id": "NPWP"},
    "page": {"en": "Page {page} of {pages}", "id": "Halaman {page} dari {pages}"},
    "none": {"en": "–", "id": "–"},
}


def language(locale: str | None) -> str:
    """The label language for ``locale``: ``"id"`` for Indonesian, else ``"en"``.

    >>> language("id_ID"), language("id-ID"), language("en_US"), language("fr")
    ('id', 'id', 'en', 'en')
    """
    tag = str(locale or "").strip().replace("-", "_").split("_")[0].lower()
    if tag in ("id", "in"):
        return "id"
    return "en"


def _namespace_of(value: enum.StrEnum) -> str | None:
    values = {member.value for member in type(value)}
    for kind, entries in _NAMESPACES.items():
        if values <= entries.keys():
            return kind
    return None


def label(value: enum.StrEnum | str, locale: str | None = "en", *, kind: str | None = None) -> str:
    """The display label of an enumeration value in ``locale``'s language.

    A ``StrEnum`` member finds its own labels (``Balance.BROADCAST`` is "Broadcast balance",
    a ledger entry of kind ``broadcast`` is "Broadcast"). A plain string is looked up in
    ``kind`` when given (one of :data:`KINDS`), else in the first kind that knows it.

    Raises:
        KeyError: the value (or ``kind``) has no label.
    """
    lang = language(locale)
    text = str(value)
    if kind is None and isinstance(value, enum.StrEnum):
        kind = _namespace_of(value)
    if kind is not None:
        if kind not in _NAMESPACES:
            raise KeyError(f"unknown label kind {kind!r}; known: {', '.join(KINDS)}")
        entry = _NAMESPACES[kind].get(text)
        if entry is None:
            raise KeyError(f"no {kind} label for {text!r}")
        return entry[lang]
    for entries in _NAMESPACES.values():
        if text in entries:
            return entries[text][lang]
    raise KeyError(f"no label for {text!r}")


def labels(kind: str, locale: str | None = "en") -> Mapping[str, str]:
    """Every label of one ``kind`` (value -> label) in ``locale``'s language."""
    lang = language(locale)
    return MappingProxyType({value: entry[lang] for value, entry in _NAMESPACES[kind].items()})


def document_labels(locale: str | None = "en") -> Mapping[str, str]:
    """The field labels of an invoice document in ``locale``'s language (read-only)."""
    lang = language(locale)
    return MappingProxyType({key: entry[lang] for key, entry in _DOCUMENT.items()})


__all__ = ["KINDS", "LANGUAGES", "document_labels", "label", "labels", "language"]
