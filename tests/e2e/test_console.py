"""What an international office and a programme officer do in the console, in a real browser, on the
shipped catalogue: search → suggestions → evidence → shortlist → feedback → CSV and Excel export; the
institution page and an owner's profile update; sliders → ranking → metrics → save → publish; bad input
and missing keys shown as messages."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from playwright.sync_api import FilePayload, Page, expect

from matcher.types import COMPONENTS
from tests.e2e.conftest import KAZNU, Service, use_key


def _choose_requester(page: Page, field: str, text: str, name: str) -> None:
    page.fill(field, text)
    page.locator(f"{field} ~ ul li", has_text=name).first.click()


def test_office_finds_partners_shortlists_and_exports(page: Page, service: Service, output_dir: Path) -> None:
    use_key(page, service.office_key)
    expect(page.locator("#key-status")).to_contain_text("Almaty office (e2e) (office)")
    _choose_requester(page, "#requester", "KazNU", "Al-Farabi Kazakh National University")
    page.select_option("#programme", "horizon-europe")
    page.check("input[name=area][value=water]")
    page.click("#find-submit")
    cards = page.locator("article.card")
    expect(cards).to_have_count(10)
    expect(page.locator("#find-status")).to_contain_text("10 suggestions from")
    first = cards.first
    # name, identifiers, score with its contribution bar, reasons
    expect(first.locator("h2 a")).not_to_be_empty()
    expect(first.locator(".ids")).to_contain_text("PIC")
    expect(first.locator(".stack span").first).to_be_visible()
    expect(first.locator(".reasons li").first).to_be_visible()
    first.locator("details.evidence summary").click()
    expect(first.locator("details.evidence")).to_contain_text("Projects that match the request")
    page.screenshot(path=output_dir / "office-find-partners.png", full_page=True)

    chosen = [cards.nth(i).get_attribute("data-institution") for i in range(3)]
    for i in range(3):
        cards.nth(i).locator("button.add").click()
    expect(cards.first.locator("button.add")).to_have_text("On the shortlist")
    expect(page.locator("#shortlist-count")).to_have_text("3")

    page.click("nav a[data-view=shortlist]")
    rows = page.locator("#shortlist-table tbody tr")
    expect(rows).to_have_count(3)
    rows.nth(0).locator("select").select_option("contacted")
    expect(rows.nth(0)).to_contain_text("feedback: contacted")
    rows.nth(1).locator("input[type=text]").fill("met at the info day")
    rows.nth(1).locator("input[type=text]").press("Tab")
    page.screenshot(path=output_dir / "office-shortlist.png", full_page=True)

    # the feedback reached the service, for the published Horizon Europe profile
    summary = httpx.get(f"{service.url}/feedback/summary", headers={"X-API-Key": service.office_key}).json()
    assert sum(row["counts"]["contacted"] for row in summary["data"] if row["name"] == "horizon-europe-default") == 1

    with page.expect_download() as download_info:
        page.click("#export-csv")
    csv_path = output_dir / "shortlist.csv"
    download_info.value.save_as(csv_path)
    table = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert [row["Institution id"] for row in table] == chosen
    assert table[1]["Note"] == "met at the info day"
    assert [row["Status"] for row in table] == ["contacted", "shortlisted", "shortlisted"]
    assert all(row["Programme"] == "Horizon Europe (horizon-europe)" for row in table)
    assert any(row["PIC"] for row in table)

    with page.expect_download() as download_info:
        page.click("#export-xlsx")
    xlsx_path = output_dir / "shortlist.xlsx"
    download_info.value.save_as(xlsx_path)
    sheet = openpyxl.load_workbook(xlsx_path).worksheets[0]
    assert sheet.max_row == 4  # header + 3 partners


def test_keyboard_only_request(page: Page, service: Service) -> None:
    """Choose the requester with the arrow keys and Enter, tick an area and submit with the keyboard."""
    use_key(page, service.office_key)
    page.focus("#requester")
    page.keyboard.type("Nazarbayev University")
    expect(page.locator("#requester-options li").first).to_contain_text("Nazarbayev University")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#requester-chosen")).to_contain_text("Nazarbayev University")
    page.focus("input[name=area][value=ai]")
    page.keyboard.press("Space")
    page.focus("#find-submit")
    page.keyboard.press("Enter")
    expect(page.locator("article.card")).to_have_count(10)


def test_project_idea_request(page: Page, service: Service) -> None:
    use_key(page, service.office_key)
    page.check("input[name=mode][value=text]")
    page.fill("#idea", "Glacier melt monitoring and irrigation planning in Central Asian river basins")
    page.select_option("#programme", "erasmus-cbhe")
    page.fill("#k", "5")
    page.click("#find-submit")
    expect(page.locator("article.card")).to_have_count(5)


def test_institution_page_and_owner_profile_update(page: Page, service: Service, output_dir: Path) -> None:
    page.goto(f"{service.url}/#/institution/{KAZNU}")
    expect(page.locator("#inst-title")).to_have_text("Al-Farabi Kazakh National University")
    expect(page.locator("#inst-body svg[role=img]")).to_have_count(2)  # area strengths, projects per year
    expect(page.locator("#inst-body")).to_contain_text("PIC 959424479")
    expect(page.locator("#inst-body ol li").first).to_be_visible()  # main partners
    page.screenshot(path=output_dir / "institution-page.png", full_page=True)

    text = ("Al-Farabi Kazakh National University: hydrology and water resources of the Syr Darya and Ili "
            "basins, glacier monitoring, irrigation efficiency and drinking-water quality.")
    # an office key that is not this institution's owner may not change its profile
    use_key(page, service.office_key)
    page.fill("#profile-text", text)
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#message")).to_be_visible()
    expect(page.locator("#message")).to_contain_text("owner")
    # the owner's key may
    use_key(page, service.owner_key)
    page.goto(f"{service.url}/#/institution/{KAZNU}")
    page.fill("#profile-text", text)
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#inst-body")).to_contain_text("Supplied by the institution")
    expect(page.locator("#inst-body .profile-text")).to_contain_text("Syr Darya")
    page.click("#profile-revert")
    expect(page.locator("#inst-body")).to_contain_text("Derived from the institution's project texts")


def _ranking(page: Page) -> list[str]:
    return page.locator("#tune-ranking li").evaluate_all("items => items.map(li => li.dataset.institution)")


def test_officer_tunes_saves_and_publishes(page: Page, service: Service, output_dir: Path) -> None:
    use_key(page, service.officer_key)
    page.click("nav a[data-view=tune]")
    page.select_option("#tune-programme", "horizon-europe")
    expect(page.locator("#tune-profile")).to_contain_text("horizon-europe-default")
    _choose_requester(page, "#tune-requester", "Satbayev", "Satbayev University")
    expect(page.locator("#tune-ranking li")).to_have_count(10)
    expect(page.locator("#metrics-table tbody tr")).to_have_count(4, timeout=120_000)
    before = _ranking(page)
    metrics_before = page.locator("#metrics-table tbody tr[data-metric='ndcg@10'] td").first.inner_text()

    # all weight on the network: the ranking and the estimate must follow the sliders
    for name in COMPONENTS:
        if name != "network":
            page.locator(f"#w-{name}").fill("0")
    page.locator("#w-network").fill("1")
    expect(page.locator("#w-network-out")).to_have_text("100%")
    after = _ranking(page)
    for _ in range(300):  # polled here: the Content-Security-Policy refuses wait_for_function's eval()
        if after != before:
            break
        page.wait_for_timeout(200)
        after = _ranking(page)
    assert after != before
    expect(page.locator("#metrics-table tbody tr[data-metric='ndcg@10'] td").first).not_to_have_text(metrics_before)

    page.select_option("#sweep-component", "thematic")
    page.click("#sweep-run")
    expect(page.locator("#sweep-chart svg")).to_be_visible()
    page.click("#whatif-run")
    expect(page.locator("#whatif-table tbody tr").first).to_be_visible(timeout=120_000)

    page.fill("#save-comment", "e2e: network only")
    page.click("#save-form button[type=submit]")
    expect(page.locator("#save-status")).to_contain_text("Saved as version")
    new_version = page.locator("#save-status").inner_text().split("version ")[1].split(" ")[0]
    page.screenshot(path=output_dir / "officer-tune-weights.png", full_page=True)
    page.locator(f"#history tr[data-version='{new_version}'] button", has_text="Publish").click()
    expect(page.locator("#save-status")).to_contain_text(f"Version {new_version} is published")
    expect(page.locator(f"#history tr[data-version='{new_version}']")).to_contain_text("published")
    published = httpx.get(f"{service.url}/weights/horizon-europe-default",
                          headers={"X-API-Key": service.officer_key}).json()
    assert published["version"] == int(new_version) and published["published"]

    # roll back to version 1: a new version equal to it, published
    page.once("dialog", lambda dialog: dialog.accept("e2e: back to the default"))
    page.locator("#history tr[data-version='1'] button", has_text="Roll back").click()
    expect(page.locator("#save-status")).to_contain_text("Rolled back")
    expect(page.locator("#history tbody tr").first).to_contain_text("published")
    expect(page.locator("#history tbody tr").first).to_contain_text("e2e: back to the default")


def test_bad_input_and_missing_key_show_messages(page: Page, service: Service, output_dir: Path) -> None:
    # no requester chosen
    page.click("#find-submit")
    expect(page.locator("#message")).to_contain_text("Choose the requesting institution")
    # no key: the service's 401 as a message
    _choose_requester(page, "#requester", "Nazarbayev", "Nazarbayev University")
    page.click("#find-submit")
    expect(page.locator("#message")).to_contain_text("API key")
    # a bad filter value: the service's 422 names the field
    use_key(page, service.office_key)
    page.click("details.filters summary")
    page.fill("#countries", "Germany")
    page.click("#find-submit")
    expect(page.locator("#message")).to_contain_text("countries")
    page.screenshot(path=output_dir / "error-message.png", full_page=False)
    # an unknown institution page
    page.goto(f"{service.url}/#/institution/pic-000000000")
    expect(page.locator("#inst-body .error")).to_contain_text("pic-000000000")


def test_console_on_a_phone(browser, service: Service, output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(service.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px wide)"
    page.screenshot(path=output_dir / "phone-find-partners.png", full_page=True)
    context.close()


# An office's publication export in RIS as reference managers and Scopus write it (tags, two spaces, a hyphen).
# The records are made up for the test (10.5555 is Crossref's prefix for examples); they are removed again.
E2E_DOI_PREFIX = "10.5555/partnermatch-e2e."
ERROR = re.compile(r"\berror\b")


def _ris_record(n: int, *, title: bool = True) -> str:
    lines = ["TY  - JOUR", "AU  - Testova, Aigerim", "AU  - Example, Daniyar"]
    if title:
        lines.append(f"TI  - E2E record {n:02d}: glacier melt monitoring and irrigation planning in the Ili basin")
    lines += ["T2  - Journal of Test Records", "PY  - 2024", f"DO  - {E2E_DOI_PREFIX}{n:04d}",
              "AB  - Seasonal snow and glacier melt observations for irrigation scheduling.",
              "KW  - glacier melt", "KW  - irrigation", "ER  - "]
    return "\n".join(lines) + "\n"


def _ris_file(records: list[str]) -> FilePayload:
    """A file for ``set_input_files``, as the browser's file picker hands it over."""
    return {"name": "kaznu-publications.ris", "mimeType": "application/x-research-info-systems",
            "buffer": "\n".join(records).encode()}


def _detail(service: Service, institution_id: str = KAZNU) -> dict[str, Any]:
    response = httpx.get(f"{service.url}/institutions/{institution_id}", timeout=30)
    response.raise_for_status()
    detail: dict[str, Any] = response.json()
    return detail


def _remove_e2e_publications(service: Service) -> None:
    """Delete what an earlier run of these tests left behind (through the API, with the owner's key)."""
    for item in _detail(service)["evidence"]:
        if (item.get("external_id") or "").lower().startswith(E2E_DOI_PREFIX):
            httpx.delete(f"{service.url}/institutions/{KAZNU}/evidence/{item['id']}",
                         headers={"X-API-Key": service.owner_key}, timeout=60).raise_for_status()


def test_institution_page_shows_evidence_by_type(page: Page, service: Service, output_dir: Path) -> None:
    detail = _detail(service)
    page.goto(f"{service.url}/#/institution/{KAZNU}")
    expect(page.locator("#inst-title")).to_have_text("Al-Farabi Kazakh National University")
    evidence = page.locator("#evidence")
    # one group per type the institution has, headed with its count
    for kind, count in detail["evidence_counts"].items():
        group = evidence.locator(f"section.evidence-group[data-type={kind}]")
        if count:
            expect(group.locator("h3")).to_contain_text(f"({count}")
        else:
            expect(group).to_have_count(0)
    listed = [item for item in detail["evidence"] if item["type"] == "research_unit"]
    assert listed, "KazNU's research units from its public web pages are missing"
    units = evidence.locator("section.evidence-group[data-type=research_unit] li")
    expect(units).to_have_count(min(len(listed), 20))
    expect(units.first).to_contain_text(listed[0]["title"])
    # a web source is a link that opens in a new tab without handing the console to the other site
    link = units.first.locator("a.source")
    expect(link).to_have_attribute("href", listed[0]["source"])
    expect(link).to_have_attribute("target", "_blank")
    assert "noopener" in (link.get_attribute("rel") or "")
    # without a key nothing offers removal
    expect(page.locator("#inst-body button", has_text="Remove")).to_have_count(0)
    # known partnerships: a resolved partner links to its page, an unresolved one says it is not in the catalogue
    partnerships = detail["known_partnerships"]
    rows = page.locator("#partnerships tbody tr")
    expect(rows).to_have_count(min(len(partnerships), 20))
    for i, partnership in enumerate(partnerships[:20]):
        if partnership["partner_id"]:
            expect(rows.nth(i).locator("td").first.locator("a")).to_have_attribute(
                "href", f"#/institution/{partnership['partner_id']}")
        else:
            expect(rows.nth(i).locator("td").first).to_contain_text("(not in the catalogue)")
    # the area strengths keep their chart and list the items behind the top areas
    expect(page.locator("#strengths svg[role=img]")).to_have_count(1)
    if any(area.get("evidence") for area in detail["area_strengths"]):
        expect(page.locator("#strengths .area-evidence li").first).to_be_visible()
    page.screenshot(path=output_dir / "institution-evidence.png", full_page=True)


def test_institution_known_only_from_the_web_is_marked_described(page: Page, service: Service) -> None:
    rows = []
    for offset in (0, 100, 200):
        params: dict[str, str | int] = {"country": "KZ", "limit": 100, "offset": offset}
        rows += httpx.get(f"{service.url}/institutions", params=params, timeout=30).json()["data"]
    described = next((row for row in rows if _detail(service, row["id"])["evidence_level"] == "described"), None)
    assert described is not None, "no Kazakh institution is known only from research fields and units"
    page.goto(f"{service.url}/#/institution/{described['id']}")
    expect(page.locator("#inst-body .badge.described")).to_contain_text("public web pages only")


def test_owner_uploads_publications_and_removes_one(page: Page, service: Service, output_dir: Path) -> None:
    _remove_e2e_publications(service)
    before = _detail(service)["evidence_counts"]["publication"]
    records = [_ris_record(n) for n in range(1, 23)]  # more than the 20 a group shows at first
    # a key that does not own KazNU may not add to it
    use_key(page, service.office_key)
    page.goto(f"{service.url}/#/institution/{KAZNU}")
    page.select_option("#evidence-kind", "publications")
    expect(page.locator("#evidence-format")).to_be_visible()
    page.select_option("#evidence-format", "ris")
    page.set_input_files("#evidence-file", files=[_ris_file(records)])
    page.click("#evidence-form button[type=submit]")
    status = page.locator("#evidence-upload-status")
    expect(status).to_have_class(ERROR)
    assert _detail(service)["evidence_counts"]["publication"] == before

    use_key(page, service.owner_key)
    expect(status).not_to_have_class(ERROR)  # the page is drawn again for the new key, the form reset
    page.select_option("#evidence-format", "ris")
    page.set_input_files("#evidence-file", files=[_ris_file(records)])
    page.check("#evidence-dry-run")
    page.click("#evidence-form button[type=submit]")
    expect(status).to_contain_text("Checked only, nothing saved: 22 records read")
    expect(status).to_contain_text("22 would be added")
    assert _detail(service)["evidence_counts"]["publication"] == before

    page.uncheck("#evidence-dry-run")
    page.click("#evidence-form button[type=submit]")
    expect(status).to_contain_text("Imported: 22 records read")
    expect(status).to_contain_text("22 added")
    publications = page.locator("#evidence section.evidence-group[data-type=publication]")
    expect(publications.locator("h3")).to_contain_text(f"({before + 22}")
    record = publications.locator("li", has_text="E2E record 07:")
    expect(record).to_contain_text("(2024)")
    expect(record).to_contain_text(f"doi:{E2E_DOI_PREFIX}0007")
    expect(record.locator(".badge.import")).to_be_visible()
    # the first 20 are shown, the rest on request
    if before == 0:
        expect(publications.locator("li")).to_have_count(20)
        publications.locator("button.show-all").click()
        expect(publications.locator("li")).to_have_count(22)
        expect(publications.locator("button.show-all")).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=output_dir / "institution-publications-imported.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    record.get_by_role("button", name="Remove").click()
    expect(page.locator("#evidence-status")).to_contain_text("Removed")
    expect(publications.locator("li", has_text="E2E record 07:")).to_have_count(0)
    expect(publications.locator("h3")).to_contain_text(f"({before + 21}")
    assert not any(item["title"].startswith("E2E record 07:") for item in _detail(service)["evidence"])
    _remove_e2e_publications(service)
    assert _detail(service)["evidence_counts"]["publication"] == before


def test_bad_publication_file_lists_every_error(page: Page, service: Service, output_dir: Path) -> None:
    before = _detail(service)["evidence_counts"]["publication"]
    use_key(page, service.owner_key)
    page.goto(f"{service.url}/#/institution/{KAZNU}")
    page.select_option("#evidence-format", "ris")
    # records 1 and 3 have no title: nothing of the file is added, and both are named
    page.set_input_files("#evidence-file", files=[_ris_file(
        [_ris_record(101, title=False), _ris_record(102), _ris_record(103, title=False)])])
    page.click("#evidence-form button[type=submit]")
    errors = page.locator("#evidence-upload-errors li")
    expect(errors).to_have_count(2)
    expect(page.locator("#evidence-upload-status")).to_have_class(ERROR)
    page.screenshot(path=output_dir / "institution-upload-errors.png", full_page=True)
    assert _detail(service)["evidence_counts"]["publication"] == before
