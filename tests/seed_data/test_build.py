"""The catalogue build on a slice of the real raw sources (tests/fixtures/raw, cut by make_raw_fixture.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from seed_data.build import NAMED_INSTITUTIONS, build_catalogue
from seed_data.files import read_csv_gz, read_jsonl_gz

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("catalogue")
    return out, build_catalogue(RAW, out)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_build_is_byte_identical(built: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = built
    build_catalogue(RAW, tmp_path)
    assert _digest(tmp_path) == _digest(out)


def test_named_institutions_are_found(built: tuple[Path, dict]) -> None:
    _, report = built
    found = {item["query"]: item for item in report["named_institutions"]}
    assert set(found) == {q for q, _ in NAMED_INSTITUTIONS}
    # MEPhI's ROR record is not in the fixture slice (it is in the full ROR subset)
    missing = {q for q, item in found.items() if not item["found"]}
    assert missing == {"MEPhI"}
    assert found["KazNU"]["id"] == found["Al-Farabi Kazakh National University"]["id"] == "pic-959424479"
    assert found["Satbayev University"]["id"] == "pic-923149680"
    assert set(found["Nazarbayev University"]["sources"]) == {"he_org", "hipo", "ror"}


def test_institutions_carry_identifiers_provenance_and_profiles(built: tuple[Path, dict]) -> None:
    out, _ = built
    rows = {r["id"]: r for r in read_jsonl_gz(out / "institutions.jsonl.gz")}
    nu = rows["pic-953676162"]
    assert (nu["name"], nu["country"], nu["kind"], nu["ror_id"]) == (
        "Nazarbayev University", "KZ", "university", "052bx8q98")
    assert "nu.edu.kz" in nu["domains"]
    assert nu["native_name"] == "Назарбаев Университет"
    assert nu["has_research_evidence"] and nu["n_projects"] >= 6
    assert "Project " in nu["profile_derived"] and len(nu["profile_derived"]) <= 4000
    camerino = rows["pic-999845737"]
    assert camerino["erasmus_code"] == "I CAMERIN01"
    assert {"eche:" + camerino["erasmus_code"], "he_org:999845737"} <= set(camerino["provenance"])
    newcomer = next(r for r in rows.values() if r["country"] == "KZ" and not r["n_projects"])
    assert not newcomer["has_research_evidence"]
    assert "No project evidence" in newcomer["profile_derived"]
    assert all(len(r["country"]) == 2 and r["country"] not in ("EL", "UK") for r in rows.values())


def test_participations_reference_projects_and_keep_unnamed_pics(built: tuple[Path, dict]) -> None:
    out, report = built
    projects = {p["id"] for p in read_jsonl_gz(out / "projects.jsonl.gz")}
    parts = list(read_csv_gz(out / "participations.csv.gz"))
    assert {p["project_id"] for p in parts} <= projects
    assert any(p["institution_id"] == "" for p in parts)  # H2020 PICs no source names
    assert report["participations"]["total"] == len(parts)
    roles = {p["role"] for p in parts}
    assert roles <= {"coordinator", "participant", "associated_partner", "third_party"}


def test_report_counts_groups_and_merges(built: tuple[Path, dict]) -> None:
    out, report = built
    assert json.loads((out / "build_report.json").read_text()) == report
    groups = report["institutions"]["by_country_group"]
    assert groups["Kazakhstan"] == report["institutions"]["kazakhstan"]["total"] >= 100
    assert report["merges"]["accepted_by_reason"]["pic"] > 0
    merges = list(read_csv_gz(out / "merges.csv.gz"))
    assert len(merges) == sum(report["merges"]["accepted_by_reason"].values()) + report["merges"]["refused"]
