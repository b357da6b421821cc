"""``POST /weights/estimate`` and ``POST /weights/what-if``: unsaved weights (the console's sliders), on the
mini catalogue (tests/api/conftest.py). Its one validation query is UPGRADE (2024, coordinated by CNR; NU and
Tsukuba are the truth); the default profiles are created at start-up."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from matcher.profiles import load_default_profiles
from matcher.quick_eval import NOTE

PROBLEM_JSON = "application/problem+json"
HE_WEIGHTS = {"thematic": 0.35, "area_fit": 0.2, "complementarity": 0.1, "track_record": 0.2, "network": 0.15}
# the shipped erasmus-mobility default, as unsaved parameters
EM_DEFAULT = {"programme": "erasmus-mobility", **load_default_profiles()["erasmus-mobility"].model_dump(
    mode="json", include={"weights", "mmr_lambda", "max_per_country", "ties"})}


def _problem(response: Response, status: int, field: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert field in str(body["detail"]), body
    return body


def test_estimate_reports_sample_metrics_published_and_sweep(office_client: TestClient) -> None:
    weights = {**HE_WEIGHTS, "network": 0.5}
    response = office_client.post("/weights/estimate", json={
        "programme": "horizon-europe", "weights": weights, "ties": "neutral",
        "sweep": {"component": "network", "metric": "ndcg@10", "steps": 11}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sample"] == {"task": "project_idea", "n_queries": 1, "cutoff": "2024-01-01",
                              "until": "2025-01-01", "note": NOTE}
    assert set(body["metrics"]) == {"recall@10", "recall@50", "ndcg@10", "mrr"}
    assert body["metrics"]["recall@50"] == 1.0  # NU and Tsukuba among 7 institutions
    assert body["published"]["profile"] == "horizon-europe-default:1"
    sweep = body["sweep"]
    assert (sweep["component"], sweep["metric"], len(sweep["points"])) == ("network", "ndcg@10", 11)
    assert sweep["points"][0]["weight"] == 0.0 and sweep["points"][-1]["weight"] == pytest.approx(sum(weights.values()))
    assert body["seconds"] >= 0
    # the published profile's own weights give its figures; the sample is built once per matcher
    sample = office_client.app.state.validation_sample[1]  # type: ignore[attr-defined]
    same = office_client.post("/weights/estimate", json={"programme": "horizon-europe", "weights": HE_WEIGHTS})
    assert same.json()["metrics"] == same.json()["published"]["metrics"] and same.json()["sweep"] is None
    assert office_client.app.state.validation_sample[1] is sample  # type: ignore[attr-defined]


def test_estimate_rejects_bad_weights_programme_and_sweep_naming_the_field(office_client: TestClient) -> None:
    def post(**changes: object) -> Response:
        return office_client.post("/weights/estimate",
                                  json={"programme": "horizon-europe", "weights": HE_WEIGHTS, **changes})

    _problem(post(weights={**HE_WEIGHTS, "network": -0.1}), 422, "weights")
    _problem(post(weights=dict.fromkeys(HE_WEIGHTS, 0.0)), 422, "weights")
    _problem(post(weights={"novelty": 1.0}), 422, "weights")
    _problem(post(programme="astrology"), 422, "programme")
    _problem(post(ties="sometimes"), 422, "ties")
    _problem(post(sweep={"component": "network", "steps": 1}), 422, "sweep.steps")
    _problem(post(sweep={"component": "novelty"}), 422, "sweep.component")
    _problem(post(weights={"network": 1.0}, sweep={"component": "network"}), 422, "sweep.component")
    assert TestClient(office_client.app).post("/weights/estimate", json={
        "programme": "horizon-europe", "weights": HE_WEIGHTS}).status_code == 401


def test_what_if_with_unsaved_parameters_against_the_published_profile(office_client: TestClient) -> None:
    same = office_client.post("/weights/what-if", json={"a": None, "b": EM_DEFAULT, "k": 3})
    assert same.status_code == 200, same.text
    body = same.json()
    assert body["parameters"]["a"] == "erasmus-mobility-default:1"
    assert (body["parameters"]["b"], body["parameters"]["b_id"]) == ("unsaved:0", 0)
    assert body["parameters"]["identical"] and body["metrics_b"] is None
    assert body["rankings"]["n_requesters"] >= 1
    assert all(r["overlap"] == 1.0 for r in body["rankings"]["requesters"])
    track_only = {**EM_DEFAULT, "weights": {"track_record": 1.0}, "mmr_lambda": 1.0}
    changed = office_client.post("/weights/what-if", json={"a": "erasmus-mobility-default", "b": track_only,
                                                            "areas": ["water"], "k": 3})
    assert changed.status_code == 200, changed.text
    parameters = changed.json()["parameters"]
    assert not parameters["identical"]
    assert {w["component"]: w["b_normalised"] for w in parameters["weights"]}["track_record"] == 1.0
    # the GET answers the same shape
    assert set(changed.json()) == set(office_client.get("/weights/what-if", params={
        "a": "erasmus-mobility-default:1", "b": "erasmus-mobility-default:1", "k": 3}).json())


def test_what_if_with_unsaved_parameters_names_bad_fields(office_client: TestClient) -> None:
    def post(a: str | None = None, areas: list[str] | None = None, **changes: object) -> Response:
        return office_client.post("/weights/what-if", json={"a": a, "b": {**EM_DEFAULT, **changes},
                                                            "areas": areas or []})

    _problem(post(programme="astrology"), 422, "b.programme")
    _problem(post(weights={"thematic": -1.0}), 422, "b.weights")
    _problem(post(mmr_lambda=2.0), 422, "b.mmr_lambda")
    _problem(post(areas=["astrology"]), 422, "areas")
    _problem(post(a="no-such-profile"), 404, "no-such-profile")
    _problem(post(a="Not A Ref"), 422, "a")
