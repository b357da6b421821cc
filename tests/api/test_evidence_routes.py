"""Offices add their own evidence through the API: uploads of publications, projects and partnerships, removal,
owner versus other keys, all-or-nothing, and the matcher refreshed for the institution at once (and after a
restart). On the mini catalogue of tests/api/conftest.py: ENU has no project, so what it uploads is its only
evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.auth import API_KEY_HEADER
from api.main import create_app
from api.middleware import MAX_BODY_BYTES, MAX_UPLOAD_BYTES
from seed_data.evidence import item_id, item_identity
from seed_data.tables import EvidenceItem, Institution, ItemOrigin
from tests.api.conftest import ENU, KAZNU, NU, owner_headers

PUBLICATIONS = Path(__file__).resolve().parents[1] / "fixtures" / "publications"
EVIDENCE = Path(__file__).resolve().parents[1] / "fixtures" / "evidence"
WATER_RIS = b"""TY  - JOUR
AU  - Doe, J.
TI  - Glacier melt and irrigation water allocation in the Syr Darya basin
AB  - River runoff from glaciers, irrigation demand and reservoir operation in Central Asian river basins.
KW  - hydrology
KW  - irrigation
PY  - 2024
DO  - 10.5555/syrdarya.2024.1
JO  - Journal of Hydrology
ER  -
""".replace(b"ER  -\n", b"ER  - \n")  # RIS ends a record with "ER  - "


def _upload(client: TestClient, path: str, headers: dict[str, str], name: str, data: bytes, **params: str):
    return client.post(path, headers=headers, params=params, files={"file": (name, data, "application/octet-stream")})


def _enu_asks(client: TestClient, headers: dict[str, str]) -> tuple[bool, list[tuple[str, float]]]:
    """ENU asks for Italian partners in water: whether it has evidence, and the ranking with scores."""
    body = {"requester_id": ENU, "programme": "ca-italy", "areas": ["water"], "k": 10}
    response = client.post("/suggestions", headers=headers, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["requester_has_research_evidence"], [(s["institution"]["id"], s["score"]) for s in answer["data"]]


def test_an_owner_uploads_publications_and_they_count_at_once_and_after_a_restart(
        client: TestClient, catalogue_engine: Engine, enu_owner: dict[str, str], api_keys: dict[str, str],
        embedder) -> None:
    app = client.app
    office = {API_KEY_HEADER: api_keys["office"]}
    old = app.state.matcher  # type: ignore[attr-defined]
    assert not old.index.has_evidence[old.index.row_of[ENU]]
    had_evidence, ranking_before = _enu_asks(client, office)
    assert not had_evidence

    dry = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "water.ris", WATER_RIS, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"institution_ids": None} == {
        "institution_ids": None, "read": 1, "duplicates_merged": 0, "added": 1, "updated": 0, "unchanged": 0,
        "dry_run": True, "matcher": "unchanged"}
    assert app.state.matcher is old  # type: ignore[attr-defined]

    done = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "water.ris", WATER_RIS)
    assert done.status_code == 200, done.text
    assert (done.json()["added"], done.json()["matcher"]) == (1, "updated")
    new = app.state.matcher  # type: ignore[attr-defined]
    assert new is not old and new.index.has_evidence[new.index.row_of[ENU]]
    # only ENU changed: every other institution keeps its vector and strengths
    others = [r for r in range(new.index.n) if r != new.index.row_of[ENU]]
    assert (new.index.vectors[others] == old.index.vectors[others]).all()
    assert (new.index.area_strength[others] == old.index.area_strength[others]).all()
    has_evidence, ranking_after = _enu_asks(client, office)
    assert has_evidence and ranking_after != ranking_before  # the suggestions for ENU use it at once

    detail = client.get(f"/institutions/{ENU}").json()
    assert detail["evidence_level"] == "research" and detail["has_research_evidence"]
    assert detail["evidence_counts"]["publication"] == 1
    (item,) = detail["evidence"]
    assert (item["type"], item["year"], item["external_id"], item["source"], item["removable"]) == (
        "publication", 2024, "10.5555/syrdarya.2024.1", "https://doi.org/10.5555/syrdarya.2024.1", True)
    water = next(a for a in detail["area_strengths"] if a["key"] == "water")
    assert water["evidence"][0]["id"] == item["id"]

    again = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "water.ris", WATER_RIS)
    assert (again.json()["added"], again.json()["unchanged"], again.json()["matcher"]) == (0, 1, "unchanged")

    # a restart (a new app on the same database) builds the index with the publication in it
    with TestClient(create_app(engine=catalogue_engine, embedder=embedder)) as restarted:
        assert restarted.app.state.matcher.index.has_evidence[  # type: ignore[attr-defined]
            restarted.app.state.matcher.index.row_of[ENU]]  # type: ignore[attr-defined]
        # (scores may differ a little from the refreshed ones: the full build also recomputes the other
        # institutions' percentiles and the thematic calibration, which ENU's new vector moves)
        assert _enu_asks(restarted, office)[0]

    assert client.delete(f"/institutions/{ENU}/evidence/{item['id']}", headers=enu_owner).status_code == 204
    latest = app.state.matcher  # type: ignore[attr-defined]
    assert not latest.index.has_evidence[latest.index.row_of[ENU]]
    assert client.get(f"/institutions/{ENU}").json()["evidence_level"] == "none"


@pytest.mark.parametrize("name", ["example.bib", "openalex_works.json", "scopus.csv", "scopus.ris",
                                  "wos_savedrecs.txt"])
def test_every_export_format_uploads(client: TestClient, enu_owner: dict[str, str], name: str) -> None:
    response = _upload(client, f"/institutions/{ENU}/publications", enu_owner, name,
                       (PUBLICATIONS / name).read_bytes(), dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json()["read"] >= 1 and response.json()["added"] >= 1


def test_only_an_admin_or_the_owner_key_may_upload_or_remove(client: TestClient, catalogue_engine: Engine,
                                                             enu_owner: dict[str, str],
                                                             api_keys: dict[str, str]) -> None:
    for headers in ({API_KEY_HEADER: api_keys["office"]}, {API_KEY_HEADER: api_keys["officer"]}):
        response = _upload(client, f"/institutions/{ENU}/publications", headers, "w.ris", WATER_RIS)
        assert response.status_code == 403, response.text
    assert _upload(client, f"/institutions/{KAZNU}/publications", enu_owner, "w.ris", WATER_RIS).status_code == 403
    assert _upload(client, f"/institutions/{ENU}/publications", {}, "w.ris", WATER_RIS).status_code == 401
    admin = {API_KEY_HEADER: api_keys["admin"]}
    response = _upload(client, f"/institutions/{KAZNU}/publications", admin, "w.ris", WATER_RIS)
    assert response.status_code == 200 and response.json()["added"] == 1
    with Session(catalogue_engine) as session:
        (stored,) = session.exec(select(EvidenceItem).where(EvidenceItem.institution_id == KAZNU)).all()
    assert client.delete(f"/institutions/{KAZNU}/evidence/{stored.id}", headers=enu_owner).status_code == 403
    assert client.delete(f"/institutions/{KAZNU}/evidence/{stored.id}", headers=admin).status_code == 204
    assert client.delete(f"/institutions/{KAZNU}/evidence/{stored.id}", headers=admin).status_code == 404


def test_a_bad_file_changes_nothing_and_every_problem_is_named(client: TestClient, catalogue_engine: Engine,
                                                                 enu_owner: dict[str, str]) -> None:
    untitled = b"".join(line for line in WATER_RIS.splitlines(keepends=True) if not line.startswith(b"TI  -"))
    bad = WATER_RIS.replace(b"PY  - 2024", b"PY  - 20x4") + untitled
    response = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "bad.ris", bad)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    messages = [e["msg"] for e in response.json()["errors"]]
    assert any("record 1" in m and "year" in m for m in messages), messages
    assert any("record 2" in m and "title" in m for m in messages), messages
    projects = b"title,start_year\nA national grant on steppe soils,2022\n,2023\n"
    response = _upload(client, f"/institutions/{ENU}/projects", enu_owner, "projects.csv", projects)
    assert response.status_code == 422 and "row 3" in response.text and "title" in response.text
    with Session(catalogue_engine) as session:
        assert session.exec(select(EvidenceItem)).all() == []


def test_projects_and_partnerships_upload_and_partnerships_become_ties(
        client: TestClient, catalogue_engine: Engine) -> None:
    nu_owner = owner_headers(catalogue_engine, NU)
    rows = [line for line in (EVIDENCE / "projects.csv").read_bytes().splitlines(keepends=True)
            if line.startswith((b"institution_id", NU.encode()))]
    response = _upload(client, f"/institutions/{NU}/projects", nu_owner, "projects.csv", b"".join(rows))
    assert response.status_code == 200, response.text
    assert response.json()["added"] == len(rows) - 1
    ties = (b"partner_name,partner_country,type,year,url\n"
            b"Al-Farabi Kazakh National University,KZ,mou,2021,https://example.org/mou\n"
            b"A partner nobody knows,US,other,2020,https://example.org/other\n")
    response = _upload(client, f"/institutions/{NU}/partnerships", nu_owner, "ties.csv", ties)
    assert response.status_code == 200, response.text
    detail = client.get(f"/institutions/{NU}").json()
    assert detail["evidence_counts"]["national_project"] == len(rows) - 1
    by_name = {p["partner_name"]: p for p in detail["known_partnerships"]}
    assert by_name["Al-Farabi Kazakh National University"]["partner_id"] == KAZNU
    assert by_name["A partner nobody knows"]["partner_id"] is None  # kept by name, an edge to nowhere
    index = client.app.state.matcher.index  # type: ignore[attr-defined]
    assert index.graph[index.row_of[NU], index.row_of[KAZNU]] > 0
    # the partner's page shows the tie from its side, not removable there
    kaznu = client.get(f"/institutions/{KAZNU}").json()
    (tie,) = kaznu["known_partnerships"]
    assert (tie["partner_id"], tie["type"], tie["removable"]) == (NU, "mou", False)


def test_a_catalogue_item_cannot_be_removed(client: TestClient, catalogue_engine: Engine,
                                            enu_owner: dict[str, str]) -> None:
    identity = item_identity(title="Water Science and Technology")
    with Session(catalogue_engine) as session:
        session.add(EvidenceItem(id=item_id(ENU, "research_field", identity), institution_id=ENU,
                                 type="research_field", title="Water Science and Technology",
                                 text="Research field: Water Science and Technology.", source="https://example.org",
                                 origin=ItemOrigin.catalogue.value))
        session.commit()
        stored_id = session.exec(select(EvidenceItem.id)).one()
        assert session.get(Institution, ENU) is not None
    response = client.delete(f"/institutions/{ENU}/evidence/{stored_id}", headers=enu_owner)
    assert response.status_code == 409 and "shipped catalogue" in response.json()["detail"]


@pytest.mark.postgres
def test_uploads_and_removals_on_postgresql(pg_client: TestClient, pg_engine: Engine) -> None:
    owner = owner_headers(pg_engine, ENU)
    done = _upload(pg_client, f"/institutions/{ENU}/publications", owner, "water.ris", WATER_RIS)
    assert done.status_code == 200, done.text
    assert (done.json()["added"], done.json()["matcher"]) == (1, "updated")
    ties = b"partner_name,partner_country,type,year,url\nNazarbayev University,KZ,joint_lab,2022,https://example.org/l\n"
    assert _upload(pg_client, f"/institutions/{ENU}/partnerships", owner, "t.csv", ties).status_code == 200
    detail = pg_client.get(f"/institutions/{ENU}").json()
    assert detail["evidence_counts"]["publication"] == 1 and detail["known_partnerships"][0]["partner_id"] == NU
    index = pg_client.app.state.matcher.index  # type: ignore[attr-defined]
    assert index.has_evidence[index.row_of[ENU]] and index.graph[index.row_of[ENU], index.row_of[NU]] > 0
    item = detail["evidence"][0]["id"]
    assert pg_client.delete(f"/institutions/{ENU}/evidence/{item}", headers=owner).status_code == 204
    tie = detail["known_partnerships"][0]["id"]
    assert pg_client.delete(f"/institutions/{ENU}/partnerships/{tie}", headers=owner).status_code == 204
    assert pg_client.get(f"/institutions/{ENU}").json()["evidence_level"] == "none"


def test_uploads_may_be_larger_than_other_bodies_up_to_their_own_limit(client: TestClient,
                                                                        enu_owner: dict[str, str]) -> None:
    big = WATER_RIS.replace(b"AB  - River", b"AB  - " + b"river " * (MAX_BODY_BYTES // 6) + b"River")
    assert MAX_BODY_BYTES < len(big) < MAX_UPLOAD_BYTES
    response = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "big.ris", big, dry_run="true")
    assert response.status_code == 422 and "abstract" in response.text  # read and checked, not refused unread
    too_big = b"x" * (MAX_UPLOAD_BYTES + 1)
    response = _upload(client, f"/institutions/{ENU}/publications", enu_owner, "huge.ris", too_big)
    assert response.status_code == 413 and str(MAX_UPLOAD_BYTES) in response.json()["detail"]
