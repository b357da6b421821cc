"""What goes into a spreadsheet cell (CSV or XLSX): the one place that makes a value safe to open in Excel or
LibreOffice.

``spreadsheet_cell`` follows OWASP's "CSV Injection" guidance: text whose first non-blank character a
spreadsheet would start a formula or a DDE link with (``=``, ``+``, ``-``, ``@``, ``|``, and their full-width
and small forms such as ``＝``), or that starts with a tab, carriage return or line feed, gets a leading
apostrophe, so it is shown as text and never run. CSV writers quote every field as well, so a separator
inside a value cannot start a new cell. Characters an XLSX sheet (XML 1.0) cannot hold (C0 controls other
than tab and line breaks, U+FFFE, U+FFFF, lone surrogates) become U+FFFD; openpyxl would refuse them.
Catalogue values pass through here too: a city imported before the importer refused control characters
still exports.

The export routes (shortlists, consortia) share their ``format`` parameter, OpenAPI entry and download
response from here too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from seed_data.safe_text import UNWRITABLE

# The characters a formula or DDE link starts with; compared after NFKC, which folds the full-width and
# small forms ("＝", "﹦", "＋", "－", "＠") into these.
FORMULA_TRIGGERS = frozenset("=+-@|")
# Cells starting with these are escaped whatever follows (OWASP lists tab and carriage return).
_CONTROL_STARTS = ("\t", "\r", "\n")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UTF8_BOM = "\ufeff"  # Excel opens a BOM-marked CSV as UTF-8
# Excel holds at most 32,767 characters in a cell.
MAX_CELL_CHARS = 32767

ExportFormat = Literal["csv", "xlsx"]
# The ``format`` query parameter of the export routes (shortlists, consortia).
Format = Annotated[ExportFormat, Query(description="csv (UTF-8 with BOM) or xlsx")]


def _starts_a_formula(text: str) -> bool:
    if text.startswith(_CONTROL_STARTS):
        return True
    rest = text.lstrip()  # " =2+2" is still a formula to some spreadsheets
    return bool(rest) and unicodedata.normalize("NFKC", rest[0])[:1] in FORMULA_TRIGGERS


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a spreadsheet cell: text made safe (see the module docstring); numbers and None as they are."""
    if not isinstance(value, str):
        return value
    text = UNWRITABLE.sub("\ufffd", value)
    if _starts_a_formula(text):
        text = "'" + text
    return text[:MAX_CELL_CHARS]


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file (UTF-8 with BOM, every field quoted): ``header``, then ``rows`` with every cell made safe and
    None written as an empty field."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else spreadsheet_cell(v) for v in row])
    return (UTF8_BOM + out.getvalue()).encode("utf-8")


def empty_workbook() -> Workbook:
    """A workbook without sheets (openpyxl starts one with an empty "Sheet"), for :func:`add_sheet`."""
    book = Workbook()
    book.remove(book.worksheets[0])
    return book


def add_sheet(book: Workbook, title: str, header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> Worksheet:
    """A new sheet of ``book`` titled ``title``: ``header`` (frozen), then ``rows``, every cell made safe."""
    sheet = book.create_sheet(title)
    if header is not None:
        sheet.append(list(header))
        sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([spreadsheet_cell(v) for v in row])
    return sheet


def workbook_bytes(book: Workbook) -> bytes:
    """``book`` saved as .xlsx bytes."""
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI 200 entry of an export route: ``description``, and a CSV or an XLSX body."""
    return {200: {"description": description,
                  "content": {"text/csv": {"schema": {"type": "string"}},
                              XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


def attachment(content: bytes, media_type: str, stem: str, format: ExportFormat) -> Response:  # noqa: A002
    """``content`` as a download named ``{stem}-{today (UTC), YYYYMMDD}.{format}``."""
    filename = f"{stem}-{dt.datetime.now(dt.UTC):%Y%m%d}.{format}"
    return Response(content=content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
