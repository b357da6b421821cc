"""What the OpenAPI document says that no single route declares: the links between operations, and the
400 that every operation with a request body can answer.

Links (OpenAPI 3.1 section 4.8.20) tell clients, and schemathesis's stateful tests, how the answer of one
operation feeds the next: the first area of the list to its detail, a suggested partner to its record and
to feedback on it. Schemathesis infers the links it can from names alone (an institution list to its
detail, a weight profile to its versions); those below are the ones it cannot. They are written here, by
path and method, rather than in the routes with ``openapi_extra``, so that every link is in one place and
no route names another route's generated operation id.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import problem_responses

# (source path, method, status) -> {link name: (target path, method, parameters, request body)}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str], dict[str, Any] | None]]] = {
    ("/areas", "get", "200"): {
        "ReadFirstArea": ("/areas/{key}", "get", {"key": "$response.body#/data/0/key"}, None),
    },
    ("/programmes", "get", "200"): {
        "ReadFirstProgramme": ("/programmes/{key}", "get", {"key": "$response.body#/data/0/key"}, None),
    },
    ("/suggestions", "post", "200"): {
        "ReadFirstSuggestedPartner": (
            "/institutions/{institution_id}", "get",
            {"institution_id": "$response.body#/data/0/institution/id"}, None,
        ),
        "GiveFeedbackOnFirstSuggestion": (
            "/feedback", "post", {},
            {"institution_id": "$response.body#/data/0/institution/id",
             "programme": "$response.body#/programme",
             "profile_version_id": "$response.body#/profile_version_id",
             "status": "contacted"},
        ),
    },
}


def _operation_id(document: dict[str, Any], path: str, method: str) -> str:
    operation_id: str = document["paths"][path][method]["operationId"]
    return operation_id


def add_links(document: dict[str, Any]) -> None:
    """Add ``LINKS`` to the responses of ``document`` (an OpenAPI dict), naming targets by operation id."""
    for (path, method, status), links in LINKS.items():
        response = document["paths"][path][method]["responses"][status]
        for name, (target_path, target_method, parameters, body) in links.items():
            link: dict[str, Any] = {"operationId": _operation_id(document, target_path, target_method)}
            if parameters:
                link["parameters"] = parameters
            if body is not None:
                link["requestBody"] = body
            response.setdefault("links", {})[name] = link


def document_unparsable_bodies(document: dict[str, Any]) -> None:
    """A body that is not JSON at all (not even text) is refused by FastAPI before any route runs, with a
    400 problem (api/errors.py renders it): say so for every operation that takes a body."""
    bad_request = problem_responses(400)[400]
    bad_request["description"] = "The body could not be parsed (not JSON, or not UTF-8 text)."
    for operations in document["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("400", bad_request)


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the generated document with the links and the 400s added."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # FastAPI's own, which it caches as app.openapi_schema: extend it once
            add_links(document)
            document_unparsable_bodies(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
