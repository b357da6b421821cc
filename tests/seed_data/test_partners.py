"""PartnerResolver: ROR id, website, then exact normalised names within a country; never a guess."""

from __future__ import annotations

from sqlmodel import Session

from seed_data.partners import PartnerMatch, PartnerResolver, name_variants
from seed_data.tables import Institution

ROWS = [
    {"id": "pic-935156437", "name": "Sdu University", "aliases": ["SDU", "Suleyman Demirel University"],
     "short_name": "SDU", "country": "KZ", "ror_id": None, "domains": ["sdu.edu.kz"], "kind": "university"},
    {"id": "pic-997437421", "name": "Süleyman Demirel University", "aliases": ["SDU", "SULEYMAN DEMIREL UNIVERSITY"],
     "short_name": "SDU", "country": "TR", "ror_id": "04fjtte88", "domains": ["sdu.edu.tr"], "kind": "university"},
    {"id": "pic-999979694", "name": "Cardiff University", "aliases": [], "short_name": None, "country": "GB",
     "ror_id": "03kk7td41", "domains": ["cardiff.ac.uk"], "kind": "university"},
    {"id": "ror-05tyne317", "name": "Ministry of Science and Higher Education of the Republic of Kazakhstan",
     "aliases": [], "short_name": None, "country": "KZ", "ror_id": "05tyne317", "domains": ["gov.kz"],
     "kind": "public"},
    {"id": "ror-03577hm03", "name": "Ministry of Agriculture of the Republic of Kazakhstan", "aliases": [],
     "short_name": None, "country": "KZ", "ror_id": "03577hm03", "domains": ["gov.kz"], "kind": "public"},
]


def test_a_name_two_countries_share_resolves_by_country() -> None:
    resolver = PartnerResolver.from_rows(ROWS)
    assert resolver.resolve("Suleyman Demirel University", "KZ") == PartnerMatch("pic-935156437", "name")
    # accents, case and word order do not matter
    assert resolver.resolve("SULEYMAN DEMIREL UNIVERSITY", "TR") == PartnerMatch("pic-997437421", "name")
    assert resolver.resolve("Suleyman Demirel University", None) == PartnerMatch(
        None, "ambiguous", ("pic-935156437", "pic-997437421"))
    assert resolver.resolve("Suleyman Demirel University", "DE") == PartnerMatch(None, "unresolved")


def test_ror_then_website_then_name() -> None:
    resolver = PartnerResolver.from_rows(ROWS)
    by_ror = resolver.resolve("anything", None, ror_id="https://ror.org/03kk7td41")
    assert by_ror == PartnerMatch("pic-999979694", "ror")
    assert resolver.resolve("anything", "GB", website="https://www.cardiff.ac.uk/about") == PartnerMatch(
        "pic-999979694", "website")
    assert resolver.resolve("anything", "GB", website="https://sub.cardiff.ac.uk") == PartnerMatch(
        "pic-999979694", "website")  # a parent domain
    # a branch campus on its parent's site is not its parent: websites count within the country
    assert resolver.resolve("Cardiff University Kazakhstan", "KZ", website="https://cardiff.ac.uk/kz").how == \
        "unresolved"
    # a shared site: a name may single one row out, else two matches are reported
    faculties = PartnerResolver.from_rows([
        {**ROWS[0], "id": "a", "name": "Faculty of Law", "aliases": [], "domains": ["uni.example.kz"]},
        {**ROWS[0], "id": "b", "name": "Faculty of Medicine", "aliases": [], "domains": ["uni.example.kz"]}])
    assert faculties.resolve("Faculty of Law", "KZ", website="https://uni.example.kz/law") == PartnerMatch(
        "a", "name")
    assert faculties.resolve("Rectorate", "KZ", website="https://uni.example.kz") == PartnerMatch(
        None, "ambiguous", ("a", "b"))


def test_a_public_suffix_is_no_institution_s_site() -> None:
    resolver = PartnerResolver.from_rows(ROWS)
    # two ministries list "gov.kz" (so does the raw ROR data): every site under it would have been theirs
    committee = resolver.resolve("Science Committee", "KZ", website="https://www.gov.kz/memleket/entities/sci")
    assert committee == PartnerMatch(None, "unresolved")
    assert resolver.resolve("Ministry of Agriculture of the Republic of Kazakhstan", "KZ",
                            website="https://www.gov.kz/memleket") == PartnerMatch("ror-03577hm03", "name")
    # an institute on a sub-domain of its academy's site: its own record asks for the exact host only
    academy = PartnerResolver.from_rows([{**ROWS[2], "id": "cas", "name": "Chinese Academy of Sciences",
                                          "country": "CN", "ror_id": None, "domains": ["cas.cn"]}])
    assert academy.resolve("An institute", "CN", website="http://nieer.cas.cn").institution_id == "cas"
    assert academy.resolve("An institute", "CN", website="http://nieer.cas.cn",
                           parent_domains=False).how == "unresolved"


def test_acronyms_and_annotations_do_not_match() -> None:
    resolver = PartnerResolver.from_rows(ROWS)
    assert resolver.resolve("SDU", "KZ").how == "unresolved"
    assert name_variants("Alma-Ata Conservatory (historical)") == ["Alma-Ata Conservatory (historical)",
                                                                   "Alma-Ata Conservatory"]
    assert name_variants("Middle East Technical University (METU)")[-1] == "Middle East Technical University"
    assert "Commissariat à l'énergie atomique" in name_variants("CEA (Commissariat à l'énergie atomique)")
    # other spellings of one organisation that name two different rows: ambiguous
    both = resolver.resolve("Sdu University", "KZ",
                            other_names=["Ministry of Agriculture of the Republic of Kazakhstan"])
    assert both.how == "ambiguous"


def test_from_session_reads_the_institution_table(session: Session) -> None:
    for row in ROWS:
        session.add(Institution(**row))
    session.commit()
    resolver = PartnerResolver.from_session(session)
    assert resolver.resolve("Suleyman Demirel University", "TR").institution_id == "pic-997437421"
