"""``/weights`` and ``/feedback`` on the mini catalogue (tests/api/conftest.py), suggestions scored with the
published or a named profile version, and the ``partnermatch weights`` commands.

The app creates the shipped default profiles at start-up (``matcher/data/default_profiles.json``); the mini
catalogue has two programmes, ``ca-italy`` and ``erasmus-mobility`` (Italian partners only for ca-italy).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.auth import API_KEY_HEADER
from api.cli import app as cli_app
from api.db import migrate
from matcher.profiles import load_default_profiles
from matcher.types import COMPONENTS
from seed_data.tables import ApiKey, Feedback, WeightProfileVersion

PROBLEM_JSON = "application/problem+json"
EM = "erasmus-mobility-default"
NU = "pic-953676162"
UNICAM = "pic-999845737"
runner = CliRunner()


@pytest.fixture
def officer(client: TestClient, api_keys: dict[str, str]) -> TestClient:
    """A client sending an officer key, on the started app."""
    return TestClient(client.app, headers={API_KEY_HEADER: api_keys["officer"]})


def _problem(response: Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert (body["status"], body["type"]) == (status, "about:blank")
    return body


def _stored(engine: Engine, name: str) -> list[tuple[int, dict[str, float], float, bool]]:
    with Session(engine) as session:
        rows = session.exec(select(WeightProfileVersion).where(WeightProfileVersion.name == name)).all()
        return sorted((r.version, dict(r.weights), r.mmr_lambda, r.published) for r in rows)


def _key_id(engine: Engine, name: str) -> int | None:
    with Session(engine) as session:
        return session.exec(select(ApiKey.id).where(ApiKey.name == name)).one()


# --- reading ----------------------------------------------------------------------------------------------


def test_defaults_are_listed_as_published_version_1(office_client: TestClient) -> None:
    body = office_client.get("/weights").json()
    shipped = load_default_profiles()
    assert body["count"] == len(shipped)
    assert [p["name"] for p in body["data"]] == sorted(f"{k}-default" for k in shipped)
    for profile in body["data"]:
        assert (profile["version"], profile["published"], profile["published_version"], profile["n_versions"],
                profile["author"]) == (1, True, 1, 1, "system")
        assert profile["created"].endswith("Z")
    em = office_client.get(f"/weights/{EM}").json()
    assert em["weights"] == shipped["erasmus-mobility"].weights.model_dump()
    assert (em["mmr_lambda"], em["max_per_country"], em["ties"]) == (0.7, 3, "neutral")


def test_unknown_profiles_and_versions_are_404_problems(office_client: TestClient) -> None:
    assert _problem(office_client.get("/weights/moon-default"), 404)["detail"] == \
        "No weight profile with name 'moon-default'."
    _problem(office_client.get("/weights/moon-default/versions"), 404)
    problem = _problem(office_client.get(f"/weights/{EM}/versions/7"), 404)
    assert f"{EM}:7" in str(problem["detail"])
    _problem(office_client.get("/weights/Not%20A%20Name"), 422)
    _problem(office_client.get(f"/weights/{EM}/versions/0"), 422)


# --- changing ---------------------------------------------------------------------------------------------


def test_patch_adds_a_version_and_keeps_the_old_one(officer: TestClient, catalogue_engine: Engine) -> None:
    before = _stored(catalogue_engine, EM)
    response = officer.patch(f"/weights/{EM}", json={"weights": {"thematic": 0.5}, "max_per_country": None,
                                                      "comment": "thematic fit first, no cap"})
    assert response.status_code == 200, response.text
    v2 = response.json()
    assert (v2["version"], v2["published"], v2["author"], v2["comment"]) == (
        2, False, "test officer", "thematic fit first, no cap")
    assert v2["key_id"] == _key_id(catalogue_engine, "test officer")
    assert v2["weights"] == {**before[0][1], "thematic": 0.5}
    assert v2["max_per_country"] is None
    assert _stored(catalogue_engine, EM)[0] == before[0]  # version 1 is never overwritten
    versions = officer.get(f"/weights/{EM}/versions").json()
    assert [v["version"] for v in versions["data"]] == [1, 2] and versions["count"] == 2
    assert officer.get(f"/weights/{EM}/versions/1").json()["weights"] == before[0][1]
    listed = {p["name"]: p for p in officer.get("/weights").json()["data"]}[EM]
    assert (listed["version"], listed["published"], listed["published_version"]) == (2, False, 1)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"weights": {"citations": 0.3}, "comment": "x"}, "citations"),
        ({"weights": {"network": -0.2}, "comment": "x"}, "-0.2"),
        ({"weights": dict.fromkeys(("thematic", "area_fit", "complementarity", "track_record", "network"), 0)},
         "comment"),
        ({"weights": dict.fromkeys(COMPONENTS, 0), "comment": "all zero"}, "positive"),
        ({"mmr_lambda": 2, "comment": "x"}, "mmr_lambda"),
        ({"ties": "always", "comment": "x"}, "ties"),
        ({"ties": None, "comment": "x"}, "ties"),
    ],
)
def test_invalid_patches_are_422_problems_naming_the_problem_and_change_nothing(
    officer: TestClient, catalogue_engine: Engine, body: dict[str, object], named: str
) -> None:
    before = _stored(catalogue_engine, EM)
    problem = _problem(officer.patch(f"/weights/{EM}", json=body), 422)
    assert named in str(problem["detail"])
    assert problem["errors"]
    assert _stored(catalogue_engine, EM) == before


def test_unknown_component_problem_lists_the_allowed_ones(officer: TestClient) -> None:
    problem = _problem(officer.patch(f"/weights/{EM}", json={"weights": {"citations": 0.3}, "comment": "x"}), 422)
    assert problem["detail"] == f"body field 'weights': unknown component(s) ['citations']; allowed: {list(COMPONENTS)}"
    assert problem["errors"] == [{"loc": ["body", "weights"], "msg": str(problem["detail"]).split(": ", 1)[1],
                                  "type": "value_error"}]


def test_create_then_publish_leaves_one_published_profile_per_programme(
    officer: TestClient, catalogue_engine: Engine
) -> None:
    body = {"name": "em-network", "programme": "erasmus-mobility", "weights": {"thematic": 0.3, "network": 0.7},
            "ties": "preferred", "comment": "existing partners first"}
    created = officer.post("/weights", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["published"], created.json()["ties"]) == (1, False, "preferred")
    _problem(officer.post("/weights", json=body), 409)
    _problem(officer.post("/weights", json={**body, "name": "compare"}), 422)
    _problem(officer.post("/weights", json={**body, "name": "em-moon", "programme": "moon-programme"}), 422)
    published = officer.post("/weights/em-network/versions/1/publish")
    assert published.status_code == 200 and published.json()["published"] is True
    with Session(catalogue_engine) as session:
        rows = session.exec(select(WeightProfileVersion).where(WeightProfileVersion.programme == "erasmus-mobility",
                                                               WeightProfileVersion.published)).all()
        assert [(r.name, r.version) for r in rows] == [("em-network", 1)]
    assert officer.get(f"/weights/{EM}").json()["published"] is False
    assert officer.get("/weights/ca-italy-default").json()["published"] is True  # another programme: untouched
    _problem(officer.post(f"/weights/{EM}/versions/5/publish"), 404)


def test_rollback_adds_a_published_version_equal_to_the_old_one(officer: TestClient, catalogue_engine: Engine) -> None:
    officer.patch(f"/weights/{EM}", json={"weights": {"network": 0.6}, "comment": "v2"})
    officer.post(f"/weights/{EM}/versions/2/publish")
    response = officer.post(f"/weights/{EM}/rollback", json={"to_version": 1, "comment": "v2 favoured one hub"})
    assert response.status_code == 201, response.text
    v3 = response.json()
    v1 = officer.get(f"/weights/{EM}/versions/1").json()
    assert (v3["version"], v3["published"], v3["comment"], v3["author"]) == (3, True, "v2 favoured one hub",
                                                                           "test officer")
    for field in ("weights", "mmr_lambda", "max_per_country", "ties", "programme"):
        assert v3[field] == v1[field], field
    assert [(v, p) for v, _, _, p in _stored(catalogue_engine, EM)] == [(1, False), (2, False), (3, True)]
    problem = _problem(officer.post(f"/weights/{EM}/rollback", json={"to_version": 9, "comment": "x"}), 422)
    assert "to_version" in str(problem["detail"])
    _problem(officer.post("/weights/moon-default/rollback", json={"to_version": 1, "comment": "x"}), 404)
    _problem(officer.post(f"/weights/{EM}/rollback", json={"to_version": 1}), 422)  # a comment is required


def test_compare_reports_the_parameter_differences(officer: TestClient) -> None:
    officer.patch(f"/weights/{EM}", json={"weights": {"thematic": 0.7}, "mmr_lambda": 0.9, "comment": "v2"})
    body = officer.get("/weights/compare", params={"a": f"{EM}:1", "b": EM}).json()
    assert (body["a"], body["b"], body["identical"]) == (f"{EM}:1", f"{EM}:2", False)
    thematic = next(w for w in body["weights"] if w["component"] == "thematic")
    shipped = load_default_profiles()["erasmus-mobility"].weights.thematic
    assert (thematic["a"], thematic["b"], thematic["changed"]) == (shipped, 0.7, True)
    assert {p["parameter"]: (p["a"], p["b"]) for p in body["parameters"] if p["changed"]} == {"mmr_lambda": (0.7, 0.9)}
    same = officer.get("/weights/compare", params={"a": f"{EM}:1", "b": f"{EM}:1"}).json()
    assert same["identical"] is True
    _problem(officer.get("/weights/compare", params={"a": f"{EM}:1", "b": "moon:1"}), 404)
    problem = _problem(officer.get("/weights/compare", params={"a": f"{EM}:x", "b": EM}), 422)
    assert "query parameter 'a'" in str(problem["detail"])


# --- suggestions and feedback -----------------------------------------------------------------------------


def test_suggestions_use_the_published_version_or_the_one_named(officer: TestClient) -> None:
    request = {"requester_id": NU, "programme": "erasmus-mobility", "areas": ["ai"], "k": 3}
    v1 = officer.get(f"/weights/{EM}/versions/1").json()
    first = officer.post("/suggestions", json=request).json()
    assert first["profile_version_id"] == v1["id"]
    v2 = officer.patch(f"/weights/{EM}", json={"weights": {"network": 0.0, "track_record": 0.0}, "mmr_lambda": 1.0,
                                               "comment": "research fit only"}).json()
    assert officer.post("/suggestions", json=request).json()["profile_version_id"] == v1["id"]  # v2 unpublished
    named = officer.post("/suggestions", json={**request, "profile": EM}).json()  # the latest version
    assert named["profile_version_id"] == v2["id"]
    assert (named["profile"]["weights"], named["profile"]["mmr_lambda"]) == (v2["weights"], 1.0)
    officer.post(f"/weights/{EM}/versions/2/publish")
    assert officer.post("/suggestions", json=request).json()["profile_version_id"] == v2["id"]
    pinned = officer.post("/suggestions", json={**request, "profile": f"{EM}:1"}).json()
    assert pinned["profile_version_id"] == v1["id"]
    assert pinned["profile"]["weights"] == v1["weights"] and pinned["profile"]["max_per_country"] == 3
    assert pinned["data"] == first["data"]
    problem = _problem(officer.post("/suggestions", json={**request, "profile": f"{EM}:9"}), 422)
    assert "profile" in str(problem["detail"])
    _problem(officer.post("/suggestions", json={**request, "profile": "Not A Profile"}), 422)


def test_a_profile_made_for_another_programme_is_noted(office_client: TestClient) -> None:
    body = office_client.post("/suggestions", json={"text": "water management", "programme": "erasmus-mobility",
                                                    "profile": "bri-default:1", "k": 2}).json()
    assert any("bri-default:1" in note and "made for bri" in note for note in body["notes"])


def test_feedback_is_stored_with_the_version_and_summarised_per_version(
    officer: TestClient, office_client: TestClient, catalogue_engine: Engine
) -> None:
    suggestion = office_client.post("/suggestions", json={"requester_id": NU, "programme": "erasmus-mobility",
                                                          "areas": ["ai"], "k": 3}).json()
    v1_id = suggestion["profile_version_id"]
    partner = suggestion["data"][0]["institution"]["id"]
    v2 = officer.patch(f"/weights/{EM}", json={"mmr_lambda": 0.5, "comment": "v2"}).json()
    reports = [(v1_id, partner, "contacted"), (v1_id, partner, "accepted"), (v1_id, UNICAM, "rejected"),
               (v2["id"], UNICAM, "contacted")]
    for version_id, institution, status in reports:
        response = office_client.post("/feedback", json={
            "requester_id": NU, "institution_id": institution, "programme": "erasmus-mobility",
            "profile_version_id": version_id, "status": status, "note": "after the info day"})
        assert response.status_code == 201, response.text
        assert (response.json()["profile_version_id"], response.json()["status"]) == (version_id, status)
    with Session(catalogue_engine) as session:
        rows = session.exec(select(Feedback)).all()
        assert {r.key_id for r in rows} == {_key_id(catalogue_engine, "test office")}
        assert [(r.profile_version_id, r.institution_id, r.status) for r in rows] == reports
    summary = office_client.get("/feedback/summary", params={"name": EM}).json()
    assert [(s["version"], s["counts"], s["total"]) for s in summary["data"]] == [
        (1, {"contacted": 1, "accepted": 1, "rejected": 1}, 3),
        (2, {"contacted": 1, "accepted": 0, "rejected": 0}, 1),
    ]
    everything = office_client.get("/feedback/summary").json()
    assert everything["count"] == len(load_default_profiles()) + 1
    _problem(office_client.get("/feedback/summary", params={"name": "moon-default"}), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"institution_id": "pic-000000000"}, "institution_id"),
        ({"profile_version_id": 999}, "profile_version_id"),
        ({"status": "ignored"}, "status"),
        ({"programme": "moon-programme"}, "programme"),
    ],
)
def test_feedback_naming_something_unknown_is_a_422(
    office_client: TestClient, catalogue_engine: Engine, change: dict[str, object], field: str
) -> None:
    version_id = office_client.get(f"/weights/{EM}").json()["id"]
    body = {"institution_id": UNICAM, "programme": "erasmus-mobility", "profile_version_id": version_id,
            "status": "contacted", **change}
    problem = _problem(office_client.post("/feedback", json=body), 422)
    assert field in str(problem["detail"])
    with Session(catalogue_engine) as session:
        assert session.exec(select(Feedback)).all() == []


# --- the weights commands ---------------------------------------------------------------------------------


@pytest.fixture
def cli_db(cli_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A fresh SQLite file with every table; the commands create the default profiles themselves."""
    monkeypatch.setenv("USER", "aigerim")
    monkeypatch.setenv("LOGNAME", "aigerim")
    migrate(cli_engine)
    return cli_engine


def test_weights_commands_set_publish_rollback_compare(cli_db: Engine) -> None:
    he = "horizon-europe-default"
    listed = runner.invoke(cli_app, ["weights", "list"])
    assert listed.exit_code == 0, listed.output
    assert he in listed.output
    changed = runner.invoke(cli_app, ["weights", "set", he, "--weight", "thematic=0.4", "--weight", "network=0.1",
                                      "--lambda", "0.6", "--comment", "thematic fit first"])
    assert changed.exit_code == 0, changed.output
    assert "publish it with: partnermatch weights publish horizon-europe-default 2" in changed.output
    shown = runner.invoke(cli_app, ["weights", "show", he, "--json"])
    v2 = json.loads(shown.stdout)
    assert (v2["version"], v2["author"], v2["key_id"], v2["mmr_lambda"]) == (2, "cli:aigerim", None, 0.6)
    assert (v2["weights"]["thematic"], v2["weights"]["network"], v2["published"]) == (0.4, 0.1, False)
    assert runner.invoke(cli_app, ["weights", "publish", he, "2"]).exit_code == 0
    compared = runner.invoke(cli_app, ["weights", "compare", f"{he}:1", he, "--json"])
    assert json.loads(compared.stdout)["identical"] is False
    rolled = runner.invoke(cli_app, ["weights", "rollback", he, "1", "--comment", "back to the default"])
    assert rolled.exit_code == 0, rolled.output
    v3 = json.loads(runner.invoke(cli_app, ["weights", "show", he, "--json"]).stdout)
    v1 = json.loads(runner.invoke(cli_app, ["weights", "show", he, "--version", "1", "--json"]).stdout)
    assert (v3["version"], v3["published"], v3["weights"]) == (3, True, v1["weights"])
    assert "they score identically" in runner.invoke(cli_app, ["weights", "compare", f"{he}:1", f"{he}:3"]).output
    for args, message in [
        (["weights", "set", he, "--weight", "citations=1", "--comment", "x"], "unknown component"),
        (["weights", "set", he, "--weight", "thematic", "--comment", "x"], "COMPONENT=NUMBER"),
        (["weights", "set", he, "--comment", "x"], "nothing to change"),
        (["weights", "show", "moon-default"], "no weight profile named 'moon-default'"),
        (["weights", "publish", he, "9"], "no version 9"),
    ]:
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    with Session(cli_db) as session:
        assert len(session.exec(select(WeightProfileVersion).where(WeightProfileVersion.name == he)).all()) == 3


def test_what_if_shows_ranking_changes_and_parameters(office_client, api_keys) -> None:
    """Changing weights changes some Kazakh university's top-k; identical versions change nothing."""
    officer = {"X-API-Key": api_keys["officer"]}
    created = office_client.patch("/weights/erasmus-mobility-default", headers=officer,
                                  json={"weights": {"network": 0.0, "thematic": 0.0, "track_record": 1.0},
                                        "comment": "track record only"})
    assert created.status_code == 200, created.text
    same = office_client.get("/weights/what-if", params={"a": "erasmus-mobility-default:1",
                                                         "b": "erasmus-mobility-default:1", "k": 3})
    assert same.status_code == 200, same.text
    body = same.json()
    assert body["parameters"]["identical"] and body["rankings"]["n_requesters"] >= 1
    assert all(r["overlap"] == 1.0 and not r["entered"] and not r["left"] for r in body["rankings"]["requesters"])
    changed = office_client.get("/weights/what-if", params={"a": "erasmus-mobility-default:1",
                                                            "b": "erasmus-mobility-default:2", "k": 3}).json()
    assert not changed["parameters"]["identical"]
    assert office_client.get("/weights/what-if", params={"a": "erasmus-mobility-default:1",
                                                         "b": "erasmus-mobility-default:1",
                                                         "areas": ["astrology"]}).status_code == 422


def test_evaluation_runs_in_the_background_and_attaches_metrics(office_client, api_keys) -> None:
    officer = {"X-API-Key": api_keys["officer"]}
    assert office_client.post("/weights/erasmus-mobility-default/versions/1/evaluate").status_code == 403
    started = office_client.post("/weights/erasmus-mobility-default/versions/1/evaluate", headers=officer)
    assert started.status_code == 202, started.text
    # TestClient runs background tasks before returning, so the metrics are there now
    metrics = office_client.get("/weights/erasmus-mobility-default/versions/1").json()["metrics"]
    assert metrics["split"] == "validation" and "hybrid" in metrics["project_idea"]


@pytest.mark.usefixtures("cli_db")
def test_learn_weights_refuses_an_existing_name_before_any_work() -> None:
    result = runner.invoke(cli_app, ["learn-weights", "--programme", "horizon-europe",
                                     "--name", "horizon-europe-default"])
    assert result.exit_code == 1
    assert "'horizon-europe-default' exists already" in result.output and "--name" in result.output
    assert "fitting weights" not in result.output
