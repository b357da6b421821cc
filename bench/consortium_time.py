"""Time per consortium of the builder (``matcher/consortium.py``): p50/p90 over a sample of Horizon Europe
projects of the validation window (index as of 2024-01-01, each project's coordinator and text).

Three figures per sample, on whatever cores the machine has (the target is p50 <= 2 s on 2 cores):

- ``eval``: one consortium of the project's real size (the spec ``partnermatch consortium evaluate`` builds,
  :func:`matcher.consortium_eval.spec_for`);
- ``default x1`` and ``default x3``: the action type's default size range, one and three alternatives;
- ``embed``: embedding the text and its aspect chunks (:func:`matcher.consortium.embed_aspects`, one batch, with
  a matcher that knows no text in advance), which the figures above exclude (a request pays it once).

The percentiles are over the builds that found a consortium; an infeasible build (no consortium of that size
meets the rules: it stops at the diagnosis) is counted apart, with its own percentiles.

Run: ``.venv/bin/python bench/consortium_time.py --limit 30``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sqlmodel import Session

from api.db import make_engine
from api.settings import get_settings
from embeddings.st import SentenceTransformerEmbedder
from matcher.consortium import InfeasibleConsortium, build_consortia, embed_aspects, settings
from matcher.consortium_eval import chunk_vectors_for, sample_queries, spec_for
from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, idea_task
from matcher.suggest import Matcher
from matcher.weights import published_version, to_scoring_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with Session(make_engine(get_settings().database_url)) as session:
        embedder = SentenceTransformerEmbedder(get_settings().embedding_model)
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        profile = to_scoring_profile(published_version("horizon-europe", session=session))
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)
        chosen = sample_queries(queries, limit=args.limit, seed=args.seed)
        matcher.know_text_vectors(chunk_vectors_for(chosen, session=session, embedder=embedder))
        session.rollback()  # a benchmark writes nothing
    conf = settings()
    cold = Matcher(matcher.index, embedder)  # knows no text in advance: embeds as a request does
    names = ("eval", "default x1", "default x3")
    built: dict[str, list[float]] = {name: [] for name in (*names, "embed")}
    infeasible: dict[str, list[float]] = {name: [] for name in names}
    for query in chosen:
        spec = spec_for(query)
        for name, update in (("eval", {}), ("default x1", {"size_min": None, "size_max": None}),
                             ("default x3", {"size_min": None, "size_max": None, "alternatives": 3})):
            started = time.perf_counter()
            try:
                build_consortia(matcher, spec.model_copy(update=update), profile)
                built[name].append(time.perf_counter() - started)
            except InfeasibleConsortium:
                infeasible[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        embed_aspects(cold, query.text, conf)
        built["embed"].append(time.perf_counter() - started)
    print(f"{len(chosen)} projects (seed {args.seed}) of {len(queries)}")  # noqa: T201
    for name, values in built.items():
        print(f"{name:>11}: {_percentiles(values)}"  # noqa: T201
              + (f"; {len(infeasible[name])} infeasible: {_percentiles(infeasible[name])}"
                 if infeasible.get(name) else ""))


def _percentiles(values: list[float]) -> str:
    """p50, p90 and max of ``values`` in seconds ("none" for no values)."""
    if not values:
        return "none"
    return (f"p50 {np.percentile(values, 50):.3f} s  p90 {np.percentile(values, 90):.3f} s  "
            f"max {max(values):.3f} s")


if __name__ == "__main__":
    main()
