"""Row factories and small fixture catalogues built from real records.

``write_mini_catalogue`` writes a catalogue in the shipped format (``seed_data/data/``) with three real
institutions and two real Horizon Europe projects, copied by hand from the raw sources in
``../shared/data/raw`` (CORDIS Horizon Europe, the ECHE list, ROR, Hipo):

- Nazarbayev University (PIC 953676162, ROR 052bx8q98, Astana, KZ) and the University of Bologna
  (PIC 999993953, ROR 01111rn36, Erasmus I BOLOGNA01): the two participants of SPEAK (grant 101210055,
  MSCA postdoctoral fellowship on Kazakh and Italian conversation, 2026-2027).
- Università di Camerino (PIC 999845737, ROR 0005w8d69, Erasmus I CAMERIN01): coordinator of MARMADE
  (grant 101213231, marine biomass for food and feed, 2025-2029). MARMADE's ten other real participants
  are listed by PIC with no institution id, the way the catalogue lists PICs that it has no row for;
  CORDIS ``EL``/``UK`` are written as ``GR``/``GB``, as the build normalises them.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select, text
from sqlmodel import Session, SQLModel

from seed_data import files
from seed_data.migrations import BASELINE_TABLES
from seed_data.tables import EvidenceItem, Institution, Participation, Partnership, PriorityArea, Programme, Project

NU = "pic-953676162"
UNIBO = "pic-999993953"
UNICAM = "pic-999845737"
SPEAK = "HE-101210055"
MARMADE = "HE-101213231"


def row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """A shipped-file row for ``model``: ``values`` over the model's defaults, as JSON-ready values.

    Every column appears (the loader wants exactly the table's columns); a key that is not a column, or a
    required column left out, raises ``KeyError``.
    """
    fields = model.model_fields
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KeyError(f"{model.__name__} has no columns {unknown}")
    out: dict[str, Any] = {}
    for name, info in fields.items():
        if name in values:
            value = values[name]
        elif info.is_required():
            raise KeyError(f"{model.__name__}.{name} is required")
        else:
            value = info.get_default(call_default_factory=True)
        out[name] = value.value if isinstance(value, Enum) else value
    return out


def mini_institutions() -> list[dict[str, Any]]:
    """Three real universities, as the build writes them (values from CORDIS, ECHE, ROR and Hipo)."""
    return [
        row(
            Institution,
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
            website="https://nu.edu.kz",
            aliases=["Назарбаев Университеті"],
            domains=["nu.edu.kz"],
            provenance=["he_org:953676162", "hipo:nu.edu.kz", "ror:052bx8q98"],
            n_projects=1,
            has_research_evidence=True,
            evidence_level="research",
            profile_derived="Horizon Europe: Convergence of syntactic, prosodic, and interactional units in "
            "conversation (SPEAK). Research subjects: general language studies.",
        ),
        row(
            Institution,
            id=UNIBO,
            name="University of Bologna",
            legal_name="ALMA MATER STUDIORUM - UNIVERSITA DI BOLOGNA",
            short_name="UNIBO",
            country="IT",
            city="Bologna",
            kind="university",
            ror_id="01111rn36",
            pic="999993953",
            erasmus_code="I BOLOGNA01",
            website="https://www.unibo.it",
            domains=["unibo.it"],
            provenance=["eche:I BOLOGNA01", "he_org:999993953", "ror:01111rn36"],
            n_projects=1,
            has_research_evidence=True,
            evidence_level="research",
            profile_derived="Horizon Europe: Convergence of syntactic, prosodic, and interactional units in "
            "conversation (SPEAK). Research subjects: general language studies.",
        ),
        row(
            Institution,
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
            aliases=["University of Camerino", "Università degli Studi di Camerino"],
            domains=["unicam.it"],
            provenance=["eche:I CAMERIN01", "he_org:999845737", "ror:0005w8d69"],
            n_projects=1,
            has_research_evidence=True,
            evidence_level="research",
            profile_derived="Horizon Europe: MARine bioMass valorizAtion for fooD and fEed innovation "
            "(MARMADE). Research subjects: biomolecules; bioeconomy.",
        ),
    ]


def mini_projects() -> list[dict[str, Any]]:
    """SPEAK and MARMADE as CORDIS describes them (MARMADE's objective: its first paragraph)."""
    return [
        row(
            Project,
            id=SPEAK,
            programme="HORIZON",
            grant_id="101210055",
            rcn="272060",
            acronym="SPEAK",
            title="Convergence of syntactic, prosodic, and interactional units in conversation",
            objective="SPEAK aims to establish the intonation unit as a basic unit of organization of spoken "
            "discourse. It does so by exploring the nature of the relationship between intonation units, "
            "syntactic constituents, and communicative units in Kazakh and Italian conversation.",
            keywords=[
                "intonation units",
                "spoken grammar",
                "interactional linguistics",
                "spoken language corpora",
                "Kazakh",
                "Italian",
            ],
            euroscivoc=["/humanities/languages and literature/general language studies"],
            call="HORIZON-MSCA-2024-PF-01",
            topic="HORIZON-MSCA-2024-PF-01-01",
            topic_title="MSCA Postdoctoral Fellowships 2024",
            programme_part="HORIZON.1.2",
            start_date="2026-01-01",
            end_date="2027-12-31",
        ),
        row(
            Project,
            id=MARMADE,
            programme="HORIZON",
            grant_id="101213231",
            rcn="272140",
            acronym="MARMADE",
            title="MARine bioMass valorizAtion for fooD and fEed innovation",
            objective="The MARMADE project aims to develop sustainable, high-value food and feed "
            "ingredients from marine biomass, focusing on crustacean residues (shrimp shells and blue crabs) "
            "and seaweed.",
            keywords=[
                "Marine biomass",
                "Food and fish feed ingredients",
                "circular economy",
                "biorefinery approach",
                "cascading extraction processes",
            ],
            euroscivoc=[
                "/natural sciences/biological sciences/biochemistry/biomolecules",
                "/social sciences/economics and business/economics/bioeconomy",
            ],
            call="HORIZON-JU-CBE-2024",
            topic="HORIZON-JU-CBE-2024-RIA-05",
            topic_title="Innovative bio-based food/feed ingredients",
            programme_part="HORIZON.2.6.6",
            start_date="2025-09-01",
            end_date="2029-08-31",
        ),
    ]


PARTICIPATION_HEADER = list(Participation.model_fields)


def mini_participations() -> list[dict[str, Any]]:
    """Every CORDIS participant of SPEAK and MARMADE."""
    rows = [
        (SPEAK, "999993953", "coordinator", UNIBO, "HES", "IT"),
        (SPEAK, "953676162", "associated_partner", NU, "HES", "KZ"),
        (MARMADE, "999845737", "coordinator", UNICAM, "HES", "IT"),
        (MARMADE, "893304041", "participant", None, "PRC", "IT"),  # BIOCHICA SRL
        (MARMADE, "999514191", "participant", None, "REC", "IT"),  # APRE
        (MARMADE, "916359292", "participant", None, "PRC", "GR"),  # ENA SYMVOULOI ANAPTYXIS
        (MARMADE, "999904616", "participant", None, "HES", "DK"),  # Syddansk Universitet
        (MARMADE, "999882015", "participant", None, "HES", "ES"),  # Universidad de Granada
        (MARMADE, "974250444", "participant", None, "REC", "ES"),  # CTAQUA
        (MARMADE, "999984059", "participant", None, "REC", "DE"),  # Fraunhofer
        (MARMADE, "876897073", "participant", None, "PRC", "GB"),  # Algae Scope Ltd
        (MARMADE, "999975717", "participant", None, "HES", "IE"),  # University College Cork
        (MARMADE, "885581483", "participant", None, "PRC", "DE"),  # Wunderfish GmbH
    ]
    return [dict(zip(PARTICIPATION_HEADER, values, strict=True)) for values in rows]


def mini_priority_areas() -> list[dict[str, Any]]:
    """One national priority area (water), named in the context documents, with real OpenAlex ids."""
    return [
        row(
            PriorityArea,
            key="water",
            name="Water resource management",
            description="Research on the sustainable management of water resources: hydrological modelling, "
            "river basin and transboundary water management, irrigation and drinking water quality.",
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
        )
    ]


def mini_programmes() -> list[dict[str, Any]]:
    """Horizon Europe, with a few of its eligible partner countries."""
    return [
        row(
            Programme,
            key="horizon-europe",
            name="Horizon Europe",
            family="horizon",
            description="The EU framework programme for research and innovation 2021-2027.",
            requester_countries=["KZ"],
            partner_countries={"coordinator": ["DE", "IT"], "participant": ["DE", "IT", "NO"]},
            priority_areas=["water"],
            default_partner_kinds=["university", "research"],
            sources=["Regulation (EU) 2021/695 establishing Horizon Europe"],
        )
    ]


def write_mini_catalogue(directory: Path) -> Path:
    """Write the mini catalogue's shipped files into ``directory`` (created if needed); return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files.write_jsonl_gz(directory / "institutions.jsonl.gz", mini_institutions())
    files.write_jsonl_gz(directory / "projects.jsonl.gz", mini_projects())
    files.write_csv_gz(directory / "participations.csv.gz", PARTICIPATION_HEADER, mini_participations())
    files.write_json(directory / "priority_areas.json", mini_priority_areas())
    files.write_json(directory / "programmes.json", mini_programmes())
    # no curated evidence, partnerships or call topics in the mini catalogue: the files are there, empty, as a
    # build with none would write them
    files.write_jsonl_gz(directory / "evidence_items.jsonl.gz", [])
    files.write_jsonl_gz(directory / "partnerships.jsonl.gz", [])
    files.write_jsonl_gz(directory / "calls.jsonl.gz", [])
    return directory


def dump_tables(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every row of every catalogue table, by primary key: two equal dumps prove that nothing changed."""
    dump: dict[str, list[dict[str, Any]]] = {}
    for model in (Institution, Project, Participation, PriorityArea, Programme, EvidenceItem, Partnership):
        table = model.__table__  # type: ignore[attr-defined]
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        dump[table.name] = [dict(r) for r in rows]
    return dump


# Columns that migrations after the baseline added, by table: a release made before them lacked them.
COLUMNS_ADDED_LATER = {"apikey": {"institution_id"}, "institution": {"evidence_level"}}
# Plain columns (no index, key or constraint) later migrations added: the release's tables are made whole and
# these dropped again, so every constraint of those tables stays as the release had it.
PLAIN_COLUMNS_ADDED_LATER = {"project": ("funding_scheme",), "weightprofileversion": ("kind", "model")}


def create_release_tables(engine: Engine, *, owner_keys: bool) -> None:
    """The tables as a release before migrations made them with ``create_all`` (no ``alembic_version``): the
    baseline tables without the columns later migrations added, except ``apikey.institution_id`` if
    ``owner_keys`` (the last such release had it)."""
    old = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in BASELINE_TABLES:
            continue
        later = COLUMNS_ADDED_LATER.get(table.name, set()) - ({"institution_id"} if owner_keys else set())
        if later:
            Table(table.name, old, *(c._copy() for c in table.columns if c.name not in later))
        else:
            table.to_metadata(old)  # with its table-level indexes and constraints
    old.create_all(engine)
    with engine.begin() as connection:
        for table_name, columns in PLAIN_COLUMNS_ADDED_LATER.items():
            for column in columns:
                connection.execute(text(f"ALTER TABLE {table_name} DROP COLUMN {column}"))
