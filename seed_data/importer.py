"""Office import: institutions from a CSV or JSON file that an international office maintains.

A file may add institutions the catalogue lacks, correct catalogue fields and supply the owner's profile
text. The import is all-or-nothing: every row is checked first, every problem is reported at once
(``FILE:row N: field 'X': <problem> (got 'value')``), and the database changes only when there is none,
in one transaction.

Columns (CSV header) or keys (JSON objects): ``id`` (an existing catalogue id), ``pic``, ``ror_id``,
``erasmus_code``, ``name`` (display name; defaults to ``legal_name``), ``legal_name``, ``short_name``,
``native_name``, ``country``, ``city``, ``kind``, ``website``, ``domains`` and ``aliases`` (``;``-separated
in CSV, lists in JSON) and ``profile`` (the owner's profile text). An empty cell means "not supplied":
the field keeps its value. A supplied ``domains`` or ``aliases`` list replaces the stored one.

Text must be valid Unicode without control characters (``profile`` may hold tab and line breaks; every other
column is one line), since neither the database nor a spreadsheet export can hold them, and a ``website``
must be an http(s) URL (a bare host gets ``https://``), since the console shows it as a link.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from seed_data.countries import is_country, normalise_country
from seed_data.crud import IMPORT_PROVENANCE_PREFIX
from seed_data.names import fold, smart_title
from seed_data.safe_text import check_line, check_text, http_url
from seed_data.tables import INSTITUTION_ID_MAX_LENGTH, Institution, InstitutionKind, table_of

logger = logging.getLogger(__name__)

COLUMNS = (
    "id",
    "pic",
    "ror_id",
    "erasmus_code",
    "name",
    "legal_name",
    "short_name",
    "native_name",
    "country",
    "city",
    "kind",
    "website",
    "domains",
    "aliases",
    "profile",
)
LIST_COLUMNS = frozenset({"domains", "aliases"})
LIST_SEPARATOR = ";"
# Identifiers a row may match an existing institution by, strongest first.
MATCH_KEYS = ("id", "pic", "ror_id", "erasmus_code")

_PIC = re.compile(r"\d{9}")
# ROR ids: "0", six characters of Crockford base 32 (no i, l, o, u), two check digits (ISO 7064 mod 97-10).
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_ROR = re.compile(rf"0[{_CROCKFORD}]{{6}}\d{{2}}")
_ROR_URL_PREFIXES = ("https://ror.org/", "http://ror.org/", "ror.org/")
# Erasmus codes: a country prefix of 1-3 letters padded to 3 with spaces ("D  BERLIN01", "IRLDUBLIN01"),
# a city part with letters and hyphens ("LUX-VIL"), 1-3 digits; all 5,912 codes of the 2021-2027 ECHE list
# fit. Stored with runs of spaces collapsed to one, as that list writes them ("I CAMERIN01").
_ERASMUS = re.compile(r"[A-Z]{1,3} ?[A-Z][A-Z-]* ?\d{1,3}")
# "imp-" + slug + "-" + country must fit in an Institution.id.
_MAX_SLUG = INSTITUTION_ID_MAX_LENGTH - len("imp-") - len("-xx")


class ImportValidationError(ValueError):
    """An import file has problems; nothing was imported. ``problems`` holds one line per problem."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: {len(problems)} problem(s), nothing imported:\n" + "\n".join(problems))


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    file: str
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # id -> field -> (old, new)
    unchanged: list[str] = field(default_factory=list)


# --- identifier normalisation (the build uses these too) ------------------------------------------------


def normalise_pic(value: str) -> str:
    """A PIC as 9 digits; ``ValueError`` otherwise."""
    pic = value.strip()
    if not _PIC.fullmatch(pic):
        raise ValueError("a PIC is 9 digits")
    return pic


def normalise_ror_id(value: str) -> str:
    """The 9-character ROR id in ``value`` (a bare id or a ``https://ror.org/`` URL); ``ValueError`` if none.

    >>> normalise_ror_id("https://ror.org/05SBT2524")
    '05sbt2524'
    """
    ror = value.strip().lower()
    for prefix in _ROR_URL_PREFIXES:
        if ror.startswith(prefix):
            ror = ror.removeprefix(prefix).rstrip("/")
            break
    if not _ROR.fullmatch(ror):
        raise ValueError("a ROR id is '0', 6 base-32 characters and 2 digits, or https://ror.org/<that id>")
    number = 0
    for char in ror[1:7]:
        number = number * 32 + _CROCKFORD.index(char)
    if 98 - (number * 100) % 97 != int(ror[7:]):
        raise ValueError("the check digits do not match (mistyped ROR id?)")
    return ror


def normalise_erasmus_code(value: str) -> str:
    """An Erasmus code upper-cased with runs of spaces collapsed (``"i  camerin01"`` -> ``"I CAMERIN01"``)."""
    code = " ".join(value.upper().split())
    if not _ERASMUS.fullmatch(code):
        raise ValueError(
            "an Erasmus code is a country prefix, a city part and 1-3 digits, e.g. 'I CAMERIN01'"
        )
    return code


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")[:_MAX_SLUG].strip("-")
    # A name in a non-Latin script has no ASCII slug: a short hash of it keeps the id stable instead.
    return slug or hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


# --- reading --------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """An import file's rows, numbered as a user sees them, and its header (CSV only)."""

    file: str
    rows: list[tuple[int, dict[str, Any]]]
    header: list[str] | None


def _read(path: Path) -> _Source:
    path = Path(path)
    file = path.name
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ImportValidationError(
            file, [f"{file}: unsupported file type {suffix!r} (expected .csv or .json)"]
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a byte-order mark
    except UnicodeDecodeError as exc:
        raise ImportValidationError(file, [f"{file}: not UTF-8 text ({exc})"]) from exc
    if suffix == ".json":
        return _read_json(file, text)
    return _read_csv(file, text)


def _read_json(file: str, text: str) -> _Source:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportValidationError(file, [f"{file}: not valid JSON ({exc})"]) from exc
    if not isinstance(items, list):
        raise ImportValidationError(
            file, [f"{file}: expected a JSON list of objects (got {type(items).__name__})"]
        )
    problems = [
        f"{file}:row {n}: expected a JSON object (got {item!r})"
        for n, item in enumerate(items, start=1)
        if not isinstance(item, dict)
    ]
    if problems:
        raise ImportValidationError(file, problems)
    return _Source(file, list(enumerate(items, start=1)), None)


def _read_csv(file: str, text: str) -> _Source:
    records = list(csv.reader(io.StringIO(text, newline="")))  # keeps line breaks inside quoted cells
    if not records:
        raise ImportValidationError(file, [f"{file}: empty file (expected a header row)"])
    header = [name.strip() for name in records[0]]
    problems = [
        f"{file}:row 1: field {name!r}: column given twice (got {name!r})"
        for i, name in enumerate(header)
        if name in header[:i]
    ]
    rows: list[tuple[int, dict[str, Any]]] = []
    for row_no, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # a blank line; it still counts as a row, as in a spreadsheet
        if len(record) > len(header):
            problems.append(
                f"{file}:row {row_no}: {len(record)} values but {len(header)} columns (got {record!r})"
            )
            continue
        rows.append((row_no, dict(zip(header, record, strict=False))))
    if problems:
        raise ImportValidationError(file, problems)
    return _Source(file, rows, header)


def read_institution_file(path: Path) -> list[dict[str, Any]]:
    """The rows of an office import file: a UTF-8 CSV with a header row, or a JSON list of objects.

    Values are returned as read (CSV cells as strings); blank CSV lines are skipped. Raises
    ``ImportValidationError`` for a file that can't be read as either.
    """
    return [row for _, row in _read(path).rows]


# --- checking and planning ------------------------------------------------------------------------------


@dataclass
class _Row:
    """One checked row: its normalised values and the institution it matches (None: a new one)."""

    row_no: int
    values: dict[str, Any]
    target: str | None = None


class _Problems:
    """Problem lines in the order found, and which fields of which rows they concern."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []
        self._fields: dict[int, set[str]] = {}

    def add(self, row_no: int, name: str, problem: str, value: Any) -> None:
        self.lines.append(f"{self.file}:row {row_no}: field '{name}': {problem} (got {value!r})")
        self._fields.setdefault(row_no, set()).add(name)

    def fields(self, row_no: int) -> set[str]:
        return self._fields.get(row_no, set())


def _max_lengths() -> dict[str, int]:
    table = table_of(Institution)
    return {c.name: length for c in table.columns if (length := getattr(c.type, "length", None))}


def _clean_value(name: str, value: Any, *, row_no: int, problems: _Problems) -> Any:
    """The row's value for ``name``: stripped text, a list for list columns, ``None`` when not supplied."""
    if value is None:
        return None
    if name in LIST_COLUMNS:
        items = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            problems.add(row_no, name, "expected a list of strings or a ';'-separated string", value)
            return None
        cleaned = [" ".join(item.split()) for item in items]
        for item in cleaned:
            try:
                check_line(item)
            except ValueError as exc:
                problems.add(row_no, name, str(exc), item)
                return None
        if name == "domains":
            cleaned = [item.lower() for item in cleaned]
        return list(dict.fromkeys(item for item in cleaned if item)) or None
    if name == "pic" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.add(row_no, name, "expected text", value)
        return None
    try:  # the profile is free text (line breaks allowed); every other column is one line
        (check_text if name == "profile" else check_line)(value.strip())
    except ValueError as exc:
        problems.add(row_no, name, str(exc), value)
        return None
    return value.strip() or None


def _normalise(values: dict[str, Any], *, row_no: int, problems: _Problems, limits: dict[str, int]) -> None:
    """Check and normalise identifiers, country, kind, website and lengths in place."""
    checks = {
        "pic": normalise_pic,
        "ror_id": normalise_ror_id,
        "erasmus_code": normalise_erasmus_code,
    }
    for name, check in checks.items():
        if values.get(name) is not None:
            try:
                values[name] = check(values[name])
            except ValueError as exc:
                problems.add(row_no, name, str(exc), values[name])
                values[name] = None
    if values.get("country") is not None:
        code = normalise_country(values["country"])
        if is_country(code):
            values["country"] = code
        else:
            problems.add(
                row_no, "country", "not an ISO 3166-1 alpha-2 country code (e.g. KZ, IT)", values["country"]
            )
            values["country"] = None
    if values.get("kind") is not None:
        kinds = [k.value for k in InstitutionKind]
        if values["kind"].lower() in kinds:
            values["kind"] = InstitutionKind(values["kind"].lower())
        else:
            problems.add(row_no, "kind", f"not one of {', '.join(kinds)}", values["kind"])
            values["kind"] = None
    if values.get("website") is not None:
        try:  # only http(s) links: the console and exports show websites as links
            values["website"] = http_url(values["website"])  # "nu.edu.kz" -> "https://nu.edu.kz", as the build does
        except ValueError as exc:
            problems.add(row_no, "website", str(exc), values["website"])
            values["website"] = None
    for name, value in values.items():
        if isinstance(value, str) and name in limits and len(value) > limits[name]:
            problems.add(row_no, name, f"longer than {limits[name]} characters", value)


def _identifiers(session: Session) -> dict[str, dict[str, str]]:
    """Existing institutions by identifier: ``{"id": {id: id}, "pic": {pic: id}, "ror_id": ..., ...}``.

    Erasmus codes are keyed with runs of spaces collapsed, so "D  BERLIN01" and "D BERLIN01" meet.
    """
    index: dict[str, dict[str, str]] = {key: {} for key in MATCH_KEYS}
    columns = [table_of(Institution).c[key] for key in MATCH_KEYS]
    for inst_id, pic, ror_id, erasmus_code in session.execute(select(*columns)):
        index["id"][inst_id] = inst_id
        if pic:
            index["pic"].setdefault(pic, inst_id)
        if ror_id:
            index["ror_id"].setdefault(ror_id, inst_id)
        if erasmus_code:
            index["erasmus_code"].setdefault(" ".join(erasmus_code.upper().split()), inst_id)
    return index


def _new_id(values: dict[str, Any]) -> str:
    if values.get("pic"):
        return f"pic-{values['pic']}"
    if values.get("ror_id"):
        return f"ror-{values['ror_id']}"
    name = values.get("legal_name") or values.get("name") or ""
    return f"imp-{_slug(name)}-{(values.get('country') or '').lower()}"


def _check(source: _Source, *, session: Session) -> list[_Row]:
    """Validate every row and find the institution each one matches; raise with every problem found.

    A field that is malformed is reported once: a row whose identifier is malformed is not also told it
    lacks a name (it may not be new), and a field that is supplied but invalid is not also "required".
    """
    problems = _Problems(source.file)
    unknown_column = f"unknown column; columns are {', '.join(COLUMNS)}"
    if source.header is not None:
        for name in source.header:
            if name not in COLUMNS:
                problems.add(1, name, unknown_column, name)
    limits = _max_lengths()
    index = _identifiers(session)
    first_seen: dict[tuple[str, str], int] = {}  # (identifier, value) -> row that gave it first
    target_rows: dict[str, int] = {}  # institution id -> row that updates or creates it
    checked: list[_Row] = []
    for row_no, raw in source.rows:
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name in COLUMNS:
                values[name] = _clean_value(name, value, row_no=row_no, problems=problems)
            elif source.header is None:
                problems.add(row_no, name, unknown_column, value)
        _normalise(values, row_no=row_no, problems=problems, limits=limits)
        bad = problems.fields(row_no)
        if bad & set(MATCH_KEYS):
            continue  # which institution the row means is unknown, so nothing more can be checked

        matches: dict[str, str] = {}  # identifier column -> institution id, in MATCH_KEYS order
        for key in MATCH_KEYS:
            value = values.get(key)
            if value is None:
                continue
            if (key, value) in first_seen:
                problems.add(row_no, key, f"same value as row {first_seen[key, value]}", value)
            first_seen.setdefault((key, value), row_no)
            if value in index[key]:
                matches[key] = index[key][value]
            elif key == "id":
                problems.add(row_no, "id", "no institution with this id in the catalogue", value)
        targets = list(dict.fromkeys(matches.values()))
        for key, found in matches.items():
            if found != targets[0]:
                first_key = next(iter(matches))
                problems.add(
                    row_no,
                    key,
                    f"matches institution {found!r}, but '{first_key}' matches {targets[0]!r}",
                    values[key],
                )
        if problems.fields(row_no) & set(MATCH_KEYS):
            continue

        if targets:
            target: str | None = targets[0]
            claimed, key = targets[0], next(iter(matches))
        else:
            for name, label in (("legal_name", "a legal_name (or name)"), ("country", "a country")):
                supplied = values.get(name) or (name == "legal_name" and values.get("name"))
                if not supplied and name not in bad:
                    problems.add(
                        row_no, name, f"{label} is required for a new institution", raw.get(name) or ""
                    )
            claimed, key = _new_id(values), "legal_name"
            # A name-only row's new id may exist from an earlier import of the same file: that is its match.
            target = claimed if claimed in index["id"] else None
        if claimed in target_rows:
            problems.add(
                row_no,
                key,
                f"refers to the same institution {claimed!r} as row {target_rows[claimed]}",
                values.get(key),
            )
        target_rows.setdefault(claimed, row_no)
        checked.append(_Row(row_no, values, target))
    if problems.lines:
        raise ImportValidationError(source.file, problems.lines)
    return checked


def _changes(
    row: _Row, current: Institution, *, provenance: str, now: dt.datetime
) -> dict[str, tuple[Any, Any]]:
    """Field -> (old, new) for the values ``row`` supplies that differ from ``current``."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in row.values.items():
        if value is None or name == "id":
            continue
        column = "profile_owner" if name == "profile" else name
        old = getattr(current, column)
        if name == "erasmus_code" and old is not None and " ".join(old.upper().split()) == value:
            continue  # the same code, spaced as the source wrote it
        if old != value:
            changes[column] = (old, value)
    if "profile_owner" in changes:
        changes["profile_owner_updated"] = (current.profile_owner_updated, now)
    if provenance not in current.provenance:
        changes["provenance"] = (list(current.provenance), [*current.provenance, provenance])
    return changes


def _new_institution(row: _Row, *, provenance: str, now: dt.datetime) -> Institution:
    values = {name: value for name, value in row.values.items() if value is not None and name != "profile"}
    values.setdefault("name", smart_title(values.get("legal_name") or ""))
    values["id"] = _new_id(row.values)
    values["provenance"] = [provenance]
    if row.values.get("profile"):
        values["profile_owner"] = row.values["profile"]
        values["profile_owner_updated"] = now
    return Institution.model_validate(values)


def import_institutions(*, session: Session, path: Path, dry_run: bool) -> ImportReport:
    """Import an office's institution file (CSV or JSON, see the module docstring) into the catalogue.

    Each row matches an existing institution by ``id``, else PIC, else ROR id, else Erasmus code (a row
    whose identifiers match two different institutions is an error); its supplied fields replace the
    stored ones and ``import:<file name>`` joins its provenance, which makes later catalogue loads keep the
    imported fields. An unmatched row creates an institution with id ``pic-<PIC>``, else ``ror-<ROR id>``,
    else ``imp-<slug of legal_name>-<country>``. A ``profile`` becomes the owner's profile
    (``profile_owner``, stamped with the current UTC time in ``profile_owner_updated``).

    All rows are checked before anything changes: any problem raises ``ImportValidationError`` listing
    them all, and the database is untouched. ``dry_run`` returns the report without changing anything;
    otherwise the changes are committed in one transaction.
    """
    path = Path(path)
    source = _read(path)
    checked = _check(source, session=session)
    provenance = f"{IMPORT_PROVENANCE_PREFIX}{path.name}"
    now = dt.datetime.now(dt.UTC)
    report = ImportReport(file=path.name, dry_run=dry_run)
    new_rows: list[Institution] = []
    updates: list[tuple[Institution, dict[str, tuple[Any, Any]]]] = []
    for row in checked:
        if row.target is None:
            institution = _new_institution(row, provenance=provenance, now=now)
            new_rows.append(institution)
            report.created.append(institution.id)
            continue
        current = session.get(Institution, row.target)
        if current is None:  # checked above, so only a concurrent delete gets here
            raise ImportValidationError(
                source.file, [f"{source.file}:row {row.row_no}: {row.target!r} vanished"]
            )
        changes = _changes(row, current, provenance=provenance, now=now)
        if changes:
            report.updated[current.id] = changes
            updates.append((current, changes))
        else:
            report.unchanged.append(current.id)
    if dry_run:
        logger.info(
            "dry run of %s: would create %d, update %d, leave %d unchanged",
            path.name,
            len(report.created),
            len(report.updated),
            len(report.unchanged),
        )
        return report
    try:
        for institution in new_rows:
            session.add(institution)
        for current, changes in updates:
            current.sqlmodel_update({name: new for name, (_, new) in changes.items()})
            session.add(current)
        session.commit()
    except Exception:
        session.rollback()
        raise
    logger.info(
        "imported %s: created %d, updated %d, unchanged %d",
        path.name,
        len(report.created),
        len(report.updated),
        len(report.unchanged),
    )
    return report
