"""The reference Settings > Subscription page in a real browser (R-WEB-5, R-WEB-6).

Each test drives Debian's Chromium through Playwright against ``subkit serve``'s app on a real
uvicorn server, clicking and typing as a person would, then asserts what the page shows and
what the store holds. A screenshot of each flow goes to the test's own folder. The server's
clock is a FixedClock, so the dates on the page are known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from browser import free_socket, launched, need_browser, serving
from helpers import START
from subkit.testing import FixedClock
from subkit.web.serve import DEMO_ACCOUNT, Served, build

# The demo account: Free, its Rp15.000 grant less 24 replies at Rp30, plus a Rp50.000 top-up.
DEMO_CONVERSATION = 15_000 - 24 * 30 + 50_000


@attrs.frozen
class Site:
    url: str
    served: Served
    clock: FixedClock
    outside: list[str]  # requests the page tried to make to another site


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    need_browser()
    with launched() as chromium:
        yield chromium


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    clock = FixedClock(START)
    served = build(tmp_path / "page.sqlite", base_url=url, clock=clock)
    try:
        with serving(served.app, sock):
            yield Site(url, served, clock, [])
    finally:
        served.close()


@pytest.fixture
def page(browser: Any, site: Site, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def guard(route: Any) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            site.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], f"the page's script failed: {errors}"
    assert site.outside == [], f"the page asked another site for {site.outside}"


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def field(page: Any, name: str) -> str:
    return str(page.locator(f"[data-field='{name}']").first.inner_text()).strip()


def test_the_overview_in_indonesian_then_english(page: Any, site: Site, tmp_path: Path) -> None:
    """R-WEB-5: the usage overview (plan, period, days left, limits, both balances), in
    Indonesian by default (the catalogue's locale) and in English after the switch, money by
    Babel and dates in the account's time zone."""
    page.goto(site.url + "/")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.get_by_role("heading", level=1).inner_text() == "Langganan"
    assert field(page, "plan") == "Free (Bulanan)"
    assert field(page, "balance-conversation") == "Rp64.280"
    assert field(page, "period") == "10 Jan 2026 – 10 Feb 2026 · 31 hari lagi"
    assert field(page, "users") == "1"
    shot(page, tmp_path, "overview-id")

    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert field(page, "plan") == "Free (Monthly)"
    assert field(page, "balance-conversation") == "IDR 64,280"
    assert field(page, "period") == "10 Jan 2026 – 10 Feb 2026 · 31 days left"
    page.goto(site.url + "/")  # the choice is remembered
    assert field(page, "plan") == "Free (Monthly)"
    shot(page, tmp_path, "overview-en")
    balances = site.served.billing.balances(DEMO_ACCOUNT)
    assert balances.conversation.amount == DEMO_CONVERSATION
