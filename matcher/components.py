"""Scoring components: each maps (query, candidate rows) to values in [0, 1], vectorised over candidates.

A component's value never depends on which other candidates are ranked (normalisations run over the whole
catalogue), so the same candidate gets the same value in a suggestion, in the evaluation and in learning.
Ties with the requester are scored neutrally here; the ranking core applies the tie preference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matcher.engine import BRI_FAMILY, ERASMUS_FAMILY, CatalogueIndex, FloatArray, grid_percentile
from matcher.types import COMPONENTS

IntArray = npt.NDArray[np.intp]


@dataclass
class Query:
    """A request, resolved against the index (``ranking.resolve_query`` makes it)."""

    vector: npt.NDArray[np.float32] | None  # unit thematic query vector; None when nothing to compare
    area_cols: list[int]  # columns of index.area_strength that were requested
    requester_row: int | None = None  # catalogue row of the requester, if it is in the catalogue
    requester_strength: FloatArray | None = None  # (n_areas,) the requester's own area percentiles
    programme_family: str = ""
    # areas requested: candidates are compared through their evidence closest to the vector (not their whole
    # profile), and the requester's side is its evidence closest to the areas (see ranking.focus_vector)
    focused: bool = False
    # the past projects nearest the vector (columns) and their weights (signals.similar_projects)
    similar_cols: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    similar_weights: FloatArray = field(default_factory=lambda: np.zeros(0))
    # (n_items,) cosine of every evidence item (projects first) with the vector, computed once per request
    # (set with the vector, None without one): the focused thematic value, the similar past projects and the
    # explanation's evidence all read it
    item_cosines: npt.NDArray[np.float32] | None = None


class Component(Protocol):
    name: ClassVar[str]

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        """Values in [0, 1], shape (n_candidates,)."""
        ...


class Thematic:
    """Similarity of the candidate's research to the request. Without areas: its pooled evidence vector's
    cosine, calibrated so that 0.9 means "more similar than 90% of random institution pairs". With areas
    (focused): its evidence closest to the request (the mean of its ``AREA_TOP_ITEMS`` best weighted item
    cosines, the rule of area strength: ``CatalogueIndex.owner_top_items``), as a percentile among institutions
    with evidence (compared on a grid of 2**-15, ``engine.grid_percentile``)."""

    name = "thematic"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.vector is None or query.item_cosines is None:  # resolve_query sets both or neither
            return np.zeros(len(rows))
        if query.focused:
            return grid_percentile(index.owner_top_items(query.item_cosines), index.evidence_rows)[rows]
        return index.calibrated_cosines(query.vector)[rows] * index.has_evidence[rows]


class AreaFit:
    """The candidate's strength in the requested areas: percentile among institutions with evidence of the
    mean similarity of its three best projects to each area's description, averaged over the areas."""

    name = "area_fit"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if not query.area_cols:
            return np.zeros(len(rows))
        return index.area_strength_by_area[np.ix_(np.asarray(query.area_cols, dtype=np.intp), rows)].mean(axis=0)


class Complementarity:
    """How much stronger the candidate is than the requester in the requested areas (0 where it is not)."""

    name = "complementarity"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if not query.area_cols:
            return np.zeros(len(rows))
        own = np.zeros(len(query.area_cols)) if query.requester_strength is None else (
            query.requester_strength[query.area_cols])
        gap = index.area_strength_by_area[np.ix_(np.asarray(query.area_cols, dtype=np.intp), rows)] - own[:, None]
        return np.clip(gap, 0.0, 1.0).mean(axis=0)


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
    """Closeness in the co-participation graph: Adamic–Adar over shared partners, divided by the best value
    of any institution (the requester aside)."""

    name = "network"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.requester_row is None:
            return np.zeros(len(rows))
        scores = adamic_adar(index, query.requester_row)[: index.n]
        scores[query.requester_row] = 0.0
        top = scores.max() if len(scores) else 0.0
        return scores[rows] / top if top > 0 else np.zeros(len(rows))


class RegionalExperience:
    """The candidate's experience with partners from Kazakhstan and Central Asia (counting double) and other
    third countries (neither EU members nor associated to Horizon Europe): its past projects with such a
    partner, recency-weighted and coordinations counting double, plus its known partnerships with such
    institutions; a percentile among institutions with any."""

    name = "regional_experience"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        return index.regional_record[rows]


class SimilarProjects:
    """Item-based neighbours: the candidate's part in the past projects most similar to the request (each
    weighted by its similarity above a floor and its recency), divided by the best value of any institution."""

    name = "similar_projects"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        values = similar_project_values(index, query)
        top = values.max() if len(values) else 0.0
        return values[rows] / top if top > 0 else np.zeros(len(rows))


class RepeatPartnership:
    """Time-decayed direct ties with the requester: the projects they shared (each its recency factor) and
    their known partnerships (tie weight × recency), as ``1 − exp(−total)``: one joint project this year
    gives 0.63, two 0.86."""

    name = "repeat_partnership"

    def score(self, query: Query, index: CatalogueIndex, rows: IntArray) -> FloatArray:
        if query.requester_row is None:
            return np.zeros(len(rows))
        return 1.0 - np.exp(-repeat_strength(index, query.requester_row)[rows])


def similar_project_values(index: CatalogueIndex, query: Query) -> FloatArray:
    """(n,) each institution's summed weight of the request's similar past projects it took part in."""
    if not len(query.similar_cols):
        return np.zeros(index.n)
    part = index.membership_csc[: index.n][:, query.similar_cols]
    values = np.asarray(part @ query.similar_weights, dtype=np.float64).ravel()
    if query.requester_row is not None:
        values[query.requester_row] = 0.0
    return values


def repeat_strength(index: CatalogueIndex, node: int) -> FloatArray:
    """(n_nodes,) recency-weighted joint projects plus known partnerships of every node with ``node``."""
    out = np.zeros(index.joint_recency.shape[0])
    for matrix in (index.joint_recency, index.tie_recency):
        start, end = matrix.indptr[node], matrix.indptr[node + 1]
        np.add.at(out, matrix.indices[start:end], matrix.data[start:end])
    return out


def adamic_adar(index: CatalogueIndex, node: int) -> FloatArray:
    """Adamic–Adar score of every node with ``node``: sum over shared partners z of 1 / log(degree(z))."""
    # only the neighbours' rows matter: sum over shared partners z of w(z), as graph[z]·w(z) over z in N(node)
    neighbours = index.graph.indices[index.graph.indptr[node]:index.graph.indptr[node + 1]]
    weights = sp.diags(index.adamic_adar_weights[neighbours])
    return np.asarray((weights @ index.graph[neighbours]).sum(axis=0)).ravel()


def direct_ties(index: CatalogueIndex, node: int) -> npt.NDArray[np.bool_]:
    """Mask over nodes that already share a project or a known partnership with ``node``."""
    mask = np.zeros(index.graph.shape[0], dtype=bool)
    mask[index.graph[node].indices] = True
    return mask


# The registry: names to classes, in COMPONENTS order; an unknown name is an error, never a silent default.
REGISTRY: dict[str, type[Component]] = {
    c.name: c for c in (Thematic, AreaFit, Complementarity, TrackRecord, Network,  # type: ignore[misc]
                        RegionalExperience, SimilarProjects, RepeatPartnership)
}
assert tuple(REGISTRY) == COMPONENTS, "the registry lists every component, in COMPONENTS order"


def get_component(name: str) -> Component:
    """The component called ``name``; raises KeyError listing the known names otherwise."""
    if name not in REGISTRY:
        raise KeyError(f"unknown component {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]()
