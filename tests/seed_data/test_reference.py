"""Tests for the hand-curated reference data (priority areas, programmes, country groups).

Every id and path is checked against the real raw files, which CI keeps at ``../shared/data/raw``
relative to the repository root.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seed_data.reference import (
    REFERENCE_DIR,
    CountryGroup,
    PriorityAreaSpec,
    ProgrammeSpec,
    check_references,
    expand_countries,
    load_country_groups,
    load_priority_areas,
    load_programmes,
    partner_countries,
    read_euroscivoc_paths,
    read_openalex_topics,
    resolve_area,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
RAW = SHARED / "data" / "raw"
CONTEXT = SHARED / "context"
TOPICS_CSV = RAW / "openalex_topics_lambdamusic" / "openalex_topics_flat_DERIVED.csv"
HE_PROJECTS = RAW / "cordis_horizon_europe_x3ro" / "he_projects.jsonl.gz"

REQUIRED_AREAS = {
    "ai",
    "water",
    "biotech",
    "green-energy",
    "food-agri",
    "energy-security",
    "environment-climate",
    "advanced-materials",
    "space",
    "digital",
}
REQUIRED_PROGRAMMES = {"erasmus-cbhe", "erasmus-mobility", "horizon-europe", "bri", "ca-italy"}


@pytest.fixture(scope="module")
def areas() -> list[PriorityAreaSpec]:
    return load_priority_areas(REFERENCE_DIR / "priority_areas.json")


@pytest.fixture(scope="module")
def programmes() -> dict[str, ProgrammeSpec]:
    return {p.key: p for p in load_programmes(REFERENCE_DIR / "programmes.json")}


@pytest.fixture(scope="module")
def groups() -> dict[str, CountryGroup]:
    return load_country_groups(REFERENCE_DIR / "country_groups.json")


@pytest.fixture(scope="module")
def euroscivoc() -> set[str]:
    return read_euroscivoc_paths(HE_PROJECTS)


def test_required_areas_present_with_real_descriptions(areas: list[PriorityAreaSpec]) -> None:
    by_key = {a.key: a for a in areas}
    assert REQUIRED_AREAS <= by_key.keys()
    for area in areas:
        # Embedded against project texts: two paragraphs of research vocabulary, not a label.
        assert len(area.description) >= 400, area.key
        assert len(area.description.split()) >= 60, area.key
        assert area.openalex_subfield_ids, area.key
        assert len(area.openalex_topic_ids) >= 5, area.key
        assert area.euroscivoc_paths, area.key


def test_required_programmes_present(programmes: dict[str, ProgrammeSpec]) -> None:
    assert REQUIRED_PROGRAMMES <= programmes.keys()
    for prog in programmes.values():
        assert "KZ" in prog.requester_countries, prog.key


def test_context_sources_exist(areas: list[PriorityAreaSpec], programmes: dict[str, ProgrammeSpec]) -> None:
    """Every source that names a context text names one that exists."""
    cited = [s for item in [*areas, *programmes.values()] for s in item.sources if s.endswith(".txt")]
    assert cited
    missing = sorted({s for s in cited if not (CONTEXT / s).is_file()})
    assert not missing


def test_all_references_resolve_against_raw_files(
    areas: list[PriorityAreaSpec],
    programmes: dict[str, ProgrammeSpec],
    groups: dict[str, CountryGroup],
    euroscivoc: set[str],
) -> None:
    problems = check_references(
        areas, list(programmes.values()), groups, openalex_topics_csv=TOPICS_CSV, euroscivoc_paths=euroscivoc
    )
    assert problems == []


def test_check_references_reports_bad_ids_paths_areas_and_codes(
    areas: list[PriorityAreaSpec], programmes: dict[str, ProgrammeSpec], groups: dict[str, CountryGroup]
) -> None:
    bad_area = areas[0].model_copy(
        update={
            "openalex_subfield_ids": [9999],
            "openalex_topic_ids": [1],
            "euroscivoc_paths": ["/natural sciences/computer and information"],  # not a whole segment
        }
    )
    bad_prog = programmes["bri"].model_copy(
        update={
            "priority_areas": ["no-such-area"],
            "requester_countries": ["UK"],
            "partner_countries": {"coordinator": ["@NOPE", "EL", "kz"]},
        }
    )
    esv = {"/natural sciences/computer and information sciences/artificial intelligence"}
    problems = check_references(
        [bad_area], [bad_prog], groups, openalex_topics_csv=TOPICS_CSV, euroscivoc_paths=esv
    )
    text = "\n".join(problems)
    for fragment in (
        "subfield id 9999",
        "topic id 1",
        "EuroSciVoc prefix",
        "'no-such-area'",
        "'@NOPE'",
        "'UK'",
        "use GB",
        "'EL'",
        "'kz'",
    ):
        assert fragment in text
    assert len(problems) == 8


def test_resolve_area_names_ids(areas: list[PriorityAreaSpec]) -> None:
    rows = read_openalex_topics(TOPICS_CSV)
    ai = next(a for a in areas if a.key == "ai")
    resolved = resolve_area(ai, topics_rows=rows)
    assert {"id": 1702, "name": "Artificial Intelligence"} in resolved["openalex_subfields"]
    assert [t["id"] for t in resolved["openalex_topics"]] == ai.openalex_topic_ids
    assert all(t["name"] for t in resolved["openalex_topics"])
    assert resolved["euroscivoc_paths"] == ai.euroscivoc_paths
    with pytest.raises(ValueError, match="topic 1"):
        resolve_area(ai.model_copy(update={"openalex_topic_ids": [1]}), topics_rows=rows)


def test_country_groups(groups: dict[str, CountryGroup]) -> None:
    assert {"EU27", "HE_ASSOCIATED", "ERASMUS_PROGRAMME", "CENTRAL_ASIA", "BRI"} <= groups.keys()
    eu = set(groups["EU27"].countries)
    assert len(eu) == 27 and "GR" in eu and "GB" not in eu
    assert set(groups["ERASMUS_PROGRAMME"].countries) == eu | {"IS", "LI", "NO", "MK", "RS", "TR"}
    assert groups["CENTRAL_ASIA"].countries == ["KG", "KZ", "TJ", "TM", "UZ"]
    assert {"NO", "IS", "GB", "TR", "UA"} <= set(groups["HE_ASSOCIATED"].countries)
    assert not eu & set(groups["HE_ASSOCIATED"].countries)
    bri = set(groups["BRI"].countries)
    assert {"CN", "KZ", "PK", "RU"} <= bri
    assert not {"IT", "PA", "US", "DE"} & bri  # Italy and Panama withdrew; US and DE never signed


def test_expand_countries_resolves_groups(groups: dict[str, CountryGroup]) -> None:
    got = expand_countries(["@CENTRAL_ASIA", "IT", "KZ"], groups)
    assert got == frozenset({"KG", "KZ", "TJ", "TM", "UZ", "IT"})
    assert expand_countries([], groups) == frozenset()


def test_expand_countries_unknown_group_raises(groups: dict[str, CountryGroup]) -> None:
    with pytest.raises(ValueError, match="@ASEAN"):
        expand_countries(["@EU27", "@ASEAN"], groups)


def test_country_group_must_be_sorted() -> None:
    with pytest.raises(ValueError, match="sorted"):
        CountryGroup(name="x", countries=["KZ", "KG"], as_of="2025-01-01", source="y")


def test_horizon_europe_partners(
    programmes: dict[str, ProgrammeSpec], groups: dict[str, CountryGroup]
) -> None:
    countries = partner_countries(programmes["horizon-europe"], groups)
    assert {"DE", "FR", "NO", "IS", "TR", "GB"} <= countries
    assert not {"KZ", "CN", "RU", "US"} & countries


def test_bri_partners_include_china(
    programmes: dict[str, ProgrammeSpec], groups: dict[str, CountryGroup]
) -> None:
    assert "CN" in partner_countries(programmes["bri"], groups)


def test_ca_italy_partners_are_italian(
    programmes: dict[str, ProgrammeSpec], groups: dict[str, CountryGroup]
) -> None:
    prog = programmes["ca-italy"]
    assert "IT" in partner_countries(prog, groups, roles=["coordinator"])
    assert "IT" in partner_countries(prog, groups, roles=["participant"])
    assert set(prog.requester_countries) == set(groups["CENTRAL_ASIA"].countries)


def test_erasmus_partners(programmes: dict[str, ProgrammeSpec], groups: dict[str, CountryGroup]) -> None:
    cbhe = partner_countries(programmes["erasmus-cbhe"], groups)
    assert {"DE", "NO", "TR", "KZ", "UZ"} <= cbhe
    assert "CN" not in cbhe and "GB" not in cbhe
    mobility = partner_countries(programmes["erasmus-mobility"], groups)
    assert mobility == frozenset(groups["ERASMUS_PROGRAMME"].countries)
