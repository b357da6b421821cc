"""Offices add their own evidence: publications, projects and partnerships, planned, then applied.

An import is two steps, so that a dry run, the CLI and the API share one code path:

1. ``plan_publications`` / ``plan_projects`` / ``plan_partnerships`` read a file, check every record and compare
   it with what the database holds. They change nothing and return an :class:`EvidencePlan` (rows to add, rows
   to update, rows already there). Any problem raises :class:`EvidenceImportError` listing every problem, each
   naming the record or row, the field and the value: an import is all-or-nothing.
2. ``apply_plan`` writes the plan (``origin`` "import", the key that imported it, the time) and recomputes the
   evidence level of the institutions it touched. It does not commit: the caller does, in one transaction.

Publications are the files offices export (RIS, BibTeX, Scopus CSV, Web of Science tab-delimited, OpenAlex works
JSON), read by ``seed_data.publications``. Projects and partnerships are CSV (UTF-8, header row; list columns
``;``-separated) or JSON (a list of objects, lists as JSON lists) with these columns:

Projects (``national_project`` items)
    ``institution_id`` (required unless the caller names the institution; if both, they must agree), ``title``
    (required), ``code`` (the grant code, e.g. an IRN such as AP09261083), ``abstract``, ``keywords``,
    ``start_year``, ``end_year``, ``funder``, ``partners``, ``url``.
Partnerships
    ``institution_id`` (as above), ``partner_name`` (required), ``partner_country`` (ISO 3166-1 alpha-2,
    required), ``partner_ror`` (a ROR id or URL), ``partner_id`` (a catalogue institution id; must exist),
    ``partner_website``, ``type`` (a :class:`~seed_data.tables.PartnershipType` value, required), ``year``,
    ``description``, ``url``. The partner is resolved to a catalogue institution by ``partner_id`` if given,
    else by :class:`seed_data.partners.PartnerResolver` (ROR, website, names within the country); a partner that
    resolves to none (or to two) is kept by name with ``partner_id`` empty.

Ids come from ``seed_data.evidence`` (institution, type and DOI / grant code / normalised title), the same ids
the catalogue build gives, so a re-import finds its rows again: records already present unchanged are counted,
not written. Records of one file that are the same item (same DOI, same grant code, same normalised title) are
merged into one; a record also matches a row already stored for the institution by DOI or grant code, or by
normalised title when either lacks one. A matched catalogue row that the file changes becomes an import row
(the office's version wins, and catalogue loads keep it).

Text rules are those of ``seed_data.safe_text`` (one line for names, titles, codes; free text for abstracts and
descriptions), lengths those of the tables, years 1900..2100, URLs http(s) only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlmodel import Session, col, select

from seed_data.countries import is_country, normalise_country
from seed_data.evidence import (
    item_id,
    item_identity,
    normalised_title,
    partnership_id,
    project_item_text,
    publication_text,
    refresh_evidence_flags,
)
from seed_data.importer import normalise_ror_id
from seed_data.publications import (
    PublicationFileError,
    PublicationRecord,
    detect_format,
    merge_duplicates,
    read_publications,
)
from seed_data.safe_text import check_line, check_text, http_url
from seed_data.tables import (
    EVIDENCE_ID_MAX_LENGTH,
    INSTITUTION_ID_MAX_LENGTH,
    SOURCE_MAX_LENGTH,
    EvidenceItem,
    EvidenceType,
    Institution,
    ItemOrigin,
    Partnership,
    PartnershipType,
)

logger = logging.getLogger(__name__)

FIRST_YEAR, LAST_YEAR = 1900, 2100
LIST_SEPARATOR = ";"
TITLE_MAX_LENGTH = 2000
NAME_MAX_LENGTH = 500
TEXT_MAX_LENGTH = 50_000  # an abstract; as seed_data.publications allows
DESCRIPTION_MAX_LENGTH = 2000
EXTERNAL_ID_MAX_LENGTH = 300
KEYWORD_MAX_LENGTH = 300
LINE_MAX_LENGTH = 1000  # funder, partner names in a project's partner list

PROJECT_COLUMNS = ("institution_id", "title", "code", "abstract", "keywords", "start_year", "end_year", "funder",
                   "partners", "url")
PARTNERSHIP_COLUMNS = ("institution_id", "partner_name", "partner_country", "partner_ror", "partner_id",
                       "partner_website", "type", "year", "description", "url")

# The columns compared to tell an unchanged row from a changed one.
_ITEM_FIELDS = ("type", "title", "text", "year", "source", "external_id", "details")
_PARTNERSHIP_FIELDS = ("partner_id", "partner_name", "partner_country", "type", "year", "description", "source")


# --- errors ---------------------------------------------------------------------------------------------


class EvidenceImportError(ValueError):
    """An evidence file has problems; nothing was imported. ``problems`` holds every one, each naming the record
    or row, the field and the value."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__(f"{file}: {len(self.problems)} problem(s), nothing imported:\n" + "\n".join(self.problems))


class EvidenceNotFoundError(LookupError):
    """No evidence item (or partnership) with this id belongs to this institution."""

    def __init__(self, kind: str, institution_id: str, row_id: str) -> None:
        self.kind, self.institution_id, self.row_id = kind, institution_id, row_id
        super().__init__(f"{institution_id} has no {kind} {row_id!r}")


class CatalogueRowError(ValueError):
    """The row comes from the shipped catalogue, which an office cannot remove (the next load would restore it)."""

    def __init__(self, kind: str, institution_id: str, row_id: str) -> None:
        self.kind, self.institution_id, self.row_id = kind, institution_id, row_id
        super().__init__(f"{kind} {row_id!r} of {institution_id} comes from the shipped catalogue; only imported "
                         "rows can be removed")


# --- the plan -------------------------------------------------------------------------------------------


@dataclass
class RowChange:
    """A stored row that the file changes: its id and field -> (stored value, new value)."""

    id: str
    institution_id: str
    changes: dict[str, tuple[Any, Any]]


@dataclass
class EvidencePlan:
    """What an import would write; ``apply_plan`` writes it.

    ``kind`` is "publications", "projects" or "partnerships"; ``model`` the table the rows go to. ``read`` counts
    the records in the file and ``merged`` those folded into another record of the same file.
    """

    kind: str
    file: str
    model: type[EvidenceItem] | type[Partnership]
    institution_ids: list[str]
    new_rows: list[EvidenceItem | Partnership] = field(default_factory=list)
    changed_rows: list[RowChange] = field(default_factory=list)
    unchanged_ids: list[str] = field(default_factory=list)
    read: int = 0
    merged: int = 0

    @property
    def added(self) -> int:
        """Rows the plan adds."""
        return len(self.new_rows)

    @property
    def updated(self) -> int:
        """Stored rows the plan changes."""
        return len(self.changed_rows)

    @property
    def unchanged(self) -> int:
        """Records already stored as they are in the file."""
        return len(self.unchanged_ids)

    def counts(self) -> dict[str, int]:
        """The plan's counts, for a report: read, merged, added, updated, unchanged, institutions."""
        return {"read": self.read, "merged": self.merged, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "institutions": len(self.institution_ids)}


# --- problems and values --------------------------------------------------------------------------------


class _Problems:
    """Problem lines in the order found: ``FILE:row N: field 'X': <problem> (got 'value')``."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, where: str, name: str, problem: str, value: Any) -> None:
        self.lines.append(f"{self.file}:{where}: field '{name}': {problem} (got {_shown(value)})")

    def file_problem(self, problem: str) -> None:
        self.lines.append(f"{self.file}: {problem}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise EvidenceImportError(self.file, self.lines)

    def fatal(self, problem: str) -> NoReturn:
        """Raise now: a problem with the file as a whole, after which its rows cannot be read."""
        self.file_problem(problem)
        raise EvidenceImportError(self.file, self.lines)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"  # an abstract in an error line helps nobody


class _Row:
    """One file row's raw values and where it is, with helpers that check a column and record problems."""

    def __init__(self, where: str, raw: Mapping[str, Any], problems: _Problems) -> None:
        self.where, self.raw, self.problems = where, raw, problems
        self.bad = False

    def problem(self, name: str, problem: str, value: Any) -> None:
        self.bad = True
        self.problems.add(self.where, name, problem, value)

    def _checked(self, name: str, text: str, value: Any, check: Callable[[str], str], max_length: int) -> str | None:
        """``text`` (the column's ``value`` normalised) if ``check`` passes and it fits ``max_length``, else None
        with the problem recorded against the value as written."""
        try:
            check(text)
        except ValueError as exc:
            self.problem(name, str(exc), value)
            return None
        if len(text) > max_length:
            self.problem(name, f"longer than {max_length} characters", value)
            return None
        return text

    def line(self, name: str, *, max_length: int, required: bool = False) -> str | None:
        """A one-line text column, whitespace runs collapsed; None when empty (a problem if ``required``)."""
        value = self.raw.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a grant code or an id written as a JSON number
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(name, "required", value if value is not None else "")
            return None
        if not isinstance(value, str):
            self.problem(name, "expected text", value)
            return None
        return self._checked(name, " ".join(value.split()), value, check_line, max_length)

    def text(self, name: str, *, max_length: int) -> str | None:
        """A free-text column (tab and line breaks kept); None when empty."""
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            self.problem(name, "expected text", value)
            return None
        return self._checked(name, value.strip(), value, check_text, max_length)

    def items(self, name: str, *, max_length: int) -> list[str]:
        """A list column: a JSON list of strings or a ';'-separated string; duplicates (case-folded) dropped."""
        value = self.raw.get(name)
        if value is None or value == "":
            return []
        parts = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        if not isinstance(parts, list) or not all(isinstance(part, str) for part in parts):
            self.problem(name, f"expected a list of strings or a '{LIST_SEPARATOR}'-separated string", value)
            return []
        kept: list[str] = []
        seen: set[str] = set()
        for position, part in enumerate(parts, start=1):
            text = " ".join(part.split())
            if not text or text.casefold() in seen:
                continue
            if self._checked(f"{name}[{position}]", text, part, check_line, max_length) is not None:
                seen.add(text.casefold())
                kept.append(text)
        return kept

    def year(self, name: str) -> int | None:
        """A year column, 1900..2100; None when empty."""
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 4:
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(name, "not a year (expected four digits, e.g. 2023)", value)
            return None
        if not FIRST_YEAR <= value <= LAST_YEAR:
            self.problem(name, f"year outside {FIRST_YEAR}..{LAST_YEAR}", value)
            return None
        return value

    def url(self, name: str) -> str | None:
        """An http(s) URL column (a bare host gets https://); None when empty."""
        value = self.line(name, max_length=SOURCE_MAX_LENGTH)
        if value is None:
            return None
        try:
            return http_url(value)
        except ValueError as exc:
            self.problem(name, str(exc), value)
            return None


# --- reading project and partnership files --------------------------------------------------------------


def _decode(data: bytes, problems: _Problems) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: spreadsheets often write a byte-order mark
    except UnicodeDecodeError as exc:
        problems.fatal(f"not UTF-8 text: byte {exc.start}: {exc.reason}")


def _read_table(data: bytes, filename: str, columns: Sequence[str], problems: _Problems) -> list[_Row]:
    """The rows of a CSV (header row; rows numbered as a spreadsheet shows them, the header being row 1) or JSON
    (a list of objects, numbered from 1) file. Blank CSV lines are skipped; unknown columns are problems."""
    text = _decode(data, problems)
    suffix = Path(filename).suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip().startswith(("[", "{")))
    rows: list[_Row] = []
    known = f"unknown column; columns are {', '.join(columns)}"
    if is_json:
        try:
            items = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as exc:
            problems.fatal(f"not valid JSON ({exc})")
        if not isinstance(items, list):
            problems.fatal(f"expected a JSON list of objects (got {type(items).__name__})")
        for number, item in enumerate(items, start=1):
            where = f"row {number}"
            if not isinstance(item, dict):
                problems.lines.append(f"{problems.file}:{where}: expected a JSON object (got {_shown(item)})")
                continue
            for name in item:
                if name not in columns:
                    problems.add(where, str(name), known, item[name])
            rows.append(_Row(where, item, problems))
        return rows
    records = list(csv.reader(io.StringIO(text, newline="")))  # keeps line breaks inside quoted cells
    if not records:
        return []
    header = [name.strip() for name in records[0]]
    for position, name in enumerate(header):
        if name not in columns:
            problems.add("row 1", name, known, name)
        elif name in header[:position]:
            problems.add("row 1", name, "column given twice", name)
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # a blank line; it still counts as a row, as in a spreadsheet
        if len(record) > len(header):
            problems.lines.append(f"{problems.file}:row {number}: {len(record)} values but {len(header)} columns")
            continue
        rows.append(_Row(f"row {number}", dict(zip(header, record, strict=False)), problems))
    return rows


def _row_institution(row: _Row, default: str | None) -> str | None:
    """The row's institution: its ``institution_id`` column, else ``default`` (the command's --institution)."""
    given = row.line("institution_id", max_length=INSTITUTION_ID_MAX_LENGTH)
    if given is not None and default is not None and given != default:
        row.problem("institution_id", f"differs from the institution the import is for ({default!r})", given)
        return None
    if given is None and default is None and not row.bad:
        row.problem("institution_id", "required (or name the institution for the whole file)", "")
    return given or default


def _check_institutions(session: Session, wanted: Mapping[str, list[str]], allowed: set[str] | None,
                        problems: _Problems, field_name: str = "institution_id") -> None:
    """Problems for institutions that do not exist or that the caller may not change; ``wanted`` maps each id to
    the places (rows) that name it."""
    if not wanted:
        return
    known = set(session.exec(select(Institution.id).where(col(Institution.id).in_(list(wanted)))).all())
    for inst, places in wanted.items():
        if inst not in known:
            problem = "no institution with this id in the catalogue"
        elif allowed is not None and inst not in allowed:
            problem = "this key may change only its own institution's evidence"
        else:
            continue
        for where in places:
            problems.add(where, field_name, problem, inst)


# --- comparing with what is stored ------------------------------------------------------------------------


class _Stored:
    """Stored evidence items of some institutions and one type, found by id, external id or normalised title."""

    def __init__(self, session: Session, institution_ids: Iterable[str], item_type: EvidenceType) -> None:
        ids = sorted(set(institution_ids))
        rows = session.exec(select(EvidenceItem).where(col(EvidenceItem.institution_id).in_(ids),
                                                       EvidenceItem.type == item_type.value)).all() if ids else []
        self.by_id: dict[str, EvidenceItem] = {}
        self.by_external: dict[tuple[str, str], EvidenceItem] = {}
        self.by_title: dict[tuple[str, str], EvidenceItem] = {}
        for row in sorted(rows, key=lambda r: r.id):  # the first of two alike rows, the same one every time
            self.add(row)

    def add(self, row: EvidenceItem) -> None:
        """Index ``row`` (a stored row, or a new one of the same file, so that a later record finds it)."""
        self.by_id.setdefault(row.id, row)
        if row.external_id:
            self.by_external.setdefault((row.institution_id, row.external_id.casefold()), row)
        self.by_title.setdefault((row.institution_id, normalised_title(row.title)), row)

    def match(self, institution: str, new_id: str, external_id: str | None, title: str) -> EvidenceItem | None:
        """The stored row this record is: same id, else same external id, else same normalised title when
        either lacks an external id (two different DOIs or grant codes are two items, however alike)."""
        if new_id in self.by_id:
            return self.by_id[new_id]
        if external_id and (found := self.by_external.get((institution, external_id.casefold()))):
            return found
        found = self.by_title.get((institution, normalised_title(title)))
        if found is not None and (not external_id or not found.external_id):
            return found
        return None


def _changes(current: Any, values: Mapping[str, Any], names: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    changes = {name: (getattr(current, name), values[name]) for name in names if getattr(current, name) != values[name]}
    if changes and current.origin != ItemOrigin.imported.value:
        changes["origin"] = (current.origin, ItemOrigin.imported.value)  # the office's version wins from now on
    return changes


def _plan_items(plan: EvidencePlan, session: Session, item_type: EvidenceType,
                items: list[dict[str, Any]]) -> None:
    """Fill ``plan`` from checked item values (each with id, institution_id and the ``_ITEM_FIELDS``), in file
    order: a record that is an earlier one of the file (``_Stored.match``) is merged into it (the earlier one's
    values are kept), and every other is compared with the row stored for it, if any."""
    stored = _Stored(session, plan.institution_ids, item_type)
    seen: dict[str, dict[str, Any]] = {}
    for values in items:
        existing = stored.match(values["institution_id"], values["id"], values["external_id"], values["title"])
        if existing is not None:
            values["id"] = existing.id
        if values["id"] in seen:  # the same item twice in one file (same DOI, code or normalised title)
            plan.merged += 1
            continue
        seen[values["id"]] = values
        if existing is None:
            new = EvidenceItem(**values, origin=ItemOrigin.imported.value)
            stored.add(new)
            plan.new_rows.append(new)
            continue
        changes = _changes(existing, values, _ITEM_FIELDS)
        if changes:
            plan.changed_rows.append(RowChange(existing.id, existing.institution_id, changes))
        else:
            plan.unchanged_ids.append(existing.id)


# --- publications ---------------------------------------------------------------------------------------


def _guess_format(data: bytes, filename: str) -> str | None:
    """The export format from content, else from the file name's extension (``read_publications`` has only the
    bytes of an upload, so it cannot use the name); None for an empty file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8-sig", errors="replace")  # a decoding problem is reported by read_publications
    if not text.strip():
        return None
    return detect_format(text, filename)


def plan_publications(*, session: Session, institution_id: str, data: bytes, filename: str,
                      fmt: str | None = None, allowed: set[str] | None = None) -> EvidencePlan:
    """Plan the import of a publication export (``data``, named ``filename``) for ``institution_id``.

    ``fmt`` is one of ``seed_data.publications.FORMATS`` (None: detected from the content, else the extension).
    ``allowed`` is the set of institutions the caller may change (None: any). Each publication becomes one
    ``publication`` item (text: title, abstract, keywords, venue; source: its DOI URL, else
    ``file:<filename>#<record number>``). Raises ``EvidenceImportError`` with every problem; changes nothing.
    """
    problems = _Problems(filename)
    _check_institutions(session, {institution_id: ["institution"]}, allowed, problems)
    records: list[PublicationRecord] = []
    try:
        records = read_publications(data, fmt=fmt if fmt is not None else _guess_format(data, filename))
    except PublicationFileError as exc:
        problems.lines.extend(f"{filename}: {problem}" for problem in exc.problems)
    except ValueError as exc:  # an unknown format name
        problems.file_problem(str(exc))
    problems.raise_if_any()
    kept, _ = merge_duplicates(records)
    plan = EvidencePlan(kind="publications", file=filename, model=EvidenceItem, institution_ids=[institution_id],
                        read=len(records), merged=len(records) - len(kept))
    items: list[dict[str, Any]] = []
    for record in kept:
        values = _publication_values(record, institution_id=institution_id, filename=filename, problems=problems)
        if values is not None:
            items.append(values)
    problems.raise_if_any()
    _plan_items(plan, session, EvidenceType.publication, items)
    return plan


def _publication_values(record: PublicationRecord, *, institution_id: str, filename: str,
                        problems: _Problems) -> dict[str, Any] | None:
    where = f"record {record.record_no}"
    if record.doi and len(record.doi) > EXTERNAL_ID_MAX_LENGTH:
        problems.add(where, "doi", f"longer than {EXTERNAL_ID_MAX_LENGTH} characters", record.doi)
        return None
    source = f"https://doi.org/{record.doi}" if record.doi else f"file:{filename}#{record.record_no}"
    if len(source) > SOURCE_MAX_LENGTH:
        problems.add(where, "source", f"longer than {SOURCE_MAX_LENGTH} characters (file name too long?)", source)
        return None
    return {
        "id": item_id(institution_id, EvidenceType.publication, item_identity(title=record.title,
                                                                              external_id=record.doi)),
        "institution_id": institution_id,
        "type": EvidenceType.publication.value,
        "title": record.title,
        "text": publication_text(title=record.title, abstract=record.abstract, keywords=record.keywords,
                                 venue=record.venue),
        "year": record.year,
        "source": source,
        "external_id": record.doi,
        "details": {"doi": record.doi, "venue": record.venue, "keywords": list(record.keywords),
                    "format": record.source_format},
    }


# --- projects -------------------------------------------------------------------------------------------


def plan_projects(*, session: Session, data: bytes, filename: str, institution_id: str | None = None,
                  allowed: set[str] | None = None) -> EvidencePlan:
    """Plan the import of a projects file (CSV or JSON, columns in the module docstring): one
    ``national_project`` item per row (text: title, abstract, keywords, funder; source: ``url``, else
    ``file:<filename>#row <n>``). ``institution_id`` names the institution of rows without one (rows that
    name another are errors); ``allowed`` as for ``plan_publications``. Raises ``EvidenceImportError`` with
    every problem; changes nothing."""
    problems = _Problems(filename)
    rows = _read_table(data, filename, PROJECT_COLUMNS, problems)
    items: list[tuple[_Row, dict[str, Any]]] = []
    wanted: dict[str, list[str]] = {}  # institution -> rows naming it (rows with other problems included)
    for row in rows:
        inst = _row_institution(row, institution_id)
        if inst is not None:
            wanted.setdefault(inst, []).append(row.where)
        title = row.line("title", max_length=TITLE_MAX_LENGTH, required=True)
        code = row.line("code", max_length=EXTERNAL_ID_MAX_LENGTH)
        abstract = row.text("abstract", max_length=TEXT_MAX_LENGTH)
        keywords = row.items("keywords", max_length=KEYWORD_MAX_LENGTH)
        start, end = row.year("start_year"), row.year("end_year")
        funder = row.line("funder", max_length=LINE_MAX_LENGTH)
        partners = row.items("partners", max_length=LINE_MAX_LENGTH)
        url = row.url("url")
        if start is not None and end is not None and end < start:
            row.problem("end_year", f"before start_year {start}", end)
        source = url or f"file:{filename}#{row.where}"
        if len(source) > SOURCE_MAX_LENGTH:
            row.problem("url", f"longer than {SOURCE_MAX_LENGTH} characters", source)
        if row.bad or inst is None or title is None:
            continue
        items.append((row, {
            "id": item_id(inst, EvidenceType.national_project, item_identity(title=title, external_id=code)),
            "institution_id": inst,
            "type": EvidenceType.national_project.value,
            "title": title,
            "text": project_item_text(title=title, abstract=abstract, keywords=keywords, funder=funder),
            "year": start,
            "source": source,
            "external_id": code,
            "details": {"code": code, "abstract": abstract, "keywords": keywords, "start_year": start,
                        "end_year": end, "funder": funder, "partners": partners, "url": url},
        }))
    _check_institutions(session, wanted, allowed, problems)
    problems.raise_if_any()
    plan = EvidencePlan(kind="projects", file=filename, model=EvidenceItem, institution_ids=sorted(wanted),
                        read=len(rows))
    _plan_items(plan, session, EvidenceType.national_project, [values for _, values in items])
    return plan


# --- partnerships ---------------------------------------------------------------------------------------


def plan_partnerships(*, session: Session, data: bytes, filename: str, institution_id: str | None = None,
                      allowed: set[str] | None = None) -> EvidencePlan:
    """Plan the import of a partnerships file (CSV or JSON, columns in the module docstring): one Partnership
    per row, its partner resolved to a catalogue institution where that is certain (``partner_id`` if given,
    else ROR, website, names within the country), kept by name otherwise. ``institution_id`` and ``allowed`` as
    for ``plan_projects``. Raises ``EvidenceImportError`` with every problem; changes nothing."""
    from seed_data.partners import PartnerResolver  # the build's resolver; imported here as only this needs it

    problems = _Problems(filename)
    rows = _read_table(data, filename, PARTNERSHIP_COLUMNS, problems)
    checked: list[tuple[_Row, dict[str, Any], str | None, str | None]] = []
    types = [t.value for t in PartnershipType]
    wanted: dict[str, list[str]] = {}  # institution -> rows naming it (rows with other problems included)
    for row in rows:
        inst = _row_institution(row, institution_id)
        if inst is not None:
            wanted.setdefault(inst, []).append(row.where)
        name = row.line("partner_name", max_length=NAME_MAX_LENGTH, required=True)
        country = row.line("partner_country", max_length=10, required=True)
        if country is not None:
            country = normalise_country(country)
            if not is_country(country):
                row.problem("partner_country", "not an ISO 3166-1 alpha-2 country code (e.g. KZ, DE)", country)
        ror = row.line("partner_ror", max_length=100)
        if ror is not None:
            try:
                ror = normalise_ror_id(ror)
            except ValueError as exc:
                row.problem("partner_ror", str(exc), ror)
        partner_id = row.line("partner_id", max_length=INSTITUTION_ID_MAX_LENGTH)
        website = row.url("partner_website")
        kind = row.line("type", max_length=30, required=True)
        if kind is not None and kind.lower() not in types:
            row.problem("type", f"not one of {', '.join(types)}", kind)
        year = row.year("year")
        description = row.text("description", max_length=DESCRIPTION_MAX_LENGTH)
        url = row.url("url")
        if partner_id is not None and partner_id == inst:
            row.problem("partner_id", "the partner is the institution itself", partner_id)
        source = url or f"file:{filename}#{row.where}"
        if row.bad or inst is None or name is None or country is None or kind is None:
            continue
        values: dict[str, Any] = {"institution_id": inst, "partner_id": partner_id, "partner_name": name,
                  "partner_country": country, "type": kind.lower(), "year": year, "description": description,
                  "source": source}
        checked.append((row, values, ror, website))
    partners: dict[str, list[str]] = {}
    for row, values, _, _ in checked:
        if values["partner_id"] is not None:
            partners.setdefault(values["partner_id"], []).append(row.where)
    _check_institutions(session, wanted, allowed, problems)
    _check_institutions(session, partners, None, problems, field_name="partner_id")
    problems.raise_if_any()

    plan = EvidencePlan(kind="partnerships", file=filename, model=Partnership, institution_ids=sorted(wanted),
                        read=len(rows))
    resolver = PartnerResolver.from_session(session) if any(v["partner_id"] is None for _, v, _, _ in checked) else None
    stored = {row.id: row for row in session.exec(select(Partnership).where(
        col(Partnership.institution_id).in_(plan.institution_ids))).all()} if plan.institution_ids else {}
    seen: set[str] = set()
    for _row, values, ror, website in checked:
        if values["partner_id"] is None and resolver is not None:
            match = resolver.resolve(values["partner_name"], values["partner_country"], ror_id=ror, website=website)
            if match.institution_id != values["institution_id"]:  # a tie with itself is no edge
                values["partner_id"] = match.institution_id
        values["id"] = partnership_id(values["institution_id"], values["partner_name"], values["partner_country"],
                                      values["type"], values["year"])
        if values["id"] in seen:
            plan.merged += 1
            continue
        seen.add(values["id"])
        existing = stored.get(values["id"])
        if existing is None:
            plan.new_rows.append(Partnership(**values, origin=ItemOrigin.imported.value))
            continue
        changes = _changes(existing, values, _PARTNERSHIP_FIELDS)
        if changes:
            plan.changed_rows.append(RowChange(existing.id, existing.institution_id, changes))
        else:
            plan.unchanged_ids.append(existing.id)
    return plan


# --- applying, removing, evidence levels ----------------------------------------------------------------


def _get(session: Session, model: type[EvidenceItem] | type[Partnership],
         row_id: str) -> EvidenceItem | Partnership | None:
    if model is EvidenceItem:
        return session.get(EvidenceItem, row_id)
    return session.get(Partnership, row_id)


def apply_plan(*, session: Session, plan: EvidencePlan, key_id: int | None, now: dt.datetime) -> None:
    """Write ``plan``: add its new rows and update its changed ones (``origin`` "import", ``key_id``; ``created``
    ``now`` for new rows), then refresh the evidence level of the institutions it touched. Does not commit."""
    for row in plan.new_rows:
        row.origin = ItemOrigin.imported.value
        row.key_id = key_id
        row.created = now
        session.add(row)
    for change in plan.changed_rows:
        current = _get(session, plan.model, change.id)
        if current is None:  # planned a moment ago, so only a concurrent removal gets here
            raise EvidenceImportError(plan.file, [f"{plan.file}: {change.id!r} was removed while importing"])
        for name, (_, new) in change.changes.items():
            setattr(current, name, new)
        current.origin = ItemOrigin.imported.value
        current.key_id = key_id
        if current.created is None:
            current.created = now
        session.add(current)
    session.flush()
    refresh_evidence_flags(session, plan.institution_ids)
    logger.info("%s from %s: %d added, %d updated, %d unchanged, %d merged", plan.kind, plan.file, plan.added,
                plan.updated, plan.unchanged, plan.merged)


def _remove(session: Session, model: type[EvidenceItem] | type[Partnership], kind: str, institution_id: str,
            row_id: str) -> None:
    if len(row_id) > EVIDENCE_ID_MAX_LENGTH:
        raise EvidenceNotFoundError(kind, institution_id, row_id)
    row = _get(session, model, row_id)
    if row is None or row.institution_id != institution_id:
        raise EvidenceNotFoundError(kind, institution_id, row_id)
    if row.origin != ItemOrigin.imported.value:
        raise CatalogueRowError(kind, institution_id, row_id)
    session.delete(row)
    session.flush()
    refresh_evidence_flags(session, [institution_id])


def remove_item(*, session: Session, institution_id: str, item_id: str) -> None:
    """Remove an imported evidence item of ``institution_id`` and refresh its evidence level; does not commit.
    ``EvidenceNotFoundError`` if it has no such item, ``CatalogueRowError`` if the item is the catalogue's."""
    _remove(session, EvidenceItem, "evidence item", institution_id, item_id)


def remove_partnership(*, session: Session, institution_id: str, partnership_id: str) -> None:
    """Remove an imported partnership of ``institution_id`` and refresh its evidence level; does not commit.
    ``EvidenceNotFoundError`` if it has no such partnership, ``CatalogueRowError`` if it is the catalogue's."""
    _remove(session, Partnership, "partnership", institution_id, partnership_id)
