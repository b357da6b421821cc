"""Institution search by name, alias, abbreviation or web domain, tolerant of typos.

The index lives in memory (a few MB for the whole catalogue) and is built from plain rows, so the CLI,
the API and the build report all search the same way.
"""

from __future__ import annotations

import json
import sys
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process, utils
from sqlmodel import Session

from seed_data import names
from seed_data.fingerprint import code_digest, combine, table_digests
from seed_data.names import fold, web_host

# Domain labels that are not an abbreviation of the institution ("www.edu.kz" says nothing).
_GENERIC_LABELS = frozenset({"www", "edu", "ac", "org", "com", "gov", "net", "univ", "uni", "web", "portal"})
# Fuzzy hits below this WRatio are noise for names of the length users type.
MIN_FUZZY_SCORE = 80.0
# A short one-word query ("KazNU", "ENU") is an abbreviation: WRatio's partial matching finds it inside
# any name ("Zn" scores 90), so fuzzy hits must then be nearly exact.
SHORT_QUERY_LENGTH = 6
MIN_FUZZY_KEY_LENGTH = 4
# A query word matches vocabulary words at least this similar (typos, a word typed halfway: "camer");
# at most WORD_VARIANTS of them, and names are then scored among at most MAX_CANDIDATES.
WORD_VARIANT_SCORE = 75.0
WORD_VARIANTS = 30
MAX_CANDIDATES = 5000
# Words this short ("al", "of") are matched through the vocabulary even when known, so typing goes on working.
SHORT_WORD_LENGTH = 4
MIN_SHORT_QUERY_SCORE = 95.0
# A query word of at least this many letters also matches the words it begins ("univ" -> "university"):
# people type names left to right, and the list should follow them.
MIN_PREFIX_LENGTH = 3
# A hit's relevance is WRatio scaled by how many query words its name covers: from this factor (none
# covered) to 1 (all). WRatio alone rates a short name found inside the query ("Univ. Lille" in
# "nazarbayev univ") above the name the user is typing.
UNCOVERED_FACTOR = 0.8


@dataclass(frozen=True)
class SearchRow:
    """What search needs to know about one institution."""

    id: str
    name: str
    aliases: Sequence[str] = ()
    short_name: str | None = None
    domains: Sequence[str] = ()
    n_projects: int = 0


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float  # 0-100; 100 for an exact abbreviation or domain-label match
    matched: str  # the name, alias or label that matched


def _abbreviations(row: SearchRow) -> set[str]:
    labels = {fold(a) for a in [row.short_name or "", *row.aliases] if a and " " not in a and len(a) <= 12}
    for domain in row.domains:
        first = domain.split(".")[0]
        if first not in _GENERIC_LABELS and len(first) >= 2:
            labels.add(first)
    return {label for label in labels if label}


def _json_list(value: object) -> list[str]:
    # plain SQL gives JSON columns as text on SQLite and parsed on PostgreSQL
    return json.loads(value) if isinstance(value, str) else list(value or [])  # type: ignore[call-overload]


# The institution columns search reads (shared with search_fingerprint, so it covers exactly these).
SEARCH_COLUMNS = ("id", "name", "aliases", "short_name", "domains", "n_projects")


def read_search_rows(*, session: Session) -> list[SearchRow]:
    """Every institution's search fields, read with plain SQL (the ORM's JSON decoding of 58,000 rows
    costs a second of every start)."""
    result = session.connection().exec_driver_sql(f"SELECT {', '.join(SEARCH_COLUMNS)} FROM institution ORDER BY id")
    return [SearchRow(r[0], r[1], _json_list(r[2]), r[3], _json_list(r[4]), r[5] or 0) for r in result]


def search_fingerprint(session: Session, *, institutions_digest: str | None = None) -> str:
    """A digest of what :class:`InstitutionIndex` is built from (:data:`SEARCH_COLUMNS` of every institution)
    and of the code that builds it; it changes whenever a search result could.

    ``institutions_digest`` is :func:`~seed_data.fingerprint.table_digests` of :data:`SEARCH_COLUMNS` when the
    caller computed it already (one scan of the table serves the matcher's fingerprint too).
    """
    if institutions_digest is None:
        (institutions_digest,) = table_digests(session, "institution", [SEARCH_COLUMNS], order_by=["id"])
    return combine("institution-search", code_digest(sys.modules[__name__], names, packages=("rapidfuzz", "numpy")),
                   institutions_digest)


class InstitutionIndex:
    """Search over institutions' names, aliases, abbreviations and domain labels."""

    def __init__(self, rows: Iterable[SearchRow]) -> None:
        self.rows = {row.id: row for row in rows}
        self._keys: list[str] = []
        self._owners: list[str] = []
        self._abbrev: dict[str, list[str]] = {}
        self._domains: dict[str, list[str]] = {}
        for row in self.rows.values():
            for name in dict.fromkeys([row.name, *row.aliases, *([row.short_name] if row.short_name else [])]):
                key = utils.default_process(fold(name))
                # very short names ("ME", "NU") would partially match inside any query: they are
                # searched as exact abbreviations only
                if len(key) >= MIN_FUZZY_KEY_LENGTH:
                    self._keys.append(key)
                    self._owners.append(row.id)
            for label in _abbreviations(row):
                self._abbrev.setdefault(label, []).append(row.id)
            for domain in row.domains:
                self._domains.setdefault(domain, []).append(row.id)
        # word -> the names containing it: fuzzy scoring then runs over the few names sharing (a spelling
        # variant of) a query word instead of all 170,000 names
        postings: dict[str, list[int]] = {}
        for pos, key in enumerate(self._keys):
            for word in set(key.split()):
                postings.setdefault(word, []).append(pos)
        self._vocabulary = sorted(postings)
        self._word_index = {word: i for i, word in enumerate(self._vocabulary)}
        self._postings = [np.array(postings[word], dtype=np.int32) for word in self._vocabulary]

    def search(self, query: str, *, limit: int = 20, allowed: set[str] | None = None) -> list[SearchHit]:
        """The best ``limit`` institutions for ``query``, best first; ties go to the one with more projects.

        ``allowed`` restricts hits to those ids (filters applied by the caller).
        """
        folded = fold(query).strip()
        if not folded:
            return []
        best: dict[str, SearchHit] = {}
        host = web_host(folded) if "." in folded and " " not in folded else None
        for inst_id in [*self._abbrev.get(folded.replace(" ", ""), []), *self._domains.get(host or "", [])]:
            best[inst_id] = SearchHit(inst_id, 100.0, query)
        processed = utils.default_process(folded)
        short = len(processed) <= SHORT_QUERY_LENGTH and " " not in processed
        cutoff = MIN_SHORT_QUERY_SCORE if short else MIN_FUZZY_SCORE
        positions = self._candidates(processed)
        n_words = max(len(set(processed.split())), 1)
        candidates = {pos: self._keys[pos] for pos in positions if allowed is None or self._owners[pos] in allowed}
        coverage: dict[str, int] = {}
        for _key, score, pos in process.extract(
            processed, candidates, scorer=fuzz.WRatio, limit=None, score_cutoff=cutoff
        ):
            owner = self._owners[pos]
            # WRatio scores a query contained in a longer name up to 95; only the exact name gets 100
            covered = float(self._last_counts[pos]) / n_words
            score = 100.0 if self._keys[pos] == processed else round(
                min(float(score), 99.0) * (UNCOVERED_FACTOR + (1 - UNCOVERED_FACTOR) * covered), 1)
            if owner not in best or best[owner].score < score:
                best[owner] = SearchHit(owner, score, self._keys[pos])
                coverage[owner] = int(self._last_counts[pos])
        hits = [h for h in best.values() if allowed is None or h.id in allowed]
        # equal scores: the name matching more of the query's words first, then the more active institution
        hits.sort(key=lambda h: (-round(h.score, 1), -coverage.get(h.id, 0), -self.rows[h.id].n_projects, h.id))
        return hits[:limit]

    def _prefixed(self, word: str) -> list[int]:
        """Vocabulary indices of the words ``word`` begins (itself included), when it is long enough."""
        if len(word) < MIN_PREFIX_LENGTH:
            return []
        start = bisect_left(self._vocabulary, word)
        end = bisect_left(self._vocabulary, word + "\uffff", lo=start)
        return list(range(start, end))

    def _candidates(self, processed: str) -> npt.NDArray[np.int32]:
        """Positions of names sharing the most query words (each word or a spelling variant of it)."""
        counts = np.zeros(len(self._keys), dtype=np.int32)
        for word in set(processed.split()):
            matched = self._prefixed(word)
            exact = self._word_index.get(word)
            if exact is None or len(word) < SHORT_WORD_LENGTH:  # unknown or short: spelling variants too
                variants = process.extract(word, self._vocabulary, scorer=fuzz.ratio,
                                           score_cutoff=WORD_VARIANT_SCORE, limit=WORD_VARIANTS)
                matched.extend(i for _, _, i in variants)
            elif exact not in matched:
                matched.append(exact)
            if matched:
                counts[np.unique(np.concatenate([self._postings[i] for i in matched]))] += 1
        self._last_counts = counts
        if not counts.any():
            return np.zeros(0, dtype=np.int32)
        # names missing at most one query word; the most complete matches first, then catalogue order
        positions = np.flatnonzero(counts >= max(1, int(counts.max()) - 1))
        order = np.argsort(-counts[positions], kind="stable")
        return positions[order[:MAX_CANDIDATES]].astype(np.int32)
