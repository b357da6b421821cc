"""The console's open calls, consortium builder and portfolio view in a real browser, on the shipped catalogue
(its call topics included): search calls → open one → partners for it → build a consortium, lock and exclude
members, rebuild, export; an officer's portfolio for a small selection. What the pages show is compared with
what the API answers for the same request."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import KAZNU, Service, use_key

KAZNU_NAME = "Al-Farabi Kazakh National University"
BUILD_TIMEOUT_MS = 180_000  # a consortium is solved with a time limit per alternative; the cores are shared


def _get(service: Service, path: str, **params: Any) -> Any:
    response = httpx.get(f"{service.url}{path}", params=params, timeout=60)
    response.raise_for_status()
    return response.json()


def _post(service: Service, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{service.url}{path}", json=body, headers={"X-API-Key": service.office_key}, timeout=300)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def water_call(service: Service) -> dict[str, Any]:
    """A Horizon Europe research and innovation topic about drought from the shipped calls (any status: the
    tests must not depend on today's date)."""
    page = _get(service, "/calls", programme="horizon-europe", action_type="RIA", q="drought", limit=1)
    assert page["data"], "the shipped catalogue has no Horizon Europe RIA call about drought"
    call: dict[str, Any] = page["data"][0]
    return call


def _choose_requester(page: Page, field: str, text: str, name: str) -> None:
    page.fill(field, text)
    page.locator(f"{field} ~ ul li", has_text=name).first.click()


def _column(page: Page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("cells => cells.map(c => c.firstChild.textContent)")


def test_search_calls_and_open_one(page: Page, service: Service, water_call: dict[str, Any],
                                   output_dir: Path) -> None:
    page.click("nav a[data-view=calls]")
    rows = page.locator("#calls-table tbody tr")
    expect(rows.first).to_be_visible()
    # the first visit lists the open and forthcoming calls, by deadline
    expect(page.locator("#calls-status")).to_contain_text("by deadline")
    expect(page.locator("#calls-table .badge.status-closed")).to_have_count(0)
    deadlines = [d for d in _column(page, "#calls-table tbody td:first-child") if d != "–"]
    assert deadlines == sorted(deadlines) and deadlines, deadlines
    page.screenshot(path=output_dir / "calls-list.png", full_page=True)

    # filters: an action type and a deadline window, each row within them
    page.select_option("#calls-action", "CSA")
    page.fill("#calls-from", "2026-01-01")
    page.fill("#calls-to", "2027-06-30")
    page.uncheck("#calls-open")
    page.click("#calls-submit")
    expected = _get(service, "/calls", action_type="CSA", deadline_from="2026-01-01", deadline_to="2027-06-30",
                    limit=50)
    expect(page.locator("#calls-status")).to_contain_text(f"{expected['count']} call topic")
    expect(rows).to_have_count(len(expected["data"]))
    assert set(_column(page, "#calls-table tbody td:nth-child(5)")) == {"CSA"}
    assert all("2026-01-01" <= d <= "2027-06-30" for d in _column(page, "#calls-table tbody td:first-child"))

    # search by words: the water call is found, and opened with the keyboard
    page.select_option("#calls-action", "")
    page.fill("#calls-from", "")
    page.fill("#calls-to", "")
    page.select_option("#calls-programme", "horizon-europe")
    page.fill("#calls-q", water_call["topic_id"])
    page.press("#calls-q", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(water_call["title"])
    rows.first.locator("a").focus()
    page.keyboard.press("Enter")

    call = _get(service, f"/calls/{water_call['topic_id']}")
    expect(page.locator("#call-title")).to_have_text(call["title"])
    body = page.locator("#call-body")
    expect(body).to_contain_text(call["topic_id"])
    expect(body.locator(f".badge.status-{call['status']}")).to_be_visible()
    expect(body.locator(".call-text").first).to_contain_text(call["text"][:60])
    grants = call["expected_grants"]
    expect(body.locator("dl.facts dt:text-is('Expected grants') + dd")).to_have_text(
        "–" if grants is None else str(grants))
    if call["deadline"] and call["status"] != "closed":
        days = (dt.date.fromisoformat(call["deadline"]) - dt.date.today()).days
        expect(body.locator(".meta")).to_contain_text(f"{days} day" if days else "closes today")
    portal = body.get_by_role("link", name="The topic on the Funding & Tenders portal")
    expect(portal).to_have_attribute("href", call["url"])
    assert "noopener" in (portal.get_attribute("rel") or "")
    expect(page.locator("nav a[data-view=calls]")).to_have_attribute("aria-current", "page")
    page.screenshot(path=output_dir / "call-page.png", full_page=True)

    # an unknown topic: the service's 404 on the page
    page.goto(f"{service.url}/#/call/HORIZON-NO-SUCH-TOPIC-01")
    expect(page.locator("#call-body .error")).to_contain_text("HORIZON-NO-SUCH-TOPIC-01")


def _card_ids(page: Page) -> list[str]:
    return page.locator("#call-results article.card").evaluate_all("cards => cards.map(c => c.dataset.institution)")


def test_suggest_partners_for_a_call(page: Page, service: Service, water_call: dict[str, Any],
                                     output_dir: Path) -> None:
    topic = water_call["topic_id"]
    page.goto(f"{service.url}/#/call/{topic}")
    expect(page.locator("#call-title")).to_have_text(water_call["title"])
    # without a key: the service's 401 as a message
    page.click("#call-suggest-open")
    expect(page.locator("#message")).to_contain_text("API key")

    use_key(page, service.office_key)
    page.click("#call-suggest-open")
    cards = page.locator("#call-results article.card")
    expect(cards).to_have_count(10)
    expected = _post(service, "/suggestions", {"call": topic, "k": 10})
    assert _card_ids(page) == [s["institution"]["id"] for s in expected["data"]]
    expect(page.locator("#call-suggest-status")).to_contain_text(f"from {expected['n_eligible']} eligible")

    # for a requester: the ranking for the requester and the call
    _choose_requester(page, "#call-requester", "KazNU", KAZNU_NAME)
    page.fill("#call-k", "5")
    page.click("#call-suggest-submit")
    expect(page.locator("#call-suggest-status")).to_contain_text(f"for {KAZNU_NAME}")
    expect(cards).to_have_count(5)
    expected = _post(service, "/suggestions", {"call": topic, "requester_id": KAZNU, "k": 5})
    assert _card_ids(page) == [s["institution"]["id"] for s in expected["data"]]
    first = cards.first
    expect(first.locator(".stack span").first).to_be_visible()
    expect(first.locator(".reasons li").first).to_be_visible()
    first.locator("button.add").click()
    expect(first.locator("button.add")).to_have_text("On the shortlist")
    expect(page.locator("#shortlist-count")).to_have_text("1")
    page.screenshot(path=output_dir / "call-suggestions.png", full_page=True)


def _members(page: Page, rank: int) -> list[str]:
    return page.locator(f"#cons-results section.alternative[data-rank='{rank}'] li.member").evaluate_all(
        "items => items.map(li => li.dataset.institution)")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_build_consortium_lock_exclude_rebuild_export(page: Page, service: Service, water_call: dict[str, Any],
                                                      output_dir: Path) -> None:
    topic = water_call["topic_id"]
    use_key(page, service.office_key)
    page.goto(f"{service.url}/#/call/{topic}")
    page.click("#call-suggest-open")
    _choose_requester(page, "#call-requester", "KazNU", KAZNU_NAME)
    # "Build a consortium" opens the builder with the call and the requester chosen on the call page
    page.click("#call-consortium")
    expect(page.locator("#cons-call")).to_have_value(topic)
    expect(page.locator("#cons-call-title")).to_contain_text(water_call["title"])
    expect(page.locator("#cons-requester-chosen")).to_contain_text(KAZNU_NAME)
    page.fill("#cons-alternatives", "2")
    page.click("#cons-submit")

    alternatives = page.locator("#cons-results section.alternative")
    expect(alternatives).to_have_count(2, timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#cons-status")).to_contain_text("2 alternatives from")
    first = alternatives.first
    # members with role, country and kind; the aspects each covers with evidence; the rules; the objective
    expect(first.locator(f"li.member[data-institution='{KAZNU}'] .badge")).to_have_text("requester")
    expect(first.locator("li.member .role").first).to_be_visible()
    covering = first.locator("li.member details.evidence").first
    summary = covering.locator("summary")
    expect(summary).to_have_text(re.compile(r"^Covers A\d+(, A\d+)*$"))
    summary.click()
    # one evidence item per aspect the summary names, each labelled A<n> and quoting the n-th aspect's text
    labels = (summary.text_content() or "").removeprefix("Covers ").split(", ")
    items = covering.locator("li")
    expect(items).to_have_count(len(labels))
    for i, label in enumerate(labels):
        expect(items.nth(i).locator("strong")).to_have_text(label)
        aspect = page.locator(f"#cons-results details.aspects li[value='{label[1:]}']").text_content() or ""
        expect(items.nth(i).locator("span.hint")).to_have_text(aspect[:90])
    expect(first.locator("details.rules summary")).to_contain_text("Rules:")
    expect(first.locator(".breakdown tr.total")).to_contain_text("objective")
    expect(page.locator("#cons-export-csv")).to_be_enabled()
    page.screenshot(path=output_dir / "consortium-built.png", full_page=True)

    before = _members(page, 1)
    others = [m for m in before if m != KAZNU]
    keep, drop = others[-1], others[0]
    first.locator(f"li.member[data-institution='{keep}'] button[data-action=lock]").click()
    first.locator(f"li.member[data-institution='{drop}'] button[data-action=exclude]").click()
    expect(page.locator(f"#cons-locked li[data-institution='{keep}']")).to_be_visible()
    expect(page.locator(f"#cons-excluded li[data-institution='{drop}']")).to_be_visible()
    expect(first.locator(f"li.member[data-institution='{keep}'] button[data-action=lock]")).to_have_attribute(
        "aria-pressed", "true")
    expect(page.locator("#cons-submit")).to_have_text("Rebuild")
    page.click("#cons-submit")
    expect(page.locator("#cons-status")).to_contain_text("alternatives from", timeout=BUILD_TIMEOUT_MS)
    expect(alternatives).to_have_count(2)
    for rank in (1, 2):
        members = _members(page, rank)
        assert keep in members and KAZNU in members and drop not in members, (rank, members)
        expect(page.locator(f"section.alternative[data-rank='{rank}'] li.member[data-institution='{keep}'] "
                            ".badge.locked")).to_be_visible()
    page.screenshot(path=output_dir / "consortium-rebuilt.png", full_page=True)

    with page.expect_download(timeout=BUILD_TIMEOUT_MS) as download_info:
        page.click("#cons-export-csv")
    csv_path = output_dir / "consortia.csv"
    download_info.value.save_as(csv_path)
    table = _csv_rows(csv_path)
    for alternative in ("1", "2"):
        ids = {row["Institution id"] for row in table if row["Alternative"] == alternative}
        assert {keep, KAZNU} <= ids and drop not in ids, (alternative, ids)
    assert all(row["Role"] in {"coordinator candidate", "beneficiary", "associated partner"} for row in table)

    with page.expect_download(timeout=BUILD_TIMEOUT_MS) as download_info:
        page.click("#cons-export-xlsx")
    xlsx_path = output_dir / "consortia.xlsx"
    download_info.value.save_as(xlsx_path)
    book = openpyxl.load_workbook(xlsx_path)
    assert {"Members", "Rules", "Objective"} <= set(book.sheetnames)

    # the chip's button takes the lock off again, and the member's button follows
    chip = page.locator(f"#cons-locked li[data-institution='{keep}'] button")
    expect(chip).to_have_attribute("aria-label", re.compile("^Unlock "))
    chip.click()
    expect(page.locator("#cons-locked li")).to_have_text("none")
    expect(first.locator(f"li.member[data-institution='{keep}'] button[data-action=lock]")).to_have_attribute(
        "aria-pressed", "false")


def test_consortium_for_an_idea_and_bad_input(page: Page, service: Service) -> None:
    use_key(page, service.office_key)
    page.click("nav a[data-view=consortium]")
    # a call id left empty: a message, nothing sent
    page.click("#cons-submit")
    expect(page.locator("#message")).to_contain_text("topic id")
    # an unknown call: the service's 422 names it
    page.fill("#cons-call", "HORIZON-NO-SUCH-TOPIC-01")
    page.click("#cons-submit")
    expect(page.locator("#message")).to_contain_text("HORIZON-NO-SUCH-TOPIC-01")
    # a programme, action type and idea instead of a call
    page.check("input[name=cons-mode][value=idea]")
    page.select_option("#cons-programme", "horizon-europe")
    page.select_option("#cons-action", "CSA")
    page.fill("#cons-text", "Glacier melt monitoring and irrigation planning in Central Asian river basins. "
                            "Training water managers in drought forecasting.")
    page.fill("#cons-alternatives", "1")
    page.click("#cons-submit")
    expect(page.locator("#cons-results section.alternative")).to_have_count(1, timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#cons-results .panel .meta").first).to_contain_text("CSA")


def test_portfolio_for_a_small_selection(page: Page, service: Service, output_dir: Path) -> None:
    use_key(page, service.officer_key)
    page.click("nav a[data-view=portfolio]")
    page.select_option("#pf-programme", "horizon-europe")
    page.fill("#pf-k", "3")
    page.fill("#pf-c", "1")
    page.fill("#pf-cap", "2")
    page.select_option("#pf-area", "water")
    page.fill("#pf-n", "3")
    page.click("#pf-submit")
    panels = page.locator("#pf-results section.requester")
    expect(panels).to_have_count(3)
    expected = _post(service, "/portfolios", {"programme": "horizon-europe", "k": 3, "c": 1, "max_per_country": 2,
                                              "select": {"country": "KZ", "area": "water", "n": 3,
                                                         "kind": "university"}})
    for i, requester in enumerate(expected["requesters"]):
        panel = panels.nth(i)
        assert panel.get_attribute("data-requester") == requester["requester"]["id"]
        assigned = panel.locator("table.assigned tbody tr").evaluate_all("rows => rows.map(r => r.dataset.institution)")
        assert assigned == [p["institution"]["id"] for p in requester["partners"]]
        expect(panel.locator("table.independent tbody tr")).to_have_count(len(requester["independent"]))
        expect(panel.locator(".meta")).to_contain_text(f"score {requester['total']:.3f}")
    # the spread: the load per partner (c = 1: one requester each) and the partner countries
    loads = page.locator("#pf-load tbody tr")
    expect(loads).to_have_count(expected["spread"]["n_partners"])
    assert set(_column(page, "#pf-load tbody td:nth-child(3)")) == {"1"}
    expect(page.locator("#pf-spread svg[role=img]")).to_be_visible()
    page.screenshot(path=output_dir / "officer-portfolio.png", full_page=True)

    # requesters chosen by name: added with the institution search, k 2
    page.check("input[name=pf-mode][value=ids]")
    _choose_requester(page, "#pf-add", "KazNU", KAZNU_NAME)
    _choose_requester(page, "#pf-add", "Satbayev", "Satbayev University")
    expect(page.locator("#pf-ids")).to_have_value(re.compile(rf"^{KAZNU}, [a-z]+-[0-9a-z]+$"))
    page.fill("#pf-k", "2")
    page.click("#pf-submit")
    expect(panels).to_have_count(2)
    expect(panels.first.locator("table.assigned tbody tr")).to_have_count(2)
    expect(panels.first).to_contain_text(KAZNU_NAME)

    # bad input: the service's 422 as a message
    page.fill("#pf-ids", "pic-000000000")
    page.click("#pf-submit")
    expect(page.locator("#message")).to_contain_text("pic-000000000")


def test_new_pages_on_a_phone(browser: Browser, service: Service, water_call: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    for view in ("calls", f"call/{water_call['topic_id']}", "consortium", "portfolio"):
        page.goto(f"{service.url}/#/{view}")
        page.wait_for_selector("body[data-ready=true]")
        if view == "calls":
            expect(page.locator("#calls-table tbody tr").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"#/{view} scrolls sideways on a phone ({width}px wide)"
    context.close()
