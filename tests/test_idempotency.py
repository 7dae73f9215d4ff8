"""Idempotency keys: fingerprints, replays and conflicts (R-BAL-5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import JAKARTA
from subkit.errors import IdempotencyConflict, SubkitError
from subkit.idempotency import IdempotencyRecord, fingerprint, replay
from subkit.money import Money
from subkit.wallet import Balance, TopUpLimit


def record(fp: str, result: dict[str, object] | None = None) -> IdempotencyRecord:
    return IdempotencyRecord("acct-1", "reply", "msg-42", fp, result or {"amount": 30})


class TestFingerprint:
    def test_is_stable_text(self) -> None:
        """R-BAL-5: a fingerprint is a fixed hex digest, the same in every process."""
        fp = fingerprint(count=3)
        assert fp == fingerprint(count=3)
        assert len(fp) == 64 and int(fp, 16) >= 0

    def test_keyword_order_does_not_matter(self) -> None:
        assert fingerprint(a=1, b="x") == fingerprint(b="x", a=1)

    @given(st.integers(), st.integers())
    def test_different_arguments_differ(self, a: int, b: int) -> None:
        """R-BAL-5: other arguments give another fingerprint."""
        assert (fingerprint(count=a) == fingerprint(count=b)) == (a == b)

    def test_money_and_enums(self) -> None:
        assert fingerprint(amount=Money(30, "IDR")) != fingerprint(amount=Money(30, "USD"))
        assert fingerprint(balance=Balance.CONVERSATION) == fingerprint(balance="conversation")
        assert fingerprint(balance=Balance.CONVERSATION) != fingerprint(balance=Balance.BROADCAST)

    def test_an_instant_is_one_fingerprint_in_any_zone(self) -> None:
        at = datetime(2024, 1, 1, 9, tzinfo=JAKARTA)
        assert fingerprint(at=at) == fingerprint(at=at.astimezone(UTC))
        assert fingerprint(at=at) != fingerprint(at=at + timedelta(seconds=1))

    def test_nested_values(self) -> None:
        limit = TopUpLimit(Money(1, "IDR"), Money(2, "IDR"))
        assert fingerprint(x={"a": [1, 2]}, y=limit) == fingerprint(y=limit, x={"a": (1, 2)})
        assert fingerprint(s={3, 1, 2}) == fingerprint(s=frozenset({1, 2, 3}))
        assert fingerprint(x=None) != fingerprint(x="None")

    @pytest.mark.parametrize("value", [1.5, object(), b"bytes"])
    def test_unstable_types_are_refused(self, value: object) -> None:
        with pytest.raises(TypeError):
            fingerprint(value=value)


class TestReplay:
    def test_new_key_has_nothing_to_replay(self) -> None:
        assert replay(None, fingerprint(count=1)) is None

    def test_same_key_same_arguments_returns_the_first_result(self) -> None:
        """R-BAL-5: the same key again returns the first result."""
        fp = fingerprint(count=1)
        assert replay(record(fp, {"amount": 30, "key": "msg-42"}), fp) == {
            "amount": 30,
            "key": "msg-42",
        }

    def test_same_key_other_arguments_conflicts(self) -> None:
        """R-BAL-5: the same key with other arguments raises IdempotencyConflict naming it."""
        with pytest.raises(IdempotencyConflict, match="msg-42") as conflict:
            replay(record(fingerprint(count=1)), fingerprint(count=2))
        assert isinstance(conflict.value, SubkitError)
        assert conflict.value.code == "idempotency_conflict"
        assert (conflict.value.key, conflict.value.scope) == ("msg-42", "reply")

    def test_keys_are_scoped_by_the_caller(self) -> None:
        """R-BAL-5: a store keyed by (account, scope, key) keeps reply and broadcast apart."""
        store = {("acct-1", "reply", "m1"): record(fingerprint(count=1))}
        assert replay(store.get(("acct-1", "broadcast", "m1")), fingerprint(recipients=9)) is None
        assert replay(store.get(("acct-2", "reply", "m1")), fingerprint(count=5)) is None

    def test_record_is_an_immutable_value(self) -> None:
        rec = record(fingerprint(count=1))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            rec.key = "other"  # type: ignore[misc]
