"""Property-based API test: schemathesis generates requests from the OpenAPI schema; none may get a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.auth import API_KEY_HEADER


@pytest.fixture
def started_app(app: FastAPI) -> Iterator[FastAPI]:
    """The app over the mini catalogue with its lifespan run (indexes built)."""
    with TestClient(app):
        yield app


@pytest.fixture
def api_schema(started_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", started_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# derandomize: CI replays the same generated requests, so a run fails only on a real regression
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_gives_a_server_error(case: schemathesis.Case, api_keys: dict[str, str]) -> None:
    # an admin key reaches every route, the ones that change weight profiles included
    case.call_and_validate(headers={API_KEY_HEADER: api_keys["admin"]}, checks=[not_a_server_error])
