"""Office import of institutions (``seed_data.importer``) on top of the mini catalogue, in SQLite.

Rows use real institutions: Al-Farabi Kazakh National University (PIC 959424479, ROR 03q0vrn42) and
Sarsen Amanzholov East Kazakhstan University (ROR 00vj0q898) from CORDIS and ROR, and Northwest A&F
University (Yangling, China), named in the context documents, with no identifier at all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlmodel import Session

from seed_data.countries import ISO_3166_ALPHA2, is_country, normalise_country
from seed_data.crud import load_catalogue
from seed_data.importer import (
    COLUMNS,
    ImportValidationError,
    import_institutions,
    normalise_erasmus_code,
    normalise_ror_id,
    read_institution_file,
)
from seed_data.tables import Institution, InstitutionKind
from tests.factories import NU, UNIBO, UNICAM, dump_tables, write_mini_catalogue

KAZNU = "pic-959424479"
VKU = "ror-00vj0q898"
NWAFU = "imp-northwest-a-f-university-cn"
NU_PROFILE = "Nazarbayev University: artificial intelligence, water resources, Kazakh language technology."

OFFICE_CSV = f"""\
pic,ror_id,legal_name,name,country,city,kind,website,domains,aliases,profile
953676162,,,,,,,https://nu.edu.kz/en,,NU;Назарбаев Университеті,"{NU_PROFILE}"
959424479,https://ror.org/03q0vrn42,NON COMMERCIAL JOINT STOCK COMPANY KAZAKH NATIONAL UNIVERSITY NAMES \
AFTER AL-FARABI,Al-Farabi Kazakh National University,KZ,Almaty,university,farabi.university,kaznu.kz,KazNU,
,00vj0q898,Sarsen Amanzholov East Kazakhstan University,,kz,Ust-Kamenogorsk,University,https://vku.edu.kz,\
VKU.edu.kz ; ,,
"""


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    """The session with the mini catalogue loaded."""
    load_catalogue(session=session, data_dir=write_mini_catalogue(tmp_path / "data"))
    return session


def _write(tmp_path: Path, name: str, content: str | list[dict[str, object]]) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_import_creates_and_updates(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "kz_office.csv", OFFICE_CSV)
    before = dt.datetime.now(dt.UTC)

    report = import_institutions(session=loaded, path=path, dry_run=False)

    assert report.created == [KAZNU, VKU]
    assert report.unchanged == []
    assert list(report.updated) == [NU]
    changes = report.updated[NU]
    assert set(changes) == {"website", "aliases", "profile_owner", "profile_owner_updated", "provenance"}
    assert changes["website"] == ("https://nu.edu.kz", "https://nu.edu.kz/en")
    assert changes["aliases"] == (["Назарбаев Университеті"], ["NU", "Назарбаев Университеті"])
    assert changes["profile_owner"] == (None, NU_PROFILE)

    loaded.expire_all()
    nu = loaded.get(Institution, NU)
    assert nu is not None
    assert nu.profile == NU_PROFILE
    assert nu.profile_owner_updated is not None and nu.profile_owner_updated >= before
    assert nu.name == "Nazarbayev University"  # not supplied, so kept
    assert nu.provenance[-1] == "import:kz_office.csv"
    kaznu = loaded.get(Institution, KAZNU)
    assert kaznu is not None
    assert (kaznu.name, kaznu.pic, kaznu.ror_id, kaznu.country, kaznu.city) == (
        "Al-Farabi Kazakh National University",
        "959424479",
        "03q0vrn42",
        "KZ",
        "Almaty",
    )
    assert kaznu.website == "https://farabi.university"
    assert (kaznu.domains, kaznu.aliases, kaznu.kind) == (["kaznu.kz"], ["KazNU"], InstitutionKind.university)
    assert kaznu.provenance == ["import:kz_office.csv"]
    vku = loaded.get(Institution, VKU)
    assert vku is not None
    assert (vku.name, vku.country, vku.domains) == (
        "Sarsen Amanzholov East Kazakhstan University",
        "KZ",
        ["vku.edu.kz"],
    )


def test_json_import_matches_by_ror_url_and_creates_name_only_row(loaded: Session, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "it_cn.json",
        [
            {
                "ror_id": "https://ror.org/0005w8d69",
                "aliases": ["UNICAM", "University of Camerino"],
                "profile": "Camerino: marine biomass, chemistry, Erasmus partnerships with Central Asia.",
            },
            {
                "legal_name": "Northwest A&F University",
                "country": "CN",
                "city": "Yangling",
                "kind": "university",
            },
        ],
    )

    report = import_institutions(session=loaded, path=path, dry_run=False)

    assert report.created == [NWAFU]
    assert set(report.updated[UNICAM]) == {"aliases", "profile_owner", "profile_owner_updated", "provenance"}
    nwafu = loaded.get(Institution, NWAFU)
    assert nwafu is not None
    assert (nwafu.name, nwafu.legal_name, nwafu.country) == (
        "Northwest A&F University",
        "Northwest A&F University",
        "CN",
    )


def test_reimport_changes_nothing(loaded: Session, tmp_path: Path) -> None:
    csv_path = _write(tmp_path, "kz_office.csv", OFFICE_CSV)
    json_path = _write(tmp_path, "cn.json", [{"legal_name": "Northwest A&F University", "country": "CN"}])
    import_institutions(session=loaded, path=csv_path, dry_run=False)
    import_institutions(session=loaded, path=json_path, dry_run=False)
    before = dump_tables(loaded)

    again = import_institutions(session=loaded, path=csv_path, dry_run=False)
    again_json = import_institutions(session=loaded, path=json_path, dry_run=False)

    assert (again.created, again.updated, again.unchanged) == ([], {}, [NU, KAZNU, VKU])
    assert (again_json.created, again_json.updated, again_json.unchanged) == ([], {}, [NWAFU])
    assert dump_tables(loaded) == before


def test_dry_run_reports_and_changes_nothing(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "kz_office.csv", OFFICE_CSV)
    before = dump_tables(loaded)

    report = import_institutions(session=loaded, path=path, dry_run=True)

    assert report.dry_run
    assert report.created == [KAZNU, VKU]
    assert report.updated[NU]["website"] == ("https://nu.edu.kz", "https://nu.edu.kz/en")
    assert dump_tables(loaded) == before


def test_import_survives_a_catalogue_reload(loaded: Session, tmp_path: Path) -> None:
    import_institutions(session=loaded, path=_write(tmp_path, "kz_office.csv", OFFICE_CSV), dry_run=False)
    before = dump_tables(loaded)

    report = load_catalogue(session=loaded, data_dir=tmp_path / "data")

    assert report.n_changed == 0
    assert dump_tables(loaded) == before


def _assert_rejected_whole(session: Session, path: Path, problem: str) -> None:
    """Importing ``path`` fails with exactly ``problem`` (named in the message) and changes nothing."""
    before = dump_tables(session)
    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=session, path=path, dry_run=False)
    assert caught.value.problems == [problem]
    assert problem in str(caught.value)
    assert dump_tables(session) == before


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("id", UNICAM),
        ("pic", "999845737"),
        ("ror_id", "0005w8d69"),
        ("ror_id", "https://ror.org/0005w8d69"),
        ("erasmus_code", "I CAMERIN01"),
        ("erasmus_code", "i  camerin01"),  # padded as the official list pads one-letter prefixes
    ],
)
def test_match_by_identifier(loaded: Session, tmp_path: Path, header: str, value: str) -> None:
    path = _write(tmp_path, "unicam.csv", f"{header},city\n{value},Camerino (MC)\n")

    report = import_institutions(session=loaded, path=path, dry_run=False)

    assert report.created == []
    assert list(report.updated) == [UNICAM]
    assert set(report.updated[UNICAM]) == {"city", "provenance"}  # an equal identifier is not a change
    unicam = loaded.get(Institution, UNICAM)
    assert unicam is not None and unicam.city == "Camerino (MC)"


def test_row_matching_two_institutions_is_rejected(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "mixed.csv", "pic,ror_id,city\n953676162,0005w8d69,Astana\n")
    before = dump_tables(loaded)

    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=False)

    assert caught.value.problems == [
        f"mixed.csv:row 2: field 'ror_id': matches institution '{UNICAM}', but 'pic' matches '{NU}' "
        "(got '0005w8d69')"
    ]
    assert dump_tables(loaded) == before


def test_two_rows_for_one_institution_are_rejected(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "twice.csv", "pic,erasmus_code,city\n999993953,,Bologna\n,I BOLOGNA01,Forlì\n")

    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=False)

    assert caught.value.problems == [
        f"twice.csv:row 3: field 'erasmus_code': refers to the same institution '{UNIBO}' as row 2 "
        "(got 'I BOLOGNA01')"
    ]


COLUMN_LIST = ", ".join(COLUMNS)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "legal_name,country\nKazakh National Agrarian Research University,KZZ\n",
            "bad.csv:row 2: field 'country': not an ISO 3166-1 alpha-2 country code (e.g. KZ, IT) "
            "(got 'KZZ')",
        ),
        (
            "legal_name,country\nKazakh National Agrarian Research University,XX\n",
            "bad.csv:row 2: field 'country': not an ISO 3166-1 alpha-2 country code (e.g. KZ, IT) (got 'XX')",
        ),
        (
            "pic,country,city\n912345678,KZ,Almaty\n",
            "bad.csv:row 2: field 'legal_name': a legal_name (or name) is required for a new institution "
            "(got '')",
        ),
        (
            "legal_name,city\nKazakh National Agrarian Research University,Almaty\n",
            "bad.csv:row 2: field 'country': a country is required for a new institution (got '')",
        ),
        ("pic\n95367616\n", "bad.csv:row 2: field 'pic': a PIC is 9 digits (got '95367616')"),
        ("pic\n95367616X\n", "bad.csv:row 2: field 'pic': a PIC is 9 digits (got '95367616X')"),
        (
            "ror_id\n052bx8q99\n",
            "bad.csv:row 2: field 'ror_id': the check digits do not match (mistyped ROR id?) "
            "(got '052bx8q99')",
        ),
        (
            "ror_id\nhttps://ror.org/nu\n",
            "bad.csv:row 2: field 'ror_id': a ROR id is '0', 6 base-32 characters and 2 digits, "
            "or https://ror.org/<that id> (got 'https://ror.org/nu')",
        ),
        (
            "erasmus_code\nCAMERINO\n",
            "bad.csv:row 2: field 'erasmus_code': an Erasmus code is a country prefix, a city part and 1-3 "
            "digits, e.g. 'I CAMERIN01' (got 'CAMERINO')",
        ),
        (
            "pic,city\n953676162,Astana\n953676162,Nur-Sultan\n",
            "bad.csv:row 3: field 'pic': same value as row 2 (got '953676162')",
        ),
        (
            "pic,kind\n953676162,college\n",
            "bad.csv:row 2: field 'kind': not one of university, research, company, public, other "
            "(got 'college')",
        ),
        (
            "pic,colour\n953676162,blue\n",
            f"bad.csv:row 1: field 'colour': unknown column; columns are {COLUMN_LIST} (got 'colour')",
        ),
        (
            "id,city\npic-000000000,Astana\n",
            "bad.csv:row 2: field 'id': no institution with this id in the catalogue (got 'pic-000000000')",
        ),
    ],
)
def test_each_validation_problem_is_reported_and_nothing_changes(
    loaded: Session, tmp_path: Path, content: str, problem: str
) -> None:
    _assert_rejected_whole(loaded, _write(tmp_path, "bad.csv", content), problem)


def test_all_problems_of_a_json_file_are_listed_and_nothing_changes(loaded: Session, tmp_path: Path) -> None:
    """Good rows are not imported when another row is bad; JSON items are numbered from 1."""
    path = _write(
        tmp_path,
        "partners.json",
        [
            {"legal_name": "Northwest A&F University", "country": "CN"},
            {"pic": "953676162", "kind": "institute", "colour": "blue"},
            {"legal_name": "Kazakh National Agrarian Research University", "country": "KZ", "domains": 5},
            {"ror_id": "03q0vrn42", "city": "Almaty"},  # Al-Farabi KazNU: new, so needs a name and a country
        ],
    )
    before = dump_tables(loaded)

    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=False)

    assert caught.value.problems == [
        f"partners.json:row 2: field 'colour': unknown column; columns are {COLUMN_LIST} (got 'blue')",
        "partners.json:row 2: field 'kind': not one of university, research, company, public, other "
        "(got 'institute')",
        "partners.json:row 3: field 'domains': expected a list of strings or a ';'-separated string (got 5)",
        "partners.json:row 4: field 'legal_name': a legal_name (or name) is required for a new institution "
        "(got '')",
        "partners.json:row 4: field 'country': a country is required for a new institution (got '')",
    ]
    assert str(caught.value).startswith("partners.json: 5 problem(s), nothing imported:\n")
    assert dump_tables(loaded) == before


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("list.xlsx", "x", "list.xlsx: unsupported file type '.xlsx' (expected .csv or .json)"),
        ("broken.json", "[{", "broken.json: not valid JSON"),
        ("object.json", '{"pic": "953676162"}', "object.json: expected a JSON list of objects (got dict)"),
        ("items.json", '[{"pic": "953676162"}, "NU"]', "items.json:row 2: expected a JSON object (got 'NU')"),
    ],
)
def test_unreadable_files_are_rejected(
    loaded: Session, tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=True)
    assert caught.value.problems[0].startswith(problem)


def test_read_institution_file_reads_csv_and_json(tmp_path: Path) -> None:
    csv_path = _write(tmp_path, "a.csv", '\ufeffpic,profile\n953676162,"two\nlines"\n\n999845737,\n')
    assert read_institution_file(csv_path) == [
        {"pic": "953676162", "profile": "two\nlines"},
        {"pic": "999845737", "profile": ""},
    ]
    json_path = _write(tmp_path, "a.json", [{"pic": "953676162", "aliases": ["NU"]}])
    assert read_institution_file(json_path) == [{"pic": "953676162", "aliases": ["NU"]}]


def test_csv_row_numbers_count_blank_lines_and_multiline_cells(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "rows.csv", 'pic,profile\n953676162,"a\nprofile"\n\n9536761,\n')
    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=True)
    assert caught.value.problems == ["rows.csv:row 4: field 'pic': a PIC is 9 digits (got '9536761')"]


def test_too_long_value_is_rejected(loaded: Session, tmp_path: Path) -> None:
    name = "Kazakh National Agrarian Research University " * 12  # 540 characters; the column holds 500
    path = _write(tmp_path, "long.json", [{"legal_name": name, "country": "KZ"}])
    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=False)
    assert caught.value.problems == [
        f"long.json:row 1: field 'legal_name': longer than 500 characters (got {name.strip()!r})"
    ]


def test_identifier_normalisation() -> None:
    assert normalise_ror_id(" https://ror.org/05SBT2524/ ") == "05sbt2524"
    assert normalise_erasmus_code("irlDUBLIN01") == "IRLDUBLIN01"
    assert normalise_erasmus_code("LUXLUX-VIL01") == "LUXLUX-VIL01"
    assert normalise_erasmus_code("F  PARIS 063") == "F PARIS 063"


def test_country_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert normalise_country("EL") == "GR"
    assert normalise_country("uk") == "GB"
    assert normalise_country("KZ") == "KZ"
    assert is_country("XK") and is_country("KZ") and is_country("GB")
    assert not is_country("UK") and not is_country("EL") and not is_country("EU")


# --- text a database or workbook cannot hold, websites that are no http(s) links (issue 13) ----------------

LINE_RULE = "one line of text may hold no control character"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("pic,city\n953676162,Riga\x01\n",
         f"bad.csv:row 2: field 'city': control character U+0001 at position 4; {LINE_RULE} (got 'Riga\\x01')"),
        ("legal_name,country\nKazakh\x00 University,KZ\n",
         f"bad.csv:row 2: field 'legal_name': control character U+0000 at position 6; {LINE_RULE} "
         "(got 'Kazakh\\x00 University')"),
        ("pic,name\n953676162,Nazarbayev\tUniversity\n",
         f"bad.csv:row 2: field 'name': control character U+0009 at position 10; {LINE_RULE} "
         "(got 'Nazarbayev\\tUniversity')"),
        ("pic,aliases\n953676162,NU;N\x1bU\n",
         f"bad.csv:row 2: field 'aliases': control character U+001B at position 1; {LINE_RULE} (got 'N\\x1bU')"),
        ("pic,profile\n953676162,\"Water\x00 resources, hydrology and irrigation\"\n",
         "bad.csv:row 2: field 'profile': control character U+0000 at position 5; text may hold tab and line "
         "breaks but no other control character (got 'Water\\x00 resources, hydrology and irrigation')"),
        ("pic,website\n953676162,javascript:alert(document.domain)\n",
         "bad.csv:row 2: field 'website': only http and https URLs are allowed, not 'javascript' "
         "(got 'javascript:alert(document.domain)')"),
        ("pic,website\n953676162,JavaScript://%0Aalert(1)\n",
         "bad.csv:row 2: field 'website': only http and https URLs are allowed, not 'javascript' "
         "(got 'JavaScript://%0Aalert(1)')"),
        ("pic,website\n953676162,\"data:text/html,<script>alert(1)</script>\"\n",
         "bad.csv:row 2: field 'website': only http and https URLs are allowed, not 'data' "
         "(got 'data:text/html,<script>alert(1)</script>')"),
        ("pic,website\n953676162,https://\n",
         "bad.csv:row 2: field 'website': not a valid http(s) URL: it needs a host name and no spaces "
         "(got 'https://')"),
    ],
)
def test_control_characters_and_non_http_websites_are_rejected(
    loaded: Session, tmp_path: Path, content: str, problem: str
) -> None:
    _assert_rejected_whole(loaded, _write(tmp_path, "bad.csv", content), problem)


def test_a_lone_surrogate_in_json_is_rejected(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"pic": "953676162", "city": "Astana\\ud800"}]', encoding="utf-8")
    with pytest.raises(ImportValidationError) as caught:
        import_institutions(session=loaded, path=path, dry_run=False)
    assert caught.value.problems == [
        "bad.json:row 1: field 'city': not valid Unicode: a lone surrogate U+D800 at position 6 (got 'Astana\\ud800')"
    ]


def test_websites_are_stored_as_http_urls_and_profiles_keep_line_breaks(loaded: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.csv", 'pic,website,profile\n953676162,nu.edu.kz:8443/en,"Water\n\tresources"\n')
    import_institutions(session=loaded, path=path, dry_run=False)
    nu = loaded.get(Institution, NU)
    assert nu is not None
    assert (nu.website, nu.profile_owner) == ("https://nu.edu.kz:8443/en", "Water\n\tresources")
