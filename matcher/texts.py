"""The texts that get embedded: one per project with text, one per priority area, owner profiles.

Changing a text changes its hash, so the embedding cache re-embeds exactly what changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def project_text(project: Mapping[str, Any]) -> str | None:
    """Title, objective, keywords and EuroSciVoc subjects of a project; None for a project without text
    (H2020 records carry no title or objective)."""
    title, objective = project.get("title"), project.get("objective")
    if not title and not objective:
        return None
    parts = [f"{title}." if title else "", " ".join((objective or "").split())]
    keywords: Sequence[str] = project.get("keywords") or []
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords) + ".")
    subjects = sorted({path.rsplit("/", 1)[-1] for path in project.get("euroscivoc") or []})
    if subjects:
        parts.append("Subjects: " + ", ".join(subjects) + ".")
    return " ".join(p for p in parts if p)


def area_text(area: Mapping[str, Any]) -> str:
    """A priority area's name, description and the names of the OpenAlex topics it maps to."""
    topics = ", ".join(t["name"] for t in area.get("openalex_topics") or [])
    return f"{area['name']}. {area['description']}" + (f" Topics: {topics}." if topics else "")
