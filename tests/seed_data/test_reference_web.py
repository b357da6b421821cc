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
          "url": URL + "5"}],
     "queries": ["NWAFU Kazakhstan"], "notes": "fixture"},
    {"catalogue_id": "web-no-such-id.cn", "name": "Beijing Language and Culture University",
     "research_fields": [{"subfield": "Linguistics and Language", "basis": "language teaching research",
                          "url": URL + "6"}],
     "units": [], "projects": [], "partnerships": [], "queries": [], "notes": "id drifted: matched by name"},
    {"catalogue_id": None, "name": "An institute in no source", "research_fields": [], "units": [], "projects": [],
     "partnerships": [], "queries": ["x"], "notes": "nothing found"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    reference = tmp_path_factory.mktemp("reference")
    shutil.copytree(REFERENCE_DIR, reference, dirs_exist_ok=True, ignore=shutil.ignore_patterns(REFERENCE_WEB))
    (reference / REFERENCE_WEB).mkdir()
    (reference / REFERENCE_WEB / "fixture.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    out = tmp_path_factory.mktemp("catalogue")
    return out, build_catalogue(RAW, out, reference_dir=reference)


def test_records_match_by_id_then_name_and_the_rest_is_reported(built: tuple[Path, dict]) -> None:
    _, report = built
    beyond = report[REFERENCE_WEB]
    assert beyond["matched"] == {"id": 1, "name": 1}
    assert [u["name"] for u in beyond["unmatched"]] == ["An institute in no source"]
    assert beyond["rejected"]["total"] == 1 and "Not An OpenAlex Subfield" in beyond["rejected"]["list"][0]
    assert beyond["institutions_with_facts_by_country"] == {"CN": 2}


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
    assert report[REFERENCE_WEB]["partnerships"]["with_kazakh_institutions"] == 2
    institutions = {r["id"]: r for r in read_jsonl_gz(out / "institutions.jsonl.gz")}
    assert institutions[NWAFU]["evidence_level"] in ("research", "described")
    assert institutions["web-blcu.edu.cn"]["evidence_level"] == "described"
