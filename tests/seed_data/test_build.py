"""The catalogue build on a slice of the real raw sources (tests/fixtures/raw, cut by make_raw_fixture.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from seed_data.build import EVIDENCE_FIELDS, NAMED_INSTITUTIONS, PARTNERSHIP_FIELDS, REFERENCE_WEB, build_catalogue
from seed_data.files import read_csv_gz, read_jsonl_gz
from seed_data.reference import REFERENCE_DIR
from seed_data.tables import EvidenceLevel

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped reference data without the facts collected beyond Kazakhstan (tests/seed_data/
    test_reference_web.py builds those in): the counts below are the raw-source slice's own."""
    folder = tmp_path_factory.mktemp("reference")
    shutil.copytree(REFERENCE_DIR, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(REFERENCE_WEB))
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, reference: Path) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("catalogue")
    return out, build_catalogue(RAW, out, reference_dir=reference)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_build_is_byte_identical(built: tuple[Path, dict], tmp_path: Path, reference: Path) -> None:
    out, _ = built
    build_catalogue(RAW, tmp_path, reference_dir=reference)
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
    newcomer = next(r for r in rows.values() if r["country"] == "KZ" and r["evidence_level"] == "none")
    assert not newcomer["has_research_evidence"] and not newcomer["n_projects"]
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


# --- kz_public_web (tests/fixtures/raw/kz_public_web: a real slice plus hand-written test lines) ---

KAZNU, SDU_KZ, NARXOZ, ZHANGIR_KHAN = "pic-959424479", "pic-935156437", "ror-0523w7v09", "ror-03h8f2y52"


def _rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl_gz(out / "institutions.jsonl.gz")}


def test_renamed_rows_get_their_current_name_and_duplicates_merge(built: tuple[Path, dict]) -> None:
    out, report = built
    rows = _rows(out)
    aktau = rows["web-aktsu.kz"]
    assert aktau["name"] == "Yessenov University" and aktau["city"] == "Aktau"
    assert {"Aktau State University", "Sh. Yessenov Caspian University of Technology and Engineering"} <= set(
        aktau["aliases"])
    assert "kz_public_web:renamed.csv#2" in aktau["provenance"]
    # web-kazeu.kz is Narxoz University again: merged into it, with its names, domains and provenance
    assert "web-kazeu.kz" not in rows and "web-wkau.kz" not in rows
    narxoz = rows[NARXOZ]
    assert narxoz["name"] == "Narxoz University"
    assert {"Turar Ryskulov Kazakh Economic University", "New Economic University named after T. Ryskulov"} <= set(
        narxoz["aliases"])
    assert "kazeu.kz" in narxoz["domains"] and any(p.startswith("hipo:kazeu") for p in narxoz["provenance"])
    merges = [m for m in read_csv_gz(out / "merges.csv.gz") if m["reason"] == "kz_public_web_same_as"]
    assert {(m["left"], m["right"]) for m in merges} == {("web-kazeu.kz", NARXOZ), ("web-wkau.kz", ZHANGIR_KHAN)}
    assert report["merges"]["accepted_by_reason"]["kz_public_web_same_as"] == 2
    assert {m["merged"] for m in report["kz_public_web"]["merged"]} == {"web-kazeu.kz", "web-wkau.kz"}
    parts = list(read_csv_gz(out / "participations.csv.gz"))
    assert not {p["institution_id"] for p in parts} & {"web-kazeu.kz", "web-wkau.kz"}


def test_missing_institutions_are_created_with_provenance(built: tuple[Path, dict]) -> None:
    out, report = built
    rows = _rows(out)
    seifullin = rows["web-kazatu.edu.kz"]
    assert (seifullin["name"], seifullin["country"], seifullin["kind"], seifullin["city"]) == (
        "S. Seifullin Kazakh Agrotechnical Research University", "KZ", "university", "Astana")
    assert seifullin["domains"] == ["kazatu.edu.kz"] and seifullin["provenance"] == ["kz_public_web:kazatu.edu.kz"]
    assert "Seifullin University" in seifullin["aliases"] and seifullin["short_name"] == "KATRU"
    assert seifullin["evidence_level"] == EvidenceLevel.research  # national projects on its record
    assert "kzweb-cardiff-university-kazakhstan" in rows  # no website: a slug id
    assert report["kz_public_web"]["created"] == 4
    # a page under gov.kz (a public suffix three ministries list as their "domain") identifies nobody: the
    # committee is new by its name, with a slug id and no domain
    committee = rows["kzweb-science-committee-of-the-ministry-of-science-and-higher-educ"]  # slugs are cut
    assert committee["domains"] == [] and committee["country"] == "KZ"
    unmatched = {u["name"]: u for u in report["kz_public_web"]["unmatched"]}
    assert unmatched["Test Institute Not In The Catalogue"]["how"] == "unresolved"


def test_evidence_records_attach_by_id_then_by_name_within_the_country(built: tuple[Path, dict]) -> None:
    out, report = built
    assert report["kz_public_web"]["evidence_records_matched"] == {"id": 7, "name": 1}
    items = list(read_jsonl_gz(out / "evidence_items.jsonl.gz"))
    assert [i["id"] for i in items] == sorted({i["id"] for i in items})
    assert all(set(i) == set(EVIDENCE_FIELDS) and i["origin"] == "catalogue" for i in items)
    rows = _rows(out)
    assert {i["institution_id"] for i in items} <= set(rows)
    # "Suleyman Demirel University" with an outdated id: the Kazakh SDU, not the Turkish one
    sdu = {i["title"]: i for i in items if i["institution_id"] == SDU_KZ}
    project = sdu["Test national project"]
    assert (project["type"], project["year"], project["external_id"]) == ("national_project", 2022, "AP00000001")
    assert project["details"] == {"code": "AP00000001", "funder": "MSHE RK Science Committee", "years": "2022-2024",
                                  "partners": []}
    assert sdu["Education"]["type"] == "research_field" and sdu["Education"]["year"] is None
    assert sdu["Education"]["text"].startswith("Research field: Education.")
    # the merged-away row's record lands on its survivor
    assert any(i["institution_id"] == ZHANGIR_KHAN and i["type"] == "research_unit" for i in items)
    kaznu = rows[KAZNU]
    assert kaznu["evidence_level"] == "research" and "Research fields: " in kaznu["profile_derived"]
    assert len(kaznu["profile_derived"]) <= 4000
    assert report["kz_public_web"]["items_by_type"] == dict(sorted(Counter(i["type"] for i in items).items()))


def test_partnerships_resolve_partners_by_country_and_keep_unresolved_edges(built: tuple[Path, dict]) -> None:
    out, report = built
    rows = _rows(out)
    edges = list(read_jsonl_gz(out / "partnerships.jsonl.gz"))
    assert [e["id"] for e in edges] == sorted({e["id"] for e in edges})
    assert all(set(e) == set(PARTNERSHIP_FIELDS) for e in edges)
    by_what = {e["description"]: e for e in edges if e["institution_id"] == SDU_KZ}
    turkish = by_what["test: the Turkish namesake"]
    assert rows[turkish["partner_id"]]["country"] == "TR"
    assert by_what["test: no country, two namesakes"]["partner_id"] is None  # ambiguous: never guessed
    nowhere = by_what["test: an edge to nowhere"]
    assert nowhere["partner_id"] is None and nowhere["partner_name"] == "Test Partner Nobody Knows"
    assert all(e["partner_id"] is None or e["partner_id"] in rows for e in edges)
    summary = report["kz_public_web"]["partnerships"]
    assert summary["total"] == len(edges) == summary["resolved"] + summary["unresolved"]
    assert summary["by_how"]["ambiguous"] >= 1


def test_rejected_facts_are_reported_with_reasons(built: tuple[Path, dict]) -> None:
    _, report = built
    rejected = report["kz_public_web"]["rejected"]
    text = "\n".join(rejected["list"])
    for fragment in ("'Underwater Basket Weaving' is no OpenAlex subfield name", "'ftp://example.org/sdu' is not an "
                     "http(s) URL", "url is missing", "years 'soon'", "country 'XX'", "type 'friendship'",
                     "year 1800", "no catalogue row 'web-nowhere.kz'", "same-as row 'ror-000000000' does not exist"):
        assert fragment in text
    assert rejected["total"] == 9


def test_evidence_report_per_central_asian_country(built: tuple[Path, dict]) -> None:
    out, report = built
    rows = _rows(out)
    assert set(report["evidence"]) == {"KZ", "KG", "UZ", "TJ", "TM", "CN"}
    assert sum(g["total"] for g in report["evidence_by_country_group"].values()) == len(rows)
    kz = report["evidence"]["KZ"]
    kz_rows = [r for r in rows.values() if r["country"] == "KZ"]
    assert kz["total"] == len(kz_rows) == kz["with_research_evidence"] + kz["described_only"] + kz["none"]
    assert kz["universities"] == sum(r["kind"] == "university" for r in kz_rows)
    assert kz["with_research_evidence"] == sum(r["evidence_level"] == "research" for r in kz_rows)
    assert all(r["has_research_evidence"] == (r["evidence_level"] != "none") for r in rows.values())
