"""Loading the shipped catalogue into SQLite (``seed_data.crud.load_catalogue``), and the file formats."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
from sqlmodel import Session, select

from seed_data import files
from seed_data.crud import CatalogueError, LoadReport, TableCounts, load_catalogue
from seed_data.evidence import field_text, item_id, item_identity
from seed_data.importer import import_institutions
from seed_data.tables import EvidenceItem, Institution, ItemOrigin, Participation, Project
from tests.factories import (
    MARMADE,
    NU,
    PARTICIPATION_HEADER,
    SPEAK,
    UNICAM,
    dump_tables,
    mini_institutions,
    mini_participations,
    write_mini_catalogue,
)


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    return write_mini_catalogue(tmp_path / "data")


def _counts(report: LoadReport) -> dict[str, tuple[int, int, int]]:
    return {name: (c.inserted, c.updated, c.unchanged) for name, c in report.tables().items()}


def test_load_into_empty_database(session: Session, catalogue: Path) -> None:
    report = load_catalogue(session=session, data_dir=catalogue)

    assert _counts(report) == {
        "priority_areas": (1, 0, 0),
        "programmes": (1, 0, 0),
        "institutions": (3, 0, 0),
        "projects": (2, 0, 0),
        "participations": (13, 0, 0),
        "evidence_items": (0, 0, 0),
        "partnerships": (0, 0, 0),
        "calls": (0, 0, 0),
    }
    nu = session.get(Institution, NU)
    assert nu is not None
    assert (nu.name, nu.pic, nu.ror_id, nu.country, nu.city) == (
        "Nazarbayev University",
        "953676162",
        "052bx8q98",
        "KZ",
        "Astana",
    )
    assert nu.domains == ["nu.edu.kz"]
    assert nu.profile_owner is None
    speak = session.get(Project, SPEAK)
    assert speak is not None
    assert (speak.start_date, speak.end_date) == (dt.date(2026, 1, 1), dt.date(2027, 12, 31))
    marmade = session.exec(select(Participation).where(Participation.project_id == MARMADE)).all()
    assert len(marmade) == 11
    assert {p.institution_id for p in marmade} == {UNICAM, None}
    assert {p.country for p in marmade} >= {"GR", "GB"}


def test_load_twice_changes_nothing(session: Session, catalogue: Path) -> None:
    load_catalogue(session=session, data_dir=catalogue)
    before = dump_tables(session)

    again = load_catalogue(session=session, data_dir=catalogue)

    assert again.n_changed == 0
    assert _counts(again)["institutions"] == (0, 0, 3)
    assert _counts(again)["participations"] == (0, 0, 13)
    assert dump_tables(session) == before


def test_reload_updates_only_changed_rows(session: Session, catalogue: Path) -> None:
    load_catalogue(session=session, data_dir=catalogue)
    institutions = mini_institutions()
    institutions[0]["n_projects"] = 2
    files.write_jsonl_gz(catalogue / "institutions.jsonl.gz", institutions)

    report = load_catalogue(session=session, data_dir=catalogue)

    assert report.institutions == TableCounts(inserted=0, updated=1, unchanged=2)
    assert report.n_changed == 1
    nu = session.get(Institution, NU)
    assert nu is not None and nu.n_projects == 2


def test_owner_profile_survives_reload(session: Session, catalogue: Path) -> None:
    load_catalogue(session=session, data_dir=catalogue)
    nu = session.get(Institution, NU)
    assert nu is not None
    stamp = dt.datetime(2025, 4, 4, 9, 30, tzinfo=dt.UTC)
    nu.profile_owner = "Nazarbayev University: AI, water resources and Kazakh language technology."
    nu.profile_owner_updated = stamp
    session.add(nu)
    session.commit()
    institutions = mini_institutions()
    institutions[0]["profile_derived"] = "A rebuilt derived profile."
    files.write_jsonl_gz(catalogue / "institutions.jsonl.gz", institutions)

    report = load_catalogue(session=session, data_dir=catalogue)

    assert report.institutions.updated == 1
    session.expire_all()
    nu = session.get(Institution, NU)
    assert nu is not None
    assert nu.profile_owner == "Nazarbayev University: AI, water resources and Kazakh language technology."
    assert nu.profile_owner_updated == stamp
    assert nu.profile_derived == "A rebuilt derived profile."
    assert nu.profile == nu.profile_owner
    # and a further load with the same files is a no-op again
    assert load_catalogue(session=session, data_dir=catalogue).n_changed == 0


def test_imported_fields_survive_reload(session: Session, catalogue: Path, tmp_path: Path) -> None:
    """An office corrected NU's website and city; a rebuild refreshes only the build-derived fields."""
    load_catalogue(session=session, data_dir=catalogue)
    office_file = tmp_path / "nu_office.csv"
    office_file.write_text("pic,website,city\n953676162,https://nu.edu.kz/en,Astana city\n", encoding="utf-8")
    import_institutions(session=session, path=office_file, dry_run=False)
    institutions = mini_institutions()
    institutions[0].update(n_projects=5, profile_derived="Rebuilt.", city="Nur-Sultan")
    files.write_jsonl_gz(catalogue / "institutions.jsonl.gz", institutions)

    report = load_catalogue(session=session, data_dir=catalogue)

    assert report.institutions.updated == 1
    session.expire_all()
    nu = session.get(Institution, NU)
    assert nu is not None
    assert (nu.website, nu.city) == ("https://nu.edu.kz/en", "Astana city")
    assert (nu.n_projects, nu.profile_derived) == (5, "Rebuilt.")
    assert nu.provenance == ["he_org:953676162", "hipo:nu.edu.kz", "ror:052bx8q98", "import:nu_office.csv"]
    assert load_catalogue(session=session, data_dir=catalogue).n_changed == 0


def test_unknown_participation_reference_names_the_row(session: Session, catalogue: Path) -> None:
    participations = mini_participations()
    participations.append({**participations[0], "project_id": "HE-999999999"})
    participations.append({**participations[1], "pic": "999999999", "institution_id": "pic-999999999"})
    files.write_csv_gz(catalogue / "participations.csv.gz", PARTICIPATION_HEADER, participations)

    with pytest.raises(CatalogueError) as caught:
        load_catalogue(session=session, data_dir=catalogue)

    message = str(caught.value)
    # 13 real rows are CSV rows 2-14 (row 1 is the header)
    assert "participations.csv.gz:row 15: field 'project_id': no such project" in message
    assert "(got 'HE-999999999')" in message
    assert "participations.csv.gz:row 16: field 'institution_id': no such institution" in message
    assert all(rows == [] for rows in dump_tables(session).values())


def test_participation_may_reference_an_institution_already_in_the_database(
    session: Session, catalogue: Path, tmp_path: Path
) -> None:
    # Northwest A&F University (Yangling, CN) exists only through an office import, not in the shipped files.
    load_catalogue(session=session, data_dir=catalogue)
    office_file = tmp_path / "partners.csv"
    office_file.write_text(
        "legal_name,country,city\nNorthwest A&F University,CN,Yangling\n", encoding="utf-8"
    )
    created = import_institutions(session=session, path=office_file, dry_run=False).created
    participations = mini_participations()
    participations.append({**participations[0], "pic": "000000000", "institution_id": created[0]})
    files.write_csv_gz(catalogue / "participations.csv.gz", PARTICIPATION_HEADER, participations)

    report = load_catalogue(session=session, data_dir=catalogue)

    assert report.participations == TableCounts(inserted=1, updated=0, unchanged=13)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"n_projects": None}, "institutions.jsonl.gz:row 2: field 'n_projects': must not be empty"),
        ({"kind": "college"}, "institutions.jsonl.gz:row 2: field 'kind': not one of"),
        ({"colour": "blue"}, "institutions.jsonl.gz:row 2: columns do not match table 'institution'"),
        ({"id": NU}, "institutions.jsonl.gz:row 2: primary key ('pic-953676162',) appears more than once"),
    ],
)
def test_malformed_institution_row_is_rejected_before_any_write(
    session: Session, catalogue: Path, change: dict[str, object], expected: str
) -> None:
    institutions = mini_institutions()
    institutions[1].update(change)
    files.write_jsonl_gz(catalogue / "institutions.jsonl.gz", institutions)

    with pytest.raises(CatalogueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_catalogue(session=session, data_dir=catalogue)
    assert all(rows == [] for rows in dump_tables(session).values())


def test_bad_date_names_file_row_and_field(session: Session, catalogue: Path) -> None:
    rows = list(files.read_jsonl_gz(catalogue / "projects.jsonl.gz"))
    rows[1]["start_date"] = "2025-13-01"
    files.write_jsonl_gz(catalogue / "projects.jsonl.gz", rows)

    with pytest.raises(
        CatalogueError, match=r"projects.jsonl.gz:row 2: field 'start_date': .*got '2025-13-01'"
    ):
        load_catalogue(session=session, data_dir=catalogue)


def test_unreadable_file_is_an_error(session: Session, catalogue: Path) -> None:
    (catalogue / "projects.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(CatalogueError, match="projects.jsonl.gz: cannot be read: "):
        load_catalogue(session=session, data_dir=catalogue)
    assert all(rows == [] for rows in dump_tables(session).values())


def test_missing_file_is_an_error(session: Session, catalogue: Path) -> None:
    (catalogue / "programmes.json").unlink()
    with pytest.raises(CatalogueError, match="programmes.json: shipped catalogue file not found"):
        load_catalogue(session=session, data_dir=catalogue)


def test_files_are_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = write_mini_catalogue(tmp_path / "a")
    second = write_mini_catalogue(tmp_path / "b")
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    header = (first / "institutions.jsonl.gz").read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # mtime 0
    assert header[3] & 0x08 == 0  # FNAME flag unset: no file name in the header
    assert not list(first.glob("*.tmp"))


def test_jsonl_and_csv_round_trip(tmp_path: Path) -> None:
    rows = [{"b": "Назарбаев Университет", "a": [1, 2], "d": dt.date(2026, 1, 1)}, {"a": None}]
    files.write_jsonl_gz(tmp_path / "x.jsonl.gz", rows)
    text = gzip.decompress((tmp_path / "x.jsonl.gz").read_bytes()).decode("utf-8")
    assert text.splitlines()[0] == '{"a":[1,2],"b":"Назарбаев Университет","d":"2026-01-01"}'
    assert list(files.read_jsonl_gz(tmp_path / "x.jsonl.gz"))[1] == {"a": None}

    files.write_csv_gz(tmp_path / "x.csv.gz", ["p", "q"], [{"p": "a,b", "q": None}])
    assert list(files.read_csv_gz(tmp_path / "x.csv.gz")) == [{"p": "a,b", "q": ""}]

    files.write_json(tmp_path / "x.json", {"z": 1, "a": ["Università"]})
    assert (tmp_path / "x.json").read_text(
        encoding="utf-8"
    ) == '{\n "a": [\n  "Università"\n ],\n "z": 1\n}\n'
    assert files.read_json(tmp_path / "x.json") == {"z": 1, "a": ["Università"]}


# --- evidence items and partnerships ---------------------------------------------------------------------------


def _field_item(institution_id: str, subfield: str) -> dict:
    return {"id": item_id(institution_id, "research_field", item_identity(title=subfield)),
            "institution_id": institution_id, "type": "research_field", "title": subfield,
            "text": field_text(subfield=subfield), "year": None, "source": "https://example.org/fields",
            "external_id": None, "details": {}, "origin": "catalogue", "key_id": None, "created": None}


def test_shipped_evidence_loads_stale_rows_go_and_imported_rows_stay(session: Session, catalogue: Path) -> None:
    water, ai = _field_item(UNICAM, "Water Science and Technology"), _field_item(UNICAM, "Artificial Intelligence")
    files.write_jsonl_gz(catalogue / "evidence_items.jsonl.gz", [water, ai])
    first = load_catalogue(session=session, data_dir=catalogue)
    assert (first.evidence_items.inserted, first.evidence_items.deleted) == (2, 0)
    imported = EvidenceItem(**{**_field_item(NU, "Hydrology"), "origin": ItemOrigin.imported.value})
    session.add(imported)
    session.commit()

    files.write_jsonl_gz(catalogue / "evidence_items.jsonl.gz", [water])  # the build no longer has the AI field
    second = load_catalogue(session=session, data_dir=catalogue)
    assert (second.evidence_items.unchanged, second.evidence_items.deleted) == (1, 1)
    assert {r.id for r in session.exec(select(EvidenceItem)).all()} == {water["id"], imported.id}
    nu = session.get(Institution, NU)
    assert nu is not None and nu.has_research_evidence and nu.evidence_level == "research"


def test_a_partnership_naming_an_unknown_institution_fails_before_any_write(session: Session,
                                                                           catalogue: Path) -> None:
    tie = {"id": "pt-1", "institution_id": NU, "partner_id": "pic-000000000", "partner_name": "Nobody",
           "partner_country": "IT", "type": "mou", "year": 2020, "description": None,
           "source": "https://example.org/mou", "origin": "catalogue", "key_id": None, "created": None}
    files.write_jsonl_gz(catalogue / "partnerships.jsonl.gz", [tie])
    with pytest.raises(CatalogueError, match=r"partnerships.jsonl.gz:row 1: field 'partner_id': no such institution"):
        load_catalogue(session=session, data_dir=catalogue)
    assert session.exec(select(Institution)).all() == []
