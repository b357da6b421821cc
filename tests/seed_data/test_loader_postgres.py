"""The catalogue load and the office import on a real PostgreSQL server (see ``postgres_url`` in conftest).

The same scenarios as the SQLite tests: PostgreSQL adds native enum types, enforced foreign keys,
``timestamptz`` and length-checked ``varchar`` columns, which SQLite would let slip.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from seed_data import files
from seed_data.crud import CatalogueError, TableCounts, load_catalogue
from seed_data.importer import ImportValidationError, import_institutions
from seed_data.tables import Institution, Project
from tests.factories import (
    NU,
    PARTICIPATION_HEADER,
    SPEAK,
    dump_tables,
    mini_institutions,
    mini_participations,
    write_mini_catalogue,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    return write_mini_catalogue(tmp_path / "data")


def test_load_into_empty_database_then_again(pg_engine: Engine, catalogue: Path) -> None:
    with Session(pg_engine) as session:
        first = load_catalogue(session=session, data_dir=catalogue)
        before = dump_tables(session)
        second = load_catalogue(session=session, data_dir=catalogue)

        assert [(c.inserted, c.updated) for c in first.tables().values()] == [
            (1, 0),
            (1, 0),
            (3, 0),
            (2, 0),
            (13, 0),
            (0, 0),
            (0, 0),
            (0, 0),
        ]
        assert second.n_changed == 0
        assert second.participations == TableCounts(unchanged=13)
        assert dump_tables(session) == before
        speak = session.get(Project, SPEAK)
        assert speak is not None and speak.start_date == dt.date(2026, 1, 1)


def test_owner_profile_and_import_survive_reload(pg_engine: Engine, catalogue: Path, tmp_path: Path) -> None:
    office = tmp_path / "nu_office.csv"
    office.write_text("pic,website,profile\n953676162,https://nu.edu.kz/en,Kazakh language technology.\n")
    with Session(pg_engine) as session:
        load_catalogue(session=session, data_dir=catalogue)
        report = import_institutions(session=session, path=office, dry_run=False)
        stamp = report.updated[NU]["profile_owner_updated"][1]
        institutions = mini_institutions()
        institutions[0].update(profile_derived="Rebuilt.", website="https://nu.edu.kz")
        files.write_jsonl_gz(catalogue / "institutions.jsonl.gz", institutions)

        reload = load_catalogue(session=session, data_dir=catalogue)

        assert reload.institutions == TableCounts(updated=1, unchanged=2)
        session.expire_all()
        nu = session.get(Institution, NU)
        assert nu is not None
        assert (nu.profile_owner, nu.profile_derived, nu.website) == (
            "Kazakh language technology.",
            "Rebuilt.",
            "https://nu.edu.kz/en",
        )
        assert nu.profile_owner_updated == stamp
        assert nu.profile_owner_updated is not None and nu.profile_owner_updated.tzinfo is not None
        assert load_catalogue(session=session, data_dir=catalogue).n_changed == 0


def test_rejected_files_leave_the_database_unchanged(
    pg_engine: Engine, catalogue: Path, tmp_path: Path
) -> None:
    with Session(pg_engine) as session:
        load_catalogue(session=session, data_dir=catalogue)
        before = dump_tables(session)
        bad_import = tmp_path / "bad.csv"
        bad_import.write_text("pic,country\n953676162,KZ\n999845737,XX\n")
        participations = [*mini_participations(), {**mini_participations()[0], "project_id": "HE-1"}]
        files.write_csv_gz(catalogue / "participations.csv.gz", PARTICIPATION_HEADER, participations)

        with pytest.raises(ImportValidationError, match=r"bad.csv:row 3: field 'country'"):
            import_institutions(session=session, path=bad_import, dry_run=False)
        with pytest.raises(CatalogueError, match=r"participations.csv.gz:row 15: field 'project_id'"):
            load_catalogue(session=session, data_dir=catalogue)

        assert dump_tables(session) == before
