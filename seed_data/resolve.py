"""Identity resolution: decide which source records describe the same institution.

Three kinds of evidence, strongest first, each merge logged so it can be audited:

1. **PIC** — the EU Participant Identification Code joins CORDIS Horizon Europe and the Erasmus charter list.
2. **Web domain** — a host that exactly one record of each source claims (ROR links and domains, CORDIS
   and ECHE websites, Hipo domains). Hosts that several records of one source share (a research council
   and its institutes) prove nothing and are skipped.
3. **Name** — within one country, the distinctive tokens of two names (``names.match_key``) must pair up
   one to one: equal, or a spelling variant of a long token ("Satpayev"/"Satbayev"). Whole-string
   similarity alone is not enough: "Kagawa University" and "Kanagawa University" score 94 yet are two
   universities, so one differing place-name token keeps names apart. Pairs are found with rapidfuzz
   (``name_threshold``; ``city_mismatch_threshold`` when both records name different cities), and a
   match is refused when another institution matches almost as well (ambiguous).

4. **Curated** — a short list of same-as assertions (``reference/same_as.csv``), each with its evidence,
   for renamed institutions whose old and new names share no tokens (Kazakh universities renamed since
   2017 that Hipo lists under the old name).

A merge that would put two different PICs or two different ROR ids into one institution is refused and
reported as a conflict: those registries already decided they are different organisations.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from seed_data.names import fold, match_key
from seed_data.sources import SourceRecord

logger = logging.getLogger(__name__)

# Candidate pairs: whole-key similarity (fuzz.ratio of the sorted distinctive tokens) at or above this;
# the token rule below then decides.
NAME_THRESHOLD = 85.0
# Tokens this short (initials, "il" from a cut-off "named after Il...") are ignored by the token rule.
MIN_TOKEN_LENGTH = 3
# A spelling variant is allowed only in tokens at least this long, at this token similarity: one changed
# letter in eight ("satpayev"/"satbayev" 87.5) passes; short place names must be equal ("bohai"/"hohai").
VARIANT_MIN_LENGTH = 7
VARIANT_TOKEN_RATIO = 87.0
# When both sources name a city and the cities differ, only (near-)identical names merge.
CITY_MISMATCH_THRESHOLD = 97.0
# A best match is ambiguous when a second institution scores within this many points of it.
AMBIGUITY_MARGIN = 2.0
# Names shorter than this (after dropping noise words) are too generic to match on ("University").
MIN_KEY_LENGTH = 8

# Name matching brings ROR and Hipo records to the catalogue's registry records (and Hipo to ROR);
# records of one source are never name-matched to each other: within a source, same name = different rows.
NAME_MATCH_PAIRS = (("ror", ("he_org", "eche")), ("hipo", ("he_org", "eche", "ror")))


@dataclass(frozen=True)
class Merge:
    """One merge decision between two records (or a refusal, when ``accepted`` is False)."""

    reason: str  # pic | domain | name
    left: str
    right: str
    evidence: str
    score: float
    accepted: bool
    note: str = ""


class _Clusters:
    """Union-find over record indices that refuses to join two different PICs or ROR ids."""

    def __init__(self, records: list[SourceRecord]) -> None:
        self.parent = list(range(len(records)))
        self.pics = [{r.pic} if r.pic else set() for r in records]
        self.rors = [{r.ror_id} if r.ror_id else set() for r in records]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> str | None:
        """Join the clusters of a and b; return why not, or None when joined (or already together)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if self.pics[ra] and self.pics[rb] and self.pics[ra] != self.pics[rb]:
            return f"different PICs {sorted(self.pics[ra] | self.pics[rb])}"
        if self.rors[ra] and self.rors[rb] and self.rors[ra] != self.rors[rb]:
            return f"different ROR ids {sorted(self.rors[ra] | self.rors[rb])}"
        ra, rb = min(ra, rb), max(ra, rb)
        self.parent[rb] = ra
        self.pics[ra] |= self.pics[rb]
        self.rors[ra] |= self.rors[rb]
        return None


def tokens_correspond(key_a: str, key_b: str) -> bool:
    """True when every distinctive token of one name pairs with a token of the other, and vice versa.

    >>> tokens_correspond("kazakh national satpayev university", "kazakh national satbayev university")
    True
    >>> tokens_correspond("kagawa university", "kanagawa university")
    False
    """
    a = [t for t in key_a.split() if len(t) >= MIN_TOKEN_LENGTH]
    b = [t for t in key_b.split() if len(t) >= MIN_TOKEN_LENGTH]
    if len(a) != len(b):
        return False
    unmatched = list(b)
    for token in a:
        partner = next((u for u in unmatched if u == token), None)
        if partner is None and len(token) >= VARIANT_MIN_LENGTH:
            partner = next((u for u in unmatched if len(u) >= VARIANT_MIN_LENGTH
                            and fuzz.ratio(token, u) >= VARIANT_TOKEN_RATIO), None)
        if partner is None:
            return False
        unmatched.remove(partner)
    return True


def _city_key(city: str | None) -> str:
    return "".join(ch for ch in fold(city or "") if ch.isalnum())


def _cities_differ(a: SourceRecord, b: SourceRecord) -> bool:
    ka, kb = _city_key(a.city), _city_key(b.city)
    return bool(ka and kb) and fuzz.ratio(ka, kb) < 80 and ka not in kb and kb not in ka


def resolve(
    records: list[SourceRecord],
    *,
    same_as: Sequence[tuple[str, str, str]] = (),
    name_threshold: float = NAME_THRESHOLD,
    city_mismatch_threshold: float = CITY_MISMATCH_THRESHOLD,
) -> tuple[list[list[int]], list[Merge]]:
    """Group ``records`` into institutions.

    ``same_as`` holds curated (key, key, evidence) triples. Returns the clusters (lists of record indices,
    each sorted, ordered by first index) and every merge
    decision taken, accepted or refused, in the order taken.
    """
    clusters = _Clusters(records)
    merges: list[Merge] = []

    def join(reason: str, a: int, b: int, evidence: str, score: float) -> None:
        if clusters.find(a) == clusters.find(b):
            return
        refusal = clusters.union(a, b)
        merges.append(
            Merge(reason, records[a].key, records[b].key, evidence, score, refusal is None, refusal or "")
        )

    # 1. PIC
    by_pic: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        if record.pic:
            by_pic[record.pic].append(i)
    for pic, members in sorted(by_pic.items()):
        for other in members[1:]:
            join("pic", members[0], other, pic, 100.0)

    # 2. Web domain, where each source has exactly one record claiming it
    by_domain: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, record in enumerate(records):
        for domain in record.domains:
            by_domain[domain][record.source].append(i)
    for domain, per_source in sorted(by_domain.items()):
        unique = [members[0] for _, members in sorted(per_source.items()) if len(members) == 1]
        for other in unique[1:]:
            if records[other].country == records[unique[0]].country:
                join("domain", unique[0], other, domain, 100.0)

    # 3. Names within a country
    for query_source, target_sources in NAME_MATCH_PAIRS:
        for a, b, score, evidence in _name_candidates(records, clusters, query_source, target_sources,
                                                      name_threshold, city_mismatch_threshold, merges):
            join("name", a, b, evidence, score)

    # 4. Curated same-as assertions
    position = {record.key: i for i, record in enumerate(records)}
    for left, right, evidence in same_as:
        if left not in position or right not in position:
            missing = [k for k in (left, right) if k not in position]
            merges.append(Merge("curated", left, right, evidence, 100.0, False, f"unknown record {missing}"))
            continue
        join("curated", position[left], position[right], evidence, 100.0)

    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(records)):
        groups[clusters.find(i)].append(i)
    return sorted(groups.values(), key=lambda members: members[0]), merges


def _name_candidates(
    records: list[SourceRecord],
    clusters: _Clusters,
    query_source: str,
    target_sources: tuple[str, ...],
    name_threshold: float,
    city_mismatch_threshold: float,
    merges: list[Merge],
) -> list[tuple[int, int, float, str]]:
    """Best name match per query record, strongest first; ambiguous ones are logged as refused."""
    queries: dict[str, list[tuple[str, int]]] = defaultdict(list)
    targets: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for i, record in enumerate(records):
        side = queries if record.source == query_source else targets if record.source in target_sources else None
        if side is None:
            continue
        for name in record.names:
            key = match_key(name)
            if len(key) >= MIN_KEY_LENGTH:
                side[record.country].append((key, i))

    found: list[tuple[int, int, float, str]] = []
    for country in sorted(queries):
        if country not in targets:
            continue
        query_keys, query_ids = zip(*queries[country], strict=True)
        target_keys, target_ids = zip(*targets[country], strict=True)
        scores = process.cdist(query_keys, target_keys, scorer=fuzz.ratio, score_cutoff=name_threshold,
                               dtype=np.uint8, workers=-1)
        best: dict[int, dict[int, tuple[float, str]]] = defaultdict(dict)  # query -> target cluster -> best
        for qi, ti in zip(*np.nonzero(scores), strict=True):
            q, t = query_ids[qi], target_ids[ti]
            score = float(scores[qi, ti])
            if _cities_differ(records[q], records[t]) and score < city_mismatch_threshold:
                continue
            if not tokens_correspond(query_keys[qi], target_keys[ti]):
                continue
            root = clusters.find(t)
            if score > best[q].get(root, (0.0, ""))[0]:
                best[q][root] = (score, f"{query_keys[qi]!r} ~ {target_keys[ti]!r}")
        for q, per_cluster in best.items():
            ranked = sorted(per_cluster.items(), key=lambda item: (-item[1][0], item[0]))
            root, (score, evidence) = ranked[0]
            if len(ranked) > 1 and ranked[1][1][0] >= score - AMBIGUITY_MARGIN:
                rival = ranked[1][0]
                merges.append(Merge("name", records[q].key, records[root].key, evidence, score, False,
                                    f"ambiguous: {records[rival].key} scores {ranked[1][1][0]:.0f}"))
                continue
            found.append((q, root, score, evidence))
    return sorted(found, key=lambda item: (-item[2], records[item[0]].key))
