"""A small real catalogue in an in-memory SQLite database, and a ``TestClient`` on an app started over it.

Rows are copied by hand from the built catalogue (``seed_data/data``, itself from CORDIS Horizon Europe,
the ECHE list, ROR and the Hipo domain list), keeping only the four projects below, so that project counts,
profiles and partners are those the build would give for this mini catalogue:

- UPGRADE (grant 101131146) and MARS (101130177), MSCA staff exchanges in which Nazarbayev University
  and the University of Tsukuba are both associated partners; UPGRADE is coordinated by the Italian
  National Research Council (CNR); in MARS the Uzbek Women's Rights Association (Istanbul) is listed
  twice, as associated partner and as participant, as CORDIS lists it.
- CARSI (101086415), in which Al-Farabi Kazakh National University is an associated partner.
- MARMADE (101213231), coordinated by the University of Camerino.

L. N. Gumilyov Eurasian National University (ROR and Hipo only, no PIC) has no project. Other real
participants are listed by PIC with no institution id, as the catalogue lists PICs it has no row for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine
from typer.testing import CliRunner

from api.auth import API_KEY_HEADER, create_api_key
from api.cli import app as cli_app
from api.db import make_engine
from api.main import create_app
from api.settings import Settings, get_settings
from embeddings.st import SentenceTransformerEmbedder
from seed_data.calls import CALLS_SOURCE, read_calls
from seed_data.files import DATA_DIR, read_json
from seed_data.tables import ApiKeyRole, Call, Institution, Participation, PriorityArea, Programme, Project

NU = "pic-953676162"
KAZNU = "pic-959424479"
UNICAM = "pic-999845737"
TSUKUBA = "pic-998703271"
CNR = "pic-999979500"
UZBEK_WOMEN = "pic-884398762"
ENU = "ror-0242cby63"
UPGRADE = "HE-101131146"
MARS = "HE-101130177"
CARSI = "HE-101086415"
MARMADE = "HE-101213231"

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"  # the real-source slice the CLI builds from
runner = CliRunner()


def institutions() -> list[Institution]:
    """Seven real institutions, with project counts and evidence for this mini catalogue."""
    return [
        Institution(
            id=NU,
            name="Nazarbayev University",
            legal_name="NAZARBAYEV UNIVERSITY",
            short_name="NU",
            native_name="Назарбаев Университет",
            country="KZ",
            city="Astana",
            kind="university",
            ror_id="052bx8q98",
            pic="953676162",
            website="https://nu.edu.kz/",
            aliases=["Назарбаев Университет", "Назарбаев Университеті", "NU"],
            domains=["nu.edu.kz"],
            provenance=["he_org:953676162", "hipo:nu.edu.kz", "ror:052bx8q98"],
            n_projects=2,
            has_research_evidence=True,
            profile_derived="Nazarbayev University (university, Astana, KZ). Research subjects: internet of "
            "things; democracy; human migrations; governance.",
        ),
        Institution(
            id=KAZNU,
            name="Al-Farabi Kazakh National University",
            legal_name="NON COMMERCIAL JOINT STOCK COMPANY KAZAKH NATIONAL UNIVERSITY NAMES AFTER AL-FARABI",
            native_name="Казахский национальный университет имени аль-Фараби",
            country="KZ",
            city="Almaty",
            kind="university",
            ror_id="03q0vrn42",
            pic="959424479",
            website="https://farabi.university",
            aliases=[
                "Äl Farabï atındağı Qazaq Ulttıq Unïversïteti",
                "Казахский национальный университет имени аль-Фараби",
                "Әл-Фараби атындағы Қазақ ұлттық университеті",
            ],
            domains=["farabi.university", "kaznu.kz"],
            provenance=["he_org:959424479", "hipo:kaznu.kz", "ror:03q0vrn42"],
            n_projects=1,
            has_research_evidence=True,
            profile_derived="Al-Farabi Kazakh National University (university, Almaty, KZ). Keywords: "
            "central asia, development, international cooperation.",
        ),
        Institution(
            id=UNICAM,
            name="Università di Camerino",
            legal_name="UNIVERSITA DEGLI STUDI DI CAMERINO",
            short_name="UNICAM",
            country="IT",
            city="Camerino",
            kind="university",
            ror_id="0005w8d69",
            pic="999845737",
            erasmus_code="I CAMERIN01",
            website="https://www.unicam.it",
            aliases=["University of Camerino", "Università degli Studi di Camerino", "UNICAM"],
            domains=["unicam.it"],
            provenance=["eche:I CAMERIN01", "he_org:999845737", "hipo:unicam.it", "ror:0005w8d69"],
            n_projects=1,
            has_research_evidence=True,
            profile_derived="Università di Camerino (university, Camerino, IT). Research subjects: "
            "biomolecules; bioeconomy.",
        ),
        Institution(
            id=TSUKUBA,
            name="University of Tsukuba",
            legal_name="UNIVERSITY OF TSUKUBA",
            short_name="UNITSUK",
            country="JP",
            city="Tsukuba Ibaraki",
            kind="university",
            pic="998703271",
            website="http://www.life.tsukuba.ac.jp/en/index.html",
            aliases=["UNITSUK", "Tsukuba University"],
            domains=["life.tsukuba.ac.jp", "tsukuba.ac.jp"],
            provenance=["he_org:998703271", "hipo:tsukuba.ac.jp"],
            n_projects=2,
            has_research_evidence=True,
            profile_derived="University of Tsukuba (university, Tsukuba Ibaraki, JP). Research subjects: "
            "internet of things; democracy; human migrations; governance.",
        ),
        Institution(
            id=CNR,
            name="National Research Council",
            legal_name="CONSIGLIO NAZIONALE DELLE RICERCHE",
            short_name="CNR",
            country="IT",
            city="Rome",
            kind="research",
            ror_id="04zaypm56",
            pic="999979500",
            website="https://www.cnr.it",
            aliases=["Consiglio Nazionale delle Ricerche", "CNR"],
            domains=["cnr.it"],
            provenance=["he_org:999979500", "ror:04zaypm56"],
            n_projects=1,
            has_research_evidence=True,
            profile_derived="National Research Council (research, Rome, IT). Research subjects: internet of "
            "things.",
        ),
        Institution(
            id=UZBEK_WOMEN,
            name="Ozbek Kadin Haklari Dernegi",
            legal_name="OZBEK KADIN HAKLARI DERNEGI",
            country="TR",
            city="Istambul",
            kind="other",
            pic="884398762",
            aliases=["UZBEK WOMENS RIGHTS ASSOCIATION"],
            provenance=["he_org:884398762"],
            n_projects=1,
            has_research_evidence=True,
            profile_derived="Ozbek Kadin Haklari Dernegi (other, Istambul, TR). Research subjects: "
            "democracy; human migrations; governance.",
        ),
        Institution(
            id=ENU,
            name="L. N. Gumilyov Eurasian National University",
            short_name="ENU",
            native_name="Евразийский национальный университет имени Л. Н. Гумилёва",
            country="KZ",
            city="Astana",
            kind="university",
            ror_id="0242cby63",
            website="https://www.enu.kz",
            aliases=["Eurasian National University", "Еуразия ұлттық университеті", "ENU"],
            domains=["enu.kz"],
            provenance=["hipo:enu.kz", "ror:0242cby63"],
            n_projects=0,
            has_research_evidence=False,
            profile_derived="L. N. Gumilyov Eurasian National University (university, Astana, KZ). No "
            "project evidence in the catalogue's sources.",
        ),
    ]


def projects() -> list[Project]:
    """Four real Horizon Europe projects (objectives cut to their first sentence)."""
    return [
        Project(
            id=UPGRADE,
            programme="HORIZON",
            grant_id="101131146",
            rcn="257837",
            acronym="UPGRADE",
            title="mUltiscale IoT equipPed lonG linear infRastructure resilience built and sustAinable "
            "DevelopmEnt",
            objective="Long linear infrastructure (LLIs) earthworks (e.g. road & railway slopes, pipeline "
            "bedding, flood protection structures) are more vulnerable to cascading and escalating failures, "
            "due to their topographically designed spanning length and long operational lives.",
            keywords=["Optic Fibre communication", "Risk assessment"],
            euroscivoc=["/natural sciences/computer and information sciences/internet/internet of things"],
            call="HORIZON-MSCA-2022-SE-01",
            topic="HORIZON-MSCA-2022-SE-01-01",
            topic_title="MSCA Staff Exchanges 2022",
            programme_part="HORIZON.1.2",
            start_date=dt.date(2024, 3, 1),
            end_date=dt.date(2028, 2, 29),
        ),
        Project(
            id=MARS,
            programme="HORIZON",
            grant_id="101130177",
            rcn="258144",
            acronym="MARS",
            title="Non-Western Migration Regimes in a Global Perspective",
            objective="According to the latest World Migration Report, 12 of the 20 top destinations for "
            "international migrants in 2020 were countries not belonging to what are considered traditional "
            "(Western) migrant-receiving countries in North America, Western Europe, and Australia.",
            keywords=["Migration", "the Global South", "non-Western migration regimes"],
            euroscivoc=[
                "/social sciences/political sciences/government systems/democracy",
                "/social sciences/sociology/demography/human migrations",
                "/social sciences/sociology/governance",
            ],
            call="HORIZON-MSCA-2022-SE-01",
            topic="HORIZON-MSCA-2022-SE-01-01",
            topic_title="MSCA Staff Exchanges 2022",
            programme_part="HORIZON.1.2",
            start_date=dt.date(2024, 2, 1),
            end_date=dt.date(2028, 1, 31),
        ),
        Project(
            id=CARSI,
            programme="HORIZON",
            grant_id="101086415",
            rcn="242842",
            acronym="CARSI",
            title="Caucasus and Central Asia Research on Social Innovation: Development Assistance, "
            "Innovation and Societal Transformation",
            objective="Development assistance to the Caucasus and Central Asian regions has grown "
            "significantly.",
            keywords=["Central Asia", "Development", "International Cooperation"],
            call="HORIZON-MSCA-2021-SE-01",
            topic="HORIZON-MSCA-2021-SE-01-01",
            topic_title="MSCA Staff Exchanges 2021",
            programme_part="HORIZON.1.2",
            start_date=dt.date(2023, 3, 1),
            end_date=dt.date(2027, 2, 28),
        ),
        Project(
            id=MARMADE,
            programme="HORIZON",
            grant_id="101213231",
            rcn="272140",
            acronym="MARMADE",
            title="MARine bioMass valorizAtion for fooD and fEed innovation",
            objective="The MARMADE project aims to develop sustainable, high-value food and feed ingredients "
            "from marine biomass, focusing on crustacean residues (shrimp shells and blue crabs) and "
            "seaweed.",
            keywords=["Marine biomass", "Food and fish feed ingredients", "circular economy"],
            euroscivoc=[
                "/natural sciences/biological sciences/biochemistry/biomolecules",
                "/social sciences/economics and business/economics/bioeconomy",
            ],
            call="HORIZON-JU-CBE-2024",
            topic="HORIZON-JU-CBE-2024-RIA-05",
            topic_title="Innovative bio-based food/feed ingredients",
            programme_part="HORIZON.2.6.6",
            start_date=dt.date(2025, 9, 1),
            end_date=dt.date(2029, 8, 31),
        ),
    ]


def participations() -> list[Participation]:
    """The named institutions' participations, and a few real participants known only by PIC."""
    rows = [
        (UPGRADE, "999979500", "coordinator", CNR, "REC", "IT"),
        (UPGRADE, "953676162", "associated_partner", NU, "HES", "KZ"),
        (UPGRADE, "998703271", "associated_partner", TSUKUBA, "HES", "JP"),
        (UPGRADE, "999990946", "participant", None, "HES", "SE"),  # KTH
        (UPGRADE, "999895886", "participant", None, "HES", "ES"),  # Universidad de Alicante
        (MARS, "999901318", "coordinator", None, "HES", "SE"),  # Lunds universitet
        (MARS, "953676162", "associated_partner", NU, "HES", "KZ"),
        (MARS, "998703271", "associated_partner", TSUKUBA, "HES", "JP"),
        (MARS, "884398762", "associated_partner", UZBEK_WOMEN, "OTH", "TR"),
        (MARS, "884398762", "participant", UZBEK_WOMEN, "OTH", "TR"),
        (CARSI, "999892588", "coordinator", None, "HES", "IE"),  # Dublin City University
        (CARSI, "959424479", "associated_partner", KAZNU, "HES", "KZ"),
        (MARMADE, "999845737", "coordinator", UNICAM, "HES", "IT"),
        (MARMADE, "893304041", "participant", None, "PRC", "IT"),  # BIOCHICA SRL
    ]
    fields = ("project_id", "pic", "role", "institution_id", "activity_type", "country")
    return [Participation(**dict(zip(fields, row, strict=True))) for row in rows]


def reference_rows() -> list[PriorityArea | Programme]:
    """Two priority areas (one OpenAlex topic each, of the many they list) and two programmes."""
    return [
        PriorityArea(
            key="water",
            name="Water resource management",
            description="Research on the sustainable management of water resources: hydrological and "
            "hydrogeological modelling, surface water and groundwater flow, river basin and transboundary "
            "water management.",
            openalex_subfields=[{"id": 2312, "name": "Water Science and Technology"}],
            openalex_topics=[
                {
                    "id": 10330,
                    "name": "Hydrological Modeling and Water Resource Management",
                    "subfield_id": 2312,
                }
            ],
            euroscivoc_paths=["/natural sciences/earth and related environmental sciences/hydrology"],
            sources=["000_8d7216b4d8c792c0.txt", "004_fbdb0aefea6c4ad8.txt"],
        ),
        PriorityArea(
            key="ai",
            name="Artificial intelligence",
            description="Research on artificial intelligence and machine learning.",
            openalex_subfields=[
                {"id": 1702, "name": "Artificial Intelligence"},
                {"id": 1707, "name": "Computer Vision and Pattern Recognition"},
            ],
            openalex_topics=[
                {"id": 10320, "name": "Neural Network Fundamentals and Applications", "subfield_id": 1702}
            ],
            euroscivoc_paths=["/natural sciences/computer and information sciences/artificial intelligence"],
            sources=["000_8d7216b4d8c792c0.txt"],
        ),
        Programme(
            key="ca-italy",
            name="Central Asia + Italy",
            family="bilateral",
            description="The 'Central Asia + Italy' cooperation format between the five Central Asian states "
            "and Italy, which covers economic partnership, cultural exchange and educational projects.",
            requester_countries=["KG", "KZ", "TJ", "TM", "UZ"],
            partner_countries={"coordinator": ["IT"], "participant": ["IT"]},
            priority_areas=["ai", "water"],
            default_partner_kinds=["university", "research"],
            sources=["003_379b32556e94576d.txt"],
        ),
        Programme(
            key="erasmus-mobility",
            name="Erasmus+ International Credit Mobility (KA171)",
            family="erasmus",
            description="Erasmus+ Key Action 1 mobility of students and staff between higher-education "
            "institutions.",
            requester_countries=["KG", "KZ", "TJ", "TM", "UZ"],
            partner_countries={"coordinator": ["AT", "BE", "DE", "IT"]},
            priority_areas=["ai", "water"],
            default_partner_kinds=["university"],
            sources=["003_379b32556e94576d.txt"],
        ),
    ]


def _memory_engine() -> Engine:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    SQLModel.metadata.create_all(engine)
    return engine


@pytest.fixture
def empty_engine() -> Iterator[Engine]:
    """An in-memory SQLite database with every table and no rows."""
    engine = _memory_engine()
    yield engine
    engine.dispose()


def fill(engine: Engine) -> Engine:
    """Write the mini catalogue into ``engine``'s (empty) tables."""
    with Session(engine) as session:
        session.add_all([*institutions(), *projects(), *reference_rows()])
        session.flush()  # parents before the participations that refer to them
        session.add_all(participations())
        session.commit()
    return engine


def add_calls(engine: Engine) -> Engine:
    """Add the real call topics of the raw-source fixture to ``engine`` (filled), with their programme
    (Horizon Europe, as shipped)."""
    horizon = next(p for p in read_json(DATA_DIR / "programmes.json") if p["key"] == "horizon-europe")
    with Session(engine) as session:
        session.add(Programme.model_validate(horizon))
        session.add_all(Call.model_validate(row) for row in read_calls(RAW / CALLS_SOURCE))
        session.commit()
    return engine


@pytest.fixture
def catalogue_engine(empty_engine: Engine) -> Engine:
    """The in-memory database holding the mini catalogue."""
    return fill(empty_engine)


@pytest.fixture
def app(catalogue_engine: Engine, embedder: SentenceTransformerEmbedder) -> FastAPI:
    """The app over the mini catalogue (the URL is never opened: the engine is passed in)."""
    return create_app(Settings(database_url="sqlite://"), engine=catalogue_engine, embedder=embedder)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client on the started app: the lifespan has built the index."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_keys(catalogue_engine: Engine) -> dict[str, str]:
    """One API key per role in the mini catalogue's database: role -> the plaintext key."""
    with Session(catalogue_engine) as session:
        keys = {role.value: create_api_key(session=session, name=f"test {role.value}", role=role)[1]
                for role in ApiKeyRole}
        session.commit()
    return keys


@pytest.fixture
def office_client(client: TestClient, api_keys: dict[str, str]) -> TestClient:
    """A client sending an office key, on the app the ``client`` fixture has started (its lifespan ran)."""
    return TestClient(client.app, headers={API_KEY_HEADER: api_keys["office"]})


@pytest.fixture
def pg_client(pg_engine: Engine, embedder: SentenceTransformerEmbedder) -> Iterator[TestClient]:
    """A client on the app over the mini catalogue in PostgreSQL (``pg_engine``: tests/conftest.py)."""
    app = create_app(Settings(database_url="sqlite://"), engine=fill(pg_engine), embedder=embedder)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An empty SQLite file that the CLI commands use: ``DATABASE_URL`` points at it and the settings are
    read again (before and after); tests create the schema they need on the engine."""
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite file as the database and a catalogue folder freshly built from ``RAW`` by the CLI;
    returns that folder (``partnermatch db init --data-dir`` loads it)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pm.sqlite3'}")
    get_settings.cache_clear()
    out = tmp_path / "catalogue"
    result = runner.invoke(cli_app, ["catalogue", "build", "--raw", str(RAW), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Institutions named in policy texts" in result.output
    yield out
    get_settings.cache_clear()


def owner_headers(engine: Engine, institution_id: str) -> dict[str, str]:
    """Request headers with a new owner key of ``institution_id`` (an office key tied to it)."""
    with Session(engine) as session:
        row, plaintext = create_api_key(session=session, name=f"owner of {institution_id}", role=ApiKeyRole.office)
        row.institution_id = institution_id
        session.add(row)
        session.commit()
    return {API_KEY_HEADER: plaintext}


@pytest.fixture
def enu_owner(catalogue_engine: Engine) -> dict[str, str]:
    """Headers with the owner key of ENU."""
    return owner_headers(catalogue_engine, ENU)
