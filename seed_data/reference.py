"""Hand-curated reference data: priority areas, funding programmes and the country groups they refer to.

The JSON files in ``reference/`` are written by hand from the context texts and public programme rules
(each item names its ``sources``). This module loads them into pydantic models, expands ``@GROUP``
country references, checks every OpenAlex id, EuroSciVoc path and cross-reference against the raw
files, and resolves an area's ids into names for the processed catalogue.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from seed_data.countries import is_country

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).parent / "reference"
PRIORITY_AREAS_FILE = REFERENCE_DIR / "priority_areas.json"
PROGRAMMES_FILE = REFERENCE_DIR / "programmes.json"
COUNTRY_GROUPS_FILE = REFERENCE_DIR / "country_groups.json"

GROUP_PREFIX = "@"
Role = Literal["coordinator", "participant", "associated_partner"]
PartnerKind = Literal["university", "research", "company", "public", "other"]
Family = Literal["erasmus", "horizon", "bri", "bilateral"]

_KEY_PATTERN = r"^[a-z][a-z0-9-]*$"
_GROUP_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class PriorityAreaSpec(BaseModel):
    """A national research priority area and its mapping onto OpenAlex and EuroSciVoc.

    ``description`` is embedded and compared with project texts, so it is written in the research
    vocabulary of the area. ``openalex_topic_ids`` are the numeric part of OpenAlex topic ids
    (``T10320`` -> ``10320``); ``euroscivoc_paths`` are prefixes, each matching itself and its descendants.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=_KEY_PATTERN, max_length=40)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    openalex_subfield_ids: list[int] = Field(default_factory=list)
    openalex_topic_ids: list[int] = Field(default_factory=list)
    euroscivoc_paths: list[str] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)


class ProgrammeSpec(BaseModel):
    """A funding programme or cooperation track and who may take part in it, per role.

    ``partner_countries`` entries are ISO 3166-1 alpha-2 codes or ``@GROUP`` references to
    ``country_groups.json``; ``rules_as_of`` is the date the eligibility rules were taken as of.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=_KEY_PATTERN, max_length=40)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    family: Family
    rules_as_of: dt.date
    requester_countries: list[str] = Field(min_length=1)
    partner_countries: dict[Role, list[str]] = Field(min_length=1)
    priority_areas: list[str] = Field(default_factory=list)
    default_partner_kinds: list[PartnerKind] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)


class CountryGroup(BaseModel):
    """A named set of countries (``countries``: sorted, unique ISO 3166-1 alpha-2 codes) and its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    countries: list[str] = Field(min_length=1)
    as_of: dt.date
    source: str = Field(min_length=1)

    @field_validator("countries")
    @classmethod
    def _sorted_unique(cls, countries: list[str]) -> list[str]:
        if countries != sorted(set(countries)):
            raise ValueError("countries must be sorted and unique")
        return countries


_AREAS = TypeAdapter(list[PriorityAreaSpec])
_PROGRAMMES = TypeAdapter(list[ProgrammeSpec])
_GROUPS = TypeAdapter(dict[str, CountryGroup])


def load_priority_areas(path: Path = PRIORITY_AREAS_FILE) -> list[PriorityAreaSpec]:
    """Read and validate ``priority_areas.json`` (a JSON list of areas)."""
    return _AREAS.validate_json(path.read_bytes())


def load_programmes(path: Path = PROGRAMMES_FILE) -> list[ProgrammeSpec]:
    """Read and validate ``programmes.json`` (a JSON list of programmes)."""
    return _PROGRAMMES.validate_json(path.read_bytes())


def load_country_groups(path: Path = COUNTRY_GROUPS_FILE) -> dict[str, CountryGroup]:
    """Read and validate ``country_groups.json`` (a JSON object: group name -> group)."""
    return _GROUPS.validate_json(path.read_bytes())


def expand_countries(entries: Iterable[str], groups: Mapping[str, CountryGroup]) -> frozenset[str]:
    """The set of country codes that ``entries`` names, with each ``@GROUP`` replaced by its members.

    Raises ``ValueError`` naming the group when an ``@GROUP`` is not in ``groups``. Plain codes are
    passed through unchanged; ``check_references`` reports malformed ones.

    >>> g = {"CA": CountryGroup(name="x", countries=["KG", "KZ"], as_of="2025-01-01", source="y")}
    >>> sorted(expand_countries(["@CA", "IT"], g))
    ['IT', 'KG', 'KZ']
    """
    out: set[str] = set()
    for entry in entries:
        if entry.startswith(GROUP_PREFIX):
            name = entry[len(GROUP_PREFIX) :]
            if name not in groups:
                raise ValueError(f"unknown country group {entry!r}; known groups: {sorted(groups)}")
            out.update(groups[name].countries)
        else:
            out.add(entry)
    return frozenset(out)


def partner_countries(
    programme: ProgrammeSpec, groups: Mapping[str, CountryGroup], *, roles: Iterable[Role] | None = None
) -> frozenset[str]:
    """Countries a partner may come from in ``programme``, over ``roles`` (default: every role it lists)."""
    wanted: set[str] = set(programme.partner_countries if roles is None else roles)
    entries = [
        e
        for role, role_entries in programme.partner_countries.items()
        if role in wanted
        for e in role_entries
    ]
    return expand_countries(entries, groups)


def read_openalex_topics(path: Path) -> list[dict[str, str]]:
    """Rows of ``openalex_topics_flat_DERIVED.csv`` (``topic_id`` like ``T10320``, ``subfield_id``, ...)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_euroscivoc_paths(path: Path) -> set[str]:
    """Every distinct EuroSciVoc ``path`` tagged on a project in ``he_projects.jsonl.gz``."""
    paths: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            for tag in json.loads(line).get("euroSciVoc") or []:
                paths.add(tag["path"])
    return paths


def _topic_number(topic_id: str) -> int:
    """``"T10320"`` -> ``10320``."""
    return int(topic_id.removeprefix("T"))


def _prefix_matches(prefix: str, paths: set[str]) -> bool:
    """Whether ``prefix`` is one of ``paths`` or an ancestor of one (whole path segments only)."""
    return prefix in paths or any(p.startswith(prefix + "/") for p in paths)


def _country_problem(where: str, code: str) -> str | None:
    """A message if ``code`` is not an ISO 3166-1 alpha-2 code (EU protocol ``EL``/``UK`` included)."""
    if is_country(code):
        return None
    hint = {"EL": " (use GR)", "UK": " (use GB)"}.get(code, "")
    return f"{where}: {code!r} is not an ISO 3166-1 alpha-2 country code{hint}"


def check_references(
    areas: list[PriorityAreaSpec],
    programmes: list[ProgrammeSpec],
    groups: Mapping[str, CountryGroup],
    *,
    openalex_topics_csv: Path,
    euroscivoc_paths: set[str],
) -> list[str]:
    """Every problem in the reference data, as human-readable lines; an empty list means all is well.

    Checks: OpenAlex subfield and topic ids exist in ``openalex_topics_csv``; each EuroSciVoc prefix
    matches at least one of ``euroscivoc_paths``; keys are unique; programmes name only known areas
    and groups; every country code (in groups and programmes) is a valid ISO 3166-1 alpha-2 code.
    """
    rows = read_openalex_topics(openalex_topics_csv)
    subfield_ids = {int(r["subfield_id"]) for r in rows}
    topic_ids = {_topic_number(r["topic_id"]) for r in rows}
    problems: list[str] = []

    for kind, keys in (("area", [a.key for a in areas]), ("programme", [p.key for p in programmes])):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append(f"duplicate {kind} keys: {dupes}")

    for area in areas:
        where = f"area {area.key!r}"
        problems += [
            f"{where}: unknown OpenAlex subfield id {s}"
            for s in area.openalex_subfield_ids
            if s not in subfield_ids
        ]
        problems += [
            f"{where}: unknown OpenAlex topic id {t}" for t in area.openalex_topic_ids if t not in topic_ids
        ]
        problems += [
            f"{where}: EuroSciVoc prefix {p!r} matches no project path"
            for p in area.euroscivoc_paths
            if not _prefix_matches(p, euroscivoc_paths)
        ]

    for name, group in groups.items():
        if not _GROUP_NAME.match(name):
            problems.append(f"group {name!r}: name must be upper-case letters, digits and '_'")
        problems += [p for c in group.countries if (p := _country_problem(f"group {name!r}", c))]

    area_keys = {a.key for a in areas}
    for prog in programmes:
        where = f"programme {prog.key!r}"
        problems += [
            f"{where}: unknown priority area {k!r}; known: {sorted(area_keys)}"
            for k in prog.priority_areas
            if k not in area_keys
        ]
        problems += [p for c in prog.requester_countries if (p := _country_problem(f"{where} requester", c))]
        for role, entries in prog.partner_countries.items():
            for entry in entries:
                if entry.startswith(GROUP_PREFIX):
                    if entry[len(GROUP_PREFIX) :] not in groups:
                        problems.append(
                            f"{where} {role}: unknown country group {entry!r}; known: {sorted(groups)}"
                        )
                elif p := _country_problem(f"{where} {role}", entry):
                    problems.append(p)

    for line in problems:
        logger.warning("reference data: %s", line)
    return problems


def resolve_area(area: PriorityAreaSpec, *, topics_rows: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    """``area`` as a plain dict with its OpenAlex ids resolved to names, for the processed catalogue.

    ``openalex_subfields`` becomes ``[{"id", "name"}]`` and ``openalex_topics`` ``[{"id", "name",
    "subfield_id"}]``, in the order the area lists them. ``topics_rows`` are rows of the OpenAlex topics
    CSV (see ``read_openalex_topics``). Raises ``ValueError`` naming any id not found.
    """
    subfield_names: dict[int, str] = {}
    topics: dict[int, dict[str, Any]] = {}
    for row in topics_rows:
        subfield_names[int(row["subfield_id"])] = row["subfield_name"]
        number = _topic_number(row["topic_id"])
        topics[number] = {"id": number, "name": row["topic_name"], "subfield_id": int(row["subfield_id"])}

    missing = [f"subfield {s}" for s in area.openalex_subfield_ids if s not in subfield_names]
    missing += [f"topic {t}" for t in area.openalex_topic_ids if t not in topics]
    if missing:
        raise ValueError(f"area {area.key!r}: OpenAlex ids not found: {', '.join(missing)}")

    return {
        "key": area.key,
        "name": area.name,
        "description": area.description,
        "openalex_subfields": [{"id": s, "name": subfield_names[s]} for s in area.openalex_subfield_ids],
        "openalex_topics": [topics[t] for t in area.openalex_topic_ids],
        "euroscivoc_paths": list(area.euroscivoc_paths),
        "sources": list(area.sources),
    }
