"""Offices' evidence imports (``seed_data.evidence_import``) on the mini catalogue, in SQLite.

Publication files are those of ``tests/fixtures/publications`` (each in its exporter's real layout); project and
partnership files are ``tests/fixtures/evidence`` (real facts, see its README). Karaganda Buketov University
(``ror-00eq8hh49``) is added to the mini catalogue as the shipped catalogue has it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from seed_data import files
from seed_data.crud import load_catalogue
from seed_data.evidence import field_text, item_id, item_identity, partnership_id
from seed_data.evidence_import import (
    CatalogueRowError,
    EvidenceImportError,
    EvidenceNotFoundError,
    apply_plan,
    plan_partnerships,
    plan_projects,
    plan_publications,
    refresh_evidence_flags,
    remove_item,
    remove_partnership,
)
from seed_data.publications import _merge, _same, merge_duplicates, read_publications
from seed_data.tables import EvidenceItem, Institution, Partnership
from tests.factories import NU, UNIBO, mini_institutions, write_mini_catalogue
from tests.factories import row as shipped_row

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PUBLICATIONS = FIXTURES / "publications"
EVIDENCE = FIXTURES / "evidence"
BUKETOV = "ror-00eq8hh49"
NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
GENOMICS_URL = "https://astanatimes.com/2024/04/kazakh-pm-explores-cutting-edge-science-at-nazarbayev-university/"


def catalogue_with_evidence(directory: Path) -> Path:
    """The mini catalogue with one catalogue research-field item for Nazarbayev University and for Karaganda
    Buketov University (added as the shipped catalogue has it), and no partnerships."""
    write_mini_catalogue(directory)
    institutions = [*mini_institutions(), shipped_row(
        Institution, id=BUKETOV, name="Karaganda Buketov University", country="KZ", city="Karaganda",
        kind="university", ror_id="00eq8hh49", website="https://buketov.edu.kz",
        aliases=["Buketov Karaganda National Research University", "Karagandy State University"],
        domains=["buketov.edu.kz", "ksu.kz"], provenance=["hipo:ksu.kz", "ror:00eq8hh49"])]
    items = [
        shipped_row(EvidenceItem, id=item_id(inst, "research_field", item_identity(title=subfield)),
                    institution_id=inst, type="research_field", title=subfield,
                    text=field_text(subfield=subfield, basis=basis), source=url, origin="catalogue")
        for inst, subfield, basis, url in [
            (NU, "Genetics", "Kazakh reference genome and population genetic profile (Center for Life Sciences)",
             GENOMICS_URL),
            (BUKETOV, "Archeology", "Transcultural communications in the Late Bronze Age",
             "https://fast2.ksu.kz/en/page/research/research5"),
        ]
    ]
    files.write_jsonl_gz(directory / "institutions.jsonl.gz", institutions)
    files.write_jsonl_gz(directory / "evidence_items.jsonl.gz", sorted(items, key=lambda r: r["id"]))
    files.write_jsonl_gz(directory / "partnerships.jsonl.gz", [])
    return directory


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    """``catalogue_with_evidence`` loaded, with the evidence levels as an import leaves them."""
    load_catalogue(session=session, data_dir=catalogue_with_evidence(tmp_path / "data"))
    refresh_evidence_flags(session, [NU, BUKETOV])
    session.commit()
    return session


def _items(session: Session, inst: str, item_type: str) -> list[EvidenceItem]:
    return list(session.exec(select(EvidenceItem).where(EvidenceItem.institution_id == inst,
                                                        EvidenceItem.type == item_type)).all())


def _level(session: Session, inst: str) -> tuple[str, bool]:
    institution = session.get(Institution, inst)
    assert institution is not None
    session.refresh(institution)
    return institution.evidence_level, institution.has_research_evidence


# --- publications -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt", "read", "kept"), [
    ("scopus.ris", "ris", 3, 2),  # records 1 and 3 are one paper (same DOI)
    ("example.bib", "bibtex", 3, 3),
    ("scopus.csv", "scopus_csv", 3, 3),
    ("wos_savedrecs.txt", "wos_tsv", 3, 3),
    ("openalex_works.json", "openalex_json", 3, 3),
])
def test_every_publication_format(loaded: Session, name: str, fmt: str, read: int, kept: int) -> None:
    data = (PUBLICATIONS / name).read_bytes()
    plan = plan_publications(session=loaded, institution_id=NU, data=data, filename=name, fmt=None, allowed=None)
    assert plan.counts() == {"read": read, "merged": read - kept, "added": kept, "updated": 0, "unchanged": 0,
                             "institutions": 1}
    explicit = plan_publications(session=loaded, institution_id=NU, data=data, filename="upload", fmt=fmt,
                                 allowed=None)
    assert [row.id for row in explicit.new_rows] == [row.id for row in plan.new_rows]
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    rows = _items(loaded, NU, "publication")
    assert len(rows) == kept
    for row in rows:
        assert row.origin == "import" and row.created is not None and row.details["format"] == fmt
        assert row.text.startswith(row.title.rstrip(".")) and row.type == "publication"
        if row.external_id:
            assert row.source == f"https://doi.org/{row.external_id}" == f"https://doi.org/{row.details['doi']}"
            assert row.id == item_id(NU, "publication", item_identity(title=row.title, external_id=row.external_id))
        else:
            assert row.source.startswith(f"file:{name}#")
    again = plan_publications(session=loaded, institution_id=NU, data=data, filename=name, fmt=None, allowed=None)
    assert (again.added, again.updated, again.unchanged) == (0, 0, kept)  # a re-import is idempotent


def test_ris_record_fields(loaded: Session) -> None:
    plan = plan_publications(session=loaded, institution_id=NU, data=(PUBLICATIONS / "scopus.ris").read_bytes(),
                             filename="scopus.ris", fmt="ris", allowed=None)
    first = plan.new_rows[0]
    assert isinstance(first, EvidenceItem)
    assert first.title == "Groundwater recharge modelling in a semi-arid basin" and first.year == 2023
    assert first.external_id == "10.5555/hydro.2023.0101"
    assert first.details["venue"] == "Journal of Example Hydrology"
    assert "groundwater" in first.details["keywords"] and "Keywords: groundwater" in first.text
    assert "Published in Journal of Example Hydrology." in first.text


def test_same_paper_from_two_services_is_one_item(loaded: Session) -> None:
    ris = plan_publications(session=loaded, institution_id=NU, data=(PUBLICATIONS / "scopus.ris").read_bytes(),
                            filename="scopus.ris", fmt=None, allowed=None)
    apply_plan(session=loaded, plan=ris, key_id=None, now=NOW)
    loaded.commit()
    # OpenAlex has the groundwater paper (same DOI) and two others.
    openalex = plan_publications(session=loaded, institution_id=NU, filename="works.json", fmt=None, allowed=None,
                                 data=(PUBLICATIONS / "openalex_works.json").read_bytes())
    assert openalex.added == 2 and openalex.updated + openalex.unchanged == 1


def test_a_title_only_record_matches_a_stored_row_that_gains_a_doi(loaded: Session) -> None:
    bib = plan_publications(session=loaded, institution_id=NU, data=(PUBLICATIONS / "example.bib").read_bytes(),
                            filename="example.bib", fmt=None, allowed=None)
    no_doi = next(row for row in bib.new_rows if isinstance(row, EvidenceItem) and row.external_id is None)
    apply_plan(session=loaded, plan=bib, key_id=None, now=NOW)
    loaded.commit()
    ris = (f"TY  - JOUR\nTI  - {no_doi.title}\nPY  - {no_doi.year}\nDO  - 10.5555/example.0001\nER  - \n")
    plan = plan_publications(session=loaded, institution_id=NU, data=ris.encode(), filename="later.ris", fmt=None,
                             allowed=None)
    assert plan.added == 0 and plan.updated == 1 and plan.changed_rows[0].id == no_doi.id
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    again = plan_publications(session=loaded, institution_id=NU, data=ris.encode(), filename="later.ris", fmt=None,
                              allowed=None)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)


def test_bad_publication_file_names_record_and_field_and_writes_nothing(loaded: Session) -> None:
    ris = ("TY  - JOUR\nTI  - A fine title\nPY  - 2023\nER  - \n\n"
           "TY  - JOUR\nTI  - Another title\nPY  - 20x4\nER  - \n")
    with pytest.raises(EvidenceImportError) as caught:
        plan_publications(session=loaded, institution_id=NU, data=ris.encode(), filename="bad.ris", fmt=None,
                          allowed=None)
    assert caught.value.file == "bad.ris"
    assert any("record 2" in p and "'year'" in p and "20x4" in p for p in caught.value.problems)
    assert _items(loaded, NU, "publication") == []


def test_publications_for_an_unknown_or_foreign_institution(loaded: Session) -> None:
    data = (PUBLICATIONS / "scopus.ris").read_bytes()
    with pytest.raises(EvidenceImportError, match="no institution with this id"):
        plan_publications(session=loaded, institution_id="pic-000000000", data=data, filename="x.ris", fmt=None,
                          allowed=None)
    with pytest.raises(EvidenceImportError, match="only its own institution"):
        plan_publications(session=loaded, institution_id=NU, data=data, filename="x.ris", fmt=None,
                          allowed={BUKETOV})
    with pytest.raises(EvidenceImportError, match="unknown publication format"):
        plan_publications(session=loaded, institution_id=NU, data=data, filename="x.ris", fmt="endnote",
                          allowed=None)


def test_dry_run_is_a_plan_that_is_never_applied(loaded: Session) -> None:
    plan = plan_publications(session=loaded, institution_id=NU, data=(PUBLICATIONS / "scopus.csv").read_bytes(),
                             filename="scopus.csv", fmt=None, allowed=None)
    assert plan.added == 3
    loaded.commit()
    assert _items(loaded, NU, "publication") == []


# --- evidence levels ----------------------------------------------------------------------------------------


def test_fields_only_is_described_and_a_publication_makes_it_research(loaded: Session) -> None:
    assert _level(loaded, BUKETOV) == ("described", True)
    assert _level(loaded, NU) == ("research", True)  # SPEAK, a Horizon Europe project with text
    plan = plan_publications(session=loaded, institution_id=BUKETOV, filename="wos.txt", fmt=None,
                             allowed={BUKETOV}, data=(PUBLICATIONS / "wos_savedrecs.txt").read_bytes())
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    assert _level(loaded, BUKETOV) == ("research", True)
    for row in _items(loaded, BUKETOV, "publication"):
        remove_item(session=loaded, institution_id=BUKETOV, item_id=row.id)
    loaded.commit()
    assert _level(loaded, BUKETOV) == ("described", True)


def test_owner_profile_counts_for_the_level() -> None:
    from seed_data.tables import evidence_level

    assert evidence_level({"research_field", "owner_profile"}).value == "research"


# --- projects ---------------------------------------------------------------------------------------------


def test_projects_csv(loaded: Session) -> None:
    data = (EVIDENCE / "projects.csv").read_bytes()
    plan = plan_projects(session=loaded, data=data, filename="projects.csv", institution_id=None, allowed=None)
    assert plan.counts() == {"read": 3, "merged": 0, "added": 3, "updated": 0, "unchanged": 0, "institutions": 2}
    assert plan.institution_ids == sorted([NU, BUKETOV])
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    (bronze,) = _items(loaded, BUKETOV, "national_project")
    assert bronze.external_id == "AP09261083" and bronze.details["funder"] == "MES RK Science Committee grant"
    assert bronze.id == item_id(BUKETOV, "national_project", item_identity(title=bronze.title,
                                                                           external_id="AP09261083"))
    assert bronze.source == "https://fast2.ksu.kz/en/page/research/research5"
    assert bronze.text.endswith("Funded by MES RK Science Committee grant.")
    assert _level(loaded, BUKETOV) == ("research", True)
    movekaz = next(r for r in _items(loaded, NU, "national_project") if r.title.startswith("MoVE-Kaz"))
    assert movekaz.year == 2023 and movekaz.details["partners"] == ["Yale School of Public Health"]
    assert movekaz.details["keywords"] == ["molecular virology", "epidemiology", "HIV"]
    again = plan_projects(session=loaded, data=data, filename="projects.csv", institution_id=None, allowed=None)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_projects_json_with_the_institution_given_by_the_command(loaded: Session) -> None:
    rows = json.loads((EVIDENCE / "projects.json").read_text())
    for row in rows:
        del row["institution_id"]
    plan = plan_projects(session=loaded, data=json.dumps(rows).encode(), filename="nu.json", institution_id=NU,
                         allowed={NU})
    assert plan.added == 2 and plan.institution_ids == [NU]
    seismic = plan.new_rows[0]
    assert isinstance(seismic, EvidenceItem) and seismic.details["partners"] == [
        "Kazakh Research and Design Institute of Construction and Architecture (KazNIISA)"]
    assert seismic.year is None and seismic.source.startswith("https://seds.nu.edu.kz/")


def test_project_rows_are_checked_all_or_nothing(loaded: Session) -> None:
    good = (EVIDENCE / "projects.csv").read_text()
    bad = good + (
        "pic-953676162,,AP1,,,1850,,,,\n"  # row 5: no title, year out of range
        "ror-00eq8hh49,Kurt shelf life,,,,2024,2023,,,javascript:alert(1)\n"  # row 6: end before start, bad URL
        "pic-999993953,Not ours,,,,,,,,\n"  # row 7: another institution than the key's
    )
    with pytest.raises(EvidenceImportError) as caught:
        plan_projects(session=loaded, data=bad.encode(), filename="bad.csv", institution_id=None,
                      allowed={NU, BUKETOV})
    problems = caught.value.problems
    assert any(p.startswith("bad.csv:row 5: field 'title': required") for p in problems)
    assert any("row 5: field 'start_year'" in p and "1850" in p for p in problems)
    assert any("row 6: field 'end_year'" in p for p in problems)
    assert any("row 6: field 'url'" in p and "javascript" in p for p in problems)
    assert any("row 7: field 'institution_id'" in p and UNIBO in p for p in problems)
    assert _items(loaded, NU, "national_project") == []


def test_project_file_problems(loaded: Session) -> None:
    cases = {
        "a.csv": (b"institution_id,title,budget\n", "field 'budget': unknown column"),
        "b.json": (b'{"title": "x"}', "expected a JSON list"),
        "c.json": (b"[1]", "row 1: expected a JSON object"),
        "d.csv": ("title\nIonosph\u00e4re\n".encode("utf-16"), "not UTF-8"),
        "e.csv": (b"title\nNo institution anywhere\n", "row 2: field 'institution_id': required"),
        "f.csv": (b"institution_id,title\nror-00eq8hh49,A\x07bell\n", "control character U+0007"),
        "g.json": (b'[{"title": "x", "keywords": [1]}]', "field 'keywords': expected a list"),
    }
    for name, (data, problem) in cases.items():
        with pytest.raises(EvidenceImportError) as caught:
            plan_projects(session=loaded, data=data, filename=name, institution_id=None, allowed=None)
        assert any(problem in p for p in caught.value.problems), (name, caught.value.problems)


def test_command_institution_and_row_institution_must_agree(loaded: Session) -> None:
    with pytest.raises(EvidenceImportError, match="row 4: field 'institution_id': differs"):
        plan_projects(session=loaded, data=(EVIDENCE / "projects.csv").read_bytes(), filename="projects.csv",
                      institution_id=NU, allowed=None)


def test_same_project_twice_in_a_file_is_merged(loaded: Session) -> None:
    csv_text = ("institution_id,title,code\n"
                "ror-00eq8hh49,Transcultural Communications in the Late Bronze Age,AP09261083\n"
                "ror-00eq8hh49,Transcultural communications in the late Bronze Age,ap09261083\n"
                "ror-00eq8hh49,\"Transcultural Communications in the Late Bronze Age.\",\n"  # same title, no code
                "ror-00eq8hh49,Transcultural Communications in the Late Bronze Age,AP00000000\n")  # made-up other code
    plan = plan_projects(session=loaded, data=csv_text.encode(), filename="p.csv", institution_id=None, allowed=None)
    assert (plan.read, plan.merged, plan.added) == (4, 2, 2)


# --- partnerships -------------------------------------------------------------------------------------------


def test_partnerships_csv_resolves_catalogue_partners(loaded: Session) -> None:
    data = (EVIDENCE / "partnerships.csv").read_bytes()
    plan = plan_partnerships(session=loaded, data=data, filename="partnerships.csv", institution_id=NU,
                             allowed={NU})
    assert plan.counts() == {"read": 3, "merged": 0, "added": 3, "updated": 0, "unchanged": 0, "institutions": 1}
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    rows = {row.partner_name: row for row in loaded.exec(select(Partnership)).all()}
    assert rows["University of Bologna"].partner_id == UNIBO  # resolved by name within Italy
    assert rows["Yale School of Public Health"].partner_id is None  # not in the catalogue: kept by name
    wisc = rows["University of Wisconsin-Madison"]
    assert (wisc.type, wisc.year, wisc.partner_country, wisc.origin) == ("other", 2010, "US", "import")
    assert wisc.id == partnership_id(NU, "University of Wisconsin-Madison", "US", "other", 2010)
    again = plan_partnerships(session=loaded, data=data, filename="partnerships.csv", institution_id=None,
                              allowed=None)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_partnerships_json_by_ror_and_bad_rows(loaded: Session) -> None:
    plan = plan_partnerships(session=loaded, data=(EVIDENCE / "partnerships.json").read_bytes(),
                             filename="partnerships.json", institution_id=None, allowed=None)
    by_name = {row.partner_name: row for row in plan.new_rows if isinstance(row, Partnership)}
    assert by_name["Alma Mater Studiorum - Università di Bologna"].partner_id == UNIBO  # by ROR id
    assert by_name["Lawrence Berkeley National Laboratory"].year is None
    bad = [
        {"institution_id": NU, "partner_name": "University of Bologna", "partner_country": "Italy",
         "type": "friendship", "year": "2026"},
        {"institution_id": NU, "partner_name": "Somewhere", "partner_country": "DE", "type": "mou",
         "partner_id": "pic-000000000", "partner_ror": "01111rn37"},
        {"institution_id": NU, "partner_name": "Itself", "partner_country": "KZ", "type": "mou", "partner_id": NU},
    ]
    with pytest.raises(EvidenceImportError) as caught:
        plan_partnerships(session=loaded, data=json.dumps(bad).encode(), filename="bad.json", institution_id=None,
                          allowed=None)
    problems = caught.value.problems
    assert any("row 1: field 'partner_country'" in p and "ITALY" in p for p in problems)
    assert any("row 1: field 'type'" in p and "friendship" in p for p in problems)
    assert any("row 2: field 'partner_ror'" in p and "check digits" in p for p in problems)
    assert any("row 3: field 'partner_id'" in p and "itself" in p for p in problems)
    good_but_unknown = [{"institution_id": NU, "partner_name": "Somewhere", "partner_country": "DE", "type": "mou",
                         "partner_id": "pic-000000000"}]
    with pytest.raises(EvidenceImportError, match="row 1: field 'partner_id': no institution"):
        plan_partnerships(session=loaded, data=json.dumps(good_but_unknown).encode(), filename="u.json",
                          institution_id=None, allowed=None)


def test_owner_key_cannot_add_partnerships_for_another_institution(loaded: Session) -> None:
    with pytest.raises(EvidenceImportError, match="row 2: field 'institution_id': this key may change only"):
        plan_partnerships(session=loaded, data=(EVIDENCE / "partnerships.csv").read_bytes(),
                          filename="partnerships.csv", institution_id=None, allowed={BUKETOV})
    assert loaded.exec(select(Partnership)).all() == []


# --- removing ------------------------------------------------------------------------------------------------


def test_remove_imported_rows_but_not_catalogue_rows(loaded: Session) -> None:
    plan = plan_partnerships(session=loaded, data=(EVIDENCE / "partnerships.csv").read_bytes(),
                             filename="partnerships.csv", institution_id=None, allowed=None)
    apply_plan(session=loaded, plan=plan, key_id=None, now=NOW)
    loaded.commit()
    (catalogue_field,) = _items(loaded, NU, "research_field")
    with pytest.raises(CatalogueRowError, match="shipped catalogue"):
        remove_item(session=loaded, institution_id=NU, item_id=catalogue_field.id)
    with pytest.raises(EvidenceNotFoundError):
        remove_item(session=loaded, institution_id=NU, item_id="ev-nothing")
    with pytest.raises(EvidenceNotFoundError):  # an item of another institution is not found through this one
        remove_item(session=loaded, institution_id=BUKETOV, item_id=catalogue_field.id)
    first = plan.new_rows[0].id
    with pytest.raises(EvidenceNotFoundError):
        remove_partnership(session=loaded, institution_id=BUKETOV, partnership_id=first)
    remove_partnership(session=loaded, institution_id=NU, partnership_id=first)
    loaded.commit()
    assert loaded.get(Partnership, first) is None and len(loaded.exec(select(Partnership)).all()) == 2


def _pairwise_merge(records: list) -> list:
    """The definition of merge_duplicates, by comparing each record with every kept one."""
    kept: list = []
    for record in records:
        for position, other in enumerate(kept):
            if _same(other, record):
                kept[position] = _merge(other, record)
                break
        else:
            kept.append(record)
    return kept


def test_merge_duplicates_by_lookup_gives_what_pairwise_comparison_gives() -> None:
    records = [
        record.model_copy(update={"record_no": number})
        for number, record in enumerate(
            [r for name in ("scopus.ris", "openalex_works.json", "example.bib", "wos_savedrecs.txt", "scopus.csv")
             for r in read_publications(PUBLICATIONS / name)], start=1)
    ]
    records += [records[0].model_copy(update={"doi": None, "record_no": len(records) + 1}),
                records[1].model_copy(update={"doi": "10.5555/another", "record_no": len(records) + 2})]
    merged, pairs = merge_duplicates(records)
    assert pairs  # the fixtures share papers across services
    assert merged == _pairwise_merge(records)
