"""The consortium builder replayed on history (validation split).

For each Horizon Europe project starting in ``[cutoff, until)`` (the project-idea task of
``matcher/evaluation.py``: index as of the cutoff, the coordinator as requester, the project's title and
objective as the idea, its action type from the funding scheme), build one consortium of the project's real
size (named participants, coordinator included) and compare it with the real one:

- **consortium recall**: the share of the real members (coordinator excluded: it is given) proposed;
- **rule satisfaction**: the share of proposals the rule checker accepts (every rule of the action type);
- **baseline recall**: recall@``size - 1`` of the ranking core for the same request, computed as
  ``partnermatch evaluate`` computes recall (:func:`~matcher.evaluation.profile_scorer`, the requester ranked
  last, ties averaged: :func:`~matcher.metrics.relevant_ranks`);
- **timings** per consortium (the aspects' chunks are embedded beforehand in one batch through the cache and
  handed to the matcher, as the evaluation embeds its ideas, so the time is the builder's own).

A project whose real size cannot meet its action type's rules (an RIA with two named participants: the
others are unnamed PICs) has no valid consortium of that size: it is counted apart as infeasible.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlmodel import Session

from embeddings.base import Embedder
from embeddings.cache import embed_with_cache
from matcher.consortium import (
    MAX_SIZE,
    ConsortiumSpec,
    ConsortiumWeights,
    InfeasibleConsortium,
    build_consortia,
    resolve_weights,
    settings,
    text_chunks,
)
from matcher.engine import CatalogueRows
from matcher.evaluation import EvalQuery, idea_task, profile_scorer, query_scores
from matcher.metrics import recall_at_k, relevant_ranks
from matcher.suggest import Matcher
from matcher.types import ScoringProfile

logger = logging.getLogger(__name__)


def sample_queries(queries: Sequence[EvalQuery], *, limit: int | None, seed: int) -> list[EvalQuery]:
    """``limit`` queries drawn at random (fixed by ``seed``), in id order; all of them without a limit."""
    if limit is None or limit >= len(queries):
        return list(queries)
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(queries), size=limit, replace=False).tolist())
    return [queries[i] for i in keep]


def real_size(query: EvalQuery) -> int:
    """The project's size as the evaluation builds it: its named participants, coordinator included (at most
    ``MAX_SIZE``, the largest consortium a request may ask for)."""
    return min(len(query.truth) + 1, MAX_SIZE)


def spec_for(query: EvalQuery, *, weights: ConsortiumWeights | None = None) -> ConsortiumSpec:
    """The consortium the evaluation builds for ``query``: one alternative of its :func:`real_size`, for its
    requester, text and action type (``weights``: objective weights overriding the defaults)."""
    size = real_size(query)
    return ConsortiumSpec(programme=query.programme, action_type=query.action_type, text=query.text,
                          areas=query.areas, requester_id=query.requester_id, size_min=size, size_max=size,
                          alternatives=1, weights=weights)


def evaluate_queries(matcher: Matcher, queries: Sequence[EvalQuery], profile: ScoringProfile, *,
                     weights: ConsortiumWeights | None = None) -> dict[str, Any]:
    """Build one consortium of the real size per query (objective ``weights`` overriding the defaults); the
    report (JSON-ready) with per-query rows and the weights it ran with."""
    index = matcher.index
    used = resolve_weights(weights)  # before the first build: all-zero weights fail at once
    scorer = profile_scorer(matcher, profile)
    rows: list[dict[str, Any]] = []
    for query in queries:
        spec, size = spec_for(query, weights=weights), real_size(query)
        baseline = recall_at_k(relevant_ranks(query_scores(query, scorer), query.truth), k=size - 1)
        started = time.perf_counter()
        row: dict[str, Any] = {"id": query.id, "action_type": query.action_type, "size": size,
                               "baseline_recall": round(baseline, 4)}
        try:
            response = build_consortia(matcher, spec, profile)
        except InfeasibleConsortium as exc:
            row.update(infeasible=True, reason=exc.reasons[0] if exc.reasons else str(exc),
                       seconds=round(time.perf_counter() - started, 3))
            rows.append(row)
            continue
        proposal = response.proposals[0]
        members = [index.row_of[m.institution.id] for m in proposal.members]
        recall = float(np.isin(query.truth, members).mean())  # the truth leaves the requester out (it is given)
        row.update(infeasible=False, recall=round(recall, 4), valid=proposal.valid,
                   failed_rules=[r.rule for r in proposal.rules if not r.satisfied],
                   status=proposal.solver_status, gap=proposal.solver_gap,
                   seconds=round(time.perf_counter() - started, 3))
        rows.append(row)
    return {"summary": summarise(rows), "weights": used, "queries": rows}


SUMMARY_FIGURES = ("consortium_recall", "baseline_recall", "rule_satisfaction", "optimal_share", "mean_gap",
                   "seconds_p50", "seconds_p90")


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean recall (builder and baseline, over the feasible queries), rule satisfaction and timings, overall
    and per action type; a breakdown where no consortium was built has its counts and ``None`` figures."""
    def block(part: Sequence[dict[str, Any]]) -> dict[str, Any]:
        built = [r for r in part if not r["infeasible"]]
        counts = {"n": len(part), "n_built": len(built), "n_infeasible": len(part) - len(built)}
        if not built:  # nothing was built, so nothing was measured: no figures rather than zeros
            return {**counts, **dict.fromkeys(SUMMARY_FIGURES)}
        seconds = np.array([r["seconds"] for r in built])
        return {
            **counts,
            "consortium_recall": round(float(np.mean([r["recall"] for r in built])), 4),
            "baseline_recall": round(float(np.mean([r["baseline_recall"] for r in built])), 4),
            "rule_satisfaction": round(float(np.mean([r["valid"] for r in built])), 4),
            "optimal_share": round(float(np.mean([r["status"] == "OPTIMAL" for r in built])), 4),
            "mean_gap": round(float(np.mean([r["gap"] for r in built])), 4),
            "seconds_p50": round(float(np.percentile(seconds, 50)), 3),
            "seconds_p90": round(float(np.percentile(seconds, 90)), 3),
        }
    out: dict[str, Any] = {"all": block(rows)}
    for kind in sorted({r["action_type"] for r in rows}):
        out[f"action:{kind}"] = block([r for r in rows if r["action_type"] == kind])
    return out


def chunk_vectors_for(queries: Sequence[EvalQuery], *, session: Session, embedder: Embedder) -> dict[str, Any]:
    """The query vectors of every aspect chunk of the queries' texts, embedded in one batch through the cache
    (for :meth:`~matcher.suggest.Matcher.know_text_vectors`)."""
    conf = settings()
    words = int(conf["aspect_min_words"])
    chunks = sorted({c for q in queries if q.text for c in text_chunks(q.text, min_words=words)})
    if not chunks:
        return {}
    result = embed_with_cache(embedder, chunks, session=session, kind="query")
    logger.info("aspect chunks embedded: %d cached, %d new", result.n_hits, result.n_misses)
    return dict(zip(chunks, result.vectors, strict=True))


def run_consortium_evaluation(rows: CatalogueRows, *, session: Session, embedder: Embedder,
                              project_vectors: dict[str, Any], cutoff: dt.date, until: dt.date,
                              profile: ScoringProfile, limit: int | None = None, seed: int = 0,
                              weights: ConsortiumWeights | None = None) -> dict[str, Any]:
    """The evaluation over ``[cutoff, until)`` (``limit`` queries sampled with ``seed``, objective ``weights``
    overriding the defaults); the report."""
    started = time.perf_counter()
    matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=project_vectors,
                                 cutoff=cutoff, until=until)
    chosen = sample_queries(queries, limit=limit, seed=seed)
    matcher.know_text_vectors(chunk_vectors_for(chosen, session=session, embedder=embedder))
    report = evaluate_queries(matcher, chosen, profile, weights=weights)
    report.update(cutoff=cutoff.isoformat(), until=until.isoformat(), n_window_queries=len(queries),
                  sample={"limit": limit, "seed": seed, "n": len(chosen)},
                  seconds=round(time.perf_counter() - started, 1))
    return report
