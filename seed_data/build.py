"""Build the shipped catalogue (``seed_data/data/``) from the raw public sources, deterministically.

``build_catalogue(raw, out)`` reads every source (``sources.py``), merges records into institutions
(``resolve.py``), attaches projects and participations, writes a profile text per institution from its
real project evidence, resolves the priority areas and programmes (``reference.py``), and writes the
files plus a build report. Same input, byte-identical output: everything is sorted, and nothing carries
a timestamp.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from seed_data import files
from seed_data.names import smart_title
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
from seed_data.tables import InstitutionKind

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


def _profile(row: dict[str, Any], projects: list[dict[str, Any]], h2020_parts: Counter[str]) -> str:
    """Profile text from real evidence only: subjects, keywords, then recent projects, bounded in length."""
    where = ", ".join(p for p in [row["city"], row["country"]] if p)
    head = f"{row['name']} ({row['kind']}, {where})."
    if not projects and not h2020_parts:
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
    text = " ".join(parts)
    for project in projects:  # already most recent first
        objective = " ".join((project["objective"] or "").split())
        if len(objective) > OBJECTIVE_EXCERPT_CHARS:
            objective = objective[:OBJECTIVE_EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
        entry = f" Project {project['acronym'] or project['id']} ({(project['start_date'] or '')[:4]}): " \
                f"{project['title']}. {objective}"
        if len(text) + len(entry) > PROFILE_MAX_CHARS:
            break
        text += entry
    return text


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


def build_catalogue(raw: Path, out: Path, *, reference_dir: Path = REFERENCE_DIR) -> dict[str, Any]:
    """Build the catalogue files from the raw sources in ``raw`` into ``out``; return the build report."""
    data = read_all(raw)
    logger.info("read %d source records, %d projects, %d participation rows",
                len(data.records), len(data.projects), len(data.participations))
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
    for row in institutions:
        own = sorted(by_institution.get(row["id"], []), key=lambda p: (p["start_date"] or "", p["id"]), reverse=True)
        row["n_projects"] = len(project_sets.get(row["id"], ()))
        row["has_research_evidence"] = bool(own)
        row["profile_derived"] = _profile(row, own, h2020_parts.get(row["id"], Counter()))
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
    topics_rows = read_openalex_topics(raw / OPENALEX_TOPICS)
    area_rows = [resolve_area(area, topics_rows=topics_rows) for area in areas]
    programme_rows = [
        {**p.model_dump(), "partner_countries": {role: sorted(expand_countries(entries, groups_spec))
                                                 for role, entries in p.partner_countries.items()}}
        for p in programmes
    ]

    report = _report(data.counts, institutions, merges, rejected, participations, projects, groups)
    report["reference_warnings"] = unused_paths
    out.mkdir(parents=True, exist_ok=True)
    files.write_jsonl_gz(out / "institutions.jsonl.gz", sorted(institutions, key=lambda r: r["id"]))
    files.write_jsonl_gz(out / "projects.jsonl.gz", [_project_row(p) for _, p in sorted(projects.items())])
    part_rows = sorted((p.project_id, p.pic, p.role.value, pic_owner.get(p.pic, ""), p.activity_type or "",
                        p.country or "") for p in participations)
    files.write_csv_gz(out / "participations.csv.gz", PARTICIPATION_FIELDS,
                       [dict(zip(PARTICIPATION_FIELDS, row, strict=True)) for row in part_rows])
    files.write_csv_gz(out / "merges.csv.gz", MERGE_FIELDS, _merge_rows(merges))
    files.write_json(out / "priority_areas.json", area_rows)
    files.write_json(out / "programmes.json", programme_rows)
    files.write_json(out / "country_groups.json", {k: v.model_dump() for k, v in sorted(groups_spec.items())})
    files.write_json(out / "build_report.json", report)
    return report


PROJECT_FIELDS = ("id", "programme", "grant_id", "rcn", "acronym", "title", "objective", "keywords", "euroscivoc",
                  "call", "topic", "topic_title", "programme_part", "start_date", "end_date")


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
            "with_project_evidence": sum(r["has_research_evidence"] for r in institutions),
            "with_any_project": sum(r["n_projects"] > 0 for r in institutions),
            "kazakhstan": {"total": len(kz), "universities": sum(r["kind"] == "university" for r in kz),
                           "with_project_evidence": sum(r["has_research_evidence"] for r in kz)},
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
