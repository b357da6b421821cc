"""Content fingerprints of database tables: a digest that changes whenever any of the named columns of any
row changes, computed by the database in one scan, so a saved index can be checked against the catalogue
without reading the catalogue into Python.

The database renders every row as SQL literals (``quote`` on SQLite, ``quote_nullable`` on PostgreSQL:
NULL, numbers and strings with their quotes escaped stay distinguishable) and concatenates the rows in
key order; Python hashes the result with sha256. Equal digests mean equal column contents.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import platform
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from sqlmodel import Session

# Field and row separators inside the concatenation (quoted literals cannot be confused with them).
_FIELD_SEPARATOR = ","
_ROW_SEPARATOR_CODE = 30  # ASCII record separator
SUPPORTED_DIALECTS = ("sqlite", "postgresql")


class UnsupportedDialect(RuntimeError):
    """The database cannot compute a fingerprint (only SQLite and PostgreSQL can)."""


def _identifier(name: str) -> str:
    # column and table names come from this code base, never from a request; quote them anyway
    return '"' + name.replace('"', '""') + '"'


def table_digests(session: Session, table: str, column_groups: Sequence[Sequence[str]], *,
                  order_by: Sequence[str]) -> list[str]:
    """sha256 hex digests of ``table``'s rows restricted to each group of columns, in one table scan.

    ``order_by`` must name a unique key, so the same contents always give the same digest. An empty table
    has a digest too (that of the empty string). ``UnsupportedDialect`` on databases other than
    SQLite and PostgreSQL.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect not in SUPPORTED_DIALECTS:
        raise UnsupportedDialect(f"table fingerprints need one of {SUPPORTED_DIALECTS}, got {dialect!r}")
    quote = "quote" if dialect == "sqlite" else "quote_nullable"
    order = ", ".join(_identifier(c) for c in order_by)
    rendered = [f" || '{_FIELD_SEPARATOR}' || ".join(f"{quote}({_identifier(c)})" for c in group)
                for group in column_groups]
    if dialect == "sqlite":
        # group_concat follows the subquery's order (SQLite 3.40 has no ORDER BY inside aggregates); were
        # it ever to differ, the digest would change and the saved index be rebuilt: never a stale reuse
        inner = ", ".join(f"{expr} AS g{k}" for k, expr in enumerate(rendered))
        outer = ", ".join(f"group_concat(g{k}, char({_ROW_SEPARATOR_CODE}))" for k in range(len(rendered)))
        sql = f"SELECT {outer} FROM (SELECT {inner} FROM {_identifier(table)} ORDER BY {order})"
    else:
        outer = ", ".join(f"string_agg({expr}, chr({_ROW_SEPARATOR_CODE}) ORDER BY {order})" for expr in rendered)
        sql = f"SELECT {outer} FROM {_identifier(table)}"
    row = connection.exec_driver_sql(sql).one()
    return [hashlib.sha256((value or "").encode("utf-8")).hexdigest() for value in row]


def combine(*parts: str) -> str:
    """One sha256 hex digest of several strings (digests, versions, model ids), order-sensitive."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def code_digest(*modules: ModuleType, packages: Sequence[str] = ()) -> str:
    """Digest of the source files of ``modules``, the versions of ``packages`` and Python's version: what
    builds (and pickles) an index, so a saved index is rebuilt after any change to that code."""
    parts = [platform.python_version()]
    for module in modules:
        parts.append(Path(inspect.getfile(module)).read_text(encoding="utf-8"))
    for package in packages:
        parts.append(f"{package}=={importlib.metadata.version(package)}")
    return combine(*parts)
