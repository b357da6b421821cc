"""Every spreadsheet cell is safe to open (issue 13, finding 5): formulas written as text, characters a workbook
cannot hold replaced, catalogue values included; ``api.spreadsheet`` and ``POST /shortlists/export`` on the mini
catalogue (tests/api/conftest.py)."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.spreadsheet import spreadsheet_cell
from seed_data.tables import Institution
from tests.api.conftest import NU

# OWASP "CSV Injection": the formula and DDE starts, with leading blanks, full-width and small forms.
FORMULAS = ["=2+2", "+1+1", "-1+1", "@SUM(1)", "|calc", " =2+2", "\u3000=2+2", "\t=2+2", "\r=2+2", "\n=2+2",
            "＝SUM(1)", "＋1", "－1", "＠SUM(1)", "｜calc", "﹦1", "=cmd|' /C calc'!A0"]
RIGA = "pic-911111111"


@pytest.mark.parametrize("text", FORMULAS)
def test_formulas_become_text(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Astana", "a=b", "Università di Camerino", "'quoted", "", "100%", "1-2"])
def test_other_text_is_kept(text: str) -> None:
    assert spreadsheet_cell(text) == text


@pytest.mark.parametrize(("value", "cell"), [
    ("Riga\x01", "Riga\ufffd"), ("a\x00b", "a\ufffdb"), ("a\x1bb\x0bc", "a\ufffdb\ufffdc"), ("x\ud800", "x\ufffd"),
    ("\uffff", "\ufffd"), ("line\nbreak\tand tab", "line\nbreak\tand tab"),
])
def test_characters_a_workbook_cannot_hold_are_replaced(value: str, cell: str) -> None:
    assert spreadsheet_cell(value) == cell
    book = openpyxl.Workbook()
    book.active.append([spreadsheet_cell(value)])  # type: ignore[union-attr]  # openpyxl refuses the raw value
    book.save(io.BytesIO())


@pytest.mark.parametrize("value", [None, 3, 0.71, -1.5, True])
def test_numbers_and_empty_cells_are_kept(value: object) -> None:
    assert spreadsheet_cell(value) == value


@pytest.fixture
def riga(catalogue_engine: Engine) -> str:
    """An institution imported before control characters were refused: a control character in its city, a
    formula as its name."""
    with Session(catalogue_engine) as session:
        session.add(Institution(id=RIGA, name="=HYPERLINK(\"http://evil\",\"Riga\")", native_name=" =1+1",
                                country="LV", city="Riga\x01", kind="university", website="|calc"))
        session.commit()
    return RIGA


def _export(client: TestClient, fmt: str, notes: list[str]) -> bytes:
    items = [{"institution_id": RIGA, "note": notes[0]}, *({"institution_id": NU, "note": n} for n in notes[1:])]
    response = client.post("/shortlists/export", params={"format": fmt}, json={"items": items})
    assert response.status_code == 200, response.text
    return response.content


def test_xlsx_export_of_catalogue_values_with_control_characters_and_formulas(
    office_client: TestClient, riga: str
) -> None:
    book = openpyxl.load_workbook(io.BytesIO(_export(office_client, "xlsx", [" =2+2", "＝SUM(1)", "|calc"])))
    rows = list(book["Shortlist"].iter_rows(min_row=2, values_only=True))
    header = [cell.value for cell in book["Shortlist"][1]]
    first = dict(zip(header, rows[0], strict=True))
    assert (first["Institution id"], first["City"]) == (riga, "Riga\ufffd")
    assert first["Name"] == "'=HYPERLINK(\"http://evil\",\"Riga\")"
    assert (first["Native name"], first["Website"], first["Note"]) == ("' =1+1", "'|calc", "' =2+2")
    assert [dict(zip(header, row, strict=True))["Note"] for row in rows[1:]] == ["'＝SUM(1)", "'|calc"]
    assert all(cell.data_type != "f" for row in book["Shortlist"].iter_rows() for cell in row)  # no formula


@pytest.mark.usefixtures("riga")
def test_csv_export_quotes_every_field_and_escapes_formulas(office_client: TestClient) -> None:
    content = _export(office_client, "csv", ["a;=1+1", "\t=2+2"]).decode("utf-8-sig")
    lines = content.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)  # every field quoted
    rows = list(csv.DictReader(io.StringIO(content)))
    assert (rows[0]["City"], rows[0]["Note"], rows[0]["Website"]) == ("Riga\ufffd", "a;=1+1", "'|calc")
    assert rows[1]["Note"] == "'\t=2+2"
