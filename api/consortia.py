"""The consortium builder without HTTP: a request made into the builder's spec, the proposals built and
described (``matcher/consortium.py``), and the proposals written as a CSV or Excel file, for ``/consortia``
and ``partnermatch consortium`` alike.

Every file cell goes through ``api.spreadsheet.spreadsheet_cell`` (formula injection), as shortlists do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from api.calls import call_notes, rankable_call, request_for_call
from api.errors import InvalidRequest
from api.profiles import profile_notes, resolve_profile
from api.schemas import ROR_URL_PREFIX
from api.schemas_consortia import ConsortiumAnswer, ConsortiumRequest
from api.spreadsheet import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    ExportFormat,
    add_sheet,
    csv_bytes,
    empty_workbook,
    workbook_bytes,
)
from matcher.consortium import ConsortiumSpec, InfeasibleConsortium, build_consortia
from matcher.consortium_rules import UnknownRule
from matcher.suggest import Matcher, RequestError
from matcher.types import SuggestionCall

MEMBER_COLUMNS = ("Alternative", "Objective", "Role", "Name", "Country", "Kind", "PIC", "Erasmus code", "ROR",
                  "Website", "Quality", "Coordinated projects", "Aspects covered", "Evidence", "Institution id")
RULE_COLUMNS = ("Alternative", "Rule", "Satisfied", "Explanation", "Rule (paraphrase)", "Source")


def for_call(body: ConsortiumRequest, session: Session, *, today: dt.date
             ) -> tuple[ConsortiumRequest, SuggestionCall | None]:
    """``body`` made ready to build: for a request naming a call, the rule suggestions follow too
    (:func:`api.calls.request_for_call`: the call's programme, a different one refused; its action type; its
    title and text after any text given); any other request as it is."""
    if body.call is None:
        return body, None
    return request_for_call(body, rankable_call(session, body.call), today=today)


def spec_for(body: ConsortiumRequest) -> ConsortiumSpec:
    """The builder's spec for ``body``, made ready by :func:`for_call`."""
    assert body.programme is not None  # the request's validator, or the call's programme
    return ConsortiumSpec(programme=body.programme, action_type=body.action_type, text=body.text, areas=body.areas,
                          requester_id=body.requester_id, lock=body.lock, exclude=body.exclude,
                          size_min=body.size_min, size_max=body.size_max, alternatives=body.alternatives,
                          weights=body.weights, differ_share=body.differ_share)


def answer(matcher: Matcher, body: ConsortiumRequest, session: Session, *, today: dt.date) -> ConsortiumAnswer:
    """Build the proposals for ``body`` (a call's status is as of ``today``); domain errors become
    ``InvalidRequest`` naming the field."""
    ready, call = for_call(body, session, today=today)
    spec = spec_for(ready)
    resolved = resolve_profile(spec.programme, body.profile, session=session)
    try:
        response = build_consortia(matcher, spec, resolved.profile)
    except UnknownRule as exc:
        raise InvalidRequest(exc.field if body.call is None else "call", str(exc)) from exc
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    except InfeasibleConsortium as exc:
        raise InvalidRequest("lock" if body.lock else "size_min" if body.size_min else "programme",
                             str(exc)) from exc
    notes = [*response.notes, *profile_notes(resolved, spec.programme), *call_notes(call)]
    return ConsortiumAnswer(**response.model_dump(exclude={"notes"}), notes=notes, call=body.call,
                            profile_ref=resolved.ref)


# --- export -----------------------------------------------------------------------------------------------


def member_rows(response: ConsortiumAnswer) -> list[list[Any]]:
    """One row per member of every proposal (``MEMBER_COLUMNS``)."""
    aspects = {a.index: a.text for a in response.aspects}
    rows = []
    for proposal in response.proposals:
        for m in proposal.members:
            inst = m.institution
            rows.append([proposal.rank, proposal.objective, m.role.replace("_", " "), inst.name, inst.country,
                         inst.kind, inst.pic, inst.erasmus_code,
                         f"{ROR_URL_PREFIX}{inst.ror_id}" if inst.ror_id else None, inst.website, m.quality,
                         m.coordinated_projects, " | ".join(aspects.get(c.aspect, "")[:120] for c in m.aspects),
                         " | ".join(f"{c.evidence.title} ({c.evidence.source})" for c in m.aspects), inst.id])
    return rows


def rule_rows(response: ConsortiumAnswer) -> list[list[Any]]:
    """One row per rule of every proposal (``RULE_COLUMNS``)."""
    return [[p.rank, r.rule, "yes" if r.satisfied else "no", r.explanation, r.paraphrase, r.source]
            for p in response.proposals for r in p.rules]


def write_csv(response: ConsortiumAnswer) -> bytes:
    """The members of every proposal as CSV (UTF-8 with BOM), every field quoted and made safe."""
    return csv_bytes(MEMBER_COLUMNS, member_rows(response))


def write_xlsx(response: ConsortiumAnswer) -> bytes:
    """The proposals as a workbook: sheets Members, Rules, Objective (each term per alternative) and About."""
    book = empty_workbook()
    add_sheet(book, "Members", MEMBER_COLUMNS, member_rows(response))
    add_sheet(book, "Rules", RULE_COLUMNS, rule_rows(response))
    add_sheet(book, "Objective", ("Alternative", "Term", "Value"),
              [(p.rank, term, value) for p in response.proposals
               for term, value in [*p.breakdown.items(), ("total", p.objective)]])
    add_sheet(book, "About", None, [
        ("Programme", response.programme), ("Action type", response.action_type), ("Call", response.call),
        ("Aspects", " | ".join(a.text for a in response.aspects)), ("Notes", " ".join(response.notes))])
    return workbook_bytes(book)


def export_bytes(response: ConsortiumAnswer, format: ExportFormat) -> tuple[bytes, str]:  # noqa: A002
    """The file and its media type."""
    if format == "xlsx":
        return write_xlsx(response), XLSX_MEDIA_TYPE
    return write_csv(response), CSV_MEDIA_TYPE
