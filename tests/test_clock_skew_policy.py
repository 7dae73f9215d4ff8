"""R-CON-1: the catalogue's ``policy.max_clock_skew_seconds`` knob (default 300, 0..3600)."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subkit.errors import CatalogueError
from subkit.plans import Catalogue, Policy


def catalogue_with(policy: dict[str, Any]) -> Catalogue:
    text = resources.files("subkit.data").joinpath("default_catalogue.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data.setdefault("policy", {}).update(policy)
    return Catalogue.from_dict(data)


def test_default_is_five_minutes() -> None:
    assert Policy().max_clock_skew_seconds == 300
    assert Catalogue.default().policy.max_clock_skew_seconds == 300


@given(st.integers(0, 3600))
def test_any_value_in_range_is_kept(seconds: int) -> None:
    assert catalogue_with({"max_clock_skew_seconds": seconds}).policy.max_clock_skew_seconds == (
        seconds
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, ">= 0"),
        (3601, "<= 3600"),
        (10**9, "<= 3600"),
        (True, "integer"),
        (1.5, "integer"),
        ("300", "integer"),
    ],
)
def test_out_of_range_or_not_an_integer_is_refused(value: object, message: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        catalogue_with({"max_clock_skew_seconds": value})
    problems = caught.value.problems
    assert len(problems) == 1
    assert "policy.max_clock_skew_seconds" in problems[0] and message in problems[0]
