"""Fixtures for the matcher tests: the catalogue built from the real-source slice, loaded into a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from seed_data.build import build_catalogue
from seed_data.crud import load_catalogue

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"


@pytest.fixture(scope="session")
def catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue files built from tests/fixtures/raw (once per test session)."""
    out = tmp_path_factory.mktemp("catalogue")
    build_catalogue(RAW, out)
    return out


@pytest.fixture
def loaded(engine: Engine, catalogue_dir: Path) -> Engine:
    """An in-memory database holding that catalogue."""
    with Session(engine) as session:
        load_catalogue(session=session, data_dir=catalogue_dir)
    return engine
