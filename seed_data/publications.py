"""Publication lists that university offices export, read into typed records.

Offices export their publications from the services they use, in five layouts:

- ``ris``: RIS (Scopus, Web of Science, Zotero, EndNote), read with ``rispy``;
- ``bibtex``: BibTeX, read with ``bibtexparser`` (v2, LaTeX accents decoded by its middleware);
- ``scopus_csv``: the Scopus "CSV" export (comma separated, every value quoted, UTF-8 with a BOM);
- ``wos_tsv``: the Web of Science "Tab delimited" export (a header of two-letter field tags, ``PT\\tAU\\t...``);
- ``openalex_json``: OpenAlex works JSON, a list of works or an API page ``{"results": [...]}``.

The two spreadsheet layouts are read with Python's ``csv`` module and OpenAlex with ``json``: they are
tables and JSON documents with fixed column names and keys, so the standard library is their maintained parser.

Reading is all-or-nothing: ``read_publications`` checks every record and raises ``PublicationFileError`` with
one problem per record and field ("record 3: field 'year': not a year: '20x4'") if any is wrong, so an import
never stores half a file. ``merge_duplicates`` then folds records with the same DOI, or the same normalised
title and year, into one.

Text rules are those of ``seed_data.safe_text``. Titles, venues and keywords are one line: exporters wrap long
titles (BibTeX, RIS continuation lines), so runs of spaces, tabs and line breaks become one space, and any other
control character is an error naming the record and field rather than being silently dropped. Abstracts keep
their tabs and line breaks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import bibtexparser
import rispy
from bibtexparser import middlewares
from bibtexparser.model import Entry, ParsingFailedBlock
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from seed_data.safe_text import SAFE_LINE, check_line, check_text

log = logging.getLogger(__name__)

SourceFormat = Literal["ris", "bibtex", "scopus_csv", "wos_tsv", "openalex_json"]
FORMATS: tuple[SourceFormat, ...] = ("ris", "bibtex", "scopus_csv", "wos_tsv", "openalex_json")

FIRST_YEAR = 1900
# Prefixes a DOI comes with in exports: OpenAlex gives URLs, RIS/BibTeX sometimes "doi:".
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# Crossref's pattern for modern DOIs: "10." then a 4-9 digit registrant code, "/", then a suffix.
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
# Line-shaped fields: exporters wrap them, so whitespace runs become one space (other controls stay and fail).
_WRAP = re.compile(r"[ \t\r\n]+")

Keyword = Annotated[str, StringConstraints(min_length=1, max_length=300), SAFE_LINE]


def _one_line(value: object) -> object:
    if isinstance(value, str):
        return _WRAP.sub(" ", value).strip()
    return value


class PublicationRecord(BaseModel):
    """One publication read from an export file; ``record_no`` is its 1-based position in that file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=2000)
    abstract: str | None = Field(default=None, max_length=50_000)
    venue: str | None = Field(default=None, max_length=1000)
    year: int | None = None
    doi: str | None = None
    keywords: list[Keyword] = Field(default_factory=list)
    source_format: SourceFormat
    record_no: int = Field(ge=1)

    @field_validator("title", "venue", mode="before")
    @classmethod
    def _line(cls, value: object) -> object:
        value = _one_line(value)
        return check_line(value) if isinstance(value, str) else value

    @field_validator("abstract", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if isinstance(value, str):
            value = check_text(value.strip())
            return value or None  # an empty abstract cell is no abstract
        return value

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        kept: list[object] = []
        seen: set[str] = set()
        for item in value:
            item = _one_line(item)
            if isinstance(item, str):
                if not item or item.casefold() in seen:  # exports repeat keywords across their lists
                    continue
                seen.add(item.casefold())
            kept.append(item)
        return kept

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if not re.fullmatch(r"\d{4}", text):
                raise ValueError(f"not a year: {value!r}")
            value = int(text)
        if isinstance(value, int) and not isinstance(value, bool):
            last = dt.date.today().year + 1  # in-press papers carry next year's date
            if not FIRST_YEAR <= value <= last:
                raise ValueError(f"year {value} is outside {FIRST_YEAR}..{last}")
        return value

    @field_validator("doi", mode="before")
    @classmethod
    def _doi(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        doi = _DOI_PREFIX.sub("", value.strip()).strip().lower()  # DOIs are case-insensitive
        if not doi:
            return None
        check_line(doi)
        if not _DOI.match(doi):
            raise ValueError(f"not a DOI (expected 10.NNNN/...): {value!r}")
        return doi


class PublicationFileError(ValueError):
    """A publication file that could not be read; ``problems`` lists every one, each naming record and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the publication file: {shown}{more}")


# A raw record: the fields a format's reader found, before validation (None or "" for absent).
Raw = dict[str, Any]


def _split_keywords(value: str | None, separators: str = ";") -> list[str]:
    if not value:
        return []
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", value) if part.strip()]


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", []):
            return value
    return None


# --- RIS -----------------------------------------------------------------------------------------------------

_RIS_START = re.compile(r"^TY  - ", re.MULTILINE)
_RIS_END = re.compile(r"^ER  -", re.MULTILINE)


def _read_ris(text: str) -> list[Raw | str]:
    # rispy skips a record without "TY" or "ER" silently; count the tags so that all-or-nothing holds.
    starts, ends = len(_RIS_START.findall(text)), len(_RIS_END.findall(text))
    records = rispy.loads(text)
    if not (starts == ends == len(records)):
        raise PublicationFileError([
            f"file: {starts} record(s) start with 'TY  - ', {ends} end with 'ER  -' and {len(records)} could be "
            "read; every record needs both tags"
        ])
    raws: list[Raw | str] = []
    for record in records:
        year = _first(record, "year", "publication_year")
        if isinstance(year, str):
            year = year.split("/")[0]  # RIS dates are "YYYY/MM/DD/other", e.g. "2023///"
        raws.append({
            "title": _first(record, "title", "primary_title"),
            "abstract": _first(record, "abstract", "notes_abstract"),
            # Scopus writes the journal as T2 (secondary_title), others as JO/JF/JA/J2.
            "venue": _first(record, "secondary_title", "journal_name", "alternate_title3",
                            "alternate_title2", "alternate_title1"),
            "year": year,
            "doi": _first(record, "doi"),
            "keywords": record.get("keywords") or [],
        })
    return raws


# --- BibTeX --------------------------------------------------------------------------------------------------


def _read_bibtex(text: str) -> list[Raw | str]:
    library = bibtexparser.parse_string(text, append_middleware=[middlewares.LatexDecodingMiddleware()])
    raws: list[Raw | str] = []
    for block in library.blocks:  # in file order, so record numbers follow the file
        if isinstance(block, ParsingFailedBlock):
            # BlockAbortedException keeps its message in abort_reason; others (duplicate keys) in str().
            reason = getattr(block.error, "abort_reason", None) or str(block.error) or "syntax error"
            reason = _WRAP.sub(" ", reason).strip()
            line = f" (line {block.start_line + 1})" if block.start_line is not None else ""
            raws.append(f"field 'entry': cannot be parsed{line}: {reason}")
        elif isinstance(block, Entry):
            fields = {key.lower(): value.value for key, value in block.fields_dict.items()}
            # Scopus writes author keywords to "author_keywords" and index terms to "keywords", "; " separated;
            # other tools separate "keywords" by commas.
            keywords = _split_keywords(fields.get("author_keywords")) + _split_keywords(
                fields.get("keywords"), ";" if ";" in (fields.get("keywords") or "") else ","
            )
            raws.append({
                "title": fields.get("title"),
                "abstract": fields.get("abstract"),
                "venue": _first(fields, "journal", "booktitle", "journaltitle"),
                "year": fields.get("year"),
                "doi": fields.get("doi"),
                "keywords": keywords,
            })
    return raws


# --- Scopus CSV ----------------------------------------------------------------------------------------------

_SCOPUS_REQUIRED = ("Title", "Year", "Source title")
_SCOPUS_NO_ABSTRACT = "[No abstract available]"  # what Scopus writes in the Abstract cell when it has none


def _read_scopus_csv(text: str) -> list[Raw | str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [name for name in _SCOPUS_REQUIRED if name not in columns]
    if missing:
        raise PublicationFileError([f"file: not a Scopus CSV export: no column(s) {', '.join(missing)}"])
    raws: list[Raw | str] = []
    for row in reader:
        if None in row:  # more cells than the header: a broken quote or a comma-split value
            raws.append("field 'row': more cells than the header has columns")
            continue
        raws.append({
            "title": row.get("Title"),
            "abstract": None if row.get("Abstract") == _SCOPUS_NO_ABSTRACT else row.get("Abstract"),
            "venue": row.get("Source title"),
            "year": row.get("Year"),
            "doi": row.get("DOI"),
            "keywords": _split_keywords(row.get("Author Keywords")) + _split_keywords(row.get("Index Keywords")),
        })
    return raws


# --- Web of Science tab-delimited ----------------------------------------------------------------------------

_WOS_REQUIRED = ("PT", "TI")


def _read_wos_tsv(text: str) -> list[Raw | str]:
    # WoS writes no quoting at all: a quote character inside a title is just a character.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    columns = reader.fieldnames or []
    missing = [name for name in _WOS_REQUIRED if name not in columns]
    if missing:
        raise PublicationFileError([f"file: not a Web of Science tab-delimited export: no column(s) "
                                    f"{', '.join(missing)}"])
    raws: list[Raw | str] = []
    for row in reader:
        extra = row.pop(None, None)  # DictReader's key for surplus cells
        if extra and any(cell.strip() for cell in extra):
            raws.append("field 'row': more cells than the header has columns")
            continue
        raws.append({
            "title": row.get("TI"),
            "abstract": row.get("AB"),
            "venue": row.get("SO"),
            "year": row.get("PY"),
            "doi": row.get("DI"),
            # DE: author keywords, ID: Keywords Plus, both "; " separated.
            "keywords": _split_keywords(row.get("DE")) + _split_keywords(row.get("ID")),
        })
    return raws


# --- OpenAlex works JSON -------------------------------------------------------------------------------------


def abstract_from_inverted_index(index: Mapping[str, Iterable[int]]) -> str:
    """The abstract text OpenAlex stores as ``{word: [positions]}``, rebuilt by putting each word at its
    positions; ``ValueError`` if the index is not word -> list of non-negative integer positions."""
    words: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(positions, list):
            raise ValueError(f"positions of {word!r} are not a list")
        for position in positions:
            if not isinstance(position, int) or isinstance(position, bool) or position < 0:
                raise ValueError(f"position {position!r} of {word!r} is not a non-negative integer")
            words[position] = word
    return " ".join(words[position] for position in sorted(words))


def _objects(value: object) -> list[dict[str, Any]]:
    """The JSON objects in ``value`` if it is a list (OpenAlex lists of keywords, concepts); else none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _read_openalex_json(text: str) -> list[Raw | str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PublicationFileError([f"file: not valid JSON: {exc}"]) from exc
    works = data.get("results") if isinstance(data, dict) else data
    if not isinstance(works, list):
        raise PublicationFileError(["file: expected a list of OpenAlex works or an object with \"results\""])
    raws: list[Raw | str] = []
    for work in works:
        if not isinstance(work, dict):
            raws.append("field 'work': not a JSON object")
            continue
        raw: Raw = {
            "title": _first(work, "title", "display_name"),
            "year": work.get("publication_year"),
            "doi": work.get("doi"),
            "venue": None,
            "abstract": None,
            "keywords": [],
        }
        location = work.get("primary_location")
        source = location.get("source") if isinstance(location, dict) else None
        if isinstance(source, dict):
            raw["venue"] = source.get("display_name")
        index = work.get("abstract_inverted_index")
        if index:
            if not isinstance(index, dict):
                raws.append("field 'abstract_inverted_index': not a JSON object")
                continue
            try:
                raw["abstract"] = abstract_from_inverted_index(index)
            except ValueError as exc:
                raws.append(f"field 'abstract_inverted_index': {exc}")
                continue
        # "keywords" is OpenAlex's own list; older dumps have only "concepts" (level 0 ones are too broad).
        terms = _objects(work.get("keywords"))
        if not terms:
            terms = [c for c in _objects(work.get("concepts")) if not isinstance(c.get("level"), int) or c["level"] > 0]
        raw["keywords"] = [term["display_name"] for term in terms if term.get("display_name")]
        raws.append(raw)
    return raws


_READERS: dict[SourceFormat, Callable[[str], list[Raw | str]]] = {
    "ris": _read_ris,
    "bibtex": _read_bibtex,
    "scopus_csv": _read_scopus_csv,
    "wos_tsv": _read_wos_tsv,
    "openalex_json": _read_openalex_json,
}

# --- format detection and the entry point --------------------------------------------------------------------

_EXTENSIONS: dict[str, SourceFormat] = {
    ".ris": "ris",
    ".bib": "bibtex",
    ".csv": "scopus_csv",
    ".tsv": "wos_tsv",
    ".txt": "wos_tsv",
    ".json": "openalex_json",
}
_WOS_TAG = re.compile(r"^[A-Z][A-Z0-9]$")


def detect_format(text: str, filename: str | None = None) -> SourceFormat:
    """The format of an export from its content, or from ``filename``'s extension when the content does not
    say; ``PublicationFileError`` if neither does. The content wins because ".txt" and ".csv" are used by
    several services."""
    head = text.lstrip()
    first_line = head.split("\n", 1)[0].rstrip("\r")
    if head.startswith(("[", "{")):
        return "openalex_json"
    if head.startswith("TY  - "):
        return "ris"
    if re.match(r"@\s*[A-Za-z]+\s*[{(]", head):
        return "bibtex"
    tags = [cell for cell in first_line.split("\t") if cell]
    if first_line.startswith("PT\t") or (len(tags) >= 3 and all(_WOS_TAG.match(tag) for tag in tags)):
        return "wos_tsv"
    if first_line.startswith(("FN ", "PT ")):
        raise PublicationFileError(["file: this is the Web of Science plain-text export; export the records as "
                                    "'Tab delimited' instead"])
    if '"Title"' in first_line or "Source title" in first_line:
        return "scopus_csv"
    if filename:
        extension = Path(filename).suffix.lower()
        if extension in _EXTENSIONS:
            return _EXTENSIONS[extension]
    raise PublicationFileError([f"file: cannot tell the format; expected one of {', '.join(FORMATS)}"])


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # older Web of Science "Tab delimited (Win)" exports are UTF-16 with a BOM
    else:
        encoding = "utf-8-sig"  # Scopus and Web of Science write a UTF-8 BOM, which would hide the first tag
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise PublicationFileError([f"file: not {encoding} text: byte {exc.start}: {exc.reason}"]) from exc


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "record"
    if len(loc) > 1 and isinstance(loc[1], int):
        name += f"[{loc[1] + 1}]"  # keywords[2]: the second keyword, counted from 1 like records
    return name


def _build(raws: list[Raw | str], source_format: SourceFormat) -> list[PublicationRecord]:
    records: list[PublicationRecord] = []
    problems: list[str] = []
    for record_no, raw in enumerate(raws, start=1):
        if isinstance(raw, str):  # the reader could not get fields out of this record
            problems.append(f"record {record_no}: {raw}")
            continue
        values = {key: value for key, value in raw.items() if value not in (None, "")}
        try:
            records.append(PublicationRecord(**values, source_format=source_format, record_no=record_no))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                message = "missing" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
                problems.append(f"record {record_no}: field {_field_name(error['loc'])!r}: {message}")
    if problems:
        raise PublicationFileError(problems)
    return records


def read_publications(source: str | os.PathLike[str] | bytes, *, fmt: str | None = None) -> list[PublicationRecord]:
    """Every publication in an export file, in file order.

    ``source`` is a path (``str`` or ``Path``) or the file's bytes (an upload). ``fmt`` is one of ``FORMATS``;
    ``None`` detects it (see ``detect_format``). All-or-nothing: if any record is wrong, nothing is returned and
    ``PublicationFileError`` lists every problem as "record N: field 'name': what is wrong"; problems with the
    file as a whole start with "file:". A file with no records gives an empty list.
    """
    if isinstance(source, bytes):
        data, filename = source, None
    else:
        path = Path(source)
        data, filename = path.read_bytes(), path.name
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown publication format {fmt!r}; expected one of {', '.join(FORMATS)}")
    text = _decode(data)
    if not text.strip():
        return []  # an empty export: nothing to import, in any format
    source_format = detect_format(text, filename) if fmt is None else fmt
    records = _build(_READERS[source_format](text), source_format)
    log.info("read %d publication(s) from a %s file", len(records), source_format)
    return records


# --- duplicates ----------------------------------------------------------------------------------------------


def normalise_title(title: str) -> str:
    """``title`` compared loosely: Unicode NFKC, case folded, punctuation dropped and whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    kept = "".join(" " if unicodedata.category(char)[0] in "PSZ" or char.isspace() else char for char in folded)
    return " ".join(kept.split())


def _same(a: PublicationRecord, b: PublicationRecord) -> bool:
    if a.doi and b.doi:
        return a.doi == b.doi  # two different DOIs are two works, however alike the titles
    if normalise_title(a.title) != normalise_title(b.title):
        return False
    return a.year is None or b.year is None or a.year == b.year


def _longest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return max(present, key=len) if present else None  # max keeps the first of equal lengths


def _merge(kept: PublicationRecord, other: PublicationRecord) -> PublicationRecord:
    seen = {keyword.casefold() for keyword in kept.keywords}
    keywords = list(kept.keywords) + [k for k in other.keywords if k.casefold() not in seen]
    return kept.model_copy(update={
        "title": _longest(kept.title, other.title) or kept.title,
        "abstract": _longest(kept.abstract, other.abstract),
        "venue": _longest(kept.venue, other.venue),
        "year": kept.year if kept.year is not None else other.year,
        "doi": kept.doi or other.doi,
        "keywords": keywords,
    })


def merge_duplicates(
    records: Iterable[PublicationRecord],
) -> tuple[list[PublicationRecord], list[tuple[int, int]]]:
    """``records`` with duplicates folded into the first of them, and the ``(kept, merged)`` record-number
    pairs for a report.

    Two records are the same publication if they have the same DOI, or, when either lacks a DOI, the same
    normalised title (``normalise_title``) and the same year where both have one. The kept record takes the
    fullest value of each field: the longest title, abstract and venue, the union of keywords, and the DOI and
    year it lacked. The first record keeps its ``record_no`` and ``source_format``.
    """
    merged: list[PublicationRecord] = []
    pairs: list[tuple[int, int]] = []
    # Only records sharing a DOI or a normalised title can be the same: look those up instead of comparing
    # every pair (5,000 records would be 12.5 million comparisons). A kept record is indexed under every DOI
    # and title it has had, and ``_same`` decides on its current values.
    by_key: dict[str, list[int]] = {}

    def index(position: int, record: PublicationRecord) -> None:
        for key in (f"doi:{record.doi}" if record.doi else None, f"title:{normalise_title(record.title)}"):
            if key is not None and position not in by_key.setdefault(key, []):
                by_key[key].append(position)

    for record in records:
        keys = [f"doi:{record.doi}" if record.doi else "", f"title:{normalise_title(record.title)}"]
        candidates = sorted({p for key in keys for p in by_key.get(key, ())})
        position = next((p for p in candidates if _same(merged[p], record)), None)
        if position is None:
            merged.append(record)
            index(len(merged) - 1, record)
        else:
            pairs.append((merged[position].record_no, record.record_no))
            merged[position] = _merge(merged[position], record)
            index(position, merged[position])
    return merged, pairs
