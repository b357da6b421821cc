"""Open and forthcoming EU call topics: read the raw portal dump, clean it, and look calls up.

The source (``../shared/data/raw/cordis_calls_open/open.jsonl.gz``, see ``SOURCES.md`` section 8) is one line
of JSON objects written back to back after a UTF-8 byte-order mark, so it is read with
``json.JSONDecoder.raw_decode`` rather than line by line. Most records hold mojibake (UTF-8 read as cp1252
and encoded again: ``â€™`` for ``’``), which ``seed_data.safe_text.repair_text`` repairs (encoding only: curly
quotes and every other correct character stay as they are); descriptions are HTML stripped without
whitespace (``…research.Scope:Size…``), and some fields keep the tail of a tag (``">Conditions…``) or whole
HTML fragments, which ``html.parser`` (stdlib) turns into plain text.

Normalisation, decided from the data (629 topics, fetched 2026-08):

- ``action_type``: one of ``seed_data.tables.ACTION_TYPES``, from the portal's type of action
  ("HORIZON Research and Innovation Actions" -> RIA, "HORIZON JU Innovation Actions" -> IA, "EURATOM
  Coordination and Support Actions" -> CSA, "HORIZON TMA MSCA …" -> MSCA, "HORIZON ERC Grants" -> ERC,
  "HORIZON EIC Grants" -> EIC); anything else (prizes, co-funds, procurement, LIFE or EDF grants) is
  ``other``, as are the 21 topics whose type of action is empty (their short ``actionType`` code is empty
  too). Euratom and Digital Europe actions of the same kind count as that kind, as
  ``seed_data.tables.action_type`` counts joint undertakings and Euratom.
- ``programme_key``: ``horizon-europe`` for Horizon Europe; ``erasmus-cbhe`` for an Erasmus+ topic whose id
  names capacity building in higher education (``CBHE``); ``None`` for every other programme (their raw name is
  kept in ``programme``). Euratom is a programme of its own, with its own eligibility: no key.
- ``deadline``: every record has exactly one deadline (ISO date; a two-stage topic gives its first-stage
  one), so no choice between several is needed; a record with none would get ``None``.
- status (:func:`call_status`) is relative to a given day: a deadline before that day means closed; the
  deadline day itself is still open (the source gives the deadline's date, not its hour).
"""

from __future__ import annotations

import datetime as dt
import gzip
import html
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import String, cast, func, or_
from sqlmodel import Session, col, select

from seed_data.safe_text import UNWRITABLE, http_url, repair_text
from seed_data.tables import ACTION_TYPES, CALL_TOPIC_ID_MAX_LENGTH, TEXT_MAX_LENGTH, ActionType, Call

logger = logging.getLogger(__name__)

# Where the source lies under the raw-data folder.
CALLS_SOURCE = Path("cordis_calls_open") / "open.jsonl.gz"
# The shipped file (seed_data/data/) the build writes and the load reads.
CALLS_FILE = "calls.jsonl.gz"

CallStatus = Literal["open", "forthcoming", "closed"]
STATUSES: tuple[CallStatus, ...] = ("open", "forthcoming", "closed")

# Portal programme names with a programme key of ours (seed_data/reference/programmes.json).
_PROGRAMME_KEYS = {"Horizon Europe": "horizon-europe"}
# Erasmus+ topic ids name their action; only capacity building in higher education is one of our programmes.
_ERASMUS_KEYS = (("CBHE", "erasmus-cbhe"),)

# Types of action, most specific first: (pattern on the portal's type of action, action type).
_TYPE_PATTERNS: tuple[tuple[re.Pattern[str], ActionType], ...] = (
    (re.compile(r"\bMSCA\b"), "MSCA"),
    (re.compile(r"\bERC\b"), "ERC"),
    (re.compile(r"\bEIC\b"), "EIC"),
    (re.compile(r"\bResearch and Innovation Actions?\b", re.IGNORECASE), "RIA"),
    (re.compile(r"\bInnovation Actions?\b", re.IGNORECASE), "IA"),
    (re.compile(r"\bCoordination and Support Actions?\b", re.IGNORECASE), "CSA"),
)

# Fields every record must have (the source's own names).
_REQUIRED = ("topicId", "title", "programme")


class CallSourceError(ValueError):
    """The raw calls file cannot be read or holds invalid records; ``problems`` lists every one, each naming the
    record (its number and topic id) and the field."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:20]
        more = f"\n... and {len(self.problems) - len(shown)} more" if len(self.problems) > len(shown) else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n" + "\n".join(shown) + more)


class CallNotFound(LookupError):
    """No call topic with this id in the catalogue."""

    def __init__(self, topic_id: str) -> None:
        super().__init__(f"No call with topic id {topic_id!r}.")
        self.topic_id = topic_id


# --- text cleaning ----------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Plain text of an HTML fragment: block elements and ``<br>`` become line breaks, scripts and styles go."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                         "section", "article", "blockquote"})
    _SKIP = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?\s*>")
# The tail of a tag the portal's export cut in half: '">' at the start of a field.
_TAG_TAIL = re.compile(r"""^\s*["']?\s*/?>""")
# Sentence punctuation glued to the next sentence where the HTML was stripped ("research.Scope:Size").
_GLUED = re.compile(r"(?<=[a-z)\]][.!?;])(?=[A-Z])|(?<=[A-Za-z]:)(?=[A-Z0-9])")
# The headings of a Horizon Europe topic text, glued to the text before them: they start a paragraph.
_HEADING = re.compile(r"(?<=\S)\s*(?=\b(?:Expected Outcomes?|Expected Impacts?|Objective|Scope):)")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*\n\s*")
_LINE_SPACES = re.compile(r" *\n *")


def clean_text(value: str | None) -> str:
    """Plain, repaired text of a portal field: HTML turned into text, mojibake repaired (``repair_text``), the
    tail of a cut tag dropped, glued sentences and headings separated, whitespace normalised."""
    if not value:
        return ""
    text = _TAG_TAIL.sub("", value)
    if _TAG.search(text):
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    else:
        text = html.unescape(text)
    # repaired after the entities are decoded, so that mojibake written as entities is repaired too
    text = repair_text(text)
    # a byte-order mark inside a field (306 "ï»¿" in the source, repaired to U+FEFF) is no text
    text = text.replace("\ufeff", "")
    text = UNWRITABLE.sub(" ", text)
    text = _GLUED.sub(" ", text)
    text = _HEADING.sub("\n\n", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_SPACES.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def clean_line(value: str | None) -> str:
    """``clean_text`` on one line (titles, names): line breaks become spaces."""
    return " ".join(clean_text(value).split())


# --- normalisation ----------------------------------------------------------------------------------------


def call_action_type(types_of_action: str | None) -> ActionType:
    """The action type of a portal type of action; ``other`` for any other type, or none.

    >>> call_action_type("HORIZON  Research and Innovation Actions"), call_action_type("HORIZON JU Innovation Actions")
    ('RIA', 'IA')
    >>> call_action_type("HORIZON TMA MSCA Doctoral Networks"), call_action_type("LIFE Project Grants")
    ('MSCA', 'other')
    """
    kind = " ".join((types_of_action or "").split())
    return next((action for pattern, action in _TYPE_PATTERNS if pattern.search(kind)), "other")


def programme_key(programme: str, topic_id: str) -> str | None:
    """Our programme key for a portal programme name (and, for Erasmus+, the topic id), else ``None``."""
    if programme in _PROGRAMME_KEYS:
        return _PROGRAMME_KEYS[programme]
    if programme == "Erasmus+":
        return next((key for marker, key in _ERASMUS_KEYS if marker in topic_id.upper()), None)
    return None


def _keywords(value: str | None) -> list[str]:
    """The comma-separated keywords, cleaned, each once (the first spelling of those equal but for case)."""
    words: list[str] = []
    seen: set[str] = set()
    for item in (value or "").split(","):
        word = clean_line(item)
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            words.append(word)
    return words


def _optional(value: Any) -> str | None:
    text = clean_line(value) if isinstance(value, str) else None
    return text or None


def _amount(record: dict[str, Any], field: str, problems: list[str], where: str) -> float | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        problems.append(f"{where}: field '{field}': expected a non-negative amount in EUR (got {value!r})")
        return None
    return float(value)


def _call_row(record: Any, number: int) -> tuple[dict[str, Any] | None, list[str]]:
    """The Call row of raw record ``number`` (1-based), or ``None`` and its problems."""
    if not isinstance(record, dict):
        return None, [f"record {number}: expected a JSON object (got {type(record).__name__})"]
    topic = record.get("topicId")
    where = f"record {number} ({topic!r})" if isinstance(topic, str) and topic else f"record {number}"
    problems: list[str] = []
    for field in _REQUIRED:
        value = record.get(field)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: field '{field}': required text is missing or empty (got {value!r})")
    if problems:
        return None, problems
    topic_id = clean_line(record["topicId"])
    if len(topic_id) > CALL_TOPIC_ID_MAX_LENGTH:
        problems.append(f"{where}: field 'topicId': longer than {CALL_TOPIC_ID_MAX_LENGTH} characters")
    deadline: dt.date | None = None
    raw_deadline = record.get("deadline")
    if raw_deadline not in (None, ""):
        try:
            deadline = dt.date.fromisoformat(str(raw_deadline)[:10])
        except ValueError:
            problems.append(f"{where}: field 'deadline': not an ISO date (got {raw_deadline!r})")
    budget_min = _amount(record, "budgetMin", problems, where)
    budget_max = _amount(record, "budgetMax", problems, where)
    if budget_min is not None and budget_max is not None and budget_min > budget_max:
        problems.append(f"{where}: fields 'budgetMin', 'budgetMax': minimum {budget_min:g} above maximum "
                        f"{budget_max:g}")
    grants = record.get("expectedGrants")
    if grants in (None, ""):
        grants = None
    elif isinstance(grants, bool) or not isinstance(grants, int) or grants < 0:
        problems.append(f"{where}: field 'expectedGrants': expected a non-negative whole number (got {grants!r})")
    status = _optional(record.get("callStatus"))
    if status is not None and status.lower() not in STATUSES:
        problems.append(f"{where}: field 'callStatus': not one of {list(STATUSES)} (got {status!r})")
    url = _optional(record.get("portalUrl"))
    if url is not None:
        try:
            url = http_url(url)
        except ValueError as exc:
            problems.append(f"{where}: field 'portalUrl': not an http(s) URL: {exc} (got {url[:200]!r})")
    for field in ("description", "topicConditions", "keywords"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: field '{field}': expected text (got {type(value).__name__})")
    if problems:
        return None, problems
    programme = clean_line(record["programme"])
    types_of_action = _optional(record.get("typesOfAction"))
    return {
        "topic_id": topic_id,
        "title": clean_line(record["title"]),
        "programme": programme,
        "programme_key": programme_key(programme, topic_id),
        "cluster": _optional(record.get("cluster")),
        "call_identifier": _optional(record.get("callIdentifier")),
        "call_title": _optional(record.get("callTitle")),
        "action_type": call_action_type(types_of_action),
        "types_of_action": types_of_action,
        "deadline": deadline,
        "deadline_model": _optional(record.get("deadlineModel")),
        "portal_status": status.lower() if status else None,
        "budget_min": budget_min,
        "budget_max": budget_max,
        "expected_grants": grants,
        "keywords": _keywords(record.get("keywords")),
        "text": clean_text(record.get("description")),  # empty for 24 topics (EU external action, one RFCS topic)
        "conditions": clean_text(record.get("topicConditions")) or None,
        "url": url,
    }, []


def _decode_objects(text: str, source: str) -> list[Any]:
    """The JSON values written back to back (whitespace between them allowed) in ``text``."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise CallSourceError(source, [f"record {len(values) + 1}: not JSON at line {exc.lineno}, column "
                                           f"{exc.colno} (character {exc.pos}): {exc.msg}"]) from exc
        values.append(value)


def read_calls(path: Path) -> list[dict[str, Any]]:
    """The cleaned Call rows of the raw calls file at ``path`` (gzipped or plain), sorted by topic id.

    ``CallSourceError`` lists every problem (bad JSON, a record missing its topic id, title or programme,
    a bad date, amount or URL, a topic id given twice), each naming record and field; a file
    with any problem gives no rows.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")  # "-sig": the byte-order mark the source starts with
    except UnicodeDecodeError as exc:
        raise CallSourceError(path.name, [f"not UTF-8 at byte {exc.start}"]) from exc
    rows: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for number, record in enumerate(_decode_objects(text, path.name), start=1):
        row, found = _call_row(record, number)
        problems.extend(found)
        if row is None:
            continue
        if row["topic_id"] in rows:
            problems.append(f"record {number} ({row['topic_id']!r}): field 'topicId': given twice")
            continue
        rows[row["topic_id"]] = row
    if problems:
        raise CallSourceError(path.name, problems)
    logger.info("read %d call topics from %s", len(rows), path)
    return [rows[key] for key in sorted(rows)]


def calls_report(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts of the cleaned calls for the build report (nothing that depends on today's date)."""
    rows = list(rows)
    deadlines = sorted(r["deadline"] for r in rows if r["deadline"] is not None)
    return {
        "total": len(rows),
        "by_programme": dict(sorted(Counter(r["programme"] for r in rows).items())),
        "by_programme_key": dict(sorted(Counter(r["programme_key"] or "none" for r in rows).items())),
        "by_action_type": {kind: n for kind in ACTION_TYPES
                           if (n := sum(r["action_type"] == kind for r in rows))},
        "by_portal_status": dict(sorted(Counter(r["portal_status"] or "none" for r in rows).items())),
        "deadlines": {"first": deadlines[0].isoformat() if deadlines else None,
                      "last": deadlines[-1].isoformat() if deadlines else None,
                      "missing": sum(r["deadline"] is None for r in rows)},
    }


# --- looking calls up -------------------------------------------------------------------------------------


def call_status(call: Call, today: dt.date) -> CallStatus:
    """``"closed"`` when the deadline is before ``today`` or the portal said closed, ``"forthcoming"`` when the
    portal said forthcoming, else ``"open"``. The portal's status is as of the fetch (2026-08): a forthcoming
    call may have opened since, but the source gives no opening date to tell."""
    if call.deadline is not None and call.deadline < today:
        return "closed"
    if call.portal_status == "closed":
        return "closed"
    return "forthcoming" if call.portal_status == "forthcoming" else "open"


def call_idea(call: Call, given: str | None = None) -> str:
    """The idea a request for ``call`` ranks on: the text the request gave (if any), then the call's title and
    clean description; at most ``TEXT_MAX_LENGTH`` characters, as any request's text."""
    parts = ((given or "").strip(), call.title, call.text)
    return "\n\n".join(part for part in parts if part)[:TEXT_MAX_LENGTH].strip()


def get_call(session: Session, topic_id: str) -> Call:
    """The call with ``topic_id``; ``CallNotFound`` if the catalogue has none."""
    call = session.get(Call, topic_id)
    if call is None:
        raise CallNotFound(topic_id)
    return call


@dataclass(frozen=True)
class CallFilters:
    """What ``search_calls`` selects: words to find, programme, action type, cluster, deadline window, open
    only (open or forthcoming today)."""

    q: str | None = None
    programme: str | None = None
    action_type: ActionType | None = None
    cluster: str | None = None
    deadline_from: dt.date | None = None
    deadline_to: dt.date | None = None
    open_only: bool = False


def search_calls(session: Session, filters: CallFilters, *, today: dt.date, limit: int = 20,
                 offset: int = 0) -> tuple[list[Call], int]:
    """Calls matching ``filters`` as of ``today``, by deadline (then topic id; calls without a deadline last),
    the page ``offset``..``offset + limit``; and how many match in all.

    ``q``: every word must occur (case-insensitively) in the topic id, title, keywords or text. ``programme``:
    our key ("horizon-europe") or the portal's name ("LIFE"), case-insensitive. ``action_type`` one of
    ``ACTION_TYPES``; ``cluster`` the portal's (CL5, MISS, ...). ``open_only``: not closed as of ``today``
    (see :func:`call_status`).
    """
    conditions: list[Any] = []
    # keywords are a JSON list: searched as their JSON text (a cast, so PostgreSQL's json type can be lowered)
    searched = (col(Call.topic_id), col(Call.title), cast(col(Call.keywords), String), col(Call.text))
    for word in (filters.q or "").split():
        needle = word.lower()
        conditions.append(or_(*(func.lower(column).contains(needle, autoescape=True) for column in searched)))
    if filters.programme:
        wanted = filters.programme.lower()
        # our keys are lower-case already ("horizon-europe"); the portal's names are not ("LIFE")
        conditions.append(or_(col(Call.programme_key) == wanted, func.lower(col(Call.programme)) == wanted))
    if filters.action_type:
        conditions.append(col(Call.action_type) == filters.action_type)
    if filters.cluster:
        conditions.append(func.lower(col(Call.cluster)) == filters.cluster.lower())
    if filters.deadline_from:
        conditions.append(col(Call.deadline) >= filters.deadline_from)
    if filters.deadline_to:
        conditions.append(col(Call.deadline) <= filters.deadline_to)
    if filters.open_only:
        conditions.append(or_(col(Call.deadline).is_(None), col(Call.deadline) >= today))
        conditions.append(or_(col(Call.portal_status).is_(None), col(Call.portal_status) != "closed"))
    count = session.exec(select(func.count()).select_from(Call).where(*conditions)).one()
    rows = session.exec(select(Call).where(*conditions)
                        .order_by(col(Call.deadline).is_(None), col(Call.deadline), col(Call.topic_id))
                        .offset(offset).limit(limit)).all()
    return list(rows), int(count)
