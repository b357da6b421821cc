"""How evidence items count: weights by type and recency (data: ``matcher/data/evidence_weights.json``), and the
kernels that turn an institution's weighted items into its profile vector and area strengths.

An institution's research representation is a set of evidence items (CORDIS projects, national projects,
publications, research units and fields, its owner's profile). Each item has a vector and a weight:

    weight = type_weight[type] * max(floor, 0.5 ** (age / half_life_years))      (dated items)
    weight = type_weight[type] * floor                                              (undated items)

so an undated item never counts as recent. The profile vector is the unit-length weighted sum of the item
vectors; an item's score for an area is its cosine with the area's description times ``min(weight, 1)`` (one
heavy type cannot lift a poor match above a perfect one), and the area's raw strength is the mean of the
institution's best :data:`AREA_TOP_ITEMS` item scores. Known partnerships are network edges weighted by
their type (``ties``), next to co-participation in a CORDIS project.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from seed_data.tables import EvidenceType, PartnershipType

EVIDENCE_WEIGHTS_FILE = Path(__file__).parent / "data" / "evidence_weights.json"

# An area strength rests on several items close to the area, not on one: the mean of the best three.
AREA_TOP_ITEMS = 3
# An item is evidence *in* an area when its cosine with the area's description is at least this quantile of every
# item's (the area's floor, ``CatalogueIndex.area_item_floor``): the tenth of all items closest to the area, so an
# item counts in about one of the ten priority areas. An area-focused request reads the requester's evidence in
# the areas only (ranking.focus_vector). At the 75th percentile (a floor of 0.17 for AI) KazNU's water and
# agriculture projects counted as AI evidence and its AI partners were water utilities.
AREA_EVIDENCE_QUANTILE = 0.9
COPARTICIPATION = "coparticipation"

FloatArray = npt.NDArray[np.float64]


class Recency(BaseModel):
    """How an item's age discounts it."""

    model_config = ConfigDict(extra="forbid")

    half_life_years: float = Field(gt=0, le=100)
    floor: float = Field(ge=0, le=1)


class EvidenceWeights(BaseModel):
    """Weights of evidence types, recency and tie types; every type must be given (no silent default)."""

    model_config = ConfigDict(extra="forbid")

    types: dict[EvidenceType, float]
    recency: Recency
    ties: dict[str, float]

    @model_validator(mode="after")
    def _complete(self) -> EvidenceWeights:
        missing = [t.value for t in EvidenceType if t not in self.types]
        if missing:
            raise ValueError(f"types: no weight for {missing}")
        expected = {COPARTICIPATION, *(t.value for t in PartnershipType)}
        if set(self.ties) != expected:
            raise ValueError(f"ties: expected exactly {sorted(expected)}, got {sorted(self.ties)}")
        if any(not (0 <= w <= 100) for w in [*self.types.values(), *self.ties.values()]):
            raise ValueError("weights must lie in [0, 100]")
        return self

    def type_weights(self, types: npt.NDArray[np.str_]) -> FloatArray:
        """(n,) the weight of each item's type."""
        lookup = {t.value: w for t, w in self.types.items()}
        return np.array([lookup[str(t)] for t in types], dtype=np.float64)


def load_evidence_weights(path: Path = EVIDENCE_WEIGHTS_FILE) -> EvidenceWeights:
    """The evidence weights shipped as data (validated)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return EvidenceWeights.model_validate({k: v for k, v in raw.items() if not k.startswith("_")})


def recency(years: npt.NDArray[np.float64], *, reference_year: int, recency: Recency) -> FloatArray:
    """(n,) recency factor of items started or published in ``years`` (NaN: undated -> ``floor``)."""
    age = np.maximum(reference_year - years, 0.0)
    with np.errstate(invalid="ignore"):
        factor = np.maximum(0.5 ** (age / recency.half_life_years), recency.floor)
    return np.where(np.isnan(years), recency.floor, factor)


def item_weights(types: npt.NDArray[np.str_], years: npt.NDArray[np.float64], *, reference_year: int,
                 weights: EvidenceWeights) -> FloatArray:
    """(n,) weight of each item: its type's weight times its recency."""
    return weights.type_weights(types) * recency(years, reference_year=reference_year, recency=weights.recency)


def pooled_vectors(owners: sp.csr_matrix, item_vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(n, dim) unit-length weighted sums: ``owners`` is (n, n_items) holding each item's weight in its
    institution's row; rows without items stay zero."""
    pooled = np.asarray(owners @ item_vectors, dtype=np.float32)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def raw_area_strength(owners: sp.csr_matrix, evidence_vectors: npt.NDArray[np.float32],
                      area_vectors: npt.NDArray[np.float32]) -> FloatArray:
    """(n, n_areas) each institution's raw strength per area: the mean of its :data:`AREA_TOP_ITEMS` best item
    scores, an item's score being its cosine with the area times its weight (capped at 1); 0 without items.
    ``owners`` is (n, n_items) holding each item's weight in its institution's row."""
    out = np.zeros((owners.shape[0], area_vectors.shape[0]), dtype=np.float64)
    indptr, indices, data = owners.indptr, owners.indices, owners.data
    for i in np.flatnonzero(np.diff(indptr)):
        items = indices[indptr[i]:indptr[i + 1]]
        out[i] = area_strength_of(evidence_vectors[items], data[indptr[i]:indptr[i + 1]], area_vectors)[0]
    return out


def area_strength_of(item_vectors: npt.NDArray[np.float32], weights: FloatArray,
                     area_vectors: npt.NDArray[np.float32]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """One institution's raw strength per area (n_areas,) and, per area, the items behind it, best first
    ((n_areas, <= AREA_TOP_ITEMS) positions into ``item_vectors``): the rule of :func:`raw_area_strength`.
    Taking the best scores (not the closest items) keeps strength monotone: evidence added never lowers it."""
    scores = (area_vectors @ item_vectors.T).astype(np.float64) * np.minimum(weights, 1.0)[None, :]
    best = np.argsort(-scores, axis=1, kind="stable")[:, :AREA_TOP_ITEMS]
    return np.take_along_axis(scores, best, axis=1).mean(axis=1), best


def percentile_among(value: FloatArray, others_sorted: FloatArray) -> FloatArray:
    """Percentile of one row's values (n_areas,) among ``others_sorted`` ((m, n_areas), each column sorted)
    plus itself, ties averaged: the rule of the full build's rank percentiles, for one changed row."""
    m = others_sorted.shape[0]
    out = np.empty(len(value))
    for a, v in enumerate(value):
        below = np.searchsorted(others_sorted[:, a], v, side="left")
        equal = np.searchsorted(others_sorted[:, a], v, side="right") - below
        out[a] = (below + 1 + equal / 2.0) / (m + 1)
    return out
