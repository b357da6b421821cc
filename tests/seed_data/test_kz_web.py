"""Reading and validating kz_public_web: each fact on its own, a bad fact rejected with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seed_data.kz_web import parse_current_name, parse_years, read_kz_web, read_records, repair_text
from seed_data.tables import InstitutionKind, PartnershipType

SUBFIELDS = frozenset({"Education", "Artificial Intelligence"})
URL = "https://example.org/page"


def _write(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.mark.parametrize(("years", "start"), [("2021-2023", 2021), ("2024", 2024), ("2018-", 2018), ("-2019", None),
                                              ("2021–2023", 2021), (None, None)])
def test_parse_years(years: str | None, start: int | None) -> None:
    assert parse_years(years) == start


@pytest.mark.parametrize("years", ["soon", "2023-2021", "1850-1860", "-", "21-23"])
def test_parse_years_refuses(years: str) -> None:
    with pytest.raises(ValueError, match="year"):
        parse_years(years)


def test_parse_current_name() -> None:
    assert parse_current_name("Yessenov University (Sh. Yessenov Caspian University of Technology and Engineering), "
                              "Aktau") == ("Yessenov University",
                                           ["Sh. Yessenov Caspian University of Technology and Engineering"],
                                           "Aktau", None)
    assert parse_current_name("Khoja Akhmet Yassawi International Kazakh-Turkish University (Turkistan)") == (
        "Khoja Akhmet Yassawi International Kazakh-Turkish University", [], "Turkistan", None)
    assert parse_current_name("Zhangir Khan West Kazakhstan Agrarian Technical University, Oral (same institution "
                              "as catalogue row ror-03h8f2y52; wkau.kz is its site)") == (
        "Zhangir Khan West Kazakhstan Agrarian Technical University", [], "Oral", "ror-03h8f2y52")
    assert parse_current_name("Abai Kazakh National Pedagogical University (Abai KazNPU), Almaty") == (
        "Abai Kazakh National Pedagogical University", ["Abai KazNPU"], "Almaty", None)
    assert parse_current_name("E. A. Buketov Karaganda National Research University") == (
        "E. A. Buketov Karaganda National Research University", [], None, None)


def test_a_bad_fact_is_rejected_and_the_rest_of_the_record_counts(tmp_path: Path) -> None:
    record = {
        "catalogue_id": "pic-1", "name": "Test University",
        "research_fields": [{"subfield": "Education", "basis": "b", "url": URL},
                            {"subfield": "education", "basis": "b", "url": URL},  # not exactly a subfield name
                            {"subfield": "Artificial Intelligence", "basis": "b", "url": "javascript:alert(1)"}],
        "units": [{"name": "Lab", "topic": None, "url": URL}, {"name": "", "topic": "t", "url": URL}],
        "projects": [{"code": "AP1", "title": "P", "years": "2022-2024", "funder": "F", "partners": ["X"], "url": URL},
                     {"code": None, "title": "Q", "years": "2024-2022", "funder": None, "partners": [], "url": URL}],
        "partnerships": [{"partner": "Uni", "country": "de", "type": "mou", "year": 2020, "what": "w", "url": URL},
                         {"partner": "Uni", "country": "ZZ", "type": "mou", "year": 2020, "what": "w", "url": URL},
                         {"partner": "Uni", "country": "DE", "type": "mou", "year": "2020", "what": "w",
                          "url": URL}],
        "queries": [], "notes": "",
    }
    rejects: list = []
    path = _write(tmp_path / "institutions_evidence.jsonl", [record, {"no": "name"}])
    (got,) = read_records(path, "institutions_evidence.jsonl", SUBFIELDS, rejects)
    assert [f.subfield for f in got.fields] == ["Education"]
    assert [u.name for u in got.units] == ["Lab"]
    (project,) = got.projects
    assert (project.code, project.start_year, project.partners) == ("AP1", 2022, ("X",))
    (partnership,) = got.partnerships
    assert (partnership.country, partnership.type) == ("DE", PartnershipType.mou)
    reasons = {(r.row, r.fact): r.reason for r in rejects}
    assert "no OpenAlex subfield" in reasons[(1, "research_fields[1]")]
    assert "not an http(s) URL" in reasons[(1, "research_fields[2]")]
    assert "missing" in reasons[(1, "units[1]")]
    assert "end before they start" in reasons[(1, "projects[1]")]
    assert "ISO 3166" in reasons[(1, "partnerships[1]")]
    assert "not a year" in reasons[(1, "partnerships[2]")]
    assert reasons[(2, "record")] == "name is missing"


def test_missing_institution_identity_fields(tmp_path: Path) -> None:
    record = {"name": "Test University", "names": ["TU", "Test University", "Тест университет"], "city": "Astana",
              "website": "https://www.test.edu.kz/en", "kind": "university", "research_fields": [], "units": [],
              "projects": [], "partnerships": []}
    bad = {**record, "website": "ftp://test.edu.kz", "kind": "castle"}
    rejects: list = []
    good, worse = read_records(_write(tmp_path / "m.jsonl", [record, bad]), "missing_institutions.jsonl",
                               SUBFIELDS, rejects)
    assert good.names == ["TU", "Тест университет"] and good.kind == InstitutionKind.university
    assert good.website == "https://www.test.edu.kz/en"
    assert (worse.website, worse.kind) == (None, None)
    assert {r.fact for r in rejects} == {"website", "kind"}


def test_repair_text_fixes_mojibake_only() -> None:
    assert repair_text("Medical Academy \x93Ludwik Rydygier\x94 in Bydgoszcz") == \
        "Medical Academy \u201cLudwik Rydygier\u201d in Bydgoszcz"
    assert repair_text("UniversitÃ© de Strasbourg") == "Université de Strasbourg"
    for correct in ("Université de Strasbourg", "University \u201cTuran\u201d", "北京大学（北京）",
                    "Назарбаев Университет"):
        assert repair_text(correct) == correct


def test_fixture_slice_reads() -> None:
    raw = Path(__file__).resolve().parents[1] / "fixtures" / "raw"
    data = read_kz_web(raw, frozenset({"Education", "History"}))
    assert len(data.evidence) == 9 and len(data.missing) == 4 and len(data.renamed) == 12
    assert any(r.same_as == "ror-0523w7v09" for r in data.renamed)
