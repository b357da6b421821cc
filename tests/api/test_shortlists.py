"""``POST /shortlists/export``: CSV and Excel files read back, on the mini catalogue (tests/api/conftest.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
from fastapi.testclient import TestClient

from tests.api.conftest import CNR, ENU, KAZNU, NU, UNICAM

BODY = {
    "requester_id": KAZNU,
    "programme": "ca-italy",
    "areas": ["water", "ai"],
    "items": [
        {"institution_id": UNICAM, "score": 0.71, "status": "contacted", "note": "met at the info day"},
        {"institution_id": NU, "score": None, "status": None, "note": "=HYPERLINK(\"http://evil\",\"x\")"},
        {"institution_id": CNR, "score": 0.5, "status": "shortlisted", "note": "@SUM(1)"},
    ],
}


def _filename(response, suffix: str) -> None:  # type: ignore[no-untyped-def]
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    assert response.headers["content-disposition"] == f'attachment; filename="partnermatch-shortlist-{today}.{suffix}"'


def test_csv_has_one_row_per_item_in_order_with_identifiers_and_a_bom(office_client: TestClient) -> None:
    response = office_client.post("/shortlists/export", params={"format": "csv"}, json=BODY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    _filename(response, "csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only after a BOM
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["Institution id"] for r in rows] == [UNICAM, NU, CNR]
    assert [r["Rank"] for r in rows] == ["1", "2", "3"]
    unicam, nu, cnr = rows
    assert (unicam["Name"], unicam["Country"], unicam["PIC"], unicam["Erasmus code"], unicam["ROR"]) == (
        "Università di Camerino", "IT", "999845737", "I CAMERIN01", "https://ror.org/0005w8d69")
    assert (unicam["Score"], unicam["Status"], unicam["Note"]) == ("0.71", "contacted", "met at the info day")
    assert nu["Native name"] == "Назарбаев Университет" and nu["Score"] == "" and nu["Status"] == ""
    # formulas are written as text
    assert nu["Note"] == "'=HYPERLINK(\"http://evil\",\"x\")" and cnr["Note"] == "'@SUM(1)"
    assert {r["Requester"] for r in rows} == {"Al-Farabi Kazakh National University"}
    assert {r["Programme"] for r in rows} == {"Central Asia + Italy (ca-italy)"}
    assert {r["Areas"] for r in rows} == {"water, ai"}
    assert dt.datetime.fromisoformat(unicam["Exported at"]).tzinfo is not None


def test_xlsx_has_the_shortlist_and_an_about_sheet(office_client: TestClient) -> None:
    response = office_client.post("/shortlists/export", params={"format": "xlsx"}, json=BODY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    _filename(response, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Shortlist", "About"]
    header, *rows = list(book["Shortlist"].values)
    assert header[:3] == ("Rank", "Name", "Native name") and len(rows) == 3
    by_column = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["Rank"] for r in by_column] == [1, 2, 3]
    assert by_column[0]["Score"] == 0.71 and by_column[0]["ROR"] == "https://ror.org/0005w8d69"
    assert by_column[1]["Native name"] == "Назарбаев Университет"
    assert by_column[1]["Note"] == "'=HYPERLINK(\"http://evil\",\"x\")"  # text, not a formula
    assert all(cell.data_type != "f" for row in book["Shortlist"].iter_rows() for cell in row)
    about = dict(book["About"].values)
    assert about["Requester"] == "Al-Farabi Kazakh National University" and about["Areas"] == "water, ai"
    assert about["Items"] == 3


def test_unknown_ids_are_422s_naming_the_item(office_client: TestClient) -> None:
    items = [{"institution_id": NU}, {"institution_id": ENU}, {"institution_id": UNICAM},
             {"institution_id": "pic-000000000"}]
    response = office_client.post("/shortlists/export", json={"items": items})
    assert response.status_code == 422
    assert "items[3].institution_id" in response.json()["detail"]
    for field, change in (("requester_id", {"requester_id": "pic-1"}), ("programme", {"programme": "nope"}),
                          ("areas", {"areas": ["astrology"]})):
        response = office_client.post("/shortlists/export", json={**BODY, **change})
        assert response.status_code == 422 and field in response.json()["detail"], response.text
    assert office_client.post("/shortlists/export", json={"items": []}).status_code == 422
    assert office_client.post("/shortlists/export", params={"format": "pdf"}, json=BODY).status_code == 422
    minimal = office_client.post("/shortlists/export", json={"items": [{"institution_id": ENU}]})
    assert minimal.status_code == 200 and minimal.headers["content-type"].startswith("text/csv")


def test_export_needs_a_key(client: TestClient) -> None:
    assert client.post("/shortlists/export", json=BODY).status_code == 401
