"""``/institutions``: search, filters, paging, validation errors and the detail view (mini catalogue)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from seed_data.tables import Institution
from tests.api.conftest import CNR, ENU, KAZNU, MARS, NU, TSUKUBA, UNICAM, UPGRADE, UZBEK_WOMEN

PROBLEM_JSON = "application/problem+json"


def _ids(body: dict) -> list[str]:
    return [item["id"] for item in body["data"]]


def _assert_problem(response, status: int, path: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == HTTPStatus(status).phrase
    assert body["status"] == status
    assert body["instance"] == path
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --- search -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Nazarbaev Univrsity", NU),  # two typos
        ("KazNU", KAZNU),  # abbreviation from the domain kaznu.kz
        ("kaznu", KAZNU),
        ("nu.edu.kz", NU),  # domain label
        ("University of Camerino", UNICAM),  # English alias of "Università di Camerino"
        ("universita di camerino", UNICAM),  # accents folded
        ("Consiglio Nazionale delle Ricerche", CNR),
    ],
)
def test_search_ranks_the_meant_institution_first(client: TestClient, query: str, expected: str) -> None:
    response = client.get("/institutions", params={"q": query})
    assert response.status_code == 200
    body = response.json()
    assert body["data"][0]["id"] == expected
    assert body["count"] >= 1
    assert 0 < body["data"][0]["score"] <= 100


def test_search_result_carries_identifiers(client: TestClient) -> None:
    body = client.get("/institutions", params={"q": "Nazarbayev University"}).json()
    top = body["data"][0]
    assert top["id"] == NU
    assert top["score"] == 100.0  # the exact name
    assert (top["pic"], top["ror_id"], top["country"], top["city"]) == (
        "953676162",
        "052bx8q98",
        "KZ",
        "Astana",
    )
    assert top["kind"] == "university"
    assert top["domains"] == ["nu.edu.kz"]
    assert top["has_research_evidence"] is True


def test_search_with_nothing_close_returns_an_empty_page(client: TestClient) -> None:
    response = client.get("/institutions", params={"q": "Sorbonne"})
    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 0}


def test_search_respects_filters(client: TestClient) -> None:
    """The word university matches many names; the country filter keeps the Kazakh ones only."""
    body = client.get("/institutions", params={"q": "university", "country": "kz"}).json()
    assert body["count"] == len(body["data"]) >= 2
    assert {item["country"] for item in body["data"]} == {"KZ"}
    assert TSUKUBA not in _ids(body)

    body = client.get("/institutions", params={"q": "KazNU", "country": "IT"}).json()
    assert body == {"data": [], "count": 0}


def test_search_pages_through_the_ranking(client: TestClient) -> None:
    everything = client.get("/institutions", params={"q": "university", "limit": 100}).json()
    assert everything["count"] == len(everything["data"]) >= 3
    first = client.get("/institutions", params={"q": "university", "limit": 2}).json()
    second = client.get("/institutions", params={"q": "university", "limit": 2, "offset": 2}).json()
    assert first["count"] == second["count"] == everything["count"]
    assert _ids(first) + _ids(second) == _ids(everything)[:4]


def test_blank_query_lists_instead_of_searching(client: TestClient) -> None:
    assert client.get("/institutions", params={"q": "  "}).json() == client.get("/institutions").json()


# --- listing ----------------------------------------------------------------------------------------------


def test_list_orders_by_project_count_then_id(client: TestClient) -> None:
    body = client.get("/institutions").json()
    assert body["count"] == 7
    assert _ids(body) == [NU, TSUKUBA, UZBEK_WOMEN, KAZNU, UNICAM, CNR, ENU]
    assert all(item["score"] is None for item in body["data"])
    assert [item["n_projects"] for item in body["data"]] == [2, 2, 1, 1, 1, 1, 0]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"country": "KZ"}, [NU, KAZNU, ENU]),
        ({"country": "it"}, [UNICAM, CNR]),  # lower case accepted
        ({"kind": "research"}, [CNR]),
        ({"kind": "university", "country": "IT"}, [UNICAM]),
        ({"has_evidence": "false"}, [ENU]),
        ({"has_evidence": "true", "country": "KZ"}, [NU, KAZNU]),
        ({"country": "FR"}, []),
    ],
)
def test_list_filters(client: TestClient, params: dict[str, str], expected: list[str]) -> None:
    body = client.get("/institutions", params=params).json()
    assert _ids(body) == expected
    assert body["count"] == len(expected)


def test_list_pagination(client: TestClient) -> None:
    page = client.get("/institutions", params={"limit": 2, "offset": 1}).json()
    assert _ids(page) == [TSUKUBA, UZBEK_WOMEN]
    assert page["count"] == 7
    past_the_end = client.get("/institutions", params={"offset": 50}).json()
    assert past_the_end == {"data": [], "count": 7}


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"country": "KAZ"}, "country"),
        ({"country": "K1"}, "country"),
        ({"kind": "school"}, "kind"),
        ({"has_evidence": "maybe"}, "has_evidence"),
    ],
)
def test_bad_query_parameter_is_a_422_problem_naming_it(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/institutions", params=params)
    body = _assert_problem(response, 422, "/institutions")
    assert f"query parameter '{field}'" in body["detail"]
    assert [error["loc"] for error in body["errors"]] == [["query", field]]
    assert body["errors"][0]["msg"]


# --- detail -----------------------------------------------------------------------------------------------


def test_detail_shows_identifiers_names_and_profile(client: TestClient) -> None:
    response = client.get(f"/institutions/{UNICAM}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == UNICAM
    assert body["name"] == "Università di Camerino"
    assert body["legal_name"] == "UNIVERSITA DEGLI STUDI DI CAMERINO"
    assert body["pic"] == "999845737"
    assert body["erasmus_code"] == "I CAMERIN01"
    assert body["ror_id"] == "0005w8d69"
    assert body["ror_url"] == "https://ror.org/0005w8d69"
    assert body["website"] == "https://www.unicam.it"
    assert body["domains"] == ["unicam.it"]
    assert "University of Camerino" in body["aliases"]
    assert body["provenance"][0] == "eche:I CAMERIN01"
    assert body["profile_source"] == "derived"
    assert body["profile"].startswith("Università di Camerino (university, Camerino, IT).")
    assert body["has_research_evidence"] is True
    assert "profile_derived" not in body and "profile_owner" not in body


def test_detail_lists_projects_most_recent_first(client: TestClient) -> None:
    body = client.get(f"/institutions/{NU}").json()
    assert body["n_projects"] == 2
    assert body["projects"] == [
        {
            "id": UPGRADE,
            "acronym": "UPGRADE",
            "title": "mUltiscale IoT equipPed lonG linear infRastructure resilience built and sustAinable "
            "DevelopmEnt",
            "programme": "HORIZON",
            "start_date": "2024-03-01",
            "end_date": "2028-02-29",
            "role": "associated_partner",
        },
        {
            "id": MARS,
            "acronym": "MARS",
            "title": "Non-Western Migration Regimes in a Global Perspective",
            "programme": "HORIZON",
            "start_date": "2024-02-01",
            "end_date": "2028-01-31",
            "role": "associated_partner",
        },
    ]
    assert body["projects_per_year"] == [{"year": 2024, "count": 2}]


def test_detail_counts_projects_per_start_year(client: TestClient) -> None:
    """Tsukuba's two projects start in 2024; Camerino's MARMADE in 2025; ENU has none."""
    assert client.get(f"/institutions/{UNICAM}").json()["projects_per_year"] == [{"year": 2025, "count": 1}]
    assert client.get(f"/institutions/{ENU}").json()["projects_per_year"] == []


def test_detail_lists_partners_by_shared_projects(client: TestClient) -> None:
    """Tsukuba shares UPGRADE and MARS with NU; CNR and the Uzbek Women's Rights Association one each (tie by
    id); participants known only by PIC are no partners."""
    partners = client.get(f"/institutions/{NU}").json()["partners"]
    assert partners == [
        {"id": TSUKUBA, "name": "University of Tsukuba", "country": "JP", "n_shared": 2},
        {"id": UZBEK_WOMEN, "name": "Ozbek Kadin Haklari Dernegi", "country": "TR", "n_shared": 1},
        {"id": CNR, "name": "National Research Council", "country": "IT", "n_shared": 1},
    ]


def test_detail_shows_a_project_once_with_the_leading_role(client: TestClient) -> None:
    """CORDIS lists the Uzbek Women's Rights Association in MARS as associated partner and as participant."""
    body = client.get(f"/institutions/{UZBEK_WOMEN}").json()
    assert [(p["id"], p["role"]) for p in body["projects"]] == [(MARS, "participant")]
    assert body["n_projects"] == 1
    assert body["ror_id"] is None and body["ror_url"] is None


def test_detail_of_an_institution_without_projects(client: TestClient) -> None:
    body = client.get(f"/institutions/{ENU}").json()
    assert (body["projects"], body["partners"], body["n_projects"]) == ([], [], 0)
    assert body["has_research_evidence"] is False
    assert body["pic"] is None


def test_detail_prefers_the_owners_profile(client: TestClient, catalogue_engine: Engine) -> None:
    with Session(catalogue_engine) as session:
        row = session.get(Institution, KAZNU)
        assert row is not None
        row.profile_owner = "Al-Farabi Kazakh National University: water resources and hydrology research."
        session.add(row)
        session.commit()
    body = client.get(f"/institutions/{KAZNU}").json()
    assert body["profile_source"] == "owner"
    assert body["profile"].startswith("Al-Farabi Kazakh National University: water resources")


def test_unknown_institution_is_a_404_problem_naming_the_id(client: TestClient) -> None:
    response = client.get("/institutions/pic-000000000")
    body = _assert_problem(response, 404, "/institutions/pic-000000000")
    assert "pic-000000000" in body["detail"]


def test_overlong_institution_id_is_a_422_problem(client: TestClient) -> None:
    response = client.get("/institutions/" + "x" * 81)
    body = _assert_problem(response, 422, "/institutions/" + "x" * 81)
    assert body["errors"][0]["loc"] == ["path", "institution_id"]


@pytest.mark.postgres
def test_queries_run_on_postgresql(pg_client: TestClient) -> None:
    """The grouped project and partner queries, the filters and the count, on PostgreSQL."""
    body = pg_client.get(f"/institutions/{NU}").json()
    assert [p["id"] for p in body["projects"]] == [UPGRADE, MARS]
    assert [(p["id"], p["n_shared"]) for p in body["partners"]] == [(TSUKUBA, 2), (UZBEK_WOMEN, 1), (CNR, 1)]
    body = pg_client.get(f"/institutions/{UZBEK_WOMEN}").json()
    assert [(p["id"], p["role"]) for p in body["projects"]] == [(MARS, "participant")]
    body = pg_client.get("/institutions", params={"country": "KZ", "has_evidence": "true"}).json()
    assert (_ids(body), body["count"]) == ([NU, KAZNU], 2)
    body = pg_client.get("/institutions", params={"q": "KazNU", "kind": "university"}).json()
    assert _ids(body)[0] == KAZNU
    assert pg_client.get("/health").json()["database"] == "postgresql"


def test_detail_shows_area_strengths_only_with_evidence(client: TestClient) -> None:
    strengths = client.get(f"/institutions/{NU}").json()["area_strengths"]
    assert len(strengths) == client.get("/areas").json()["count"]
    assert all(0.0 <= s["percentile"] <= 1.0 for s in strengths)
    assert [s["percentile"] for s in strengths] == sorted((s["percentile"] for s in strengths), reverse=True)
    assert client.get(f"/institutions/{ENU}").json()["area_strengths"] == []  # no projects: no evidence


def test_an_offset_beyond_any_catalogue_is_a_422(client: TestClient) -> None:
    """Schemathesis found this: an offset too large for a SQL integer used to be a 500."""
    assert client.get("/institutions", params={"offset": 2**70}).status_code == 422
    assert client.get("/institutions", params={"offset": 1_000_000}).status_code == 200
