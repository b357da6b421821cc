"""Facts collected for institutions beyond Kazakhstan (seed_data/reference/bri_public_web/) built in: matched by
catalogue id, else website or names; items and typed partnerships attached; what matches none is reported.

The records here are hand-written test fixtures in the real layout (kz_public_web/METHOD.md), with example.org
URLs; the institutions are real rows of the raw-source slice (tests/fixtures/raw)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seed_data.build import REFERENCE_WEB, build_catalogue
from seed_data.files import read_jsonl_gz
from seed_data.reference import REFERENCE_DIR

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"
NWAFU, KAZNU = "ror-0051rme32", "pic-959424479"
URL = "https://example.org/partnermatch-test-fixture/"

RECORDS = [
    {"catalogue_id": NWAFU, "name": "Northwest A&F University",
     "research_fields": [{"subfield": "Agronomy and Crop Science", "basis": "crop breeding", "url": URL + "1"},
                         {"subfield": "Not An OpenAlex Subfield", "basis": "rejected", "url": URL + "2"}],
     "units": [{"name": "Kazakh-Chinese agricultural centre", "topic": "crop trials", "url": URL + "3"}],
     "projects": [], "partnerships": [
         {"partner": "Al-Farabi Kazakh National University", "country": "KZ", "type": "joint_lab", "year": 2023,
          "what": "joint laboratory", "url": URL + "4"},
         {"partner": "A university nobody lists", "country": "KZ", "type": "mou", "year": 2021, "what": None,
          "url": URL + "5"},
         # a spelling of KazNU that only the curated name_variants.csv knows
         {"partner": "Kazakhstan National University named after al-Farobiy", "country": "KZ", "type": "other",
          "year": 2022, "what": None, "url": URL + "12"}],
     "queries": ["NWAFU Kazakhstan"], "notes": "fixture"},
    {"catalogue_id": "web-no-such-id.cn", "name": "Beijing Language and Culture University",
     "research_fields": [{"subfield": "Linguistics and Language", "basis": "language teaching research",
                          "url": URL + "6"}],
     "units": [], "projects": [], "partnerships": [], "queries": [], "notes": "id drifted: matched by name"},
    {"catalogue_id": None, "name": "An institute in no source", "research_fields": [], "units": [], "projects": [],
     "partnerships": [], "queries": ["x"], "notes": "nothing found"},
]


# Institutions the catalogue lacks (files named missing_*.jsonl): new rows in their country, unless the exact
# website host (or a name) finds them; a record without a country is rejected.
MISSING = [
    {"name": "Institute of Dryland Test Fixtures", "names": ["干旱区测试研究所", "IDTF"], "country": "CN",
     "city": "Yangling", "website": "http://idtf.nwsuaf.edu.cn", "kind": "research", "sources": [URL + "7"],
     "research_fields": [{"subfield": "Soil Science", "basis": "dryland soils", "url": URL + "8"}],
     "units": [], "projects": [], "partnerships": [
         {"partner": "Al-Farabi Kazakh National University", "country": "KZ", "type": "mou", "year": 2024,
          "what": None, "url": URL + "9"}], "queries": [], "notes": "fixture"},
    {"name": "NWAFU under another name", "names": [], "country": "CN", "website": "https://nwsuaf.edu.cn",
     "sources": [URL + "10"], "research_fields": [], "units": [], "projects": [], "partnerships": [],
     "queries": [], "notes": "its exact host is a catalogue row's: matched, not created"},
    {"name": "A university without a country", "names": [], "sources": [URL + "11"], "research_fields": [],
     "units": [], "projects": [], "partnerships": [], "queries": [], "notes": "rejected"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    reference = tmp_path_factory.mktemp("reference")
    shutil.copytree(REFERENCE_DIR, reference, dirs_exist_ok=True, ignore=shutil.ignore_patterns(REFERENCE_WEB))
    (reference / REFERENCE_WEB).mkdir()
    (reference / REFERENCE_WEB / "fixture.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    (reference / REFERENCE_WEB / "missing_fixture.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in MISSING), encoding="utf-8")
    out = tmp_path_factory.mktemp("catalogue")
    return out, build_catalogue(RAW, out, reference_dir=reference)


def test_records_match_by_id_then_name_and_the_rest_is_reported(built: tuple[Path, dict]) -> None:
    _, report = built
    beyond = report[REFERENCE_WEB]
    assert beyond["matched"] == {"id": 1, "name": 1}
    assert [u["name"] for u in beyond["unmatched"]] == ["An institute in no source"]
    assert beyond["rejected"]["total"] == 2
    assert any("Not An OpenAlex Subfield" in r for r in beyond["rejected"]["list"])
    assert any(r.startswith("bri_public_web/missing_fixture.jsonl:3 country") for r in beyond["rejected"]["list"])
    assert beyond["institutions_with_facts_by_country"] == {"CN": 3}


def test_missing_institutions_become_rows_in_their_country_unless_their_site_is_a_row_s(
        built: tuple[Path, dict]) -> None:
    out, report = built
    missing = report[REFERENCE_WEB]["missing_institutions"]
    assert missing["created_ids"] == ["web-idtf.nwsuaf.edu.cn"] and missing["matched"] == {"website": 1}
    row = {r["id"]: r for r in read_jsonl_gz(out / "institutions.jsonl.gz")}["web-idtf.nwsuaf.edu.cn"]
    assert (row["country"], row["kind"], row["short_name"]) == ("CN", "research", "IDTF")
    assert row["native_name"] == "干旱区测试研究所"
    assert row["provenance"] == ["bri_public_web:idtf.nwsuaf.edu.cn"] and row["evidence_level"] == "described"
    ties = [p for p in read_jsonl_gz(out / "partnerships.jsonl.gz") if p["institution_id"] == row["id"]]
    assert [(t["partner_id"], t["type"]) for t in ties] == [(KAZNU, "mou")]


def test_facts_become_items_and_kazakh_partners_become_edges(built: tuple[Path, dict]) -> None:
    out, report = built
    items = [i for i in read_jsonl_gz(out / "evidence_items.jsonl.gz") if i["institution_id"] in (NWAFU,)]
    assert sorted((i["type"], i["title"]) for i in items) == [
        ("research_field", "Agronomy and Crop Science"), ("research_unit", "Kazakh-Chinese agricultural centre")]
    assert all(i["source"].startswith(URL) for i in items)
    ties = {p["partner_name"]: p for p in read_jsonl_gz(out / "partnerships.jsonl.gz")
            if p["institution_id"] == NWAFU}
    assert ties["Al-Farabi Kazakh National University"]["partner_id"] == KAZNU
    assert ties["A university nobody lists"]["partner_id"] is None  # kept by name, an edge to nowhere
    assert ties["Kazakhstan National University named after al-Farobiy"]["partner_id"] == KAZNU
    assert report[REFERENCE_WEB]["partnerships"]["with_kazakh_institutions"] == 4  # one of a missing institution
    institutions = {r["id"]: r for r in read_jsonl_gz(out / "institutions.jsonl.gz")}
    assert institutions[NWAFU]["evidence_level"] in ("research", "described")
    assert institutions["web-blcu.edu.cn"]["evidence_level"] == "described"
