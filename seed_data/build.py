"""Build the shipped catalogue (``seed_data/data/``) from the raw public sources, deterministically.

``build_catalogue(raw, out)`` reads every source (``sources.py``), repairs mojibake in names, merges records
into institutions (``resolve.py``), applies the public-web facts about Kazakh institutions (``kz_web.py``:
current names, duplicates merged, missing universities added, evidence items and partnerships attached by
identity resolution, ``partners.py``), attaches projects and participations, writes a profile text per
institution from its real evidence, resolves the priority areas and programmes (``reference.py``), and
writes the files plus a build report. Same input, byte-identical output: everything is sorted, and nothing carries
a timestamp.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from seed_data import files
from seed_data.calls import CALLS_FILE, CALLS_SOURCE, calls_report, read_calls
from seed_data.evidence import field_text, item_id, item_identity, partnership_id, project_item_text, unit_text
from seed_data.kz_web import (
    KzWebData,
    WebRecord,
    WebReject,
    read_kz_web,
    read_records,
    repair_text,
    subfield_names,
)
from seed_data.names import fold, smart_title, web_host
from seed_data.partners import PartnerResolver, is_acronym, is_public_suffix
from seed_data.reference import (
    REFERENCE_DIR,
    check_references,
    expand_countries,
    load_country_groups,
    load_priority_areas,
    load_programmes,
    read_openalex_topics,
    resolve_area,
)
from seed_data.resolve import Merge, resolve
from seed_data.search import InstitutionIndex, SearchRow
from seed_data.sources import OPENALEX_TOPICS, ParticipationRow, Rejected, SourceRecord, read_all
from seed_data.tables import EvidenceType, InstitutionKind, ItemOrigin, evidence_level

logger = logging.getLogger(__name__)

# A profile is embedded in chunks (see embeddings/) and shown to users; 4,000 characters hold the
# subjects, keywords and the ten or so most recent projects of even the busiest institution.
PROFILE_MAX_CHARS = 4000
OBJECTIVE_EXCERPT_CHARS = 300
N_PROFILE_SUBJECTS = 15
N_PROFILE_KEYWORDS = 25

# Official names of the H2020 programme parts (Regulation (EU) No 1291/2013), used in profiles of
# institutions whose only evidence is H2020 participation (that source has no project texts).
H2020_PART_NAMES = {
    "ERC": "frontier research (European Research Council)",
    "FET": "future and emerging technologies",
    "MSCA": "Marie Skłodowska-Curie actions",
    "RI": "research infrastructures",
    "LEIT": "leadership in enabling and industrial technologies",
    "ARF": "access to risk finance",
    "Innovation in SMEs": "innovation in SMEs",
    "SC1": "health, demographic change and wellbeing",
    "SC2": "food security, sustainable agriculture and forestry, marine research and the bioeconomy",
    "SC3": "secure, clean and efficient energy",
    "SC4": "smart, green and integrated transport",
    "SC5": "climate action, environment, resource efficiency and raw materials",
    "SC6": "Europe in a changing world: inclusive, innovative and reflective societies",
    "SC7": "secure societies",
    "SEWP": "spreading excellence and widening participation",
    "SWAFS": "science with and for society",
    "JRC": "Joint Research Centre",
    "EIT": "European Institute of Innovation and Technology",
    "Euratom": "Euratom nuclear research and training",
}

# Institutions named in Kazakh policy statements (../shared/context) that the catalogue must contain:
# (what a user types, the country it must be in).
NAMED_INSTITUTIONS = [
    ("Al-Farabi Kazakh National University", "KZ"),
    ("KazNU", "KZ"),
    ("L.N. Gumilyov Eurasian National University", "KZ"),
    ("ENU", "KZ"),
    ("Sarsen Amanzholov East Kazakhstan University", "KZ"),
    ("Zhetysu University", "KZ"),
    ("University of International Business", "KZ"),
    ("Nazarbayev University", "KZ"),
    ("Satbayev University", "KZ"),
    ("KIMEP University", "KZ"),
    ("University of Camerino", "IT"),
    ("Cardiff University", "GB"),
    ("MEPhI", "RU"),
    ("MGIMO", "RU"),
    ("Beijing Language and Culture University", "CN"),
    ("Northwest A&F University", "CN"),
    ("University of Arizona", "US"),
]

SOURCE_PRIORITY = {"ror": 0, "eche": 1, "he_org": 2, "hipo": 3}
KIND_PRIORITY = {"he_org": 0, "eche": 1, "ror": 2, "hipo": 3}


def _institution(records: list[SourceRecord]) -> dict[str, Any]:
    """Merge one cluster's records into an institution row (no id, counts or profile yet)."""
    by_priority = sorted(records, key=lambda r: (SOURCE_PRIORITY[r.source], r.key))
    first = {source: next((r for r in by_priority if r.source == source), None) for source in SOURCE_PRIORITY}
    ror, eche, he_org = first["ror"], first["eche"], first["he_org"]
    registry = he_org or eche
    name = ror.name if ror else smart_title(registry.name) if registry else by_priority[0].name
    kind = next((r.kind for r in sorted(records, key=lambda r: KIND_PRIORITY[r.source]) if r.kind), None)
    city = (ror and ror.city) or (eche and eche.city and smart_title(eche.city)) or (he_org and he_org.city)
    short_name = next((a for r in by_priority for a in r.acronyms), None)
    seen = {name.casefold()}
    aliases = []
    for alias in [n for r in by_priority for n in [*r.names, *r.acronyms]]:
        if alias.casefold() not in seen:
            seen.add(alias.casefold())
            aliases.append(alias)
    return {
        "name": name,
        "legal_name": (he_org and he_org.legal_name) or (eche and eche.legal_name),
        "short_name": short_name,
        "native_name": ror.native_name if ror else None,
        "country": by_priority[0].country,
        "city": smart_title(city) if city else None,
        "kind": (kind or InstitutionKind.other).value,
        "ror_id": ror.ror_id if ror else None,
        "pic": registry.pic if registry else None,
        "erasmus_code": eche.erasmus_code if eche else None,
        "website": next((r.website for r in by_priority if r.website), None),
        "aliases": aliases,
        "domains": sorted({d for r in records for d in r.domains}),
        "provenance": sorted(r.key for r in records),
    }


def _institution_id(row: dict[str, Any], taken: set[str]) -> str:
    if row["pic"]:
        base = f"pic-{row['pic']}"
    elif row["ror_id"]:
        base = f"ror-{row['ror_id']}"
    elif row["domains"]:
        base = f"web-{row['domains'][0]}"
    else:
        base = f"hipo-{row['provenance'][0].split(':')[1]}"
    candidate, n = base, 2
    while candidate in taken:  # two Hipo rows sharing a domain stay two rows; keep both ids stable by order
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _profile(row: dict[str, Any], projects: list[dict[str, Any]], h2020_parts: Counter[str],
             items: Sequence[dict[str, Any]] = ()) -> str:
    """Profile text from real evidence only: subjects, keywords, research fields and units, then recent
    projects (Horizon Europe and those from public web pages), bounded in length."""
    where = ", ".join(p for p in [row["city"], row["country"]] if p)
    head = f"{row['name']} ({row['kind']}, {where})."
    if not projects and not h2020_parts and not items:
        return head + " No project evidence in the catalogue's sources."
    parts = [head]
    subjects = Counter(path.rsplit("/", 1)[-1] for p in projects for path in p["euroscivoc"])
    if subjects:
        parts.append("Research subjects: " + "; ".join(s for s, _ in subjects.most_common(N_PROFILE_SUBJECTS)) + ".")
    keywords = Counter(k.casefold() for p in projects for k in p["keywords"])
    if keywords:
        parts.append("Keywords: " + ", ".join(k for k, _ in keywords.most_common(N_PROFILE_KEYWORDS)) + ".")
    if h2020_parts:
        names = [H2020_PART_NAMES.get(part, part) for part, _ in h2020_parts.most_common()]
        parts.append("H2020 participation in: " + "; ".join(names) + ".")
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:  # in file order: the most evident field first
        by_type[item["type"]].append(item)
    fields = by_type.get(EvidenceType.research_field.value, [])
    if fields:
        parts.append("Research fields: " + "; ".join(i["title"] for i in fields[:N_PROFILE_FIELDS]) + ".")
    units = by_type.get(EvidenceType.research_unit.value, [])
    if units:
        described = [i["title"] + (f" ({_cut(i['details'].get('topic'), UNIT_TOPIC_CHARS)})"
                                   if i["details"].get("topic") else "") for i in units[:N_PROFILE_UNITS]]
        parts.append("Research units: " + "; ".join(described) + ".")
    text = " ".join(parts)
    if len(text) > PROFILE_MAX_CHARS:
        text = _cut(text, PROFILE_MAX_CHARS)
    entries: list[tuple[str, str]] = []  # (start, entry): every project, most recent first
    for project in projects:
        objective = _cut(" ".join((project["objective"] or "").split()), OBJECTIVE_EXCERPT_CHARS)
        entries.append(((project["start_date"] or "")[:4],
                        f" Project {project['acronym'] or project['id']} ({(project['start_date'] or '')[:4]}): "
                        f"{project['title']}. {objective}"))
    for item in by_type.get(EvidenceType.national_project.value, []):
        details = item["details"]
        label = f"Project {details['code']}" if details.get("code") else "Project"
        when = f" ({details['years']})" if details.get("years") else ""
        funder = f" Funded by {details['funder']}." if details.get("funder") else ""
        entries.append((str(item["year"] or ""), f" {label}{when}: {item['title'].rstrip('.')}.{funder}"))
    for _, entry in sorted(entries, key=lambda e: e[0], reverse=True):  # stable: EU projects first within a year
        if len(text) + len(entry) > PROFILE_MAX_CHARS:
            break
        text += entry
    return text


def _cut(text: str | None, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis when cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def _country_group(country: str, groups: dict[str, frozenset[str]]) -> str:
    if country == "KZ":
        return "Kazakhstan"
    if country in groups["CENTRAL_ASIA"]:
        return "other Central Asia"
    if country in groups["EU27"]:
        return "EU27"
    if country == "CN":
        return "China"
    if country in groups["BRI"]:
        return "other Belt and Road"
    return "rest of world"


MERGE_FIELDS = ["reason", "left", "right", "score", "accepted", "evidence", "note"]
PARTICIPATION_FIELDS = ["project_id", "pic", "role", "institution_id", "activity_type", "country"]


def _merge_rows(merges: Iterable[Merge]) -> list[dict[str, str]]:
    return [{"reason": m.reason, "left": m.left, "right": m.right, "score": f"{m.score:.0f}",
             "accepted": "yes" if m.accepted else "no", "evidence": m.evidence, "note": m.note} for m in merges]


# ---------------------------------------------------------------------------------------------------------
# kz_public_web: renames, merges, new institutions, evidence items and partnerships (SOURCES.md section 9)

KZ_WEB = "kz_public_web"
# Facts collected the same way for institutions beyond Kazakhstan (China, Central Asia): reference data of this
# repository (seed_data/reference/bri_public_web/*.jsonl, one file per collection), each fact with its URL.
REFERENCE_WEB = "bri_public_web"
KZ_MERGE_REASON = "kz_public_web_same_as"
KZ_COUNTRY = "KZ"
# Countries whose evidence the build report details (Kazakhstan, the other Central Asian states, China).
EVIDENCE_REPORT_COUNTRIES = ("KZ", "KG", "UZ", "TJ", "TM", "CN")
# Id of a new institution without a website: this prefix and a slug of its name (cut to this length).
KZ_SLUG_PREFIX = "kzweb-"
KZ_SLUG_MAX_LENGTH = 60
LATIN_MAX = 0x024F  # the last code point of Latin Extended-B: letters beyond it are another script
# A file of the reference folder whose name starts so holds institutions missing from the catalogue.
MISSING_PREFIX = "missing_"
# Profile lines of the web facts (bounded like the rest of the profile by PROFILE_MAX_CHARS).
N_PROFILE_FIELDS = 12
N_PROFILE_UNITS = 15
UNIT_TOPIC_CHARS = 80
IDENTIFIER_FIELDS = ("legal_name", "short_name", "native_name", "city", "ror_id", "pic", "erasmus_code", "website")
EVIDENCE_FIELDS = ["id", "institution_id", "type", "title", "text", "year", "source", "external_id", "details",
                   "origin", "key_id", "created"]
PARTNERSHIP_FIELDS = ["id", "institution_id", "partner_id", "partner_name", "partner_country", "type", "year",
                      "description", "source", "origin", "key_id", "created"]


def _repair_records(records: list[SourceRecord]) -> Counter[str]:
    """Repair mojibake in every name of every source record (ftfy); count the names changed per source."""
    repaired: Counter[str] = Counter()

    def fix(value: str) -> str:
        fixed = repair_text(value)
        if fixed != value:
            repaired[record.source] += 1
        return fixed

    for record in records:
        record.name = fix(record.name)
        record.names = [fix(n) for n in record.names]
        record.acronyms = [fix(a) for a in record.acronyms]
        for attr in ("legal_name", "native_name", "city"):
            value = getattr(record, attr)
            if value:
                setattr(record, attr, fix(value))
    return repaired


def _add_aliases(row: dict[str, Any], names: Iterable[str]) -> None:
    """Append ``names`` to the row's aliases, skipping its name and aliases it already has (case-folded)."""
    seen = {row["name"].casefold(), *(a.casefold() for a in row["aliases"])}
    for name in names:
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            row["aliases"].append(name)


def _rename(row: dict[str, Any], name: str, aliases: list[str], city: str | None) -> bool:
    """Give ``row`` its current ``name`` (the old one kept as an alias); return whether the name changed."""
    old = row["name"]
    changed = name != old
    if changed:
        row["name"] = name
        row["aliases"] = [a for a in row["aliases"] if a.casefold() != name.casefold()]
        _add_aliases(row, [old])
    _add_aliases(row, aliases)
    if city:
        row["city"] = city
    return changed


def _merge_into(survivor: dict[str, Any], other: dict[str, Any]) -> str:
    """Fold ``other`` into ``survivor``: names, domains, provenance, and identifiers the survivor lacks.

    Returns a note on identifiers both rows hold with different values (the survivor's are kept)."""
    _add_aliases(survivor, [other["name"], *other["aliases"]])
    survivor["domains"] = sorted(set(survivor["domains"]) | set(other["domains"]))
    survivor["provenance"] = sorted(set(survivor["provenance"]) | set(other["provenance"]))
    conflicts = []
    for key in IDENTIFIER_FIELDS:
        if not survivor.get(key):
            survivor[key] = other.get(key)
        elif other.get(key) and other[key] != survivor[key] and key in ("pic", "ror_id", "erasmus_code"):
            conflicts.append(f"{key} {other[key]} dropped for {survivor[key]}")
    return "; ".join(conflicts)


def _slug(name: str) -> str:
    slug = "-".join("".join(c if c.isascii() and c.isalnum() else " " for c in fold(name)).split())
    return slug[:KZ_SLUG_MAX_LENGTH].rstrip("-") or "unnamed"


def _is_native(name: str) -> bool:
    """Whether a name is written in a script other than Latin (Cyrillic, Chinese, ...): the native name."""
    return any(c.isalpha() and ord(c) > LATIN_MAX for c in name)


def _new_institution(record: WebRecord, taken: set[str], *, country: str, source: str) -> dict[str, Any]:
    """A catalogue row for a missing-institution record (``country`` where the record names none), its id in
    the catalogue's scheme and its provenance ``<source>:<host or slug>``."""
    host = web_host(record.website)
    if host and is_public_suffix(host):  # a ministry's page under gov.kz: the host is nobody's own site
        host = None
    base = f"web-{host}" if host else KZ_SLUG_PREFIX + _slug(record.name)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return {
        "name": record.name,
        "legal_name": None,
        "short_name": next((n for n in record.names if is_acronym(n)), None),
        "native_name": next((n for n in record.names if _is_native(n)), None),
        "country": record.country or country,
        "city": record.city,
        "kind": (record.kind or InstitutionKind.other).value,
        "ror_id": None,
        "pic": None,
        "erasmus_code": None,
        "website": record.website,
        "aliases": [n for n in record.names if n.casefold() != record.name.casefold()],
        "domains": [host] if host else [],
        "provenance": [f"{source}:{host or _slug(record.name)}"],
        "id": candidate,
    }


def _items_of(institution_id: str, record: WebRecord) -> list[dict[str, Any]]:
    """The evidence item rows of one record's research fields, units and projects."""
    items = []

    def add(kind: EvidenceType, title: str, text: str, year: int | None, source: str, external_id: str | None,
            details: dict[str, Any]) -> None:
        identity = item_identity(title=title, external_id=external_id)
        items.append({"id": item_id(institution_id, kind, identity), "institution_id": institution_id,
                      "type": kind.value, "title": title, "text": text, "year": year, "source": source,
                      "external_id": external_id, "details": details, "origin": ItemOrigin.catalogue.value,
                      "key_id": None, "created": None})

    for f in record.fields:
        add(EvidenceType.research_field, f.subfield, field_text(subfield=f.subfield, basis=f.basis), None, f.url,
            None, {"subfield": f.subfield, "basis": f.basis})
    for u in record.units:
        add(EvidenceType.research_unit, u.name, unit_text(name=u.name, topic=u.topic), None, u.url, None,
            {"topic": u.topic})
    for p in record.projects:
        add(EvidenceType.national_project, p.title, project_item_text(title=p.title, funder=p.funder), p.start_year,
            p.url, p.code, {"code": p.code, "funder": p.funder, "years": p.years, "partners": list(p.partners)})
    return items


@dataclass
class KzWebResult:
    """What the kz_public_web step did: the rows it made and the figures for the build report."""

    items: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    partnerships: list[dict[str, Any]] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    merged_into: dict[str, str] = field(default_factory=dict)
    rejects: list[WebReject] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def _apply_kz_web(data: KzWebData, institutions: list[dict[str, Any]], taken: set[str]) -> KzWebResult:
    """Apply renamed.csv, add the missing institutions and attach the evidence records (changes
    ``institutions`` in place: renamed, merged rows removed, new rows appended)."""
    result = KzWebResult(rejects=list(data.rejects))
    by_id = {r["id"]: r for r in institutions}
    renamed: list[str] = []

    # 1. renamed.csv: current names; rows that are another row again merge into it
    for ren in data.renamed:
        row = by_id.get(ren.catalogue_id)
        if row is None:
            result.rejects.append(WebReject("renamed.csv", ren.line, "catalogue_id",
                                            f"no catalogue row {ren.catalogue_id!r}"))
            continue
        if ren.same_as is None:
            if _rename(row, ren.name, ren.aliases, ren.city):
                renamed.append(row["id"])
            row["provenance"] = sorted({*row["provenance"], f"{KZ_WEB}:renamed.csv#{ren.line}"})
            continue
        survivor = by_id.get(result.merged_into.get(ren.same_as, ren.same_as))
        if survivor is None or survivor is row:
            why = "is the row itself" if survivor is row else "does not exist"
            result.rejects.append(WebReject("renamed.csv", ren.line, "current_name",
                                            f"same-as row {ren.same_as!r} {why}"))
            continue
        note = _merge_into(survivor, row)
        _rename(survivor, ren.name, ren.aliases, ren.city)
        survivor["provenance"] = sorted({*survivor["provenance"], f"{KZ_WEB}:renamed.csv#{ren.line}"})
        result.merged_into[row["id"]] = survivor["id"]
        for merged, target in list(result.merged_into.items()):
            if target == row["id"]:
                result.merged_into[merged] = survivor["id"]
        del by_id[row["id"]]
        result.merges.append(Merge(KZ_MERGE_REASON, row["id"], survivor["id"], ren.url, 100.0, True,
                                   note or f"renamed.csv line {ren.line}"))
    institutions[:] = [r for r in institutions if r["id"] in by_id]

    # 2. missing_institutions.jsonl: new rows, unless identity resolution finds them in the catalogue
    resolver = PartnerResolver.from_rows(institutions)
    n_before = len(institutions)
    missing = _add_missing(data.missing, institutions, resolver, taken, country=KZ_COUNTRY, source=KZ_WEB)
    attach, created, missing_matched, unmatched = missing.attach, missing.created, missing.matched, missing.unmatched
    by_id.update((r["id"], r) for r in institutions[n_before:])

    # 3. institutions_evidence.jsonl: by catalogue id (a merged-away id means its survivor), website, names
    evidence_attach, matched, evidence_unmatched = _match_records(data.evidence, by_id, result.merged_into, resolver,
                                                                  KZ_COUNTRY)
    attach += evidence_attach
    unmatched += evidence_unmatched

    # 4. items and partnerships, deduplicated by id within an institution
    duplicates, partners_how = _attach_facts(attach, resolver, result)

    items = [i for rows in result.items.values() for i in rows]
    resolved = sum(n for how, n in partners_how.items() if how in ("ror", "website", "name"))
    result.report = {
        "records_read": {"institutions_evidence": len(data.evidence), "missing_institutions": len(data.missing),
                         "renamed": len(data.renamed)},
        "evidence_records_matched": dict(sorted(matched.items())),
        "missing_institutions_matched": dict(sorted(missing_matched.items())),
        "created": len(created),
        "created_ids": sorted(created),
        "renamed": len(renamed),
        "renamed_ids": sorted(renamed),
        "merged": [{"merged": m.left, "into": m.right, "note": m.note} for m in result.merges],
        "unmatched": unmatched,
        "rejected": {
            "total": len(result.rejects),
            "by_reason": dict(sorted(Counter(_reject_reason(r) for r in result.rejects).items())),
            "list": [f"{r.file}:{r.row} {r.fact}: {r.reason}" for r in result.rejects],
        },
        "items_by_type": dict(sorted(Counter(i["type"] for i in items).items())),
        "duplicates_dropped": duplicates,
        "partnerships": {"total": len(result.partnerships), "resolved": resolved,
                         "unresolved": len(result.partnerships) - resolved,
                         "by_how": dict(sorted(partners_how.items()))},
    }
    return result


@dataclass
class _Missing:
    """What ``_add_missing`` did: (institution id, record) pairs to attach facts to, the new rows' ids, how
    the records found in the catalogue matched, and the records that matched two institutions."""

    attach: list[tuple[str, WebRecord]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    matched: Counter[str] = field(default_factory=Counter)
    unmatched: list[dict[str, Any]] = field(default_factory=list)


def _add_missing(records: Iterable[WebRecord], institutions: list[dict[str, Any]], resolver: PartnerResolver,
                 taken: set[str], *, country: str, source: str) -> _Missing:
    """New catalogue rows for missing-institution records (appended to ``institutions`` and ``resolver``),
    unless identity resolution by website or names within the record's country (else ``country``) finds them in
    the catalogue; a record matching two institutions is reported, never guessed."""
    result = _Missing()
    for record in records:
        match = resolver.resolve(record.name, record.country or country, website=record.website,
                                 other_names=record.names, parent_domains=False)
        if match.how == "ambiguous":
            result.unmatched.append({"record": record.key, "name": record.name, "how": "ambiguous",
                                     "candidates": list(match.candidates)})
            continue
        if match.institution_id is not None:
            result.matched[match.how] += 1
            result.attach.append((match.institution_id, record))
            continue
        row = _new_institution(record, taken, country=country, source=source)
        institutions.append(row)
        resolver.add(row)
        result.created.append(row["id"])
        result.attach.append((row["id"], record))
    return result


def _match_records(records: Iterable[WebRecord], by_id: Mapping[str, Any], merged_into: Mapping[str, str],
                   resolver: PartnerResolver, country: str | None
                   ) -> tuple[list[tuple[str, WebRecord]], Counter[str], list[dict[str, Any]]]:
    """Each record's institution: its catalogue id (a merged-away id means its survivor), else by website, then
    names within ``country`` (any country for None). Returns (institution id, record) pairs, how many matched
    which way, and the records that matched none or two institutions (never guessed)."""
    attach: list[tuple[str, WebRecord]] = []
    matched: Counter[str] = Counter()
    unmatched: list[dict[str, Any]] = []
    for record in records:
        target = merged_into.get(record.catalogue_id or "", record.catalogue_id or "")
        if target in by_id:
            matched["id"] += 1
            attach.append((target, record))
            continue
        match = resolver.resolve(record.name, country, website=record.website, other_names=record.names)
        if match.institution_id is None:
            unmatched.append({"record": record.key, "name": record.name, "catalogue_id": record.catalogue_id,
                              "how": match.how, "candidates": list(match.candidates)})
            continue
        matched[match.how] += 1
        attach.append((match.institution_id, record))
    return attach, matched, unmatched


def _attach_facts(attach: list[tuple[str, WebRecord]], resolver: PartnerResolver,
                  result: KzWebResult) -> tuple[int, Counter[str]]:
    """Add the items and partnerships of each (institution id, record) to ``result``, skipping ids it holds
    already; partners resolved by ``resolver`` (none or two: kept by name). Returns the duplicates skipped and
    how the partners resolved."""
    seen = {i["id"] for rows in result.items.values() for i in rows} | {p["id"] for p in result.partnerships}
    duplicates = 0
    partners_how: Counter[str] = Counter()
    for institution_id, record in attach:
        for item in _items_of(institution_id, record):
            if item["id"] in seen:
                duplicates += 1
                continue
            seen.add(item["id"])
            result.items[institution_id].append(item)
        for fact in record.partnerships:
            pid = partnership_id(institution_id, fact.partner, fact.country, fact.type, fact.year)
            if pid in seen:
                duplicates += 1
                continue
            seen.add(pid)
            match = resolver.resolve(fact.partner, fact.country)
            partner_id, how = match.institution_id, match.how
            if partner_id == institution_id:  # a partner name that is the institution itself: no edge to itself
                partner_id, how = None, "self"
            partners_how[how] += 1
            result.partnerships.append({
                "id": pid, "institution_id": institution_id, "partner_id": partner_id, "partner_name": fact.partner,
                "partner_country": fact.country, "type": fact.type.value, "year": fact.year,
                "description": fact.what, "source": fact.url, "origin": ItemOrigin.catalogue.value,
                "key_id": None, "created": None})
    return duplicates, partners_how


def _apply_reference_web(folder: Path, subfields: frozenset[str], institutions: list[dict[str, Any]],
                         kz: KzWebResult, taken: set[str]) -> dict[str, Any]:
    """Attach the facts collected for institutions beyond Kazakhstan (``seed_data/reference/bri_public_web/``,
    records in the ``kz_public_web`` layout, one file per collection) to their catalogue rows, adding the items
    and partnerships to ``kz``. A record is matched by its catalogue id (a merged-away id means its survivor),
    else by website, then names in any country; none or two: reported, never guessed. Records of the
    ``missing_*.jsonl`` files (each with its country) become new institutions unless the catalogue holds them
    (changes ``institutions`` in place). Returns the report."""
    rejects: list[WebReject] = []
    paths = sorted(folder.glob("*.jsonl"))
    facts, missing_records = ([r for path in paths if path.name.startswith(MISSING_PREFIX) is missing
                               for r in read_records(path, f"{folder.name}/{path.name}", subfields, rejects)]
                              for missing in (False, True))
    for record in missing_records:
        if record.country is None:
            rejects.append(WebReject(record.file, record.line, "country", "a missing institution needs its country"))
    records = [*facts, *(r for r in missing_records if r.country)]
    resolver = PartnerResolver.from_rows(institutions)
    missing = _add_missing(records[len(facts):], institutions, resolver, taken,
                           country="", source=REFERENCE_WEB)  # every record here names its country
    attach, matched, unmatched = _match_records(facts, {r["id"]: r for r in institutions}, kz.merged_into,
                                                resolver, None)
    attach += missing.attach
    unmatched += missing.unmatched
    items_before = Counter(i["type"] for rows in kz.items.values() for i in rows)
    partnerships_before = len(kz.partnerships)
    duplicates, partners_how = _attach_facts(attach, resolver, kz)
    added_items = Counter(i["type"] for rows in kz.items.values() for i in rows) - items_before
    added_ties = kz.partnerships[partnerships_before:]
    countries = {r["id"]: r["country"] for r in institutions}
    with_facts = {institution_id for institution_id, record in attach if record.has_facts}
    return {
        "records_read": dict(sorted(Counter(r.file for r in records).items())),
        "matched": dict(sorted(matched.items())),
        "missing_institutions": {"matched": dict(sorted(missing.matched.items())), "created": len(missing.created),
                                 "created_by_country": dict(sorted(Counter(
                                     r["country"] for r in institutions if r["id"] in set(missing.created)).items())),
                                 "created_ids": sorted(missing.created)},
        "unmatched": unmatched,
        "institutions_with_facts_by_country": dict(sorted(Counter(countries[i] for i in with_facts).items())),
        "looked_up_without_facts": sum(1 for _, record in attach if not record.has_facts),
        "rejected": {"total": len(rejects), "list": [f"{r.file}:{r.row} {r.fact}: {r.reason}" for r in rejects]},
        "items_by_type": dict(sorted(added_items.items())),
        "duplicates_dropped": duplicates,
        "partnerships": {"total": len(added_ties),
                         "with_kazakh_institutions": sum(1 for p in added_ties if p["partner_country"] == KZ_COUNTRY),
                         "by_how": dict(sorted(partners_how.items()))},
    }


# Curated spellings of catalogue institutions (reference data: institution_id, name, evidence): partner names
# that the collected facts write otherwise, added as aliases so that they resolve (and search finds them).
NAME_VARIANTS = "name_variants.csv"


def _apply_name_variants(path: Path, institutions: list[dict[str, Any]], merged_into: Mapping[str, str]
                         ) -> list[str]:
    """Add each curated spelling of ``path`` to its institution's aliases (a merged-away id means its survivor).
    Returns the lines whose institution is not in this catalogue (a partial one, such as the tests' slice of
    the raw sources), for the build report."""
    by_id = {r["id"]: r for r in institutions}
    not_found = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line, variant in enumerate(csv.DictReader(handle), start=2):
            row = by_id.get(merged_into.get(variant["institution_id"], variant["institution_id"]))
            if row is None:
                not_found.append(f"{path.name}:{line}: no institution {variant['institution_id']!r}")
                continue
            _add_aliases(row, [variant["name"]])
    return not_found


def _reject_reason(reject: WebReject) -> str:
    """A reject's reason without the value it names, so the report can count rejects by kind."""
    reason = reject.reason.split(":")[0]
    for word in ("subfield", "country", "type", "url", "year", "years", "kind"):
        if reason.startswith(word + " "):
            return f"{reject.fact.split('[')[0]}: {word} invalid"
    return f"{reject.fact.split('[')[0]}: {reason}"


def _evidence_by_group(institutions: list[dict[str, Any]], groups: dict[str, frozenset[str]]) -> dict[str, Any]:
    """Per country group: institutions, and how many are known by research evidence, described only, or not."""
    by_group: dict[str, Counter[str]] = defaultdict(Counter)
    for row in institutions:
        by_group[_country_group(row["country"], groups)][row["evidence_level"]] += 1
    return {group: {"total": sum(levels.values()), **dict(sorted(levels.items()))}
            for group, levels in sorted(by_group.items())}


def _evidence_report(institutions: list[dict[str, Any]], types: dict[str, set[str]]) -> dict[str, Any]:
    """Per Central Asian country and China: institutions, universities, and how their research is known."""
    out: dict[str, Any] = {}
    for country in EVIDENCE_REPORT_COUNTRIES:
        rows = [r for r in institutions if r["country"] == country]
        levels = Counter(r["evidence_level"] for r in rows)
        by_type = Counter(t for r in rows for t in types.get(r["id"], ()))
        universities = [r for r in rows if r["kind"] == InstitutionKind.university.value]
        out[country] = {
            "total": len(rows),
            "universities": len(universities),
            "with_research_evidence": levels["research"],
            "described_only": levels["described"],
            "none": levels["none"],
            "institutions_with_type": dict(sorted(by_type.items())),
            "universities_by_level": dict(sorted(Counter(r["evidence_level"] for r in universities).items())),
        }
    return out


def build_catalogue(raw: Path, out: Path, *, reference_dir: Path = REFERENCE_DIR) -> dict[str, Any]:
    """Build the catalogue files from the raw sources in ``raw`` into ``out``; return the build report."""
    data = read_all(raw)
    logger.info("read %d source records, %d projects, %d participation rows",
                len(data.records), len(data.projects), len(data.participations))
    repaired = _repair_records(data.records)
    topics_rows = read_openalex_topics(raw / OPENALEX_TOPICS)
    with (reference_dir / "same_as.csv").open(encoding="utf-8", newline="") as handle:
        same_as = [(r["left"], r["right"], r["evidence"]) for r in csv.DictReader(handle)]
    clusters, merges = resolve(data.records, same_as=same_as)

    institutions: list[dict[str, Any]] = []
    pic_owner: dict[str, str] = {}
    taken: set[str] = set()
    rejected = list(data.rejected)
    for members in clusters:
        records = [data.records[i] for i in members]
        if all(r.source == "ror" and not r.active for r in records):
            rejected.append(Rejected("ror", records[0].key, "inactive in ROR, named by no other source"))
            continue
        row = _institution(records)
        row["id"] = _institution_id(row, taken)
        for record in records:
            if record.pic:
                pic_owner[record.pic] = row["id"]
        institutions.append(row)
    cities = {r["id"]: r["city"] for r in institutions}
    subfields = subfield_names(topics_rows)
    kz = _apply_kz_web(read_kz_web(raw, subfields, cities=cities), institutions, taken)
    variants_not_found = _apply_name_variants(reference_dir / NAME_VARIANTS, institutions, kz.merged_into)
    beyond = _apply_reference_web(reference_dir / REFERENCE_WEB, subfields, institutions, kz, taken)
    pic_owner = {pic: kz.merged_into.get(owner, owner) for pic, owner in pic_owner.items()}

    projects = {str(p["id"]): p for p in data.projects}
    participations: list[ParticipationRow] = []
    missing_projects: Counter[str] = Counter()
    for part in data.participations:
        if part.project_id in projects:
            participations.append(part)
        else:
            missing_projects[part.project_id] += 1
    for project_id, n in sorted(missing_projects.items()):
        rejected.append(Rejected("he_org", project_id, f"{n} participation rows of a project missing from "
                                 "he_projects.jsonl.gz"))

    by_institution: dict[str, list[dict[str, Any]]] = defaultdict(list)
    h2020_parts: dict[str, Counter[str]] = defaultdict(Counter)
    project_sets: dict[str, set[str]] = defaultdict(set)
    for part in participations:
        owner = pic_owner.get(part.pic)
        if owner is None or part.project_id in project_sets[owner]:
            continue
        project_sets[owner].add(part.project_id)
        project = projects[part.project_id]
        if project["programme"] == "HORIZON":
            by_institution[owner].append(project)
        elif project.get("programme_part"):
            h2020_parts[owner].update(str(project["programme_part"]).split(";"))
    types: dict[str, set[str]] = {}
    for row in institutions:
        own = sorted(by_institution.get(row["id"], []), key=lambda p: (p["start_date"] or "", p["id"]), reverse=True)
        items = kz.items.get(row["id"], [])  # in file order: a record lists its most evident fields first
        row["n_projects"] = len(project_sets.get(row["id"], ()))
        # an EU project counts as evidence when it has a text to embed (Horizon Europe: title and objective)
        types[row["id"]] = {i["type"] for i in items} | (
            {EvidenceType.eu_project.value} if any(p["title"] or p["objective"] for p in own) else set())
        row["has_research_evidence"] = bool(types[row["id"]])
        row["evidence_level"] = evidence_level(types[row["id"]]).value
        row["profile_derived"] = _profile(row, own, h2020_parts.get(row["id"], Counter()), items)
        row["profile_owner"] = None
        row["profile_owner_updated"] = None

    groups_spec = load_country_groups(reference_dir / "country_groups.json")
    groups = {key: expand_countries([f"@{key}"], groups_spec) for key in groups_spec}
    areas = load_priority_areas(reference_dir / "priority_areas.json")
    programmes = load_programmes(reference_dir / "programmes.json")
    paths = {path for p in data.projects for path in cast("list[str]", p.get("euroscivoc", []))}
    problems = check_references(areas, programmes, groups_spec, openalex_topics_csv=raw / OPENALEX_TOPICS,
                                euroscivoc_paths=paths)
    # A EuroSciVoc prefix that no project carries (yet) is worth a warning, not a failed build;
    # unknown OpenAlex ids, area keys or countries are errors.
    unused_paths = [p for p in problems if "matches no project path" in p]
    errors = [p for p in problems if p not in unused_paths]
    if errors:
        raise ValueError("reference data does not match the raw sources:\n" + "\n".join(errors))
    area_rows = [resolve_area(area, topics_rows=topics_rows) for area in areas]
    programme_rows = [
        {**p.model_dump(), "partner_countries": {role: sorted(expand_countries(entries, groups_spec))
                                                 for role, entries in p.partner_countries.items()}}
        for p in programmes
    ]

    merges = [*merges, *kz.merges]
    report = _report(data.counts, institutions, merges, rejected, participations, projects, groups, types)
    report["reference_warnings"] = unused_paths + variants_not_found
    report["mojibake_repaired"] = dict(sorted(repaired.items()))
    report["kz_public_web"] = kz.report
    report[REFERENCE_WEB] = beyond
    report["evidence"] = _evidence_report(institutions, types)
    report["evidence_by_country_group"] = _evidence_by_group(institutions, groups)
    calls = read_calls(raw / CALLS_SOURCE)  # open and forthcoming EU call topics, cleaned (seed_data/calls.py)
    report["calls"] = calls_report(calls)
    out.mkdir(parents=True, exist_ok=True)
    files.write_jsonl_gz(out / "institutions.jsonl.gz", sorted(institutions, key=lambda r: r["id"]))
    files.write_jsonl_gz(out / "projects.jsonl.gz", [_project_row(p) for _, p in sorted(projects.items())])
    part_rows = sorted((p.project_id, p.pic, p.role.value, pic_owner.get(p.pic, ""), p.activity_type or "",
                        p.country or "") for p in participations)
    files.write_csv_gz(out / "participations.csv.gz", PARTICIPATION_FIELDS,
                       [dict(zip(PARTICIPATION_FIELDS, row, strict=True)) for row in part_rows])
    files.write_csv_gz(out / "merges.csv.gz", MERGE_FIELDS, _merge_rows(merges))
    all_items = sorted((i for rows in kz.items.values() for i in rows), key=lambda i: i["id"])
    files.write_jsonl_gz(out / "evidence_items.jsonl.gz", [{k: i[k] for k in EVIDENCE_FIELDS} for i in all_items])
    all_partnerships = sorted(kz.partnerships, key=lambda p: p["id"])
    files.write_jsonl_gz(out / "partnerships.jsonl.gz",
                         [{k: p[k] for k in PARTNERSHIP_FIELDS} for p in all_partnerships])
    files.write_json(out / "priority_areas.json", area_rows)
    files.write_json(out / "programmes.json", programme_rows)
    files.write_json(out / "country_groups.json", {k: v.model_dump() for k, v in sorted(groups_spec.items())})
    files.write_jsonl_gz(out / CALLS_FILE, calls)
    files.write_json(out / "build_report.json", report)
    return report


PROJECT_FIELDS = ("id", "programme", "grant_id", "rcn", "acronym", "title", "objective", "keywords", "euroscivoc",
                  "call", "topic", "topic_title", "programme_part", "funding_scheme", "start_date", "end_date")


def _project_row(project: dict[str, Any]) -> dict[str, Any]:
    empty: dict[str, Any] = {"keywords": [], "euroscivoc": []}
    return {f: project.get(f, empty.get(f)) for f in PROJECT_FIELDS}


def _report(
    counts: dict[str, dict[str, int]],
    institutions: list[dict[str, Any]],
    merges: list[Merge],
    rejected: list[Rejected],
    participations: list[ParticipationRow],
    projects: dict[str, dict[str, Any]],
    groups: dict[str, frozenset[str]],
    types: dict[str, set[str]],
) -> dict[str, Any]:
    by_group: dict[str, Counter[str]] = defaultdict(Counter)
    for row in institutions:
        by_group[_country_group(row["country"], groups)][row["kind"]] += 1
    index = InstitutionIndex(
        SearchRow(r["id"], r["name"], r["aliases"], r["short_name"], r["domains"], r["n_projects"])
        for r in institutions
    )
    by_id = {r["id"]: r for r in institutions}
    named = []
    for query, country in NAMED_INSTITUTIONS:
        allowed = {r["id"] for r in institutions if r["country"] == country}
        hits = index.search(query, limit=1, allowed=allowed)
        if hits:
            hit = by_id[hits[0].id]
            named.append({"query": query, "country": country, "found": True, "id": hit["id"], "name": hit["name"],
                          "score": hits[0].score, "sources": sorted({p.split(":")[0] for p in hit["provenance"]})})
        else:
            named.append({"query": query, "country": country, "found": False})
    accepted = [m for m in merges if m.accepted]
    named_pics = {r["pic"] for r in institutions if r["pic"]}
    kz = [r for r in institutions if r["country"] == "KZ"]
    return {
        "sources": counts,
        "institutions": {
            "total": len(institutions),
            "by_country_group": {g: sum(c.values()) for g, c in sorted(by_group.items())},
            "by_country_group_and_kind": {g: dict(sorted(c.items())) for g, c in sorted(by_group.items())},
            "by_kind": dict(sorted(Counter(r["kind"] for r in institutions).items())),
            # Horizon Europe projects with text (the only project evidence before kz_public_web)
            "with_project_evidence": sum(EvidenceType.eu_project.value in types[r["id"]] for r in institutions),
            "with_any_evidence": sum(r["has_research_evidence"] for r in institutions),
            "by_evidence_level": dict(sorted(Counter(r["evidence_level"] for r in institutions).items())),
            "with_any_project": sum(r["n_projects"] > 0 for r in institutions),
            "kazakhstan": {"total": len(kz), "universities": sum(r["kind"] == "university" for r in kz),
                           "with_project_evidence": sum(EvidenceType.eu_project.value in types[r["id"]] for r in kz),
                           "by_evidence_level": dict(sorted(Counter(r["evidence_level"] for r in kz).items()))},
            "by_source": dict(sorted(Counter(s for r in institutions
                                             for s in {p.split(":")[0] for p in r["provenance"]}).items())),
        },
        "projects": dict(sorted(Counter(p["programme"] for p in projects.values()).items())),
        "participations": {
            "total": len(participations),
            "named": sum(1 for p in participations if p.pic in named_pics),
        },
        "merges": {
            "accepted_by_reason": dict(sorted(Counter(m.reason for m in accepted).items())),
            "refused": len(merges) - len(accepted),
            "refused_by_note": dict(sorted(Counter(m.note.split(" ")[0] for m in merges if not m.accepted).items())),
            "list": "merges.csv.gz",
        },
        "rejected": {
            "total": len(rejected),
            "by_reason": dict(sorted(Counter(f"{r.source}: {r.reason}" if "missing from" not in r.reason
                                             else f"{r.source}: participation rows of a project missing from "
                                                  "he_projects.jsonl.gz" for r in rejected).items())),
            "examples": [f"{r.source} {r.row}: {r.reason}" for r in rejected[:20]],
        },
        "named_institutions": named,
    }
