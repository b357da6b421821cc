"""The service's one settings object, read from the environment (and an optional ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'data' / 'partnermatch.sqlite3'}"


class Settings(BaseSettings):
    """Configuration. ``DATABASE_URL`` (or ``PARTNERMATCH_DATABASE_URL``) names the database; any
    SQLAlchemy URL works, e.g. ``postgresql+psycopg://user:pass@localhost:5432/partnermatch``."""

    model_config = SettingsConfigDict(env_prefix="PARTNERMATCH_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "PARTNERMATCH_DATABASE_URL"),
    )
    # A sentence-transformers model name or local folder; empty means the packaged all-MiniLM-L6-v2.
    embedding_model: str | None = None
    # Built indexes are saved here under a fingerprint of the catalogue, so a restart on an unchanged
    # catalogue loads them (see api/index_store.py). None: next to a SQLite file, else data/index-cache.
    index_cache_dir: Path | None = None
    # Off: build the indexes at every start and save nothing.
    index_cache: bool = True


@lru_cache
def get_settings() -> Settings:
    """The settings, read once per process (tests clear the cache or override the dependency)."""
    return Settings()
