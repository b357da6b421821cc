"""Institution search: abbreviations, domain labels, typos, and no noise from short names."""

from __future__ import annotations

from seed_data.search import InstitutionIndex, SearchRow

# Rows as the catalogue holds them (names, aliases and domains from ROR, Hipo and CORDIS).
ROWS = [
    SearchRow("pic-959424479", "Al-Farabi Kazakh National University",
              ["Казахский национальный университет имени аль-Фараби"], None, ["kaznu.kz", "farabi.university"], 2),
    SearchRow("ror-0242cby63", "L. N. Gumilyov Eurasian National University",
              ["Eurasian National University", "ENU"], "ENU", ["enu.kz"], 0),
    SearchRow("pic-953676162", "Nazarbayev University", ["Назарбаев Университет", "NU"], "NU", ["nu.edu.kz"], 10),
    SearchRow("pic-999845737", "Università di Camerino", ["University of Camerino", "UNICAM"], "UNICAM",
              ["unicam.it"], 21),
    SearchRow("pic-999570354", "Malta Enterprise", ["ME"], "ME", ["maltaenterprise.com"], 7),
    SearchRow("ror-04w8z7f34", "National Research Nuclear University MEPhI",
              ["Moscow Engineering Physics Institute", "MEPhI"], "MEPhI", ["mephi.ru"], 0),
]
INDEX = InstitutionIndex(ROWS)


def _first(query: str) -> str:
    return INDEX.search(query, limit=1)[0].id


def test_abbreviations_and_domain_labels() -> None:
    assert _first("KazNU") == "pic-959424479"  # from the domain kaznu.kz
    assert _first("ENU") == "ror-0242cby63"
    assert _first("mephi") == "ror-04w8z7f34"
    assert _first("https://www.nu.edu.kz/") == "pic-953676162"


def test_typos_and_other_scripts() -> None:
    assert _first("Nazarbaev Univrsity") == "pic-953676162"
    assert _first("university of camerino") == "pic-999845737"
    assert _first("Назарбаев Университет") == "pic-953676162"


def test_short_names_do_not_match_inside_longer_queries() -> None:
    hits = [h.id for h in INDEX.search("camerino", limit=5)]
    assert hits == ["pic-999845737"]  # "ME" is not a partial match of "caMErino"
    assert [h.id for h in INDEX.search("KazNU", limit=5)] == ["pic-959424479"]


def test_allowed_restricts_and_empty_query_finds_nothing() -> None:
    assert INDEX.search("university", limit=10, allowed={"pic-999845737"})[0].id == "pic-999845737"
    assert all(h.id == "pic-999845737" for h in INDEX.search("university", limit=10, allowed={"pic-999845737"}))
    assert INDEX.search("   ") == []


def test_a_name_typed_halfway_comes_first() -> None:
    """WRatio alone rates a short name found inside the query ("Univ. Lille" in "nazarbayev univ") above
    the name being typed; the share of query words a name covers, "univ" covering "university", decides."""
    rows = [*ROWS,
            SearchRow("pic-888146648", "Université de Lille", ["Univ. Lille", "University of Lille"], None,
                      ["univ-lille.fr"], 300),
            SearchRow("pic-999902943", "Tashkent State University of Law", ["TSUL"], "TSUL", ["tsul.uz"], 3),
            SearchRow("pic-999976784", "KU Leuven", ["Katholieke Universiteit Leuven", "Univ. of Leuven"], None,
                      ["kuleuven.be"], 900)]
    index = InstitutionIndex(rows)
    assert index.search("Nazarbayev Univ", limit=1)[0].id == "pic-953676162"
    assert index.search("Univ of Camerino", limit=1)[0].id == "pic-999845737"
    assert index.search("Eurasian National Uni", limit=1)[0].id == "ror-0242cby63"
