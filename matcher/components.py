"""Scoring components: each maps (query, candidate rows) to values in [0, 1], vectorised over candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matcher.engine import BRI_FAMILY, ERASMUS_FAMILY, CatalogueIndex, FloatArray
from matcher.types import TiePreference

IntArray = npt.NDArray[np.intp]


@dataclass
class Query:
    """A request, resolved against the index."""

    vector: npt.NDArray[np.float32] | None  # unit thematic query vector; None when nothing to compare
    area_cols: list[int]  # columns of index.area_strength that were requested
    requester_row: int | None = None  # catalogue row of the requester, if it is in the catalogue
    requester_strength: FloatArray | None = None  # (n_areas,) the requester's own area percentiles
    programme_family: str = ""
    ties: TiePreference = TiePreference.neutral


class Component(Protocol):
    name: ClassVar[str]

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        """Values in [0, 1], shape (n_candidates,)."""
        ...


class Thematic:
    """Similarity of the candidate's research (pooled project vectors, or owner profile) to the request,
    calibrated so that 0.9 means "more similar than 90% of random institution pairs"."""

    name = "thematic"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.vector is None:
            return np.zeros(len(rows))
        return index.calibrated_cosines(query.vector)[rows] * index.has_evidence[rows]


class AreaFit:
    """The candidate's strength in the requested areas: percentile among institutions with evidence of the
    mean similarity of its three best projects to each area's description, averaged over the areas."""

    name = "area_fit"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if not query.area_cols:
            return np.zeros(len(rows))
        return index.area_strength[np.ix_(rows, np.asarray(query.area_cols, dtype=np.intp))].mean(axis=1)


class Complementarity:
    """How much stronger the candidate is than the requester in the requested areas (0 where it is not)."""

    name = "complementarity"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if not query.area_cols:
            return np.zeros(len(rows))
        own = np.zeros(len(query.area_cols)) if query.requester_strength is None else (
            query.requester_strength[query.area_cols])
        gap = index.area_strength[np.ix_(rows, np.asarray(query.area_cols, dtype=np.intp))] - own
        return np.clip(gap, 0.0, 1.0).mean(axis=1)


class TrackRecord:
    """Experience that counts for the programme. Horizon Europe (and the bilateral tracks): the percentile of
    recency-weighted CORDIS projects (coordinations count double). Erasmus+: half for holding the Erasmus
    charter, half the better of that CORDIS record and the percentile of known Erasmus+ partnerships abroad
    (capacity building, credit mobility). The Belt-and-Road track: the percentile of known partnerships with
    institutions of other Belt-and-Road countries (an EU project record is no evidence there)."""

    name = "track_record"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.programme_family == BRI_FAMILY:
            return index.bri_record[rows]
        record = index.track_record[rows]
        if query.programme_family == ERASMUS_FAMILY:
            return 0.5 * index.has_charter[rows] + 0.5 * np.maximum(record, index.erasmus_record[rows])
        return record


class Network:
    """Closeness in the co-participation graph: Adamic–Adar over shared partners, divided by the best
    candidate's value; an existing direct tie scores 1 when ties are preferred."""

    name = "network"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.requester_row is None:
            return np.zeros(len(rows))
        scores = adamic_adar(index, query.requester_row)
        values = scores[rows]
        top = values.max() if len(values) else 0.0
        values = values / top if top > 0 else values
        if query.ties is TiePreference.preferred:
            values = np.where(direct_ties(index, query.requester_row)[rows], 1.0, values)
        return values


def adamic_adar(index: CatalogueIndex, node: int) -> FloatArray:
    """Adamic–Adar score of every node with ``node``: sum over shared partners z of 1 / log(degree(z))."""
    # only the neighbours' rows matter: sum over shared partners z of w(z), as graph[z]·w(z) over z in N(node)
    neighbours = index.graph.indices[index.graph.indptr[node]:index.graph.indptr[node + 1]]
    weights = sp.diags(index.adamic_adar_weights[neighbours])
    return np.asarray((weights @ index.graph[neighbours]).sum(axis=0)).ravel()


def direct_ties(index: CatalogueIndex, node: int) -> npt.NDArray[np.bool_]:
    """Mask over nodes that already share a project with ``node``."""
    mask = np.zeros(index.graph.shape[0], dtype=bool)
    mask[index.graph[node].indices] = True
    return mask


# The registry: names to classes; an unknown name is an error, never a silent default.
REGISTRY: dict[str, type[Component]] = {
    c.name: c for c in (Thematic, AreaFit, Complementarity, TrackRecord, Network)  # type: ignore[misc]
}


def get_component(name: str) -> Component:
    """The component called ``name``; raises KeyError listing the known names otherwise."""
    if name not in REGISTRY:
        raise KeyError(f"unknown component {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]()
