"""Readers for the raw public sources in ``../shared/data/raw`` (see its ``SOURCES.md``).

Each reader turns one source into plain records; identity resolution (``seed_data/resolve.py``) merges
them and ``seed_data/build.py`` writes the catalogue. Readers never invent values: a field a source
does not give stays empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import logging
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seed_data.countries import normalise_country
from seed_data.names import web_host
from seed_data.safe_text import http_url
from seed_data.tables import InstitutionKind, ParticipationRole

logger = logging.getLogger(__name__)

HE_ORGANISATIONS = "cordis_horizon_europe_x3ro/he_organizations.csv.gz"
HE_PROJECTS = "cordis_horizon_europe_x3ro/he_projects.jsonl.gz"
H2020_PARTICIPATIONS = "cordis_h2020_eunets/h2020.csv.gz"
H2020_PROGRAMME_PARTS = "cordis_h2020_eunets/programme_parts.csv.gz"
ECHE = "eche_erasmusdb/destinations.json"
ROR = "ror_records/ror_latest_subset_KZ_CA_BRI_EU.jsonl"
HIPO = "hipo_university_domains/world_universities_and_domains.json"
OPENALEX_TOPICS = "openalex_topics_lambdamusic/openalex_topics_flat_DERIVED.csv"

ACTIVITY_KIND = {
    "HES": InstitutionKind.university,
    "REC": InstitutionKind.research,
    "PRC": InstitutionKind.company,
    "PUB": InstitutionKind.public,
    "OTH": InstitutionKind.other,
}
# ROR types in order of precedence: an "education" + "funder" record is a university.
ROR_KIND = {
    "education": InstitutionKind.university,
    "facility": InstitutionKind.research,
    "government": InstitutionKind.public,
    "company": InstitutionKind.company,
    "healthcare": InstitutionKind.other,
    "nonprofit": InstitutionKind.other,
    "archive": InstitutionKind.other,
    "funder": InstitutionKind.other,
    "other": InstitutionKind.other,
}
CORDIS_ROLE = {
    "coordinator": ParticipationRole.coordinator,
    "participant": ParticipationRole.participant,
    "associatedPartner": ParticipationRole.associated_partner,
    # H2020's "partner" is a partner without EU funding, what Horizon Europe calls an associated partner.
    "partner": ParticipationRole.associated_partner,
    "thirdParty": ParticipationRole.third_party,
}


@dataclass
class SourceRecord:
    """One organisation as one source describes it."""

    key: str  # "<source>:<id in source>", e.g. "he_org:999845737"
    source: str  # he_org | eche | ror | hipo
    name: str  # the source's main name for it
    country: str
    names: list[str] = field(default_factory=list)  # every spelling the source gives, main name first
    acronyms: list[str] = field(default_factory=list)
    legal_name: str | None = None
    native_name: str | None = None
    city: str | None = None
    kind: InstitutionKind | None = None
    pic: str | None = None
    erasmus_code: str | None = None
    ror_id: str | None = None
    domains: list[str] = field(default_factory=list)
    website: str | None = None
    active: bool = True


@dataclass
class Rejected:
    """A source row left out of the catalogue, and why."""

    source: str
    row: str
    reason: str


@dataclass
class ParticipationRow:
    project_id: str
    pic: str
    role: ParticipationRole
    activity_type: str | None
    country: str | None


@dataclass
class SourceData:
    """Everything read from the raw folder."""

    records: list[SourceRecord]
    projects: list[dict[str, object]]
    participations: list[ParticipationRow]
    rejected: list[Rejected]
    counts: dict[str, dict[str, int]]


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from handle


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    yield from csv.DictReader(_open_text(path))


def _distinct(values: Iterable[str | None]) -> list[str]:
    """Non-empty values, stripped, first occurrence kept, in order."""
    seen: dict[str, None] = {}
    for value in values:
        if value and value.strip():
            seen.setdefault(" ".join(value.split()), None)
    return list(seen)


def _url(value: str | None) -> str | None:
    """The website as an http(s) URL (``https://`` added to a bare host); None if there is none or it is no
    such URL (a ``javascript:`` link, two addresses in one field): the console shows websites as links."""
    if not value or not value.strip():
        return None
    try:
        return http_url(value)
    except ValueError:
        return None


def read_he_organisations(raw: Path, rejected: list[Rejected]) -> tuple[list[SourceRecord], list[ParticipationRow]]:
    """Horizon Europe participants: one record per PIC (names as spelt most often first), one row per role."""
    by_pic: dict[str, list[dict[str, str]]] = defaultdict(list)
    participations: list[ParticipationRow] = []
    seen: set[tuple[str, str, str]] = set()
    for line_no, row in enumerate(_csv_rows(raw / HE_ORGANISATIONS), start=2):
        pic, role = row["organisationID"].strip(), CORDIS_ROLE.get(row["role"])
        if not pic.isdigit() or role is None:
            rejected.append(Rejected("he_org", f"line {line_no}", f"bad PIC {pic!r} or role {row['role']!r}"))
            continue
        by_pic[pic].append(row)
        key = ("HE-" + row["projectID"], pic, role.value)
        if key in seen:  # the same organisation listed twice in one role of one project
            continue
        seen.add(key)
        country = normalise_country(row["country"]) if row["country"].strip() else None
        participations.append(ParticipationRow(key[0], pic, role, row["activityType"] or None, country))

    records = []
    for pic, rows in sorted(by_pic.items()):
        countries = Counter(normalise_country(r["country"]) for r in rows if r["country"].strip())
        if not countries:
            rejected.append(Rejected("he_org", f"PIC {pic}", "no country in any row"))
            continue
        legal = [name for name, _ in Counter(r["legalName"].strip() for r in rows).most_common() if name]
        short = _distinct([r["shortName"] for r in rows])
        cities = Counter(r["city"].strip() for r in rows if r["city"].strip())
        types = Counter(r["activityType"] for r in rows if r["activityType"] in ACTIVITY_KIND)
        urls = _distinct([r["url"] for r in rows])
        records.append(
            SourceRecord(
                key=f"he_org:{pic}",
                source="he_org",
                name=legal[0] if legal else short[0],
                legal_name=legal[0] if legal else None,
                names=_distinct([*legal, *short]),
                acronyms=[s for s in short if len(s) <= 12 and " " not in s],
                country=countries.most_common(1)[0][0],
                city=cities.most_common(1)[0][0] if cities else None,
                kind=ACTIVITY_KIND[types.most_common(1)[0][0]] if types else None,
                pic=pic,
                website=_url(urls[0]) if urls else None,
                domains=_distinct([web_host(u) for u in urls]),
            )
        )
    return records, participations


def read_eche(raw: Path, rejected: list[Rejected]) -> list[SourceRecord]:
    """Erasmus charter (ECHE) holders: higher-education institutions with PIC and Erasmus code."""
    records = []
    for item_no, item in enumerate(json.loads((raw / ECHE).read_text(encoding="utf-8")), start=1):
        code, name = (item.get("erasmus_code") or "").strip(), (item.get("legal_name") or "").strip()
        pic = (item.get("pic") or "").strip()
        if not code or not name or not (item.get("country_cd") or "").strip():
            rejected.append(Rejected("eche", f"item {item_no}", "missing Erasmus code, name or country"))
            continue
        host = web_host(item.get("website_url"))
        records.append(
            SourceRecord(
                key=f"eche:{code}",
                source="eche",
                name=name,
                legal_name=name,
                names=[name],
                country=normalise_country(item["country_cd"]),
                city=(item.get("city") or "").strip() or None,
                kind=InstitutionKind.university,
                pic=pic if pic.isdigit() else None,
                erasmus_code=code,
                website=_url(item.get("website_url")),
                domains=[host] if host else [],
            )
        )
    return records


# Countries whose institutions' own names are written in a non-Latin script (Cyrillic, Han, Arabic, Greek,
# Hebrew, Armenian, Georgian, Thai, ...). Elsewhere a non-Latin ROR label (say the Russian name of an
# Estonian university) is a translation, not the native name, and stays an alias.
NON_LATIN_SCRIPT_COUNTRIES = frozenset(
    "KZ KG TJ RU BY UA BG RS MK MN CN TW HK MO JP KR KP GR CY IL AM GE IR AF PK IQ SY JO LB SA AE QA KW OM YE BH "
    "EG LY DZ MA TN SD IN BD NP LK TH LA KH MM ET".split()
)


def _non_latin(text: str) -> bool:
    """True for a name written in another script (Cyrillic, Chinese, Arabic...): the "native-script" name
    shown beside the Latin one. Latin-script labels in other languages are kept as aliases only."""
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def _ror_v2(item: dict) -> tuple[str, list[str], list[str], str | None, str | None, list[str]]:
    names = item.get("names") or []
    display = next((n["value"] for n in names if "ror_display" in n["types"]), names[0]["value"] if names else "")
    labels = [n["value"] for n in names if "acronym" not in n["types"]]
    acronyms = [n["value"] for n in names if "acronym" in n["types"]]
    native = next((n["value"] for n in names if "label" in n["types"] and _non_latin(n["value"])), None)
    locations = item.get("locations") or []
    city = locations[0]["geonames_details"].get("name") if locations else None
    links = [link["value"] for link in item.get("links") or [] if link.get("type") == "website"]
    return display, labels, acronyms, native, city, links


def _ror_v1(item: dict) -> tuple[str, list[str], list[str], str | None, str | None, list[str]]:
    labels = [lab["label"] for lab in item.get("labels") or []]
    native = next((lab["label"] for lab in item.get("labels") or [] if _non_latin(lab["label"])), None)
    addresses = item.get("addresses") or []
    city = addresses[0].get("city") if addresses else None
    return item["name"], [item["name"], *item.get("aliases", []), *labels], item.get("acronyms", []), native, city, [
        *item.get("links", [])
    ]


def read_ror(raw: Path, rejected: list[Rejected]) -> list[SourceRecord]:
    """ROR records, schema v1 (``name``/``labels``/``addresses``) or v2 (``names``/``locations``)."""
    records = []
    for line_no, line in enumerate(_open_text(raw / ROR), start=1):
        item = json.loads(line)
        ror_id = item["id"].rsplit("/", 1)[-1]
        if item.get("status") == "withdrawn":
            rejected.append(Rejected("ror", f"line {line_no} ({ror_id})", "record withdrawn by ROR"))
            continue
        display, labels, acronyms, native, city, links = _ror_v2(item) if "names" in item else _ror_v1(item)
        country = normalise_country(item["_country_code"])
        native = native if country in NON_LATIN_SCRIPT_COUNTRIES else None
        types = [t.lower() for t in item.get("types") or []]
        kind = next((ROR_KIND[t] for t in ROR_KIND if t in types), None)
        domains = _distinct([*(item.get("domains") or []), *(web_host(u) for u in links)])
        records.append(
            SourceRecord(
                key=f"ror:{ror_id}",
                source="ror",
                name=display,
                names=_distinct([display, *labels]),
                acronyms=_distinct(acronyms),
                native_name=native,
                country=country,
                city=city,
                kind=kind,
                ror_id=ror_id,
                website=_url(links[0]) if links else None,
                domains=domains,
                active=item.get("status", "active") == "active",
            )
        )
    return records


def read_hipo(raw: Path, rejected: list[Rejected]) -> list[SourceRecord]:
    """Hipo's world university list: names, countries and web domains."""
    records = []
    keys: set[str] = set()
    for item_no, item in enumerate(json.loads((raw / HIPO).read_text(encoding="utf-8")), start=1):
        name, code = (item.get("name") or "").strip(), (item.get("alpha_two_code") or "").strip()
        domains = _distinct([d.lower() for d in item.get("domains") or []])
        if not name or len(code) != 2:
            rejected.append(Rejected("hipo", f"item {item_no}", "missing name or country code"))
            continue
        # keyed by domain, which survives reordering of the list; the item number breaks the rare tie
        key = f"hipo:{domains[0]}" if domains else f"hipo:#{item_no}"
        key = key if key not in keys else f"{key}#{item_no}"
        keys.add(key)
        records.append(
            SourceRecord(
                key=key,
                source="hipo",
                name=name,
                names=[name],
                country=normalise_country(code),
                kind=InstitutionKind.university,
                website=_url((item.get("web_pages") or [None])[0]),
                domains=domains,
            )
        )
    return records


def _date(value: str | None) -> str | None:
    """ISO date, or None where the source leaves it empty or writes ``NA`` (the H2020 file does)."""
    if not value or value.strip() in ("", "NA"):
        return None
    return dt.date.fromisoformat(value[:10]).isoformat()


def read_he_projects(raw: Path) -> list[dict[str, object]]:
    """Horizon Europe projects with title, objective, keywords, EuroSciVoc paths, call and topic."""
    projects = []
    for line in _open_text(raw / HE_PROJECTS):
        item = json.loads(line)
        topic = next((p for p in item.get("programmes") or [] if p["type"] == "relatedTopic"), None)
        basis = sorted(p["code"] for p in item.get("programmes") or [] if p["type"] == "relatedLegalBasis")
        call = next((c["identifier"] for c in item.get("calls") or [] if c["type"] == "relatedMasterCall"), None)
        schemes = [s.strip("/") for s in item.get("fundingScheme") or [] if s and s.strip("/")]
        projects.append(
            {
                "id": "HE-" + item["id"],
                "programme": "HORIZON",
                "grant_id": item["id"],
                "rcn": item["rcn"],
                "acronym": item.get("acronym") or None,
                "title": (item.get("title") or "").strip() or None,
                "objective": (item.get("objective") or "").strip() or None,
                "keywords": _distinct((item.get("keywords") or "").split(",")),
                "euroscivoc": sorted({e["path"] for e in item.get("euroSciVoc") or [] if e.get("path")}),
                "call": call,
                "topic": topic["code"] if topic else None,
                "topic_title": topic["title"] if topic else None,
                "programme_part": basis[-1] if basis else None,
                "funding_scheme": schemes[0] if schemes else None,
                "start_date": _date(item.get("startDate")),
                "end_date": _date(item.get("endDate")),
            }
        )
    return sorted(projects, key=lambda p: str(p["id"]))


def read_h2020(raw: Path, rejected: list[Rejected]) -> tuple[list[dict[str, object]], list[ParticipationRow]]:
    """H2020 participations (PIC, role, dates; no names or texts) and one dated project per record number."""
    parts: dict[str, list[str]] = defaultdict(list)
    for row in _csv_rows(raw / H2020_PROGRAMME_PARTS):
        parts[row["rcn"]].append(row["programme_part"])
    projects: dict[str, dict[str, object]] = {}
    participations = []
    for line_no, row in enumerate(_csv_rows(raw / H2020_PARTICIPATIONS), start=2):
        role = CORDIS_ROLE.get(row["role"])
        if role is None or not row["pic"].isdigit():
            rejected.append(Rejected("h2020", f"line {line_no}", f"bad role {row['role']!r} or PIC"))
            continue
        project_id = "H2020-" + row["rcn"]
        projects.setdefault(
            project_id,
            {
                "id": project_id,
                "programme": "H2020",
                "rcn": row["rcn"],
                "programme_part": ";".join(sorted(set(parts.get(row["rcn"], [])))) or None,
                "start_date": _date(row["start_date"]),
                "end_date": _date(row["end_date"]),
            },
        )
        country = normalise_country(row["country"]) if row["country"].strip() else None
        participations.append(ParticipationRow(project_id, row["pic"], role, row["type"] or None, country))
    return sorted(projects.values(), key=lambda p: str(p["id"])), participations


def read_all(raw: Path) -> SourceData:
    """Read every source in ``raw``; counts per source go into the build report."""
    rejected: list[Rejected] = []
    he_records, he_parts = read_he_organisations(raw, rejected)
    eche = read_eche(raw, rejected)
    ror = read_ror(raw, rejected)
    hipo = read_hipo(raw, rejected)
    he_projects = read_he_projects(raw)
    h2020_projects, h2020_parts = read_h2020(raw, rejected)
    counts = {
        "he_organisations": {"participation_rows": len(he_parts), "organisations": len(he_records)},
        "he_projects": {"projects": len(he_projects)},
        "h2020": {"participation_rows": len(h2020_parts), "projects": len(h2020_projects),
                  "distinct_pics": len({p.pic for p in h2020_parts})},
        "eche": {"institutions": len(eche)},
        "ror": {"records": len(ror), "schema_v1": 0, "schema_v2": 0},
        "hipo": {"universities": len(hipo)},
    }
    for line in _open_text(raw / ROR):
        counts["ror"]["schema_v2" if '"names":' in line else "schema_v1"] += 1
    return SourceData(
        records=[*he_records, *eche, *ror, *hipo],
        projects=[*he_projects, *h2020_projects],
        participations=[*he_parts, *h2020_parts],
        rejected=rejected,
        counts=counts,
    )
