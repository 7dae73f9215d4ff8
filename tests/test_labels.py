"""Display labels in Indonesian and English (R-INV-8)."""

from __future__ import annotations

import enum

import pytest

from subkit.cycles import Interval
from subkit.invoice import InvoiceStatus, InvoiceType, PaymentStatus
from subkit.labels import KINDS, document_labels, label, labels, language
from subkit.plans import Direction
from subkit.subscription import AddOnEventKind, SubscriptionStatus
from subkit.wallet import Balance, EntryKind, LotSource

ENUMS: list[type[enum.StrEnum]] = [
    InvoiceType,
    InvoiceStatus,
    PaymentStatus,
    Balance,
    Interval,
    EntryKind,
    LotSource,
    SubscriptionStatus,
    AddOnEventKind,
    Direction,
]
MEMBERS = [member for kind in ENUMS for member in kind]


class TestEnumLabels:
    @pytest.mark.parametrize("member", MEMBERS, ids=lambda m: f"{type(m).__name__}.{m.name}")
    def test_every_value_has_a_label_in_both_languages(self, member: enum.StrEnum) -> None:
        english = label(member, "en")
        indonesian = label(member, "id_ID")
        assert english.strip() and indonesian.strip()
        assert english != member.value  # a label, not the raw value echoed back

    def test_ledger_kinds_as_plain_strings(self) -> None:
        """The ledger's kinds are labelled whether given as strings or ``EntryKind``."""
        for kind in ("grant", "top_up", "reply", "broadcast", "expiry", "adjustment"):
            assert label(kind, "en", kind="entry_kind") == label(EntryKind(kind), "en")
            assert label(kind, "id", kind="entry_kind") == label(EntryKind(kind), "id")

    def test_an_enum_finds_its_own_labels_when_values_overlap(self) -> None:
        """``broadcast`` is a balance and a ledger entry kind; ``top_up`` an invoice type too."""
        assert label(Balance.BROADCAST, "en") == "Broadcast balance"
        assert label(EntryKind.BROADCAST, "en") == "Broadcast"
        assert label(InvoiceType.TOP_UP, "id") == "Isi ulang saldo"
        assert label(EntryKind.TOP_UP, "id") == "Isi ulang"

    def test_examples(self) -> None:
        assert label(InvoiceStatus.PAID, "id_ID") == "Lunas"
        assert label(InvoiceStatus.PENDING, "id") == "Menunggu"
        assert label(InvoiceStatus.PAID, "en") == "Paid"
        assert label(Interval.ANNUAL, "id") == "Tahunan"
        assert label(Balance.CONVERSATION, "id") == "Saldo percakapan"

    def test_payment_statuses_read_like_invoice_statuses(self) -> None:
        for status in PaymentStatus:
            assert label(status, "id") == label(InvoiceStatus(status.value), "id")

    def test_a_plain_string_is_found_without_kind(self) -> None:
        assert label("renewal", "en") == "Renewal"
        assert label("paid", "id") == "Lunas"

    def test_unknown_values_and_kinds_raise_key_error(self) -> None:
        with pytest.raises(KeyError, match="nope"):
            label("nope", "en")
        with pytest.raises(KeyError, match="balance"):
            label("grant", "en", kind="balance")
        with pytest.raises(KeyError, match="unknown label kind"):
            label("paid", "en", kind="colour")

    @pytest.mark.parametrize("kind", KINDS)
    def test_labels_of_a_kind_match_label(self, kind: str) -> None:
        for locale in ("en", "id_ID"):
            for value, text in labels(kind, locale).items():
                assert label(value, locale, kind=kind) == text


class TestLocales:
    @pytest.mark.parametrize(
        ("locale", "expected"),
        [
            ("id_ID", "id"),
            ("id-ID", "id"),
            ("id", "id"),
            ("ID", "id"),
            ("in_ID", "id"),
            ("en", "en"),
            ("en_US", "en"),
            ("en-GB", "en"),
            ("fr_FR", "en"),
            ("", "en"),
            (None, "en"),
        ],
    )
    def test_locales_normalise_by_language_and_fall_back_to_english(
        self, locale: str | None, expected: str
    ) -> None:
        assert language(locale) == expected

    def test_unknown_locale_gets_english_labels(self) -> None:
        assert label(InvoiceStatus.PAID, "xx_YY") == "Paid"
        assert document_labels("de_DE") == document_labels("en")
        assert document_labels("id-ID") == document_labels("id")


class TestDocumentLabels:
    def test_both_languages_have_the_same_fields(self) -> None:
        english, indonesian = document_labels("en"), document_labels("id_ID")
        assert english.keys() == indonesian.keys()
        assert all(text.strip() for text in [*english.values(), *indonesian.values()])

    def test_every_field_the_renderers_use_is_labelled(self) -> None:
        needed = {
            "title", "seller", "buyer", "code", "type", "requested_at", "paid_at", "status",
            "package", "reference", "description", "period", "quantity", "unit_price",
            "amount", "subtotal", "tax", "tax_base", "tax_included", "total", "tax_number",
            "page", "none",
        }  # fmt: skip
        assert needed <= document_labels("en").keys()

    def test_ppn_wording(self) -> None:
        assert document_labels("id")["tax"] == "PPN"
        assert document_labels("id")["tax_base"].format(base="11/12") == "× 11/12"
        assert document_labels("en")["tax_base"].format(base="11/12") == "on 11/12"

    def test_document_labels_are_read_only(self) -> None:
        mapping = document_labels("en")
        with pytest.raises(TypeError):
            mapping["title"] = "Bill"  # type: ignore[index]
