"""Table fingerprints (``seed_data/fingerprint.py``): equal contents give equal digests, and any change to a
fingerprinted column of any row changes the digest, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from seed_data.fingerprint import UnsupportedDialect, combine, table_digests
from seed_data.tables import Institution

COLUMNS = ("id", "name", "country", "short_name", "aliases")


def _digest(engine: Engine, columns: tuple[str, ...] = COLUMNS) -> str:
    with Session(engine) as session:
        return table_digests(session, "institution", [columns], order_by=["id"])[0]


def _add(engine: Engine, **values: object) -> None:
    with Session(engine) as session:
        session.add(Institution(**{"name": "Test University", "country": "KZ", **values}))  # type: ignore[arg-type]
        session.commit()


def _set(engine: Engine, inst_id: str, **values: object) -> None:
    with Session(engine) as session:
        row = session.get(Institution, inst_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()


def _check_every_change_shows(engine: Engine) -> None:
    """Two rows; each edit below must change the digest, and undoing it must give the first digest back."""
    _add(engine, id="a", short_name="A", aliases=["x"])
    _add(engine, id="b", short_name=None, aliases=[])
    original = _digest(engine)
    assert _digest(engine) == original  # deterministic
    edits = [
        ("a", {"name": "Test Universitz"}),  # same length, one letter
        ("a", {"short_name": None}),  # a value to NULL
        ("b", {"short_name": ""}),  # NULL to an empty string
        ("b", {"short_name": "NULL"}),  # ... and to the text NULL
        ("a", {"aliases": ["x", "y"]}),  # a JSON list grows
        ("a", {"country": "KG"}),
    ]
    for inst_id, change in edits:
        with Session(engine) as session:
            row = session.get(Institution, inst_id)
            assert row is not None
            before = {name: getattr(row, name) for name in change}
        _set(engine, inst_id, **change)
        assert _digest(engine) != original, change
        _set(engine, inst_id, **before)
        assert _digest(engine) == original, f"undoing {change}"
    # a field's content moving into the next field is a different row
    _set(engine, "a", name="Test", short_name="University")
    moved = _digest(engine)
    _set(engine, "a", name="Test University", short_name=None)
    assert moved != _digest(engine)
    _set(engine, "a", short_name="A")
    # rows added or deleted
    _add(engine, id="c")
    assert _digest(engine) != original
    with Session(engine) as session:
        row = session.get(Institution, "c")
        session.delete(row)
        session.commit()
    assert _digest(engine) == original
    # a column outside the fingerprinted ones changes nothing
    _set(engine, "a", website="https://a.example")
    assert _digest(engine) == original


def test_every_change_to_a_fingerprinted_column_shows_on_sqlite(engine: Engine) -> None:
    _check_every_change_shows(engine)


@pytest.mark.postgres
def test_every_change_to_a_fingerprinted_column_shows_on_postgresql(pg_engine: Engine) -> None:
    _check_every_change_shows(pg_engine)


def test_groups_are_digested_in_one_scan_as_if_alone(engine: Engine) -> None:
    _add(engine, id="a", short_name="A")
    with Session(engine) as session:
        both = table_digests(session, "institution", [("id", "name"), ("id", "short_name")], order_by=["id"])
    assert both == [_digest(engine, ("id", "name")), _digest(engine, ("id", "short_name"))]
    assert both[0] != both[1]


def test_an_empty_table_has_a_digest(engine: Engine) -> None:
    assert len(_digest(engine)) == 64


def test_other_databases_are_refused() -> None:
    class _Dialect:
        name = "mysql"

    class _Connection:
        dialect = _Dialect()

    class _Session:
        def connection(self) -> _Connection:
            return _Connection()

    with pytest.raises(UnsupportedDialect, match="mysql"):
        table_digests(_Session(), "institution", [COLUMNS], order_by=["id"])  # type: ignore[arg-type]


def test_combine_keeps_parts_apart() -> None:
    assert combine("ab", "c") != combine("a", "bc")
    assert combine("a", "b") != combine("b", "a")
    assert combine("a", "b") == combine("a", "b")
