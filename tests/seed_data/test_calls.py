"""Call topics (seed_data/calls.py): reading the real portal dump, cleaning it, loading, status and search."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from seed_data import files
from seed_data.calls import (
    CALLS_FILE,
    CALLS_SOURCE,
    CallFilters,
    CallNotFound,
    CallSourceError,
    call_action_type,
    call_idea,
    call_status,
    clean_text,
    get_call,
    programme_key,
    read_calls,
    search_calls,
)
from seed_data.crud import load_catalogue
from seed_data.files import DATA_DIR, read_jsonl_gz
from seed_data.tables import ACTION_TYPES, TEXT_MAX_LENGTH, Call
from tests.factories import write_mini_catalogue

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "raw" / CALLS_SOURCE
FIXTURE = ROOT / "tests" / "fixtures" / "raw" / CALLS_SOURCE
MOJIBAKE = re.compile("â€|Ã[\u0080-\u00bf]|Â[\u00a0-\u00bf]")


@pytest.fixture(scope="module")
def real_rows() -> list[dict[str, Any]]:
    if not REAL.is_file():
        pytest.fail(f"the raw calls source is missing: {REAL}", pytrace=False)
    return read_calls(REAL)


def test_the_real_file_gives_every_topic_clean(real_rows: list[dict[str, Any]]) -> None:
    assert len(real_rows) == 629
    by_id = {r["topic_id"]: r for r in real_rows}
    assert sum(r["programme_key"] == "horizon-europe" for r in real_rows) == 460
    assert {r["action_type"] for r in real_rows} <= set(ACTION_TYPES)
    for row in real_rows:
        for name in ("title", "text", "conditions", "call_title"):
            value = row[name] or ""
            assert not MOJIBAKE.search(value), (row["topic_id"], name, MOJIBAKE.search(value))
            assert not re.search(r"</?[a-zA-Z][^>]*>", value), (row["topic_id"], name)
            assert not value.startswith('">'), (row["topic_id"], name)
        assert isinstance(row["deadline"], dt.date)
    # the source's mojibake was there, and is repaired: "beneficiariesâ€™" -> "beneficiaries’" (the quote kept)
    raw = gzip.decompress(REAL.read_bytes()).decode("utf-8")
    assert raw.startswith("\ufeff") and "â€" in raw
    poc = by_id["ERC-2026-POC"]
    assert "the beneficiaries’ personnel" in poc["text"]
    assert poc["action_type"] == "ERC" and poc["programme"] == "Horizon Europe"
    assert poc["text"].startswith("Objective: The ERC Proof of Concept Grants")  # glued heading separated
    assert "\n\nScope: Size of ERC Proof of Concept Grants" in poc["text"]
    assert poc["conditions"].startswith("General conditions")  # the tail of a cut tag ('">') is gone
    assert (poc["budget_min"], poc["budget_max"], poc["expected_grants"]) == (150000.0, 150000.0, 400)
    farm = by_id["HORIZON-CL6-2027-02-FARM2FORK-01"]
    assert (farm["action_type"], farm["cluster"], farm["deadline"]) == ("RIA", "CL6", dt.date(2027, 9, 23))
    assert by_id["HORIZON-MSCA-2026-DN-01-01"]["action_type"] == "MSCA"
    assert by_id["LIFE-2026-SAP-ENV-ENVIRONMENT"]["programme_key"] is None


def test_the_shipped_calls_file_is_the_real_source_cleaned(real_rows: list[dict[str, Any]]) -> None:
    shipped = list(read_jsonl_gz(DATA_DIR / CALLS_FILE))
    assert shipped == json.loads(json.dumps(real_rows, default=str))
    report = files.read_json(DATA_DIR / "build_report.json")
    assert report["calls"]["total"] == 629


def _write_raw(path: Path, objects: list[str]) -> Path:
    """A raw file in the source's format: a byte-order mark, then JSON objects back to back."""
    path.write_bytes(gzip.compress(("\ufeff" + "".join(objects)).encode("utf-8")))
    return path


def _record(topic: str, **fields: Any) -> dict[str, Any]:
    record = {"topicId": topic, "title": "Test topic", "programme": "Horizon Europe", "cluster": "CL6",
              "actionType": "RIA", "typesOfAction": "HORIZON  Research and Innovation Actions",
              "deadline": "2027-01-15", "callStatus": "forthcoming", "budgetMin": 1000000, "budgetMax": 2000000,
              "expectedGrants": 3, "keywords": "water, Water, irrigation",
              "portalUrl": "https://example.org/partnermatch-test-fixture/topic", "description": "A test.",
              "topicConditions": ""}
    record.update(fields)
    return record


def test_a_hand_written_file_with_bom_mojibake_and_html_is_read(tmp_path: Path) -> None:
    mojibake = "Irrigation â€œsmartâ€\x9d farming"  # UTF-8 read as cp1252, as the source has it
    objects = [
        json.dumps(_record("TEST-2027-01", title=mojibake)),
        json.dumps(_record("TEST-2027-02", description="<p>Objective:</p><p>Water &amp; soil.</p><ul><li>one</li>"
                                                       "<li>two</li></ul>", typesOfAction="", actionType="")),
    ]
    rows = read_calls(_write_raw(tmp_path / "open.jsonl.gz", objects))
    first, second = rows
    assert first["title"] == "Irrigation “smart” farming"
    assert first["keywords"] == ["water", "irrigation"]
    assert second["text"] == "Objective:\n\nWater & soil.\n\none\n\ntwo"
    assert second["action_type"] == "other"  # no type of action (as 21 real topics, whose short code is empty too)
    assert (first["deadline"], first["portal_status"], first["programme_key"]) == (
        dt.date(2027, 1, 15), "forthcoming", "horizon-europe")


def test_a_bad_record_is_named_with_its_field(tmp_path: Path) -> None:
    objects = [json.dumps(_record("TEST-2027-01")), json.dumps(_record("TEST-2027-02", deadline="soon")),
               json.dumps(_record("TEST-2027-03", budgetMin=5, budgetMax=1)), json.dumps(_record("", title=""))]
    with pytest.raises(CallSourceError) as failed:
        read_calls(_write_raw(tmp_path / "open.jsonl.gz", objects))
    problems = failed.value.problems
    assert "record 2 ('TEST-2027-02'): field 'deadline': not an ISO date (got 'soon')" in problems
    assert any(p.startswith("record 3 ('TEST-2027-03'): fields 'budgetMin', 'budgetMax'") for p in problems)
    assert any(p.startswith("record 4: field 'topicId'") for p in problems)
    assert len(problems) == 4  # record 4 lacks both its topic id and its title


def test_cleaning_repairs_mojibake_only() -> None:
    correct = "It’s ‘x’: ﬁnance ＡＢＣ, “quoted”"
    assert clean_text(correct) == correct  # curly quotes, ligatures and full-width letters are correct text
    assert clean_text("It&acirc;&#128;&#153;s <b>bold</b>") == "It’s bold"  # mojibake written as entities
    assert clean_text("page limit\u00ef\u00bb\u00bfdescribed") == "page limitdescribed"  # a repaired BOM goes


def test_a_url_or_text_fields_of_another_kind_are_named(tmp_path: Path) -> None:
    objects = [json.dumps(_record("TEST-2027-01", portalUrl="javascript:alert(1)")),
               json.dumps(_record("TEST-2027-02", keywords=["water"])),
               json.dumps(_record("TEST-2027-03", topicConditions={"eligibility": "any"}))]
    with pytest.raises(CallSourceError) as failed:
        read_calls(_write_raw(tmp_path / "open.jsonl.gz", objects))
    first, second, third = failed.value.problems
    assert first.startswith("record 1 ('TEST-2027-01'): field 'portalUrl': not an http(s) URL: only http and https")
    assert second == "record 2 ('TEST-2027-02'): field 'keywords': expected text (got list)"
    assert third == "record 3 ('TEST-2027-03'): field 'topicConditions': expected text (got dict)"


def test_broken_json_is_named_by_record(tmp_path: Path) -> None:
    with pytest.raises(CallSourceError, match=r"record 2: not JSON"):
        read_calls(_write_raw(tmp_path / "open.jsonl.gz", [json.dumps(_record("TEST-2027-01")), '{"topicId": ']))


def test_action_types_and_programme_keys() -> None:
    assert call_action_type("HORIZON JU Research and Innovation Actions") == "RIA"
    assert call_action_type("EURATOM Innovation Actions") == "IA"
    assert call_action_type("DIGITAL JU Coordination and Support Actions") == "CSA"
    assert call_action_type("HORIZON TMA MSCA Cofund Doctoral programme") == "MSCA"
    assert call_action_type("HORIZON EIC Grants") == "EIC"
    assert call_action_type("HORIZON Recognition Prize") == "other"
    assert programme_key("Horizon Europe", "HORIZON-CL5-2027-01") == "horizon-europe"
    assert programme_key("Erasmus+", "ERASMUS-EDU-2027-CBHE") == "erasmus-cbhe"
    assert programme_key("Erasmus+", "ERASMUS-EDU-2026-PEX-COVE") is None
    assert programme_key("Euratom", "HORIZON-EURATOM-2026-01-01") is None


def _call(**fields: Any) -> Call:
    base = {"topic_id": "TEST-1", "title": "Test", "programme": "Horizon Europe", "action_type": "RIA",
            "text": "Text.", "deadline": dt.date(2026, 9, 17), "portal_status": "open"}
    return Call(**{**base, **fields})


def test_status_is_relative_to_today() -> None:
    call = _call()
    assert call_status(call, dt.date(2026, 9, 16)) == "open"
    assert call_status(call, dt.date(2026, 9, 17)) == "open"  # the deadline day is still open
    assert call_status(call, dt.date(2026, 9, 18)) == "closed"
    assert call_status(_call(portal_status="forthcoming"), dt.date(2026, 8, 1)) == "forthcoming"
    assert call_status(_call(portal_status="forthcoming"), dt.date(2026, 11, 30)) == "closed"
    assert call_status(_call(portal_status="closed"), dt.date(2026, 8, 1)) == "closed"
    assert call_status(_call(deadline=None), dt.date(2030, 1, 1)) == "open"


def test_the_idea_is_title_and_text_cut_to_the_request_limit() -> None:
    assert call_idea(_call(title="Water", text="Irrigation.")) == "Water\n\nIrrigation."
    assert len(call_idea(_call(text="x" * 30000))) == TEXT_MAX_LENGTH
    assert call_idea(_call(title="Water", text="Irrigation."), " Drip lines. ") == "Drip lines.\n\nWater\n\nIrrigation."
    given = call_idea(_call(title="Water", text="y" * 30000), "x" * 19990)
    assert len(given) == TEXT_MAX_LENGTH and given.startswith("x" * 19990 + "\n\nWater")


@pytest.fixture
def catalogue_with_calls(tmp_path: Path) -> Path:
    """The mini catalogue plus the calls of the raw-source fixture (tests/fixtures/raw, real records)."""
    folder = write_mini_catalogue(tmp_path / "data")
    files.write_jsonl_gz(folder / CALLS_FILE, read_calls(FIXTURE))
    return folder


def test_calls_load_twice_and_a_dropped_call_is_deleted(session: Session, catalogue_with_calls: Path) -> None:
    first = load_catalogue(session=session, data_dir=catalogue_with_calls)
    assert (first.calls.inserted, first.calls.updated) == (15, 0)
    assert load_catalogue(session=session, data_dir=catalogue_with_calls).n_changed == 0
    call = get_call(session, "EuropeAid/186246/DD/ACT/NG")
    assert call.text == "" and call.programme_key is None
    rows = [r for r in read_jsonl_gz(catalogue_with_calls / CALLS_FILE) if r["topic_id"] != "ERC-2026-POC"]
    files.write_jsonl_gz(catalogue_with_calls / CALLS_FILE, rows)
    again = load_catalogue(session=session, data_dir=catalogue_with_calls)
    assert (again.calls.unchanged, again.calls.deleted) == (14, 1)
    with pytest.raises(CallNotFound, match="ERC-2026-POC"):
        get_call(session, "ERC-2026-POC")


def _ids(session: Session, today: dt.date = dt.date(2026, 10, 1), **filters: Any) -> list[str]:
    rows, count = search_calls(session, CallFilters(**filters), today=today, limit=100)
    assert count == len(rows)
    return [r.topic_id for r in rows]


def test_search_filters_and_order(session: Session, catalogue_with_calls: Path) -> None:
    load_catalogue(session=session, data_dir=catalogue_with_calls)
    everything = _ids(session)
    assert len(everything) == 15 and everything[0] == "ERC-2026-POC"  # soonest deadline first
    deadlines = [get_call(session, t).deadline for t in everything]
    assert deadlines == sorted(deadlines)  # type: ignore[type-var]
    assert set(_ids(session, programme="horizon-europe")) == set(_ids(session, programme="Horizon Europe"))
    assert len(_ids(session, programme="horizon-europe")) == 9
    assert _ids(session, programme="life") == ["LIFE-2026-SAP-ENV-ENVIRONMENT"]
    assert set(_ids(session, action_type="RIA")) == {
        "HORIZON-CL2-2026-01-DEMOCRACY-02", "HORIZON-CL6-2026-01-BIODIV-02", "HORIZON-CL6-2027-02-FARM2FORK-01",
        "HORIZON-CL6-2027-02-FARM2FORK-02-two-stage", "HORIZON-EURATOM-2026-01-01"}
    assert set(_ids(session, cluster="cl6")) >= {"HORIZON-CL6-2027-02-FARM2FORK-01"}
    assert "HORIZON-CL6-2027-02-FARM2FORK-01" in _ids(session, q="WATER nutrient")
    assert _ids(session, q="farm2fork-01") == ["HORIZON-CL6-2027-02-FARM2FORK-01"]
    assert _ids(session, q="100%_no_such") == []  # LIKE wildcards in a query are literal
    window = _ids(session, deadline_from=dt.date(2027, 1, 1), deadline_to=dt.date(2027, 6, 30))
    assert all(dt.date(2027, 1, 1) <= get_call(session, t).deadline <= dt.date(2027, 6, 30)  # type: ignore[operator]
               for t in window) and window
    open_now = _ids(session, open_only=True)
    assert "ERC-2026-POC" not in open_now and "PERI-2026-ANTI-COUNTERFEIT" not in open_now
    assert all(call_status(get_call(session, t), dt.date(2026, 10, 1)) != "closed" for t in open_now)
    assert len(_ids(session, today=dt.date(2028, 1, 1), open_only=True)) == 0
