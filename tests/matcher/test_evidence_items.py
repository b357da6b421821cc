"""Typed evidence items, their weights, known partnerships as edges, and the in-place refresh of one
institution, on a tiny hand-written catalogue (vectors in 3 dimensions).

Scenario: a Kazakh university (KZ-U) with one EU project; a Kazakh institute (KZ-D) known only from a research
field on a web page ("described"); a Chinese university (CN-U) with a national project and a publication; a
German university (DE-A) with an AI project; a partnership KZ-U -> CN-U (MoU) and one to a partner that resolved
to no institution.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from pydantic import ValidationError

from matcher.engine import build_index, refresh_institutions
from matcher.evidence import EVIDENCE_WEIGHTS_FILE, EvidenceWeights, item_weights, load_evidence_weights, recency
from matcher.suggest import Matcher, RequestError
from matcher.types import ComponentWeights, ScoringProfile, SuggestionRequest

WATER, AI, OTHER = np.eye(3, dtype=np.float32)
WEIGHTS = load_evidence_weights()


def _inst(id_: str, country: str) -> dict:
    return {"id": id_, "name": id_, "country": country, "kind": "university"}


def _item(id_: str, inst: str, type_: str, year: int | None, title: str) -> dict:
    return {"id": id_, "institution_id": inst, "type": type_, "title": title, "text": title, "year": year,
            "source": f"https://example.org/{id_}"}


INSTITUTIONS = [_inst("KZ-U", "KZ"), _inst("KZ-D", "KZ"), _inst("CN-U", "CN"), _inst("DE-A", "DE")]
ITEMS = [_item("i1", "KZ-D", "research_field", None, "Water Science and Technology"),
         _item("i2", "CN-U", "national_project", 2024, "river basin"),
         _item("i3", "CN-U", "publication", 2023, "irrigation canals")]
ITEM_VECTORS = {"i1": WATER, "i2": WATER, "i3": (WATER + 0.3 * OTHER) / np.linalg.norm(WATER + 0.3 * OTHER)}
PARTNERSHIPS = [
    {"id": "t1", "institution_id": "KZ-U", "partner_id": "CN-U", "type": "mou", "year": 2019,
     "source": "https://example.org/mou", "description": "memorandum"},
    {"id": "t2", "institution_id": "KZ-U", "partner_id": None, "type": "dual_degree", "year": 2020,
     "source": "https://example.org/dd", "description": None},
]
PROGRAMMES = [{"key": "bri", "family": "bri", "partner_countries": {"participant": ["CN", "DE", "KZ"]},
               "default_partner_kinds": ["university"]}]


def _index(items=ITEMS, partnerships=PARTNERSHIPS, programmes=PROGRAMMES, **kwargs):
    projects = [{"id": "P1", "programme": "HORIZON", "title": "water", "start_date": dt.date(2023, 1, 1)},
                {"id": "P2", "programme": "HORIZON", "title": "ai", "start_date": dt.date(2022, 1, 1)}]
    participations = [{"project_id": "P1", "pic": "1", "institution_id": "KZ-U", "role": "participant"},
                      {"project_id": "P2", "pic": "2", "institution_id": "DE-A", "role": "participant"}]
    return build_index(institutions=INSTITUTIONS, projects=projects, participations=participations,
                       project_vectors={"P1": WATER, "P2": AI}, owner_vectors={},
                       items=items, item_vectors=ITEM_VECTORS, partnerships=partnerships,
                       areas=[{"key": "water", "name": "Water"}, {"key": "ai", "name": "AI"}],
                       area_vectors=np.stack([WATER, AI]), programmes=programmes, **kwargs)


def test_the_shipped_weights_cover_every_type_and_undated_items_never_count_as_recent() -> None:
    years = np.array([2026.0, 2023.0, 1990.0, np.nan])
    factors = recency(years, reference_year=2026, recency=WEIGHTS.recency)
    assert factors[0] == 1.0
    assert factors[1] == pytest.approx(0.5 ** (3 / WEIGHTS.recency.half_life_years))
    assert factors[2] == factors[3] == WEIGHTS.recency.floor  # old ones and undated ones: the floor
    weights = item_weights(np.array(["research_field", "publication"]), np.array([2026.0, 2026.0]),
                           reference_year=2026, weights=WEIGHTS)
    assert list(weights) == [WEIGHTS.types["research_field"], WEIGHTS.types["publication"]]


def test_weights_missing_a_type_or_a_tie_are_refused() -> None:
    raw = json.loads(EVIDENCE_WEIGHTS_FILE.read_text())
    del raw["types"]["publication"]
    with pytest.raises(ValidationError, match="publication"):
        EvidenceWeights.model_validate({k: v for k, v in raw.items() if not k.startswith("_")})


def test_items_give_evidence_vectors_and_strengths_to_institutions_without_projects() -> None:
    index = _index()
    kz_d, cn = index.row_of["KZ-D"], index.row_of["CN-U"]
    assert index.has_evidence[kz_d] and index.has_evidence[cn]
    assert np.allclose(index.vectors[kz_d], WATER)
    water = index.area_keys.index("water")
    # a dated national project outweighs an undated web field: CN-U is stronger in water than KZ-D
    assert index.raw_strength[cn, water] > index.raw_strength[kz_d, water]
    assert index.stats["evidence_items"] == 3


def test_type_weights_move_the_profile_vector() -> None:
    items = [_item("a", "KZ-D", "research_field", 2025, "water"), _item("b", "KZ-D", "national_project", 2025, "ai")]
    vectors = {"a": WATER, "b": AI}
    base = build_index(institutions=INSTITUTIONS, projects=[], participations=[], project_vectors={},
                       owner_vectors={}, items=items, item_vectors=vectors, areas=[{"key": "w", "name": "W"}],
                       area_vectors=np.stack([WATER]), programmes=PROGRAMMES)
    row = base.row_of["KZ-D"]
    # national_project (1.0) outweighs research_field (0.6): the vector leans towards AI
    assert base.vectors[row] @ AI > base.vectors[row] @ WATER
    heavy_fields = WEIGHTS.model_copy(update={"types": {**WEIGHTS.types, "research_field": 3.0}})
    reweighted = build_index(institutions=INSTITUTIONS, projects=[], participations=[], project_vectors={},
                             owner_vectors={}, items=items, item_vectors=vectors, areas=[{"key": "w", "name": "W"}],
                             area_vectors=np.stack([WATER]), programmes=PROGRAMMES, weights=heavy_fields)
    assert reweighted.vectors[row] @ WATER > reweighted.vectors[row] @ AI


def test_a_cut_leaves_out_undated_and_later_items_and_ties() -> None:
    cut = _index(as_of=dt.date(2024, 1, 1))
    assert [i.id for i in cut.items] == ["i3"]  # i1 undated, i2 from 2024
    assert [t.id for t in cut.ties] == ["t1"]  # 2019 < 2024; t2 names no institution anyway


def test_known_partnerships_are_edges_flagged_and_explained_with_their_source() -> None:
    index = _index()
    kz, cn = index.row_of["KZ-U"], index.row_of["CN-U"]
    assert index.graph[kz, cn] == WEIGHTS.ties["mou"]
    assert [t.id for t in index.ties] == ["t1"]  # the unresolved partner makes no edge
    profile = ScoringProfile(weights=ComponentWeights(thematic=1, area_fit=1, complementarity=0, track_record=0,
                                                      network=1), mmr_lambda=1.0)
    response = Matcher(index, embedder=None).suggest(  # type: ignore[arg-type]
        SuggestionRequest(programme="bri", requester_id="KZ-U", areas=["water"]), profile)
    china = next(s for s in response.data if s.institution.id == "CN-U")
    assert china.existing_partner
    assert [(t.type, t.year, t.source) for t in china.evidence.known_partnerships] == [
        ("mou", 2019, "https://example.org/mou")]
    assert any("known partnership: mou (2019)" in r for r in china.reasons)
    assert {i.type for i in china.evidence.matching_items} == {"national_project", "publication"}
    assert all(i.source for i in china.evidence.matching_items)


def test_refreshing_one_institution_matches_a_full_build_for_it_and_leaves_the_others() -> None:
    before = _index()
    new_items = [*ITEMS, _item("i4", "KZ-D", "publication", 2025, "neural networks")]
    vectors = {**ITEM_VECTORS, "i4": AI}
    full = build_index(institutions=INSTITUTIONS, projects=[], participations=[], project_vectors={},
                       owner_vectors={}, items=new_items, item_vectors=vectors, partnerships=PARTNERSHIPS,
                       areas=[{"key": "water", "name": "Water"}, {"key": "ai", "name": "AI"}],
                       area_vectors=np.stack([WATER, AI]), programmes=PROGRAMMES)
    refreshed = refresh_institutions(before, ["KZ-D"], institutions=[], items=[i for i in new_items
                                                                               if i["institution_id"] == "KZ-D"],
                                     item_vectors=vectors, owner_vectors={}, partnerships=PARTNERSHIPS)
    row = before.row_of["KZ-D"]
    assert np.allclose(refreshed.vectors[row], full.vectors[row], atol=1e-6)
    assert np.allclose(refreshed.raw_strength[row], full.raw_strength[row])
    assert refreshed.vectors[row] @ AI > before.vectors[row] @ AI  # the AI publication pulls it towards AI
    others = [r for r in range(before.n) if r != row]
    assert np.array_equal(refreshed.vectors[others], before.vectors[others])
    assert np.array_equal(refreshed.area_strength[others], before.area_strength[others])
    assert before.items is not refreshed.items and len(before.items) == 3  # the served index is untouched
    # and the suggestions that depend on it change: KZ-D now answers an AI request
    profile = ScoringProfile(weights=ComponentWeights(thematic=1, area_fit=1, complementarity=0, track_record=0,
                                                      network=0), mmr_lambda=1.0)
    request = SuggestionRequest(programme="bri", requester_id="DE-A", areas=["ai"], k=3)
    first = [Matcher(i, embedder=None).suggest(request, profile).data[0].institution.id  # type: ignore[arg-type]
             for i in (before, refreshed)]
    assert first[0] != "KZ-D" and first[1] == "KZ-D"


def test_area_strengths_list_the_items_behind_them_with_sources() -> None:
    strengths = Matcher(_index(), embedder=None).area_strengths("CN-U")  # type: ignore[arg-type]
    water = next(a for a in strengths if a.key == "water")
    assert [e.id for e in water.evidence] == ["i2", "i3"]
    assert water.evidence[0].source == "https://example.org/i2" and water.evidence[0].type == "national_project"


def test_the_belt_and_road_track_record_counts_partnerships_with_other_bri_countries_not_eu_projects() -> None:
    index = _index()
    kz, cn, de = (index.row_of[i] for i in ("KZ-U", "CN-U", "DE-A"))
    # KZ-U recorded an MoU with CN-U (both count it) and a dual degree with a US partner in no row (US is not
    # a Belt-and-Road country in this fixture's programme): DE-A's EU project counts for nothing here
    assert index.bri_record[kz] > 0 and index.bri_record[cn] > 0 and index.bri_record[de] == 0
    assert index.track_record[de] > 0  # ... while it is DE-A's EU track record
    profile = ScoringProfile(weights=ComponentWeights(thematic=0, area_fit=0, complementarity=0, track_record=1,
                                                      network=0), mmr_lambda=1.0)
    response = Matcher(index, embedder=None).suggest(  # type: ignore[arg-type]
        SuggestionRequest(programme="bri", requester_id="KZ-D", areas=["water"]), profile)
    assert response.data[0].institution.id in ("CN-U", "KZ-U")
    assert any(r.startswith("Belt-and-Road cooperation") for r in response.data[0].reasons)
    china = next(s for s in response.data if s.institution.id == "CN-U")
    # the reasons cite the evidence closest to the request (the areas' description here: water)
    assert any(r.startswith('closest evidence: national project "river basin" (2024), source https://example.org/i2')
               for r in china.reasons)


def test_the_erasmus_track_record_counts_erasmus_partnerships_abroad_and_the_charter() -> None:
    cbhe = {"id": "t3", "institution_id": "CN-U", "partner_id": "DE-A", "type": "erasmus_cbhe", "year": 2022,
            "source": "https://example.org/cbhe", "description": None}
    index = _index(partnerships=[*PARTNERSHIPS, cbhe])
    kz, cn, de = (index.row_of[i] for i in ("KZ-U", "CN-U", "DE-A"))
    # an MoU or a dual degree is no Erasmus+ experience; the CBHE project counts for both sides
    assert index.erasmus_record[kz] == 0 and index.erasmus_record[cn] > 0 and index.erasmus_record[de] > 0
    assert index.track_record[cn] == 0  # no EU project: before, CN-U had no Erasmus+ record at all
    erasmus = [{"key": "cbhe", "family": "erasmus", "partner_countries": {"participant": ["CN", "DE", "KZ"]},
                "default_partner_kinds": ["university"]}]
    index = _index(partnerships=[*PARTNERSHIPS, cbhe], programmes=erasmus)
    profile = ScoringProfile(weights=ComponentWeights(thematic=0, area_fit=0, complementarity=0, track_record=1,
                                                      network=0), mmr_lambda=1.0)
    response = Matcher(index, embedder=None).suggest(  # type: ignore[arg-type]
        SuggestionRequest(programme="cbhe", requester_id="KZ-D", areas=["water"]), profile)
    values = {s.institution.id: next(c.value for c in s.components if c.name == "track_record")
              for s in response.data}
    assert index.erasmus_record[cn] > 0  # no charter in this fixture: all of CN-U's value is its CBHE project
    assert values["CN-U"] == pytest.approx(0.5 * index.erasmus_record[cn])
    assert values["KZ-U"] == pytest.approx(0.5 * index.track_record[kz])  # its EU project, no Erasmus+ tie


def test_regions_restrict_candidates_in_one_filter() -> None:
    matcher = Matcher(_index(), embedder=None)  # type: ignore[arg-type]
    profile = ScoringProfile(weights=ComponentWeights(thematic=1, area_fit=1, complementarity=0, track_record=0,
                                                      network=0), mmr_lambda=1.0)

    def countries(**filters: object) -> set[str]:
        request = SuggestionRequest(programme="bri", requester_id="KZ-U", areas=["water"], **filters)
        return {s.institution.country for s in matcher.suggest(request, profile).data}

    assert countries(regions=["CENTRAL_ASIA"]) == {"KZ"}
    assert countries(regions=["CENTRAL_ASIA"], countries=["CN"]) == {"KZ", "CN"}  # either
    with pytest.raises(RequestError, match="unknown region"):
        countries(regions=["ATLANTIS"])
