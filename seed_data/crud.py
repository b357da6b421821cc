"""Database helpers for the catalogue: they take ``session`` keyword-only and never open sessions or engines.

``load_catalogue`` upserts the shipped files (``seed_data/data/``) into the database. The comparison is
done in Python (select the batch's existing rows by primary key, compare, then insert the new rows and
update the changed ones), which is portable across SQLite and PostgreSQL, counts inserted / updated /
unchanged rows exactly, and never rewrites a row whose content did not change.

A load commits batch by batch (one transaction for the whole catalogue would hold SQLite's write lock for
the whole load), so a load that is killed leaves part of the catalogue written. Each load is therefore
recorded in ``catalogue_load``: started before its first write, completed after its last; while the latest
load is not completed (``incomplete_load``), the database holds a partial catalogue, and loading again
completes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Enum, Table, bindparam, delete, insert, select, update
from sqlmodel import Session, col

from seed_data.calls import CALLS_FILE
from seed_data.evidence import refresh_evidence_flags
from seed_data.files import DATA_DIR, read_csv_gz, read_json, read_jsonl_gz
from seed_data.tables import (
    Call,
    CatalogueLoad,
    EvidenceItem,
    Institution,
    ItemOrigin,
    Participation,
    Partnership,
    PriorityArea,
    Programme,
    Project,
    table_of,
    utc_now,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000

# The owner's profile is never touched by a catalogue load.
OWNER_FIELDS = ("profile_owner", "profile_owner_updated")
# Institution fields an office import may set. On a row whose provenance has an ``import:`` entry a load
# keeps these and refreshes only the rest (derived profile, project counts, research evidence, provenance).
OFFICE_FIELDS = (
    "name",
    "legal_name",
    "short_name",
    "native_name",
    "country",
    "city",
    "kind",
    "ror_id",
    "pic",
    "erasmus_code",
    "website",
    "domains",
    "aliases",
)
IMPORT_PROVENANCE_PREFIX = "import:"

INSTITUTIONS_FILE = "institutions.jsonl.gz"
PROJECTS_FILE = "projects.jsonl.gz"
PARTICIPATIONS_FILE = "participations.csv.gz"
PRIORITY_AREAS_FILE = "priority_areas.json"
PROGRAMMES_FILE = "programmes.json"
EVIDENCE_ITEMS_FILE = "evidence_items.jsonl.gz"
PARTNERSHIPS_FILE = "partnerships.jsonl.gz"

Row = dict[str, Any]


class CatalogueError(ValueError):
    """A shipped catalogue file is malformed or refers to rows that exist nowhere."""


@dataclass
class TableCounts:
    """What a load did to one table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # shipped rows the files no longer hold (evidence items, partnerships)


@dataclass
class LoadReport:
    """Per-table counts of one ``load_catalogue`` run."""

    priority_areas: TableCounts = field(default_factory=TableCounts)
    programmes: TableCounts = field(default_factory=TableCounts)
    institutions: TableCounts = field(default_factory=TableCounts)
    projects: TableCounts = field(default_factory=TableCounts)
    participations: TableCounts = field(default_factory=TableCounts)
    evidence_items: TableCounts = field(default_factory=TableCounts)
    partnerships: TableCounts = field(default_factory=TableCounts)
    calls: TableCounts = field(default_factory=TableCounts)

    @property
    def n_changed(self) -> int:
        """Rows inserted, updated or deleted, over all tables (0 when the database already matched the files)."""
        return sum(c.inserted + c.updated + c.deleted for c in self.tables().values())

    def tables(self) -> dict[str, TableCounts]:
        """The counts by table, in load order."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def is_imported(provenance: Iterable[str]) -> bool:
    """Whether an institution's provenance shows an office import (an ``import:<file>`` entry)."""
    return any(p.startswith(IMPORT_PROVENANCE_PREFIX) for p in provenance)


# --- reading and checking the shipped rows --------------------------------------------------------------


def _identity(value: Any) -> Any:
    return value


def _converter(column: Column[Any]) -> Callable[[Any], Any]:
    """Turn a shipped value (JSON or CSV text) into what ``column`` takes; ``ValueError`` if it can't."""
    sa_type = column.type
    if isinstance(sa_type, Enum):
        allowed = set(sa_type.enums)

        def enum_value(value: Any) -> Any:
            if value is not None and value not in allowed:
                raise ValueError(f"not one of {sorted(allowed)}")
            return value

        return enum_value
    try:
        python_type = sa_type.python_type
    except NotImplementedError:
        return _identity
    if python_type is dt.datetime:
        needs_offset = bool(getattr(getattr(sa_type, "impl", sa_type), "timezone", False))

        def datetime_value(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            parsed = dt.datetime.fromisoformat(value)
            if needs_offset and parsed.utcoffset() is None:
                raise ValueError("a timestamp needs a UTC offset")
            return parsed

        return datetime_value
    if python_type is dt.date:
        return lambda value: dt.date.fromisoformat(value) if isinstance(value, str) else value
    return _identity


class _Shipped:
    """Rows of one shipped file, checked against the table's columns and converted to column values."""

    def __init__(self, table: Table, path: Path, *, first_row: int, empty_is_null: bool) -> None:
        self.table = table
        self.path = path
        self.first_row = first_row  # how a user numbers the first data row (CSV: 2, after the header)
        self.empty_is_null = empty_is_null
        self.columns = {c.name for c in table.columns}
        self.pk = [c.name for c in table.primary_key.columns]
        self._row_no = 0
        # Only columns whose values need converting (enums, dates) get a converter call per row.
        self._convert = {c.name: conv for c in table.columns if (conv := _converter(c)) is not _identity}
        self._not_null = [c.name for c in table.columns if not c.nullable]

    def where(self) -> str:
        return f"{self.path.name}:row {self._row_no}"

    def rows(self, raw_rows: Iterable[dict[str, Any]]) -> Iterator[Row]:
        for row_no, raw in enumerate(raw_rows, start=self.first_row):
            self._row_no = row_no
            if raw.keys() != self.columns:
                keys = set(raw)
                missing, extra = sorted(self.columns - keys), sorted(keys - self.columns)
                raise CatalogueError(
                    f"{self.where()}: columns do not match table '{self.table.name}': "
                    f"missing {missing}, unexpected {extra}"
                )
            row = {k: (None if v == "" else v) for k, v in raw.items()} if self.empty_is_null else raw
            for name in self._not_null:
                if row[name] is None:
                    raise CatalogueError(f"{self.where()}: field '{name}': must not be empty")
            for name, convert in self._convert.items():
                try:
                    row[name] = convert(row[name])
                except (TypeError, ValueError) as exc:
                    raise CatalogueError(
                        f"{self.where()}: field '{name}': {exc} (got {row[name]!r})"
                    ) from exc
            yield row


def _read_rows(data_dir: Path, file_name: str, table: Table) -> tuple[_Shipped, Iterator[Row]]:
    path = data_dir / file_name
    if file_name.endswith(".jsonl.gz"):
        shipped = _Shipped(table, path, first_row=1, empty_is_null=False)
        return shipped, shipped.rows(read_jsonl_gz(path))
    if file_name.endswith(".csv.gz"):
        shipped = _Shipped(table, path, first_row=2, empty_is_null=True)
        return shipped, shipped.rows(read_csv_gz(path))
    items = read_json(path)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise CatalogueError(f"{path.name}: expected a JSON list of objects")
    shipped = _Shipped(table, path, first_row=1, empty_is_null=False)
    return shipped, shipped.rows(items)


def _validate(*, session: Session, data_dir: Path, plan: list[_Step]) -> dict[str, int]:
    """Read every shipped file once without writing; return the row count per table.

    Raises ``CatalogueError`` for a missing file, a row that doesn't fit its table, a primary key given
    twice, or a participation naming a project or institution that is neither in the files nor in the
    database, so that a bad catalogue fails before the first batch is committed.
    """
    for step in plan:
        if not (data_dir / step.file_name).is_file():
            raise CatalogueError(
                f"{data_dir / step.file_name}: shipped catalogue file not found (run the build)"
            )
    keys: dict[str, set[tuple[Any, ...]]] = {}
    unknown: list[tuple[str, str, str]] = []  # (where, column, id) of references to other rows
    for step in plan:
        seen: set[tuple[Any, ...]] = set()
        try:
            shipped, rows = _read_rows(data_dir, step.file_name, step.table)
            for row in rows:
                key = tuple(row[name] for name in shipped.pk)
                if key in seen:
                    raise CatalogueError(f"{shipped.where()}: primary key {key} appears more than once")
                seen.add(key)
                for column, parent in step.references:
                    ref = row[column]
                    if ref is not None and (ref,) not in keys[parent]:
                        unknown.append((shipped.where(), column, ref))
        except CatalogueError:
            raise
        except (OSError, ValueError) as exc:  # not gzip, not UTF-8, not JSON
            raise CatalogueError(f"{step.file_name}: cannot be read: {exc}") from exc
        keys[step.attr] = seen
    if unknown:
        _check_in_database(session=session, unknown=unknown)
    return {attr: len(found) for attr, found in keys.items()}


def _check_in_database(*, session: Session, unknown: list[tuple[str, str, str]]) -> None:
    """Raise for each participation reference (not in the shipped files) that the database lacks too."""
    found: dict[str, set[str]] = {}
    for column, table in (("project_id", table_of(Project)), ("institution_id", table_of(Institution)),
                          ("partner_id", table_of(Institution))):
        wanted = sorted({ref for _, col, ref in unknown if col == column})
        found[column] = set()
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            found[column] |= set(session.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    problems = [
        f"{where}: field '{column}': no such {_REFERENCED[column]} in the shipped files "
        f"or the database (got {ref!r})"
        for where, column, ref in unknown
        if ref not in found[column]
    ]
    if problems:
        shown = problems[:20]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise CatalogueError(
            f"{len(problems)} references to unknown rows:\n" + "\n".join(shown) + more
        )


# --- upserting ------------------------------------------------------------------------------------------


def _merge_institution(shipped: Row, existing: Row) -> Row:
    """The row a load writes over ``existing``: the build's values except what an owner or office gave."""
    merged = dict(shipped)
    for name in OWNER_FIELDS:
        merged[name] = existing[name]
    if is_imported(existing["provenance"]):
        for name in OFFICE_FIELDS:
            merged[name] = existing[name]
        imports = [p for p in existing["provenance"] if p.startswith(IMPORT_PROVENANCE_PREFIX)]
        merged["provenance"] = [
            *shipped["provenance"],
            *(p for p in imports if p not in shipped["provenance"]),
        ]
    return merged


def _keep_imported(shipped: Row, existing: Row) -> Row:
    """An evidence item or partnership an office imported stays as imported, even when the shipped
    catalogue now holds the same record (same id)."""
    return existing if existing["origin"] == ItemOrigin.imported.value else shipped


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _upsert(
    *,
    session: Session,
    shipped: _Shipped,
    rows: Iterable[Row],
    counts: TableCounts,
    merge: Callable[[Row, Row], Row] | None,
    advance: Callable[[int], None],
) -> None:
    """Insert new rows and update changed ones, one transaction per ``BATCH_SIZE`` rows."""
    table = shipped.table
    pk = shipped.pk
    first_pk = table.c[pk[0]]
    data_columns = [c.name for c in table.columns if c.name not in pk]
    # Bind names get prefixes: SQLAlchemy reserves a column's own name for its implicit SET parameter.
    update_stmt = (
        update(table)
        .where(*(table.c[name] == bindparam(f"k_{name}") for name in pk))
        .values({name: bindparam(f"v_{name}") for name in data_columns})
    )
    for batch in _batches(rows, BATCH_SIZE):
        # Select on the first key column only: it leads the primary-key index, so this stays an index
        # search on SQLite as well; rows of other keys that come along are simply not looked up.
        firsts = sorted({row[pk[0]] for row in batch})
        result = session.execute(select(table).where(first_pk.in_(firsts)))
        names = list(result.keys())
        existing: dict[tuple[Any, ...], Row] = {}
        for values in result:
            stored = dict(zip(names, values, strict=True))
            existing[tuple(stored[name] for name in pk)] = stored
        to_insert: list[Row] = []
        to_update: list[Row] = []
        for row in batch:
            old = existing.get(tuple(row[name] for name in pk))
            if old is None:
                to_insert.append(row)
                continue
            new = merge(row, old) if merge else row
            if new == old:
                counts.unchanged += 1
                continue
            to_update.append({**{f"k_{n}": row[n] for n in pk}, **{f"v_{n}": new[n] for n in data_columns}})
        if to_insert:
            session.execute(insert(table), to_insert)
        if to_update:
            session.execute(update_stmt, to_update)
        session.commit()
        counts.inserted += len(to_insert)
        counts.updated += len(to_update)
        advance(len(batch))


@dataclass(frozen=True)
class _Step:
    attr: str  # LoadReport field
    file_name: str
    table: Table
    merge: Callable[[Row, Row], Row] | None = None
    references: tuple[tuple[str, str], ...] = ()  # (column, attr of the step whose rows it names)
    # Rows of the shipped catalogue (origin "catalogue") that the files no longer hold are deleted: a fact
    # the build now rejects must not stay behind. For tables whose rows carry an origin, or (calls) whose
    # rows all come from the catalogue.
    prune_catalogue_rows: bool = False


_PLAN = [
    _Step("priority_areas", PRIORITY_AREAS_FILE, table_of(PriorityArea)),
    _Step("programmes", PROGRAMMES_FILE, table_of(Programme)),
    _Step("institutions", INSTITUTIONS_FILE, table_of(Institution), _merge_institution),
    _Step("projects", PROJECTS_FILE, table_of(Project)),
    _Step("participations", PARTICIPATIONS_FILE, table_of(Participation),
          references=(("project_id", "projects"), ("institution_id", "institutions"))),
    _Step("evidence_items", EVIDENCE_ITEMS_FILE, table_of(EvidenceItem), _keep_imported,
          references=(("institution_id", "institutions"),), prune_catalogue_rows=True),
    _Step("partnerships", PARTNERSHIPS_FILE, table_of(Partnership), _keep_imported,
          references=(("institution_id", "institutions"), ("partner_id", "institutions")),
          prune_catalogue_rows=True),
    _Step("calls", CALLS_FILE, table_of(Call), prune_catalogue_rows=True),
]
_REFERENCED = {"project_id": "project", "institution_id": "institution", "partner_id": "institution"}


def load_catalogue(*, session: Session, data_dir: Path = DATA_DIR, show_progress: bool = False) -> LoadReport:
    """Load the shipped catalogue files into the database (upsert by primary key); return what changed.

    Tables load parents first (priority areas, programmes, institutions, projects, participations), in
    batches of ``BATCH_SIZE`` rows, each committed. Loading the same files twice changes nothing and reports
    0 inserted / 0 updated. Rows that are in the database but not in the files are left alone, except shipped
    evidence items and partnerships, and call topics (``calls.jsonl.gz``: a call the source no longer lists is
    deleted).

    Institutions keep their owner-supplied profile (``profile_owner``, ``profile_owner_updated``); one that
    came from an office import (an ``import:`` provenance entry) also keeps its ``OFFICE_FIELDS`` and gets
    only the build-derived fields (derived profile, project count, research evidence, provenance) refreshed.

    Every file is read and checked before the first write, so ``CatalogueError`` (a missing file, a row
    that doesn't fit its table, a primary key given twice, a participation naming a project or institution
    found neither in the files nor in the database) leaves the database as it was. After the check, the load
    is recorded in ``catalogue_load`` (committed), and marked completed after the last batch: a load that
    stops between the two is reported by ``incomplete_load`` until a load completes. Counts are logged per
    table; ``show_progress`` adds a ``rich`` progress bar.
    """
    data_dir = Path(data_dir)
    totals = _validate(session=session, data_dir=data_dir, plan=_PLAN)
    # committed on its own before the first write: a load killed from here on stays visible as incomplete
    load = CatalogueLoad(source=source_digest(data_dir))
    session.add(load)
    session.commit()
    report = LoadReport()
    with _Progress(enabled=show_progress) as progress:
        for step in _PLAN:
            shipped, rows = _read_rows(data_dir, step.file_name, step.table)
            counts: TableCounts = getattr(report, step.attr)
            advance = progress.task(step.attr, total=totals[step.attr])
            _upsert(
                session=session, shipped=shipped, rows=rows, counts=counts, merge=step.merge, advance=advance
            )
            if step.prune_catalogue_rows:
                counts.deleted = _prune(session=session, data_dir=data_dir, step=step)
            logger.info(
                "%s: %d inserted, %d updated, %d unchanged",
                step.attr,
                counts.inserted,
                counts.updated,
                counts.unchanged,
            )
    # The shipped files give each institution the build's evidence flags; those with evidence the build does not
    # know (imported items, an owner profile) get theirs from what the database holds.
    _refresh_office_evidence_flags(session=session)
    load.completed = utc_now()
    session.add(load)
    session.commit()
    return report


def _refresh_office_evidence_flags(*, session: Session) -> None:
    imported = select(col(EvidenceItem.institution_id)).where(col(EvidenceItem.origin) == ItemOrigin.imported.value)
    owners = select(col(Institution.id)).where(col(Institution.profile_owner).is_not(None))
    ids = set(session.execute(imported).scalars()) | set(session.execute(owners).scalars())
    if ids:
        refresh_evidence_flags(session, ids)
        session.commit()


def _prune(*, session: Session, data_dir: Path, step: _Step) -> int:
    """Delete rows of the shipped catalogue (origin "catalogue") that ``step``'s file no longer holds."""
    table = step.table
    (key,) = table.primary_key.columns
    _, rows = _read_rows(data_dir, step.file_name, table)
    shipped = {row[key.name] for row in rows}
    stored_rows = select(key).where(table.c.origin == ItemOrigin.catalogue.value) if "origin" in table.c \
        else select(key)
    stale = sorted(set(session.execute(stored_rows).scalars()) - shipped)
    for start in range(0, len(stale), BATCH_SIZE):
        session.execute(delete(table).where(key.in_(stale[start : start + BATCH_SIZE])))
    session.commit()
    return len(stale)


def source_digest(data_dir: Path) -> str:
    """sha256 hex digest of the shipped catalogue files a load reads (their names and bytes)."""
    digest = hashlib.sha256()
    for step in _PLAN:
        digest.update(step.file_name.encode("utf-8") + b"\0")
        with open(data_dir / step.file_name, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def incomplete_load(*, session: Session) -> CatalogueLoad | None:
    """The latest catalogue load if it did not complete (killed, failed, or still running), else ``None``
    (also when no load was ever recorded: a database filled otherwise, as tests do)."""
    newest_first = select(CatalogueLoad).order_by(col(CatalogueLoad.id).desc()).limit(1)
    latest = session.execute(newest_first).scalar_one_or_none()
    return latest if latest is not None and latest.completed is None else None


class _Progress:
    """Hands out per-table ``advance(n)`` callbacks: a ``rich`` bar when enabled, else no-ops."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import Progress  # imported here: only the CLI asks for a bar

            self._bar = Progress()
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(self, description: str, *, total: int) -> Callable[[int], None]:
        if self._bar is None:
            return lambda n: None
        task_id = self._bar.add_task(description, total=total)
        return lambda n: self._bar.advance(task_id, n)
