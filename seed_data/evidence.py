"""Evidence items and partnerships as rows: their stable ids, the texts that get embedded, and the evidence flags
they give an institution.

The catalogue build (kz_public_web facts) and the office imports (publications, projects, partnerships)
both make rows here, so the same record gets the same id and the same text whichever way it arrives: a
re-import finds the rows it wrote before instead of adding them twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from seed_data.tables import (
    EvidenceItem,
    EvidenceType,
    Institution,
    Participation,
    PartnershipType,
    Project,
    evidence_level,
)

_NON_WORD = re.compile(r"[\W_]+")


def normalised_title(title: str) -> str:
    """Casefolded, accents and punctuation removed, spaces collapsed: two spellings of one title compare equal."""
    decomposed = unicodedata.normalize("NFKD", title)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", stripped.casefold()).split())


def item_identity(*, title: str, external_id: str | None = None) -> str:
    """What makes an item the same item again: its external id (DOI, grant code), else its normalised title."""
    if external_id:
        return "id:" + external_id.strip().casefold()
    return "title:" + normalised_title(title)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def item_id(institution_id: str, item_type: EvidenceType | str, identity: str) -> str:
    """The stable id of an evidence item: ``ev-`` and a digest of institution, type and identity."""
    return "ev-" + _digest(institution_id, str(item_type), identity)


def partnership_id(institution_id: str, partner_name: str, partner_country: str | None,
                   partnership_type: PartnershipType | str, year: int | None) -> str:
    """The stable id of a partnership: ``pt-`` and a digest of both sides, type and year."""
    return "pt-" + _digest(institution_id, normalised_title(partner_name), partner_country or "",
                           str(partnership_type), str(year or ""))


def _sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if not text or text[-1] in ".!?" else text + "."


def project_item_text(*, title: str, abstract: str | None = None, keywords: Sequence[str] = (),
                      funder: str | None = None) -> str:
    """Text of a national or other non-CORDIS project: title, abstract, keywords, funder."""
    parts = [_sentence(title), _sentence(abstract)]
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords) + ".")
    if funder:
        parts.append(f"Funded by {funder}.")
    return " ".join(p for p in parts if p)


def publication_text(*, title: str, abstract: str | None = None, keywords: Sequence[str] = (),
                     venue: str | None = None) -> str:
    """Text of a publication: title, abstract, keywords, venue."""
    parts = [_sentence(title), _sentence(abstract)]
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords) + ".")
    if venue:
        parts.append(f"Published in {venue}.")
    return " ".join(p for p in parts if p)


def unit_text(*, name: str, topic: str | None = None) -> str:
    """Text of a research unit (institute, laboratory, centre): its name and what it works on."""
    return " ".join(p for p in [_sentence(name), _sentence(topic)] if p)


def field_text(*, subfield: str, basis: str | None = None) -> str:
    """Text of a research field (an OpenAlex subfield name) and the fact it rests on."""
    return " ".join(p for p in [f"Research field: {subfield}.", _sentence(basis)] if p)


def project_has_text() -> ColumnElement[bool]:
    """Whether a CORDIS project is an evidence item: it has a title or an objective to embed (the H2020 records
    have neither), as ``matcher.texts.project_text`` sees it."""
    return or_(and_(col(Project.title).is_not(None), col(Project.title) != ""),
               and_(col(Project.objective).is_not(None), col(Project.objective) != ""))


def evidence_types(session: Session, institution_ids: Iterable[str]) -> dict[str, set[str]]:
    """The evidence types each institution has: the types of its evidence items with text, ``eu_project`` if it
    takes part in a CORDIS project with a title or objective, ``owner_profile`` if its owner wrote a profile."""
    ids = sorted(set(institution_ids))
    types: dict[str, set[str]] = {inst: set() for inst in ids}
    if not ids:
        return types
    items = select(EvidenceItem.institution_id, EvidenceItem.type).where(
        col(EvidenceItem.institution_id).in_(ids), col(EvidenceItem.text) != "").distinct()
    for inst, item_type in session.exec(items).all():
        types[inst].add(item_type)
    projects = (select(Participation.institution_id).join(Project, col(Project.id) == col(Participation.project_id))
                .where(col(Participation.institution_id).in_(ids), project_has_text()).distinct())
    for (inst,) in session.execute(projects).all():
        types[inst].add(EvidenceType.eu_project.value)
    owners = select(Institution.id).where(col(Institution.id).in_(ids), col(Institution.profile_owner).is_not(None),
                                          col(Institution.profile_owner) != "")
    for inst in session.exec(owners).all():
        types[inst].add(EvidenceType.owner_profile.value)
    return types


def refresh_evidence_flags(session: Session, institution_ids: Iterable[str]) -> None:
    """Recompute ``evidence_level`` and ``has_research_evidence`` of ``institution_ids`` from their evidence
    (see ``evidence_types``). ``has_research_evidence`` is "has an evidence item with text", EU projects and the
    owner's profile included (the matcher gives such an institution a vector)."""
    types = evidence_types(session, institution_ids)
    for institution in session.exec(select(Institution).where(col(Institution.id).in_(list(types)))).all():
        present = types[institution.id]
        level = evidence_level(present).value
        has_evidence = bool(present)
        if institution.evidence_level != level or institution.has_research_evidence != has_evidence:
            institution.evidence_level = level
            institution.has_research_evidence = has_evidence
            session.add(institution)
    session.flush()
