"""``seed_data.publications``: the publication files offices export, read into typed records, all-or-nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seed_data.publications import (
    PublicationFileError,
    PublicationRecord,
    abstract_from_inverted_index,
    detect_format,
    merge_duplicates,
    normalise_title,
    read_publications,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "publications"
BOM = b"\xef\xbb\xbf"

HYDRO = "Groundwater recharge modelling in a semi-arid basin"
WHEAT = "Wheat yield response to spring drought in the northern steppe"
NLP = "Machine translation between Kazakh and English with small parallel corpora"


def _summary(records: list[PublicationRecord]) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(r.title, r.year, r.doi, r.venue) for r in records]


# --- each format, from a fixture in the exporter's layout ------------------------------------------------------


def test_ris_scopus_export() -> None:
    records = read_publications(FIXTURES / "scopus.ris")
    assert _summary(records) == [
        (HYDRO, 2023, "10.5555/hydro.2023.0101", "Journal of Example Hydrology"),
        (WHEAT, 2022, "10.5555/agro.2022.0042", "Example Agronomy Letters"),
        # the duplicate's DOI was "https://doi.org/10.5555/HYDRO..." in the file
        (HYDRO, 2023, "10.5555/hydro.2023.0101", "Journal of Example Hydrology"),
    ]
    first = records[0]
    assert first.keywords == ["groundwater", "recharge", "semi-arid"]
    assert first.abstract is not None and first.abstract.startswith("Recharge to the alluvial aquifer was estimated")
    assert records[2].abstract is None
    assert [r.record_no for r in records] == [1, 2, 3]
    assert {r.source_format for r in records} == {"ris"}


def test_ris_year_with_date_parts_and_t1_title() -> None:
    text = "TY  - JOUR\nT1  - A study\nJO  - Some journal\nPY  - 2019/05/01/\nER  - \n"
    [record] = read_publications(text.encode(), fmt="ris")
    assert (record.title, record.year, record.venue) == ("A study", 2019, "Some journal")


def test_bibtex_scopus_export_with_latex_and_proceedings() -> None:
    records = read_publications(FIXTURES / "example.bib")
    assert _summary(records) == [
        ("Groundwater Recharge Modelling in a Semi-Arid Basin", 2023, None, "Journal of Example Hydrology"),
        # braces dropped and {\"O} decoded by bibtexparser's LaTeX middleware
        ("Snow cover dynamics in the Altai foothills from MODIS time series, Öskemen region", 2021,
         "10.5555/snow.2021.0003", "Example Journal of Mountain Science"),
        (NLP, 2024, "10.5555/nlp.2024.0007", "Proceedings of the Example Workshop on Turkic Languages"),
    ]
    # Scopus BibTeX: author_keywords then the index terms in "keywords", both "; " separated
    assert records[1].keywords == ["snow cover", "MODIS", "remote sensing", "Snow", "Satellite imagery"]
    assert records[2].abstract is not None and "қазақ тілі" in records[2].abstract
    assert {r.source_format for r in records} == {"bibtex"}


def test_bibtex_comma_separated_keywords() -> None:
    text = "@article{k, title = {T}, year = {2020}, keywords = {alpha, beta,gamma}}\n"
    [record] = read_publications(text.encode(), fmt="bibtex")
    assert record.keywords == ["alpha", "beta", "gamma"]


def test_scopus_csv_with_bom_and_quoted_cells() -> None:
    raw = (FIXTURES / "scopus.csv").read_bytes()
    assert raw.startswith(BOM + b'"Authors","Author full names","Author(s) ID","Title","Year","Source title"')
    records = read_publications(FIXTURES / "scopus.csv")
    assert _summary(records) == [
        (WHEAT, 2022, "10.5555/agro.2022.0042", "Example Agronomy Letters"),
        ("Urban heat island intensity from satellite land surface temperature", 2024, "10.5555/urban.2024.0015",
         "Example Remote Sensing Reports"),
        ('Permafrost "hot spots" in mountain catchments, revisited', 2020, None, "Example Cryosphere Notes"),
    ]
    # "Author Keywords" then "Index Keywords"
    assert records[0].keywords == ["spring wheat", "drought", "soil moisture", "Triticum aestivum", "Kazakhstan"]
    assert records[0].abstract is not None and records[0].abstract.startswith("Plot trials over four seasons")
    assert records[1].abstract == "Land surface temperature from thermal imagery was compared across\ntwo cities " \
                                  "and four seasons."  # line breaks in an abstract are kept
    assert records[2].abstract is None  # Scopus's "[No abstract available]"
    assert records[2].keywords == ["permafrost", "mountain hydrology"]


def test_wos_tab_delimited_with_bom() -> None:
    raw = (FIXTURES / "wos_savedrecs.txt").read_bytes()
    assert raw.startswith(BOM + b"PT\tAU\tBA\tBE\tGP\tAF\tBF\tCA\tTI\tSO\t")
    records = read_publications(FIXTURES / "wos_savedrecs.txt")
    assert _summary(records) == [
        (NLP, 2024, "10.5555/nlp.2024.0007", "PROCEEDINGS OF THE EXAMPLE WORKSHOP ON TURKIC LANGUAGES"),
        # WoS does not quote: a lone quote character is part of the title
        ('Dust storm frequency over the Aral Sea region, 1990-2020 "a reanalysis view', 2021,
         "10.5555/dust.2021.0099", "EXAMPLE ATMOSPHERIC LETTERS"),
        ("Irrigation scheduling with soil moisture sensors on small farms", 2019, None,
         "EXAMPLE JOURNAL OF IRRIGATION"),
    ]
    # DE (author keywords) then ID (Keywords Plus)
    assert records[0].keywords == ["machine translation", "Kazakh", "transfer learning", "NEURAL MACHINE TRANSLATION"]
    assert records[0].abstract is not None and records[0].abstract.startswith("We fine-tune a multilingual model")
    assert records[2].abstract is None and records[2].keywords == []


def test_openalex_api_page() -> None:
    records = read_publications(FIXTURES / "openalex_works.json")
    assert _summary(records) == [
        (HYDRO, 2023, "10.5555/hydro.2023.0101", "Journal of Example Hydrology"),
        ("Soil salinity mapping in irrigated cotton fields", 2022, "10.5555/soil.2022.0321",
         "Example Soil Science Letters"),
        ("A survey of research partnerships between universities", 2025, None, None),
    ]
    assert records[0].keywords == ["Groundwater recharge", "Water balance"]
    # no "keywords": the concepts below level 0 (level 0 ones such as "Geography" are whole disciplines)
    assert records[1].keywords == ["Soil science", "Salinity"]
    assert records[2].abstract is None


def test_openalex_abstract_rebuilt_in_word_order() -> None:
    records = read_publications(FIXTURES / "openalex_works.json")
    assert records[1].abstract == ("The salinity of the topsoil was mapped from the electrical conductivity of the "
                                   "soil and the reflectance of the crop.")
    assert records[0].abstract is not None and records[0].abstract.endswith(
        "and the recharge was highest in the wettest years.")
    # positions, not dictionary order, decide: "the" appears at 0 and 3
    assert abstract_from_inverted_index({"cat": [1], "the": [0, 3], "sat": [2], "mat": [4]}) == "the cat sat the mat"


def test_openalex_sparse_work_and_odd_shapes() -> None:
    works = [{"display_name": "Only a display name", "publication_year": 2021, "primary_location": None,
              "keywords": [], "concepts": ["not an object", {"display_name": "Hydrology", "level": 1}],
              "abstract_inverted_index": None}]
    [record] = read_publications(json.dumps(works).encode())
    assert (record.title, record.year, record.venue, record.keywords) == (
        "Only a display name", 2021, None, ["Hydrology"])
    bad = [{"title": "T", "abstract_inverted_index": {"word": ["x"]}}]
    with pytest.raises(PublicationFileError, match="record 1: field 'abstract_inverted_index': position 'x'"):
        read_publications(json.dumps(bad).encode())


def test_openalex_plain_list_of_works() -> None:
    page = json.loads((FIXTURES / "openalex_works.json").read_text(encoding="utf-8"))
    records = read_publications(json.dumps(page["results"][:2]).encode())
    assert [r.title for r in records] == [HYDRO, "Soil salinity mapping in irrigated cotton fields"]


# --- format detection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("scopus.ris", "ris"),
    ("example.bib", "bibtex"),
    ("scopus.csv", "scopus_csv"),
    ("wos_savedrecs.txt", "wos_tsv"),
    ("openalex_works.json", "openalex_json"),
])
def test_format_detected_from_content_without_extension(name: str, expected: str, tmp_path: Path) -> None:
    data = (FIXTURES / name).read_bytes()
    assert detect_format(data.decode("utf-8-sig")) == expected
    renamed = tmp_path / "export.dat"  # no telling extension: the content decides
    shutil.copyfile(FIXTURES / name, renamed)
    assert {r.source_format for r in read_publications(renamed)} == {expected}
    assert {r.source_format for r in read_publications(data)} == {expected}


def test_extension_decides_when_content_does_not(tmp_path: Path) -> None:
    path = tmp_path / "empty.ris"
    path.write_text("\n")
    assert detect_format("\n", path.name) == "ris"
    assert read_publications(path) == []


def test_empty_upload_has_no_records() -> None:
    assert read_publications(b"") == []
    assert read_publications(BOM + b"\r\n", fmt="scopus_csv") == []


def test_unknown_content_and_format() -> None:
    with pytest.raises(PublicationFileError, match="cannot tell the format"):
        read_publications(b"just some words\n")
    with pytest.raises(ValueError, match="unknown publication format 'endnote'"):
        read_publications(b"TY  - JOUR\nER  - \n", fmt="endnote")


def test_wos_plain_text_export_is_refused_with_advice() -> None:
    with pytest.raises(PublicationFileError, match="Tab delimited"):
        read_publications(b"FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nTI A title\nER\nEF\n")


# --- all-or-nothing: errors name record and field --------------------------------------------------------------

_RIS_GOOD = "TY  - JOUR\nTI  - A good record\nPY  - 2020\nDO  - 10.5555/good.1\nER  - \n\n"


@pytest.mark.parametrize(("bad", "problem"), [
    ("TY  - JOUR\nPY  - 2020\nER  - \n\n", "record 2: field 'title': missing"),
    ("TY  - JOUR\nTI  - Bad year\nPY  - 20x4\nER  - \n\n", "record 2: field 'year': not a year: '20x4'"),
    ("TY  - JOUR\nTI  - Bad DOI\nDO  - not-a-doi\nER  - \n\n", "record 2: field 'doi': not a DOI"),
    ("TY  - JOUR\nTI  - Nul\x00 in title\nER  - \n\n", "record 2: field 'title': control character U+0000"),
    ("TY  - JOUR\nTI  - Nul\nAB  - in the \x00 abstract\nER  - \n\n",
     "record 2: field 'abstract': control character U+0000"),
    ("TY  - JOUR\nTI  - Too old\nPY  - 1066\nER  - \n\n", "record 2: field 'year': year 1066 is outside 1900.."),
    ("TY  - JOUR\nTI  - Bad keyword\nKW  - ok\nKW  - bell\x07\nER  - \n\n",
     "record 2: field 'keywords[2]': control character U+0007"),
])
def test_one_bad_ris_record_rejects_the_whole_file(bad: str, problem: str) -> None:
    text = _RIS_GOOD + bad + _RIS_GOOD
    with pytest.raises(PublicationFileError) as caught:
        read_publications(text.encode())
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)
    assert isinstance(caught.value, ValueError)


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = (_RIS_GOOD + "TY  - JOUR\nPY  - 20x4\nER  - \n\n" + _RIS_GOOD
            + "TY  - JOUR\nTI  - T\nDO  - doi:11.1/x\nER  - \n\n")
    with pytest.raises(PublicationFileError) as caught:
        read_publications(text.encode())
    assert [p.split(":", 2)[:2] for p in caught.value.problems] == [
        ["record 2", " field 'title'"], ["record 2", " field 'year'"], ["record 4", " field 'doi'"],
    ]
    assert "record 2: field 'title': missing" in str(caught.value)


def test_ris_record_without_end_tag_is_not_silently_dropped() -> None:
    with pytest.raises(PublicationFileError, match="every record needs both tags"):
        read_publications((_RIS_GOOD + "TY  - JOUR\nTI  - Unfinished\n").encode())


def test_bad_records_in_the_other_formats() -> None:
    header = (FIXTURES / "scopus.csv").read_bytes().split(b"\n", 1)[0]
    csv_bad = header + b'\n"A.","","","","2020","J"\n"B.","","","Fine","20x4","J"\n'
    with pytest.raises(PublicationFileError) as caught:
        read_publications(csv_bad)
    assert caught.value.problems == ["record 1: field 'title': missing",
                                     "record 2: field 'year': not a year: '20x4'"]

    wos_header = (FIXTURES / "wos_savedrecs.txt").read_bytes().split(b"\r\n", 1)[0]
    columns = wos_header.removeprefix(BOM).decode().split("\t")
    row = dict.fromkeys(columns, "")
    row.update(PT="J", TI="Fine title", PY="2021", DI="not-a-doi")
    wos_bad = wos_header + b"\r\n" + "\t".join(row[c] for c in columns).encode() + b"\r\n"
    with pytest.raises(PublicationFileError, match=r"record 1: field 'doi': not a DOI"):
        read_publications(wos_bad)

    bib_bad = b"@article{a, title = {Fine}, year = {2020}}\n@article{b, title = {Broken, year = {2020}}\n"
    with pytest.raises(PublicationFileError, match=r"record 2: field 'entry': cannot be parsed"):
        read_publications(bib_bad)

    works = [{"title": "Fine", "publication_year": 2020},
             {"title": "Nul\u0000", "publication_year": 2020, "doi": "https://doi.org/10.5555/x"}]
    with pytest.raises(PublicationFileError, match=r"record 2: field 'title': control character U\+0000"):
        read_publications(json.dumps(works).encode())


def test_not_utf8_is_a_file_problem() -> None:
    with pytest.raises(PublicationFileError, match="file: not utf-8-sig text"):
        read_publications(b"TY  - JOUR\nTI  - Caf\xe9\nER  - \n")


def test_wrapped_title_becomes_one_line() -> None:
    text = "@article{k, title = {Groundwater recharge modelling\n\tin a semi-arid basin}, year = {2023}}\n"
    [record] = read_publications(text.encode())
    assert record.title == HYDRO


@pytest.mark.parametrize(("raw", "doi"), [
    ("10.5555/ABC.1", "10.5555/abc.1"),
    ("https://doi.org/10.5555/abc.1", "10.5555/abc.1"),
    ("http://dx.doi.org/10.5555/abc.1", "10.5555/abc.1"),
    ("doi:10.5555/abc.1", "10.5555/abc.1"),
    ("  DOI: 10.5555/abc.1 ", "10.5555/abc.1"),
    ("", None),
])
def test_doi_normalised(raw: str, doi: str | None) -> None:
    record = PublicationRecord(title="T", doi=raw, source_format="ris", record_no=1)
    assert record.doi == doi


# --- duplicates -------------------------------------------------------------------------------------------------


def test_normalised_title() -> None:
    assert normalise_title("Groundwater  Recharge Modelling — in a Semi-Arid Basin.") == \
        "groundwater recharge modelling in a semi arid basin"
    assert normalise_title("ＡＢＣ") == "abc"  # NFKC: full-width letters


def test_duplicate_within_a_file_merged_by_doi() -> None:
    records = read_publications(FIXTURES / "scopus.ris")
    merged, pairs = merge_duplicates(records)
    assert pairs == [(1, 3)]
    assert [r.title for r in merged] == [HYDRO, WHEAT]
    hydro = merged[0]
    assert hydro.keywords == ["groundwater", "recharge", "semi-arid", "water balance"]  # union, first order
    assert hydro.abstract is not None and hydro.abstract.startswith("Recharge to the alluvial aquifer")
    assert hydro.record_no == 1


def test_duplicates_across_files_merged_by_doi_and_by_title() -> None:
    bib = read_publications(FIXTURES / "example.bib")  # the hydrology paper has no DOI here
    openalex = read_publications(FIXTURES / "openalex_works.json")
    merged, pairs = merge_duplicates(bib + openalex)
    assert pairs == [(1, 1)]  # by normalised title and year: "Groundwater Recharge Modelling in a Semi-Arid ..."
    hydro = merged[0]
    assert hydro.doi == "10.5555/hydro.2023.0101"  # taken from the OpenAlex record
    assert hydro.abstract is not None and hydro.abstract.endswith("highest in the wettest years.")  # the longest
    assert hydro.keywords == ["groundwater", "aquifer", "Groundwater recharge", "Water balance"]
    assert hydro.source_format == "bibtex"
    assert len(merged) == len(bib) + len(openalex) - 1

    wos = read_publications(FIXTURES / "wos_savedrecs.txt")
    merged, pairs = merge_duplicates(bib + wos)
    assert pairs == [(3, 1)]  # the translation paper, by DOI
    nlp = next(r for r in merged if r.doi == "10.5555/nlp.2024.0007")
    assert "transfer learning" in nlp.keywords and "low-resource languages" in nlp.keywords


def test_same_title_different_year_or_doi_is_not_a_duplicate() -> None:
    a = PublicationRecord(title="Annual report", year=2020, source_format="ris", record_no=1)
    b = PublicationRecord(title="Annual Report", year=2021, source_format="ris", record_no=2)
    c = PublicationRecord(title="Annual report", year=2020, doi="10.5555/a", source_format="ris", record_no=3)
    d = PublicationRecord(title="Annual report", year=2020, doi="10.5555/b", source_format="ris", record_no=4)
    merged, pairs = merge_duplicates([a, b])
    assert (len(merged), pairs) == (2, [])
    merged, pairs = merge_duplicates([c, d])
    assert (len(merged), pairs) == (2, [])
    e = PublicationRecord(title="Annual report", source_format="ris", record_no=5)  # no year: title decides
    merged, pairs = merge_duplicates([a, e])
    assert pairs == [(1, 5)]
