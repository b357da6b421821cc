"""Shortlists: an office's chosen partners written as a CSV or Excel file for an application form.

The file has one row per item, in the order given, with each institution's identifiers from the catalogue
(PIC, Erasmus code, ROR link) next to the office's score, status and note. Every cell, catalogue values
included, goes through ``api.spreadsheet.spreadsheet_cell``: text a spreadsheet would read as a formula gets a
leading apostrophe, so a name or note can never run (OWASP "CSV injection"), and characters a workbook
cannot hold are replaced. CSV fields are all quoted, so a separator in a value never starts a new cell.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Response
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from api.auth import auth_responses, require_office
from api.deps import SessionDep
from api.errors import InvalidRequest
from api.schemas import ROR_URL_PREFIX, ShortlistExport, problem_responses
from api.spreadsheet import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Format,
    add_sheet,
    attachment,
    csv_bytes,
    empty_workbook,
    export_responses,
    workbook_bytes,
)
from seed_data.tables import Institution, PriorityArea, Programme

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/shortlists", tags=["shortlists"], responses=auth_responses())

COLUMNS = ("Rank", "Name", "Native name", "Country", "Kind", "City", "PIC", "Erasmus code", "ROR", "Website",
           "Score", "Status", "Note", "Institution id")
# CSV has no second sheet: what the shortlist is for repeats on every row, in these columns.
ABOUT_COLUMNS = ("Requester", "Requester id", "Programme", "Areas", "Exported at")


def _rows(body: ShortlistExport, institutions: dict[str, Institution]) -> list[list[Any]]:
    rows = []
    for rank, item in enumerate(body.items, start=1):
        inst = institutions[item.institution_id]
        rows.append([rank, inst.name, inst.native_name, inst.country, str(inst.kind), inst.city, inst.pic,
                     inst.erasmus_code, f"{ROR_URL_PREFIX}{inst.ror_id}" if inst.ror_id else None, inst.website,
                     item.score, item.status.value if item.status else None, item.note, inst.id])
    return rows


def _about(body: ShortlistExport, *, requester: Institution | None, programme: Programme | None,
           exported_at: dt.datetime) -> list[Any]:
    """Values of ``ABOUT_COLUMNS``."""
    return [requester.name if requester else None, body.requester_id,
            f"{programme.name} ({programme.key})" if programme else body.programme, ", ".join(body.areas),
            exported_at.isoformat(timespec="seconds")]


def write_csv(rows: Sequence[Sequence[Any]], about: Sequence[Any]) -> bytes:
    """The shortlist as CSV (UTF-8 with BOM), the ``ABOUT_COLUMNS`` repeated on every row."""
    return csv_bytes([*COLUMNS, *ABOUT_COLUMNS], ([*row, *about] for row in rows))


def write_xlsx(rows: Sequence[Sequence[Any]], about: Sequence[Any]) -> bytes:
    """The shortlist as an Excel workbook: sheet "Shortlist", and sheet "About" with ``ABOUT_COLUMNS``."""
    book = empty_workbook()
    sheet = add_sheet(book, "Shortlist", COLUMNS, rows)
    widths = (6, 40, 30, 8, 12, 18, 12, 14, 30, 30, 8, 12, 40, 18)
    for number, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    info = add_sheet(book, "About", None, [*zip(ABOUT_COLUMNS, about, strict=True), ("Items", len(rows))])
    info.column_dimensions["A"].width = 14
    info.column_dimensions["B"].width = 60
    return workbook_bytes(book)


def _check(body: ShortlistExport, *, session: Session) -> tuple[dict[str, Institution], Institution | None,
                                                                 Programme | None]:
    """The institutions the body names; ``InvalidRequest`` naming the first unknown id, programme or area."""
    wanted = {item.institution_id for item in body.items} | ({body.requester_id} if body.requester_id else set())
    found = {row.id: row for row in session.exec(select(Institution).where(col(Institution.id).in_(wanted)))}
    for number, item in enumerate(body.items):
        if item.institution_id not in found:
            raise InvalidRequest(f"items[{number}].institution_id",
                                 f"no institution with id {item.institution_id!r}")
    requester = None
    if body.requester_id is not None:
        requester = found.get(body.requester_id)
        if requester is None:
            raise InvalidRequest("requester_id", f"no institution with id {body.requester_id!r}")
    programme = None
    if body.programme is not None:
        programme = session.get(Programme, body.programme)
        if programme is None:
            known = sorted(session.exec(select(Programme.key)).all())
            raise InvalidRequest("programme", f"unknown programme {body.programme!r}; known: {known}")
    known_areas = set(session.exec(select(PriorityArea.key)).all())
    unknown = [area for area in body.areas if area not in known_areas]
    if unknown:
        raise InvalidRequest("areas", f"unknown area(s) {unknown}; known: {sorted(known_areas)}")
    return found, requester, programme


@router.post(
    "/export",
    response_class=Response,
    dependencies=[Depends(require_office)],
    responses={**export_responses("The shortlist file, as an attachment."), **problem_responses(422, 503)},
)
def export_shortlist(body: ShortlistExport, session: SessionDep, format: Format = "csv") -> Response:  # noqa: A002
    """Write the shortlist as a CSV or Excel file for an application form, one row per item in the given order."""
    institutions, requester, programme = _check(body, session=session)
    exported_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = _rows(body, institutions)
    about = _about(body, requester=requester, programme=programme, exported_at=exported_at)
    if format == "xlsx":
        content, media_type = write_xlsx(rows, about), XLSX_MEDIA_TYPE
    else:
        content, media_type = write_csv(rows, about), CSV_MEDIA_TYPE
    logger.info("shortlist of %d items exported as %s", len(rows), format)
    return attachment(content, media_type, "partnermatch-shortlist", format)
