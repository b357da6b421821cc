"""Reader for ``kz_public_web/``: facts about Kazakh institutions from public web pages, each with its URL.

Three files (see ``SOURCES.md`` section 9 and ``kz_public_web/METHOD.md`` in the raw folder):

* ``institutions_evidence.jsonl`` — per catalogue institution (by its catalogue id at the time, and name):
  research fields, research units, projects and partnerships;
* ``missing_institutions.jsonl`` — institutions absent from the catalogue: names, city, website, kind and
  the same evidence;
* ``renamed.csv`` — catalogue rows with an outdated name, or that are another row again.

Each fact is validated on its own: an http(s) URL with a host, a subfield name that is exactly an OpenAlex
subfield name, an ISO 3166-1 alpha-2 country, a known partnership type, years that read as years. A fact
that fails is rejected with its reason (the build report lists them) and the rest of its record still
counts. A line that is no JSON object or has no name is rejected whole. Names are repaired with
``seed_data.safe_text.repair_text`` (mojibake) as they are read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seed_data.countries import is_country, normalise_country
from seed_data.names import web_host
from seed_data.safe_text import http_url, repair_text
from seed_data.tables import InstitutionKind, PartnershipType

FOLDER = "kz_public_web"
EVIDENCE_FILE = f"{FOLDER}/institutions_evidence.jsonl"
MISSING_FILE = f"{FOLDER}/missing_institutions.jsonl"
RENAMED_FILE = f"{FOLDER}/renamed.csv"
RENAMED_COLUMNS = ("catalogue_id", "catalogue_name", "current_name", "url")

MIN_YEAR, MAX_YEAR = 1900, 2100
_YEARS = re.compile(r"^(?P<start>\d{4})?\s*(?:[-–—]\s*(?P<end>\d{4})?)?$")
_SAME_AS = re.compile(r"same institution as (?:catalogue )?row\s+(?P<id>[A-Za-z0-9][\w.\-]*[\w])", re.IGNORECASE)
_RENAMED_FROM = re.compile(r"^renamed from (?P<name>.+?)(?: in (?:\d{4}))?$", re.IGNORECASE)
_IS_ITS_SITE = re.compile(r"\bis its (?:web)?site$", re.IGNORECASE)

@dataclass(frozen=True)
class WebReject:
    """A fact (or a whole line) of ``kz_public_web`` left out, and why."""

    file: str  # institutions_evidence.jsonl | missing_institutions.jsonl | renamed.csv
    row: int  # line number (1-based; renamed.csv counts its header as line 1)
    fact: str  # "research_fields[2]", "website", "record", ...
    reason: str


@dataclass(frozen=True)
class FieldFact:
    """A research field: an OpenAlex subfield name and the fact it rests on."""

    subfield: str
    basis: str | None
    url: str


@dataclass(frozen=True)
class UnitFact:
    """A research unit (institute, laboratory, centre) and what it works on."""

    name: str
    topic: str | None
    url: str


@dataclass(frozen=True)
class ProjectFact:
    """A research project: national grant (IRN code), Erasmus+ or other international project."""

    code: str | None
    title: str
    years: str | None
    start_year: int | None
    funder: str | None
    partners: tuple[str, ...]
    url: str


@dataclass(frozen=True)
class PartnershipFact:
    """A known partnership with a (foreign) institution."""

    partner: str
    country: str | None
    type: PartnershipType
    year: int | None
    what: str | None
    url: str


@dataclass
class WebRecord:
    """One line of ``institutions_evidence.jsonl`` or ``missing_institutions.jsonl``, validated."""

    file: str
    line: int
    name: str
    catalogue_id: str | None = None
    names: list[str] = field(default_factory=list)  # further spellings (missing_institutions only)
    country: str | None = None  # ISO alpha-2 (missing institutions beyond Kazakhstan; None: the file's default)
    city: str | None = None
    website: str | None = None
    kind: InstitutionKind | None = None
    fields: list[FieldFact] = field(default_factory=list)
    units: list[UnitFact] = field(default_factory=list)
    projects: list[ProjectFact] = field(default_factory=list)
    partnerships: list[PartnershipFact] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Where the record is: ``<file>:<line>``."""
        return f"{self.file}:{self.line}"

    @property
    def has_facts(self) -> bool:
        """Whether the record holds any evidence or partnership."""
        return bool(self.fields or self.units or self.projects or self.partnerships)


@dataclass
class Renamed:
    """One row of ``renamed.csv``: the current name read out of ``current_name``."""

    line: int
    catalogue_id: str
    catalogue_name: str
    name: str  # the current name: the text before " (" and before a trailing ", City"
    aliases: list[str]  # alternative names in brackets, and "renamed from ..." names
    city: str | None
    same_as: str | None  # the catalogue id of the row this one is the same institution as
    url: str


@dataclass
class KzWebData:
    """Everything read from ``kz_public_web/``."""

    evidence: list[WebRecord]
    missing: list[WebRecord]
    renamed: list[Renamed]
    rejects: list[WebReject]


class _Line:
    """Validation helpers for one line, collecting its rejects."""

    def __init__(self, file: str, line: int, rejects: list[WebReject]) -> None:
        self.file, self.line, self.rejects = file, line, rejects

    def reject(self, fact: str, reason: str) -> None:
        self.rejects.append(WebReject(self.file, self.line, fact, reason))

    def text(self, value: Any, fact: str, *, required: bool = False) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise _Invalid(f"{fact} is missing")
            return None
        if not isinstance(value, str):
            raise _Invalid(f"{fact} is not a string: {value!r}")
        return repair_text(" ".join(value.split()))

    def url(self, value: Any, fact: str) -> str:
        text = self.text(value, "url", required=True)
        assert text is not None
        if not re.match(r"^https?://", text, re.IGNORECASE):
            raise _Invalid(f"url {text!r} is not an http(s) URL")
        try:
            return http_url(text)
        except ValueError as exc:
            raise _Invalid(f"url {text!r}: {exc}") from exc


class _Invalid(ValueError):
    """A fact that fails validation (caught per fact, turned into a WebReject)."""


def parse_years(years: str | None) -> int | None:
    """The start year of a "2021-2023", "2024", "2018-" span; None for None or an open start ("-2019").

    Raises ``ValueError`` for text that is no year span or a year outside 1900-2100 or an end before the start.

    >>> parse_years("2021–2023")
    2021
    >>> parse_years("-2019") is None
    True
    """
    if years is None:
        return None
    match = _YEARS.match(years.strip())
    if not match or not (match["start"] or match["end"]):
        raise ValueError(f"years {years!r} are not a year or a span of years")
    start, end = (int(v) if v else None for v in (match["start"], match["end"]))
    for year in (start, end):
        if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"year {year} in {years!r} is outside {MIN_YEAR}-{MAX_YEAR}")
    if start is not None and end is not None and end < start:
        raise ValueError(f"years {years!r} end before they start")
    return start


def _year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_YEAR <= value <= MAX_YEAR:
        raise _Invalid(f"year {value!r} is not a year between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _facts(check: _Line, item: dict[str, Any], key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    values = item.get(key) or []
    if not isinstance(values, list):
        check.reject(key, f"{key} is not a list")
        return
    for i, value in enumerate(values):
        if isinstance(value, dict):
            yield f"{key}[{i}]", value
        else:
            check.reject(f"{key}[{i}]", "not a JSON object")


def _field(check: _Line, value: dict[str, Any], where: str, subfields: frozenset[str]) -> FieldFact:
    subfield = check.text(value.get("subfield"), f"{where} subfield", required=True)
    if subfield not in subfields:
        raise _Invalid(f"subfield {subfield!r} is no OpenAlex subfield name")
    assert subfield is not None
    return FieldFact(subfield, check.text(value.get("basis"), "basis"), check.url(value.get("url"), where))


def _unit(check: _Line, value: dict[str, Any], where: str) -> UnitFact:
    name = check.text(value.get("name"), f"{where} name", required=True)
    assert name is not None
    return UnitFact(name, check.text(value.get("topic"), "topic"), check.url(value.get("url"), where))


def _project(check: _Line, value: dict[str, Any], where: str) -> ProjectFact:
    title = check.text(value.get("title"), f"{where} title", required=True)
    assert title is not None
    years = check.text(value.get("years"), "years")
    try:
        start = parse_years(years)
    except ValueError as exc:
        raise _Invalid(str(exc)) from exc
    partners_value = value.get("partners") or []
    if not isinstance(partners_value, list):
        raise _Invalid("partners is not a list")
    partners = tuple(p for p in (check.text(v, "partner") for v in partners_value) if p)
    return ProjectFact(check.text(value.get("code"), "code"), title, years, start,
                       check.text(value.get("funder"), "funder"), partners, check.url(value.get("url"), where))


def _partnership(check: _Line, value: dict[str, Any], where: str) -> PartnershipFact:
    partner = check.text(value.get("partner"), f"{where} partner", required=True)
    assert partner is not None
    country = _country(check, value.get("country"))
    type_text = check.text(value.get("type"), f"{where} type", required=True) or ""
    try:
        kind = PartnershipType(type_text)
    except ValueError as exc:
        raise _Invalid(f"type {type_text!r} is no partnership type "
                       f"({', '.join(t.value for t in PartnershipType)})") from exc
    return PartnershipFact(partner, country, kind, _year(value.get("year")), check.text(value.get("what"), "what"),
                           check.url(value.get("url"), where))


def _record(file: str, line: int, item: dict[str, Any], subfields: frozenset[str],
            rejects: list[WebReject]) -> WebRecord:
    check = _Line(file, line, rejects)
    name = check.text(item.get("name"), "name", required=True)
    assert name is not None
    record = WebRecord(file=file, line=line, name=name, catalogue_id=check.text(item.get("catalogue_id"), "id"))
    for i, alias in enumerate(item.get("names") or []):
        try:
            text = check.text(alias, f"names[{i}]")
        except _Invalid as exc:
            check.reject(f"names[{i}]", str(exc))
            continue
        if text and text not in record.names and text != name:
            record.names.append(text)
    for fact, read in (("country", lambda: _country(check, item.get("country"))),
                       ("city", lambda: check.text(item.get("city"), "city")),
                       ("website", lambda: _website(check, item.get("website"))),
                       ("kind", lambda: _kind(check, item.get("kind")))):
        try:
            setattr(record, fact, read())
        except _Invalid as exc:
            check.reject(fact, str(exc))
    readers: list[tuple[str, Any, list[Any]]] = [
        ("research_fields", lambda v, w: _field(check, v, w, subfields), record.fields),
        ("units", lambda v, w: _unit(check, v, w), record.units),
        ("projects", lambda v, w: _project(check, v, w), record.projects),
        ("partnerships", lambda v, w: _partnership(check, v, w), record.partnerships),
    ]
    for key, read_fact, into in readers:
        for where, value in _facts(check, item, key):
            try:
                into.append(read_fact(value, where))
            except _Invalid as exc:
                check.reject(where, str(exc))
    return record


def _country(check: _Line, value: Any) -> str | None:
    text = check.text(value, "country")
    if text is None:
        return None
    country = normalise_country(text)
    if not is_country(country):
        raise _Invalid(f"country {text!r} is no ISO 3166-1 alpha-2 code")
    return country


def _website(check: _Line, value: Any) -> str | None:
    text = check.text(value, "website")
    if text is None:
        return None
    url = check.url(text, "website")
    return url if web_host(url) else None


def _kind(check: _Line, value: Any) -> InstitutionKind | None:
    text = check.text(value, "kind")
    if text is None:
        return None
    try:
        return InstitutionKind(text)
    except ValueError as exc:
        raise _Invalid(f"kind {text!r} is no institution kind") from exc


def read_records(path: Path, file: str, subfields: frozenset[str], rejects: list[WebReject]) -> list[WebRecord]:
    """The validated records of one JSON-lines file; bad lines and facts go to ``rejects``."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise _Invalid("not a JSON object")
                records.append(_record(file, number, item, subfields, rejects))
            except (json.JSONDecodeError, _Invalid) as exc:
                rejects.append(WebReject(file, number, "record", str(exc)))
    return records


def parse_current_name(current: str, *, city_hint: str | None = None) -> tuple[str, list[str], str | None, str | None]:
    """Read ``renamed.csv``'s ``current_name``: (name, aliases, city, same-as catalogue id).

    The name is the text before the first " (" and before a trailing ", City"; bracketed parts hold
    alternative names (kept as aliases), "renamed from <old name> in <year>" (an alias too), "same institution
    as catalogue row <id>", or the city (when it is ``city_hint`` or a single word).

    >>> parse_current_name("Narxoz University, Almaty (same institution as catalogue row ror-0523w7v09; "
    ...                    "renamed from New Economic University named after T. Ryskulov in 2016)")
    ('Narxoz University', ['New Economic University named after T. Ryskulov'], 'Almaty', 'ror-0523w7v09')
    """
    text = " ".join(current.split())
    brackets = re.findall(r"\(([^()]*)\)", text)
    outside = " ".join(re.sub(r"\([^()]*\)", " ", text).split()).strip(" ,")
    name, city = outside, None
    if ", " in outside:
        head, tail = outside.rsplit(", ", 1)
        if tail and len(tail.split()) <= 2 and not re.search(r"universit|institut|academ|college", tail, re.I):
            name, city = head.strip(), tail.strip()
    aliases: list[str] = []
    same_as = None
    for bracket in brackets:
        for clause in (c.strip() for c in bracket.split(";")):
            if not clause:
                continue
            if match := _SAME_AS.search(clause):
                same_as = match["id"]
            elif match := _RENAMED_FROM.match(clause):
                aliases.append(match["name"].strip())
            elif _IS_ITS_SITE.search(clause):
                continue
            elif (city_hint and clause.casefold() == city_hint.casefold()) or (
                    len(clause.split()) == 1 and clause[:1].isupper() and not any(c.isupper() for c in clause[1:])):
                city = city or clause
            else:
                aliases.append(clause)
    return name, aliases, city, same_as


def read_renamed(path: Path, rejects: list[WebReject], *,
                 cities: dict[str, str | None] | None = None) -> list[Renamed]:
    """The rows of ``renamed.csv``; ``cities`` (catalogue id -> city) helps tell a bracketed city from a name."""
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in RENAMED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            rejects.append(WebReject("renamed.csv", 1, "header", f"missing columns {missing}"))
            return []
        for number, row in enumerate(reader, start=2):
            check = _Line("renamed.csv", number, rejects)
            try:
                catalogue_id = check.text(row["catalogue_id"], "catalogue_id", required=True)
                current = check.text(row["current_name"], "current_name", required=True)
                url = check.url(row["url"], "row")
            except _Invalid as exc:
                check.reject("record", str(exc))
                continue
            assert catalogue_id is not None and current is not None
            name, aliases, city, same_as = parse_current_name(
                current, city_hint=(cities or {}).get(catalogue_id))
            rows.append(Renamed(number, catalogue_id, check.text(row["catalogue_name"], "catalogue_name") or "",
                                name, aliases, city, same_as, url))
    return rows


def subfield_names(topics_rows: Iterable[dict[str, str]]) -> frozenset[str]:
    """The OpenAlex subfield names (``subfield_name`` column of the topics file)."""
    return frozenset(r["subfield_name"] for r in topics_rows if r.get("subfield_name"))


def read_kz_web(raw: Path, subfields: frozenset[str], *, cities: dict[str, str | None] | None = None) -> KzWebData:
    """Read and validate the three files of ``raw/kz_public_web``."""
    rejects: list[WebReject] = []
    evidence = read_records(raw / EVIDENCE_FILE, "institutions_evidence.jsonl", subfields, rejects)
    missing = read_records(raw / MISSING_FILE, "missing_institutions.jsonl", subfields, rejects)
    renamed = read_renamed(raw / RENAMED_FILE, rejects, cities=cities)
    return KzWebData(evidence, missing, renamed, rejects)
