"""Identity resolution on real records (values copied from the raw sources named in each case)."""

from __future__ import annotations

import pytest

from seed_data.names import match_key, web_host
from seed_data.resolve import resolve, tokens_correspond
from seed_data.sources import SourceRecord
from seed_data.tables import InstitutionKind


def _record(key: str, name: str, country: str, **extra: object) -> SourceRecord:
    source = key.split(":")[0]
    return SourceRecord(key=key, source=source, name=name, names=[name], country=country, **extra)  # type: ignore[arg-type]


def _clusters(records: list[SourceRecord]) -> list[set[str]]:
    clusters, _ = resolve(records)
    return [{records[i].key for i in members} for members in clusters]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kagawa University", "Kanagawa University"),  # Hipo JP vs CORDIS PIC 885602629
        ("Bohai University", "Hohai University"),  # Hipo CN vs ROR 01wd4xt90
        ("Kursk State Technical University", "Irkutsk State Technical University"),  # Hipo RU vs ROR 01zzkcm34
        ("Università degli Studi di Milano", "Università degli Studi di Milano-Bicocca"),
        ("China University of Political Science and Law", "East China University of Political Science and Law"),
        ("Ecole Nationale Supérieure des Mines de Nancy", "Ecole Nationale Supérieure des Mines de Nantes"),
    ],
)
def test_similar_names_of_different_institutions_stay_apart(a: str, b: str) -> None:
    assert not tokens_correspond(match_key(a), match_key(b))
    records = [_record("hipo:a", a, "XX"), _record("ror:b", b, "XX", ror_id="b")]
    assert _clusters(records) == [{"hipo:a"}, {"ror:b"}]


def test_cordis_legal_name_meets_ror_name_despite_legal_form_words() -> None:
    """CORDIS PIC 959424479 and ROR 03q0vrn42 are Al-Farabi Kazakh National University."""
    records = [
        _record("he_org:959424479",
                "NON COMMERCIAL JOINT STOCK COMPANY KAZAKH NATIONAL UNIVERSITY NAMES AFTER AL-FARABI", "KZ",
                pic="959424479", city="Almaty", kind=InstitutionKind.university),
        _record("ror:03q0vrn42", "Al-Farabi Kazakh National University", "KZ", ror_id="03q0vrn42", city="Almaty"),
    ]
    assert _clusters(records) == [{"he_org:959424479", "ror:03q0vrn42"}]


def test_pic_joins_cordis_and_erasmus_charter() -> None:
    records = [
        _record("he_org:999845737", "UNIVERSITA DEGLI STUDI DI CAMERINO", "IT", pic="999845737"),
        _record("eche:I CAMERIN01", "UNIVERSITA DEGLI STUDI DI CAMERINO", "IT", pic="999845737",
                erasmus_code="I CAMERIN01"),
    ]
    clusters, merges = resolve(records)
    assert len(clusters) == 1
    assert [(m.reason, m.accepted) for m in merges] == [("pic", True)]


def test_shared_domain_of_many_ror_records_proves_nothing() -> None:
    """Several CNR institutes carry cnr.it in ROR: the domain alone must not pick one of them."""
    records = [
        _record("he_org:999979500", "CONSIGLIO NAZIONALE DELLE RICERCHE", "IT", pic="999979500", domains=["cnr.it"]),
        _record("ror:04zaypm56", "Consiglio Nazionale delle Ricerche", "IT", ror_id="04zaypm56", domains=["cnr.it"]),
        _record("ror:00qcsrr74", "Istituto di Fisica Applicata Nello Carrara", "IT", ror_id="00qcsrr74",
                domains=["cnr.it"]),
    ]
    clusters = _clusters(records)
    # the name still joins the council itself; the institute stays apart
    assert {"he_org:999979500", "ror:04zaypm56"} in clusters
    assert {"ror:00qcsrr74"} in clusters


def test_merge_never_joins_two_pics_or_two_ror_ids() -> None:
    records = [
        _record("he_org:968706312", "Berlin University of Applied Sciences", "DE", pic="968706312"),
        _record("he_org:894730620", "CODE University of Applied Sciences Berlin", "DE", pic="894730620"),
        _record("hipo:code.berlin", "CODE University of Applied Sciences", "DE", domains=["code.berlin"]),
    ]
    clusters, merges = resolve(records, same_as=[("he_org:968706312", "he_org:894730620", "test")])
    assert len(clusters) == 3 - sum(m.accepted for m in merges)
    refused = [m for m in merges if not m.accepted]
    assert refused and "different PICs" in refused[0].note


def test_identical_names_merge_even_when_the_cities_differ() -> None:
    """CORDIS often gives the registered seat, ROR the campus town; identical names still merge."""
    records = [
        _record("ror:x1", "Ecole Nationale Superieure d'Architecture de Montpellier", "FR", ror_id="x1",
                city="Montpellier"),
        _record("he_org:1", "ECOLE NATIONALE SUPERIEURE D ARCHITECTURE DE MONTPELLIER", "FR", pic="1", city="Paris"),
    ]
    assert len(_clusters(records)) == 1


def test_web_host() -> None:
    assert web_host("https://www.unicam.it/") == "unicam.it"
    assert web_host("WWW.KAZNU.KZ") == "kaznu.kz"
    assert web_host("") is None
