"""The reference Settings > Subscription page in a real browser (R-WEB-5, R-WEB-6).

Each test drives Debian's Chromium through Playwright against ``subkit serve``'s app on a real
uvicorn server, clicking and typing as a person would, then asserts what the page shows and
what the store holds. A screenshot of each flow goes to the test's own folder. The server's
clock is a FixedClock, so the dates on the page are known.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from browser import free_socket, launched, need_browser, serving
from helpers import START
from subkit.invoice import PaymentStatus
from subkit.testing import FixedClock
from subkit.web.serve import DEMO_ACCOUNT, Served, build

# The screenshots docs/page.md shows.
DOCS_SHOTS = {
    "overview-id",
    "order-summary",
    "downgrade-notice",
    "stop-dialog",
    "payment-page",
    "upgraded",
    "top-up-refused",
}
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


def shot(page: Any, tmp_path: Path, name: str, part: str | None = None) -> Path:
    """A screenshot of the flow in the test's folder; with $SUBKIT_SCREENSHOTS set, also of
    ``part`` of the page (a selector; default the viewport) as the docs' page-<name>.png."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    docs = os.environ.get("SUBKIT_SCREENSHOTS")
    if docs and name in DOCS_SHOTS:
        target = str(Path(docs) / f"page-{name}.png")
        if part is None:
            page.screenshot(path=target)
        else:
            page.locator(part).first.screenshot(path=target)
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


def pay_now(site: Site, checkout: Any) -> None:
    """Pay a checkout as the fake gateway's notification would (no page involved)."""
    gateway = site.served.gateway
    event = gateway.parse_notification(
        gateway.notification(checkout.invoice.code, PaymentStatus.PAID)
    )
    assert event is not None
    site.served.billing.apply_payment(event)


def test_choosing_a_plan_shows_the_order_summary_and_steps_follow(
    page: Any, site: Site, tmp_path: Path
) -> None:
    """R-WEB-5 Upgrade, step 2: choosing a plan shows the Order Summary; ➕ / ➖ change an
    add-on's quantity and the total follows (every total from the server's quote); ➖ stops
    at 0. Driven by keyboard only."""
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Choose Growth").focus()
    page.keyboard.press("Enter")
    heading = page.locator("#change-summary .sk-summary").get_by_role("heading")
    heading.wait_for()
    assert heading.inner_text() == "Order Summary"
    assert page.evaluate("document.activeElement.id") == "change-summary-title"
    assert field(page, "total") == "IDR 299,000"
    less = page.get_by_role("button", name="Remove one Additional User")
    more = page.get_by_role("button", name="Add one Additional User")
    assert less.is_disabled()
    page.keyboard.press("Tab")  # from the summary's heading; ➖ is disabled, so ➕
    assert page.evaluate("document.activeElement.id") == "change-extra_user-more"
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector('[data-field=total]').textContent.includes('349')"
    )
    assert field(page, "total") == "IDR 349,000"
    page.keyboard.press("Enter")  # the focus stayed on ➕
    page.wait_for_function(
        "document.querySelector('[data-field=total]').textContent.includes('399')"
    )
    assert page.get_by_label("Quantity of Additional User").inner_text() == "2"
    less.click()
    page.wait_for_function(
        "document.querySelector('[data-field=total]').textContent.includes('349')"
    )
    quote = site.served.billing.quote_change(DEMO_ACCOUNT, "growth", addons={"extra_user": 1})
    assert field(page, "total") == f"IDR {quote.total.amount:,}"
    page.get_by_label("Annual").check()  # the interval switch re-quotes the open summary
    page.wait_for_function(
        "document.querySelector('[data-field=total]').textContent.includes('3,490')"
    )
    assert more.is_enabled()
    shot(page, tmp_path, "order-summary", "#upgrade")


def test_a_downgrade_summary_shows_the_reductions(page: Any, site: Site, tmp_path: Path) -> None:
    """R-WEB-5 / R-SUB-3: choosing a lower plan shows the notice of what is reduced."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "pro", addons={"extra_user": 1}))
    page.goto(site.url + "/")
    assert field(page, "plan") == "Pro (Bulanan)"
    page.get_by_role("button", name="Pilih Growth").click()
    notice = page.locator("[data-field=downgrade-notice]")
    notice.wait_for()
    assert "Ini turun paket" in notice.inner_text()
    assert "Pengguna: 16 → 6" in notice.inner_text()
    shot(page, tmp_path, "downgrade-notice", "#change-summary")


def test_every_control_is_labelled_and_reached_by_tab(page: Any, site: Site) -> None:
    """Accessibility: Chromium's own accessibility tree gives every control a name, and Tab
    walks through every visible control of the page in order."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "growth", addons={"extra_user": 1}))
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Choose Pro").click()  # with the Order Summary open
    page.locator("#change-summary .sk-summary").wait_for()
    cdp = page.context.new_cdp_session(page)
    tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
    controls = {"button", "link", "textbox", "spinbutton", "radio", "checkbox", "combobox"}
    unnamed = [
        node
        for node in tree
        if not node.get("ignored")
        and node.get("role", {}).get("value") in controls
        and not str(node.get("name", {}).get("value", "")).strip()
    ]
    assert unnamed == []
    focusable = page.evaluate(
        """() => {
        const all = [...document.querySelectorAll(
            'a[href], button, input, summary, select, textarea, [tabindex]')];
        const shown = all.filter(e => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length
            && !e.closest('dialog:not([open])') && getComputedStyle(e).visibility !== 'hidden'
            && (e.tagName === 'SUMMARY' || !e.closest('details:not([open])')));
        // a group of radio buttons is one tab stop: the checked one
        const stops = shown.filter(e => e.type !== 'radio' || e.checked);
        stops.forEach((e, i) => e.dataset.stop = String(i));
        return stops.length;
    }"""
    )
    assert focusable > 20  # the whole page: links, buttons, radios, the form, the summary
    page.locator("[data-stop='0']").focus()
    reached = ["0"]
    for _ in range(focusable - 1):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.dataset.stop ?? null"))
    assert reached == [str(i) for i in range(focusable)]


def test_a_stop_opens_a_real_dialog(page: Any, site: Site, tmp_path: Path) -> None:
    """Manage Add-Ons: Stop opens a modal <dialog> named by its title with "Ya, Stop"; Escape
    closes it, nothing is stopped, and the focus returns to the button."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "growth", addons={"extra_user": 2}))
    page.goto(site.url + "/")
    stop = page.get_by_role("button", name="Stop Additional User")
    stop.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Stop add-on ini?")
    assert dialog.is_visible()
    assert dialog.get_by_role("button", name="Ya, Stop").is_visible()
    assert "Additional User tetap aktif" in dialog.inner_text()
    shot(page, tmp_path, "stop-dialog")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.dataset.stop") == "extra_user"
    assert site.served.billing.addons(DEMO_ACCOUNT)[0].stopping == 0


def test_a_history_pages_with_more(page: Any, site: Site) -> None:
    """Usage History: "more" appends the next rows until there are none."""
    page.goto(site.url + "/?lang=en")
    rows = page.locator("tbody[data-rows=usage] tr")
    assert rows.count() == 10
    more = page.locator("[data-more=usage]")
    more.click()
    page.wait_for_function("document.querySelectorAll('tbody[data-rows=usage] tr').length > 10")
    assert rows.count() == 20
    more.click()
    page.wait_for_function("!document.querySelector('[data-more=usage]')")
    assert rows.count() == len(site.served.billing.usage_history(DEMO_ACCOUNT, limit=100).items)


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page: Any) -> list[str]:
    """What axe-core (vendored from the npm registry, tests/vendor/axe-core) finds against
    WCAG 2.1 A and AA on the page as it is now: one line per rule and element."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
        const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',
            'wcag21aa', 'best-practice']});
        return result.violations.flatMap(v => v.nodes.map(n => v.id + ': ' + n.target.join(' ')));
    }"""
    )
    return [str(line) for line in found]


@pytest.mark.parametrize("lang", ["id_ID", "en"])
def test_axe_finds_no_violation(page: Any, site: Site, lang: str) -> None:
    """Accessibility, by axe-core: the page with an Order Summary open, and a pop-up open."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "growth", addons={"extra_user": 1}))
    page.goto(site.url + f"/?lang={lang}")
    page.locator("[data-choose=pro]").click()
    page.locator("#change-summary .sk-summary").wait_for()
    assert axe_violations(page) == []
    page.locator("[data-open=unsubscribe-dialog]").click()
    page.locator("#unsubscribe-dialog[open]").wait_for()
    assert axe_violations(page) == []
    # axe does look: an unnamed button added to the open dialog is found
    form = "document.querySelector('#unsubscribe-dialog form')"
    page.evaluate(f"{form}.append(document.createElement('button'))")
    assert [line.split(":")[0] for line in axe_violations(page)] == ["button-name"]


def on_growth(site: Site) -> None:
    """The demo account on Growth monthly, paid (from Free the change is immediate)."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "growth"))


def pay_on_the_gateway(page: Any, site: Site, button: str) -> str:
    """On the fake gateway's page: press ``button`` (Pay / Fail / Let expire), come back;
    the invoice's code."""
    page.wait_for_url(re.compile(r"/fake-gateway/INV-"))
    code = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name=re.compile(button)).click()
    page.wait_for_url(re.compile(r"\?invoice="))
    return code


def banner(page: Any) -> str:
    return str(page.get_by_role("status").inner_text())


def test_buy_now_pays_and_comes_back_upgraded(page: Any, site: Site, tmp_path: Path) -> None:
    """R-WEB-5 Upgrade, steps 2-3: Buy Now goes to the payment page; after paying, the page
    shows the package updated and the invoice listed, as the store holds them."""
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Choose Growth").click()
    page.get_by_role("button", name="Add one Additional User").click()
    page.wait_for_function(
        "document.querySelector('[data-field=total]').textContent.includes('349')"
    )
    page.get_by_role("button", name="Buy Now").click()
    page.wait_for_url(re.compile(r"/fake-gateway/"))
    assert page.locator("[data-field=amount]").inner_text() == "Rp349.000"
    shot(page, tmp_path, "payment-page")
    code = pay_on_the_gateway(page, site, "^Pay")
    assert banner(page) == f"Invoice {code}: Paid"
    assert field(page, "plan") == "Growth (Monthly)"
    assert field(page, "users") == "6"
    row = page.locator(f"tr[data-invoice='{code}']")
    assert "IDR 349,000" in row.inner_text() and "Paid" in row.inner_text()
    sub = site.served.billing.subscription(DEMO_ACCOUNT)
    assert (sub.plan, sub.addons) == ("growth", {"extra_user": 1})
    shot(page, tmp_path, "upgraded")


def test_an_upgrade_on_a_paid_plan_is_shown_as_scheduled(page: Any, site: Site) -> None:
    """Upgrades take effect in the next billing cycle: the overview says when, and while it
    waits for payment the change can be cancelled; once paid it stays."""
    on_growth(site)
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Choose Pro").click()
    page.get_by_role("button", name="Buy Now").click()
    page.wait_for_url(re.compile(r"/fake-gateway/"))
    unpaid = page.url.rsplit("/", 1)[1]
    page.goto(site.url + "/?lang=en")  # back without paying
    assert field(page, "scheduled") == (
        f"From 10 Feb 2026 the plan becomes Pro (Monthly). Awaiting payment of invoice {unpaid}."
    )
    page.get_by_role("button", name="Cancel this change").click()
    page.wait_for_function("!document.querySelector('[data-field=scheduled]')")
    assert site.served.billing.subscription(DEMO_ACCOUNT).scheduled_change is None
    page.get_by_role("button", name="Choose Pro").click()
    page.get_by_role("button", name="Buy Now").click()
    code = pay_on_the_gateway(page, site, "^Pay")
    assert banner(page) == f"Invoice {code}: Paid"
    assert field(page, "plan") == "Growth (Monthly)"
    assert field(page, "scheduled") == "From 10 Feb 2026 the plan becomes Pro (Monthly)."
    assert page.get_by_role("button", name="Cancel this change").count() == 0
    change = site.served.billing.subscription(DEMO_ACCOUNT).scheduled_change
    assert change is not None and (change.plan, change.paid) == ("pro", True)


def test_renew_confirms_in_a_dialog_then_a_failed_payment_changes_nothing(
    page: Any, site: Site, tmp_path: Path
) -> None:
    """Renew: a confirmation pop-up first; a failed payment leaves the paid time as it was
    and the invoice listed as failed."""
    on_growth(site)
    before = site.served.billing.subscription(DEMO_ACCOUNT).paid_through
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Renew Subscription").click()
    dialog = page.get_by_role("dialog", name="Renew your subscription?")
    assert "Growth (Monthly) for one more period, until 10 Mar 2026: IDR 299,000." in (
        dialog.inner_text()
    )
    shot(page, tmp_path, "renew-dialog")
    dialog.get_by_role("button", name="Renew Subscription").click()
    code = pay_on_the_gateway(page, site, "^Fail")
    assert banner(page) == f"Invoice {code}: Failed"
    assert site.served.billing.subscription(DEMO_ACCOUNT).paid_through == before
    assert "Failed" in page.locator(f"tr[data-invoice='{code}']").inner_text()


def test_buy_addons_then_let_the_invoice_expire(page: Any, site: Site) -> None:
    """Buy Add-On: Add, ➕ in the Order Summary, Continue To Payment; an invoice left to
    expire buys nothing."""
    on_growth(site)
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Add Additional Contact").click()
    page.get_by_role("button", name="Add one Additional Contact").click()
    total = "#addon-summary [data-field=total]"
    page.wait_for_function(f"document.querySelector('{total}')?.textContent.includes('50,000')")
    quote = site.served.billing.quote_addons(DEMO_ACCOUNT, {"extra_contact": 2})
    assert page.locator(total).inner_text() == f"IDR {quote.total.amount:,}"
    page.get_by_role("button", name="Continue To Payment").first.click()
    code = pay_on_the_gateway(page, site, "expire")
    assert banner(page) == f"Invoice {code}: Expired"
    assert site.served.billing.subscription(DEMO_ACCOUNT).addons == {}


def test_stop_an_addon_with_ya_stop(page: Any, site: Site) -> None:
    """Manage Add-Ons: Stop, then "Ya, Stop": the units stop when the paid period ends."""
    pay_now(site, site.served.billing.change_plan(DEMO_ACCOUNT, "growth", addons={"extra_user": 2}))
    page.goto(site.url + "/")
    page.get_by_role("button", name="Stop Additional User").click()
    page.get_by_role("dialog").get_by_role("button", name="Ya, Stop").click()
    page.wait_for_load_state()
    row = page.locator("#manage-addons tr[data-addon=extra_user]")
    row.get_by_text("berhenti pada").wait_for()
    assert "2 berhenti pada 10 Feb 2026" in row.inner_text()
    assert site.served.billing.addons(DEMO_ACCOUNT)[0].stopping == 2
    history = page.locator("#addon-history tbody tr")
    assert history.count() == 2  # newest first: the stop, then the purchase
    assert "Dihentikan" in history.nth(0).inner_text()
    assert "Dibeli" in history.nth(1).inner_text()


def test_unsubscribe_with_yes_then_resume(page: Any, site: Site, tmp_path: Path) -> None:
    """Unsubscribe: "Yes, Unsubscribe" in the pop-up; the page says when it ends; Resume."""
    on_growth(site)
    page.goto(site.url + "/?lang=en")
    page.get_by_role("button", name="Unsubscribe").click()
    dialog = page.get_by_role("dialog", name="Unsubscribe?")
    assert "stays until 10 Feb 2026, then moves to Free" in dialog.inner_text()
    shot(page, tmp_path, "unsubscribe-dialog")
    dialog.get_by_role("button", name="Yes, Unsubscribe").click()
    page.locator("[data-field=ends]").wait_for()
    assert field(page, "ends") == "Your subscription ends on 10 Feb 2026."
    assert site.served.billing.subscription(DEMO_ACCOUNT).status == "cancelling"
    page.get_by_role("button", name="Resume subscription").click()
    page.get_by_role("button", name="Unsubscribe").wait_for()
    assert site.served.billing.subscription(DEMO_ACCOUNT).status == "active"


def test_top_ups_outside_the_limits_are_refused_on_the_page(
    page: Any, site: Site, tmp_path: Path
) -> None:
    """WhatsApp Balance: the minimum and maximum of each balance are shown; a top-up outside
    them is refused there, with the limits, and nothing is invoiced; one inside goes to the
    payment page and, paid, is in the balance and the Riwayat Top Up."""
    page.goto(site.url + "/?lang=en")
    amount = page.get_by_label("Amount (IDR)")
    assert page.locator("#topup-limits").inner_text() == "Minimum IDR 10,000, maximum IDR 1,000,000"
    amount.fill("5000")
    page.get_by_role("button", name="Continue To Payment").click()
    error = page.locator("#topup-error")
    error.wait_for()
    assert error.inner_text() == "A top-up must be between IDR 10,000 and IDR 1,000,000."
    shot(page, tmp_path, "top-up-refused", "#topup-form")
    page.get_by_label("Broadcast balance").check()
    assert page.locator("#topup-limits").inner_text() == "Minimum IDR 10,000, maximum IDR 5,000,000"
    amount.fill("6000000")
    page.get_by_role("button", name="Continue To Payment").click()
    page.wait_for_function(
        "document.querySelector('#topup-error').textContent.includes('5,000,000.')"
    )
    assert len(site.served.billing.invoices(DEMO_ACCOUNT).items) == 1  # the demo's own
    amount.fill("20000")
    page.get_by_role("button", name="Continue To Payment").click()
    code = pay_on_the_gateway(page, site, "^Pay")
    assert banner(page) == f"Invoice {code}: Paid"
    assert field(page, "balance-broadcast") == "IDR 20,000"
    assert "IDR 20,000" in page.locator("tbody[data-rows=topups]").inner_text()


def test_an_invoice_downloads_as_pdf(page: Any, site: Site) -> None:
    """Invoices: More shows the lines; Download PDF gives the invoice document."""
    page.goto(site.url + "/?lang=en")
    (invoice,) = site.served.billing.invoices(DEMO_ACCOUNT).items
    row = page.locator(f"tr[data-invoice='{invoice.code}']")
    row.get_by_text(f"Details of {invoice.code}").click()
    assert "Conversation balance top-up" in row.inner_text()
    with page.expect_download() as download:
        row.get_by_role("link", name=re.compile("Download PDF")).click()
    saved = download.value
    assert saved.suggested_filename.endswith(".pdf")
    assert Path(saved.path()).read_bytes().startswith(b"%PDF")


def test_a_pending_invoice_is_paid_from_the_list(page: Any, site: Site) -> None:
    """Invoices: a pending invoice's More has Pay, which reopens its payment page."""
    page.goto(site.url + "/?lang=en")
    page.get_by_label("Amount (IDR)").fill("15000")
    page.get_by_role("button", name="Continue To Payment").click()
    page.wait_for_url(re.compile(r"/fake-gateway/"))
    code = page.url.rsplit("/", 1)[1]
    page.goto(site.url + "/?lang=en")  # left without paying
    row = page.locator(f"tr[data-invoice='{code}']")
    assert "Pending" in row.inner_text()
    row.get_by_text(f"Details of {code}").click()
    row.get_by_role("button", name=f"Pay {code}").click()
    assert pay_on_the_gateway(page, site, "^Pay") == code
    assert "Paid" in page.locator(f"tr[data-invoice='{code}']").inner_text()
    assert site.served.billing.invoice(DEMO_ACCOUNT, code).status == "paid"
