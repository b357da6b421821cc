"""Scoring and ranking on a tiny hand-written catalogue (vectors in 3 dimensions).

Scenario: a Kazakh university (KZ-U) asks for Horizon Europe partners in "water". Candidates: a Dutch
water institute with a strong water record (NL-W), a German AI lab (DE-A), an Italian university that
already works with KZ-U (IT-P), a Chinese university (CN-U, not eligible for Horizon Europe here) and a
Spanish company without any project text (ES-N).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from matcher.components import REGISTRY, Query
from matcher.engine import build_index
from matcher.ranking import eligible_rows
from matcher.suggest import Matcher, mmr_order
from matcher.types import COMPONENTS, ComponentWeights, ScoringProfile, SuggestionRequest, TiePreference

WATER, AI, OTHER = np.eye(3, dtype=np.float32)


def _inst(id_: str, country: str, kind: str = "university") -> dict:
    return {"id": id_, "name": id_, "country": country, "kind": kind}


def _proj(id_: str, year: int, title: str) -> dict:
    return {"id": id_, "programme": "HORIZON", "title": title, "start_date": dt.date(year, 1, 1), "keywords": [title]}


def _part(project: str, inst: str, role: str = "participant") -> dict:
    return {"project_id": project, "pic": inst, "institution_id": inst, "role": role}


@pytest.fixture
def index():
    institutions = [_inst("KZ-U", "KZ"), _inst("NL-W", "NL", "research"), _inst("DE-A", "DE"),
                    _inst("IT-P", "IT"), _inst("CN-U", "CN"), _inst("ES-N", "ES", "university")]
    projects = [_proj("P1", 2023, "river basin"), _proj("P2", 2022, "irrigation"), _proj("P3", 2023, "neural nets"),
                _proj("P4", 2021, "shared water project"), _proj("P5", 2024, "late project"),
                _proj("P6", 2020, "groundwater")]
    participations = [_part("P1", "NL-W", "coordinator"), _part("P2", "NL-W"), _part("P6", "NL-W"),
                      _part("P3", "DE-A"), _part("P4", "KZ-U"), _part("P4", "IT-P", "coordinator"),
                      _part("P5", "CN-U"), _part("P2", "IT-P"),
                      {"project_id": "P3", "pic": "999999999", "institution_id": None, "role": "participant"}]
    vectors = {"P1": WATER, "P2": (WATER + 0.2 * OTHER) / np.linalg.norm(WATER + 0.2 * OTHER), "P3": AI,
               "P4": (WATER + AI) / np.sqrt(2), "P5": WATER, "P6": WATER}
    programmes = [{"key": "horizon-europe", "family": "horizon",
                   "partner_countries": {"participant": ["DE", "ES", "IT", "NL"]},
                   "default_partner_kinds": ["university", "research"]}]
    return build_index(institutions=institutions, projects=projects, participations=participations,
                       project_vectors={k: v.astype(np.float32) for k, v in vectors.items()}, owner_vectors={},
                       areas=[{"key": "water", "name": "Water"}, {"key": "ai", "name": "AI"}],
                       area_vectors=np.stack([WATER, AI]), programmes=programmes)


PROFILE = ScoringProfile(weights=ComponentWeights(thematic=0.3, area_fit=0.3, complementarity=0.1,
                                                  track_record=0.2, network=0.1), mmr_lambda=1.0)


def _suggest(index, **request):
    return Matcher(index, embedder=None).suggest(  # type: ignore[arg-type]
        SuggestionRequest(programme="horizon-europe", **request), PROFILE)


def test_water_request_ranks_the_water_institute_first(index) -> None:
    response = _suggest(index, requester_id="KZ-U", areas=["water"])
    ids = [s.institution.id for s in response.data]
    assert ids[0] == "NL-W"
    assert "CN-U" not in ids  # China is not a Horizon Europe partner country in this fixture
    assert "KZ-U" not in ids  # never suggest the requester


def test_components_are_in_unit_interval_and_explanations_sum_to_score(index) -> None:
    response = _suggest(index, requester_id="KZ-U", areas=["water", "ai"], k=10)
    for suggestion in response.data:
        assert all(0.0 <= c.value <= 1.0 for c in suggestion.components)
        assert sum(c.contribution for c in suggestion.components) == pytest.approx(suggestion.score, abs=1e-3)
        assert sum(c.weight for c in suggestion.components) == pytest.approx(1.0)


def test_institution_without_evidence_is_flagged_and_not_scored_on_research(index) -> None:
    response = _suggest(index, requester_id="KZ-U", areas=["water"])
    es = next(s for s in response.data if s.institution.id == "ES-N")
    assert not es.has_research_evidence
    values = {c.name: c.value for c in es.components}
    assert values["thematic"] == values["area_fit"] == values["complementarity"] == 0.0
    assert "no research evidence" in es.reasons[0]


def test_existing_ties_can_be_excluded_or_preferred(index) -> None:
    neutral = _suggest(index, requester_id="KZ-U", areas=["water"])
    assert next(s for s in neutral.data if s.institution.id == "IT-P").existing_partner
    excluded = _suggest(index, requester_id="KZ-U", areas=["water"], new_partners_only=True)
    assert "IT-P" not in [s.institution.id for s in excluded.data]
    preferred = _suggest(index, requester_id="KZ-U", areas=["water"], ties=TiePreference.preferred)
    it = next(s for s in preferred.data if s.institution.id == "IT-P")
    assert {c.name: c.value for c in it.components}["network"] == 1.0
    assert it.evidence.n_joint_projects == 1 and it.evidence.joint_projects[0].id == "P4"


def test_shared_partner_shows_in_network_evidence(index) -> None:
    # KZ-U and NL-W share IT-P (P4 with KZ-U, P2 with NL-W)
    response = _suggest(index, requester_id="KZ-U", areas=["water"])
    nl = next(s for s in response.data if s.institution.id == "NL-W")
    assert [p.id for p in nl.evidence.shared_partners] == ["IT-P"]
    assert {c.name: c.value for c in nl.components}["network"] == 1.0


def test_as_of_cuts_projects_participations_and_graph(index) -> None:
    # the same rows cut at 2022-01-01 keep only P4 (2021) and P6 (2020)
    cut = build_index(
        institutions=[{"id": i.id, "name": i.name, "country": i.country, "kind": i.kind} for i in index.institutions],
        projects=[{"id": p.id, "programme": "HORIZON", "title": p.title, "start_date": p.start_date,
                   "keywords": p.keywords} for p in index.projects],
        participations=[_part("P1", "NL-W"), _part("P4", "KZ-U"), _part("P4", "IT-P"), _part("P6", "NL-W")],
        project_vectors={"P1": WATER, "P4": WATER, "P6": WATER}, owner_vectors={},
        areas=[{"key": "water", "name": "Water"}], area_vectors=np.stack([WATER]),
        programmes=[], as_of=dt.date(2022, 1, 1))
    assert [p.id for p in cut.projects] == ["P4", "P6"]
    assert cut.stats["projects"] == 2
    assert cut.has_evidence[cut.row_of["NL-W"]] and not cut.has_evidence[cut.row_of["DE-A"]]


def test_shuffled_candidates_give_the_same_ranking(index) -> None:
    first = [s.institution.id for s in _suggest(index, requester_id="KZ-U", areas=["water"]).data]
    rows = list(range(index.n))
    rng = np.random.default_rng(3)
    rng.shuffle(rows)
    infos = [index.institutions[r] for r in rows]
    shuffled = build_index(
        institutions=[{"id": i.id, "name": i.name, "country": i.country, "kind": i.kind} for i in infos],
        projects=[{"id": p.id, "programme": "HORIZON", "title": p.title, "start_date": p.start_date,
                   "keywords": p.keywords} for p in index.projects],
        participations=[_part(p, i, r) for p, i, r in [
            ("P1", "NL-W", "coordinator"), ("P2", "NL-W", "participant"), ("P6", "NL-W", "participant"),
            ("P3", "DE-A", "participant"), ("P4", "KZ-U", "participant"), ("P4", "IT-P", "coordinator"),
            ("P5", "CN-U", "participant"), ("P2", "IT-P", "participant")]],
        project_vectors={p.id: index.project_vectors[j] for j, p in enumerate(index.projects)}, owner_vectors={},
        areas=[{"key": "water", "name": "Water"}, {"key": "ai", "name": "AI"}],
        area_vectors=index.area_vectors, programmes=list(index.programmes.values()))
    second = [s.institution.id for s in _suggest(shuffled, requester_id="KZ-U", areas=["water"]).data]
    assert first == second


def test_mmr_with_lambda_one_is_plain_ranking_and_lower_lambda_diversifies() -> None:
    scores = np.array([0.9, 0.89, 0.5])
    vectors = np.stack([WATER, WATER, AI])
    countries = np.array(["NL", "NL", "DE"])
    assert mmr_order(scores, vectors, countries, n_select=3, mmr_lambda=1.0, max_per_country=None) == [0, 1, 2]
    assert mmr_order(scores, vectors, countries, n_select=3, mmr_lambda=0.5, max_per_country=None) == [0, 2, 1]
    assert mmr_order(scores, vectors, countries, n_select=3, mmr_lambda=1.0, max_per_country=1) == [0, 2]


def test_registry_has_every_component_in_order() -> None:
    assert tuple(REGISTRY) == COMPONENTS
    assert not Query(vector=None, area_cols=[]).focused


def test_adamic_adar_matches_its_definition(index) -> None:
    """Sum over shared partners z of 1 / log(degree(z)), computed naively on the fixture's graph."""
    from matcher.components import adamic_adar

    graph = index.graph.toarray() > 0
    degree = graph.sum(axis=1)
    for node in range(graph.shape[0]):
        expected = [sum(1 / np.log(degree[z]) for z in np.flatnonzero(graph[node] & graph[other]) if degree[z] >= 2)
                    for other in range(graph.shape[0])]
        assert adamic_adar(index, node) == pytest.approx(expected)


def test_tabulated_calibration_matches_interpolation(index) -> None:
    from matcher.engine import calibrate_thematic

    query = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    exact = calibrate_thematic(index.cosines(query).astype(np.float64), index.thematic_quantiles)
    assert index.calibrated_cosines(query) == pytest.approx(exact, abs=0.01)


def test_the_matcher_keeps_no_answers_and_ranks_the_same_twice(index) -> None:
    """One answer cache on the serving path: the API's (routes/suggestions.py); the matcher recomputes."""
    matcher = Matcher(index, embedder=None)  # type: ignore[arg-type]
    request = SuggestionRequest(programme="horizon-europe", requester_id="KZ-U", areas=["water"])
    first = matcher.suggest(request, PROFILE)
    again = matcher.suggest(request, PROFILE)
    assert again is not first and again == first


def test_history_signals(index) -> None:
    """Repeat partnership, regional experience and similar past projects on the fixture's history."""
    from matcher.ranking import component_values, resolve_query

    request = SuggestionRequest(programme="horizon-europe", requester_id="KZ-U", text="water", eligibility="all")
    query, _ = resolve_query(index, request, WATER)
    rows = np.arange(index.n)
    values = dict(zip(COMPONENTS, component_values(index, query, rows).T, strict=True))
    row = {info.id: i for i, info in enumerate(index.institutions)}
    # KZ-U and IT-P shared P4 (2021; the index's year is 2024, half-life 4 years): 1 - exp(-2^(-3/4))
    assert values["repeat_partnership"][row["IT-P"]] == pytest.approx(1 - np.exp(-(0.5 ** 0.75)))
    assert values["repeat_partnership"][row["NL-W"]] == 0
    # IT-P's P4 had a Kazakh partner; KZ-U's only partner there is Italian (EU): no regional experience
    assert values["regional_experience"][row["IT-P"]] > 0
    assert values["regional_experience"][row["KZ-U"]] == values["regional_experience"][row["NL-W"]] == 0
    # the past projects nearest "water" are NL-W's (P1, P6, P2 with IT-P, P5 with CN-U): NL-W has the most
    assert values["similar_projects"][row["NL-W"]] == 1.0
    assert 0 < values["similar_projects"][row["IT-P"]] < 1 and values["similar_projects"][row["DE-A"]] == 0
    assert values["similar_projects"][row["KZ-U"]] == 0  # the requester is never its own neighbour
    matcher = Matcher(index, embedder=None)  # type: ignore[arg-type]
    matcher.know_text_vectors({"water": WATER})  # as the evaluation hands its ideas' vectors over
    answer = matcher.suggest(SuggestionRequest(programme="horizon-europe", requester_id="KZ-U", text="water"), PROFILE)
    suggestion = next(s for s in answer.data if s.institution.id == "NL-W")
    assert [p.id for p in suggestion.evidence.similar_projects][:1] in (["P1"], ["P6"])


def test_areas_focus_both_sides_on_the_closest_evidence(index) -> None:
    """With areas, the requester's side is its evidence in them. KZ-U's only project, P4, is half water, half AI:
    below this catalogue's water floor (the 90th percentile of the items' cosines with water: 1.0 here), so KZ-U
    is compared through the water description, and the answer says so."""
    from matcher.ranking import focus_vector, resolve_query

    kz = index.row_of["KZ-U"]
    assert index.area_item_floor[index.area_keys.index("water")] == pytest.approx(1.0)
    focus, n_items = focus_vector(index, kz, [index.area_keys.index("water")])
    assert n_items == 0 and np.allclose(focus, WATER)
    request = SuggestionRequest(programme="horizon-europe", requester_id="KZ-U", areas=["water"])
    query, notes = resolve_query(index, request, None)
    assert query.focused and np.allclose(query.vector, WATER)
    assert notes == ["The requester has no research evidence in the requested areas: thematic similarity is "
                     "measured against the areas' descriptions."]
    no_areas, notes = resolve_query(index, request.model_copy(update={"areas": []}), None)
    assert not no_areas.focused and np.allclose(no_areas.vector, index.vectors[kz]) and notes == []


def test_focus_reads_the_evidence_in_the_areas_and_tops_it_up_with_their_description() -> None:
    """R has a water item (A) and an AI item with a little water in it (B). Against the catalogue's floors, A is
    water evidence and B is not: R's water side is A plus, for the four missing items, the water description;
    B does not count. B is below the AI floor too, so R's AI side is the AI description alone."""
    from matcher.ranking import N_FOCUS_ITEMS, focus_vector

    def unit(v: np.ndarray) -> np.ndarray:
        return (v / np.linalg.norm(v)).astype(np.float32)

    vectors = {"A": unit(WATER + 0.5 * OTHER), "B": unit(0.3 * WATER + AI)}
    vectors |= {f"AI{i}": AI for i in range(3)} | {f"O{i}": OTHER for i in range(5)}
    projects = [_proj(p, 2024, p) for p in vectors]
    participations = [_part("A", "R"), _part("B", "R")] + [_part(p, "X") for p in vectors if p not in "AB"]
    index = build_index(institutions=[_inst("R", "KZ"), _inst("X", "DE")], projects=projects,
                        participations=participations, project_vectors=vectors, owner_vectors={},
                        areas=[{"key": "water", "name": "Water"}, {"key": "ai", "name": "AI"}],
                        area_vectors=np.stack([WATER, AI]), programmes=[])
    # water cosines of the ten items: A 0.894, B 0.287, the others 0; the 90th percentile lies between A and B
    assert vectors["B"] @ WATER < index.area_item_floor[0] < vectors["A"] @ WATER
    r = index.row_of["R"]
    evidence, weights = index.evidence_of(r)
    weight_a = weights[[index.projects[e].id for e in evidence].index("A")]
    focus, n_items = focus_vector(index, r, [0])
    assert n_items == 1
    assert np.allclose(focus, unit(weight_a * vectors["A"] + (N_FOCUS_ITEMS - 1) * WATER), atol=1e-6)
    assert focus @ AI == 0  # B does not count
    ai_focus, ai_items = focus_vector(index, r, [1])
    assert ai_items == 0 and np.allclose(ai_focus, AI)


def test_an_innovation_action_admits_the_kinds_it_asks_for() -> None:
    """Under programme eligibility a call's action type adds the kinds its consortium rules ask for (an
    innovation action: companies and public bodies) to the programme's default kinds; other actions do not."""
    institutions = [_inst("DE-U", "DE"), _inst("DE-C", "DE", "company"), _inst("IT-G", "IT", "public"),
                    _inst("IT-O", "IT", "other")]
    index = build_index(institutions=institutions, projects=[], participations=[], project_vectors={},
                        owner_vectors={}, areas=[{"key": "water", "name": "Water"}], area_vectors=WATER[None, :],
                        programmes=[{"key": "horizon-europe", "family": "horizon",
                                     "partner_countries": {"participant": ["DE", "IT"]},
                                     "default_partner_kinds": ["university", "research"]}])

    def eligible(**request) -> set[str]:
        rows = eligible_rows(index, SuggestionRequest(programme="horizon-europe", text="x", **request),
                             requester_row=None)
        return {index.institutions[r].id for r in rows}

    assert eligible() == eligible(action_type="RIA") == {"DE-U"}
    assert eligible(action_type="IA") == {"DE-U", "DE-C", "IT-G"}
    assert eligible(action_type="IA", kinds=["company"]) == {"DE-C"}  # the request's own filter wins
    assert len(eligible(action_type="IA", eligibility="all")) == 4
