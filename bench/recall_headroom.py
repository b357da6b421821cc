"""How far the validation split lets recall@50 go: why ``recall@50 >= 0.28, 1.5x the best single signal`` is out
of reach (validation only; the reserved test is not read).

On the project-idea task (cutoff 2024-01-01, projects of 2024) it ranks every request with each single signal
(every component alone through the ranking core, and the baselines popularity, embeddings, graph), with the
published profile and with a learned ranker, and prints:

- each method's recall@50 (the validation table's figures, for the methods it shares);
- the best single signal chosen per request with hindsight (an upper bound for any rule that picks one signal
  per request), and 1.5x the best single signal over all requests;
- the share of true partners found by any single signal's top 50 (what a mix of their lists can reach at best);
- the published profile's recall@1,100: the most a re-ranker of its 1,100-candidate shortlist can reach;
- how much of the learned ranker's hits the best single signal finds alone, and where its misses are (newcomers,
  outside the shortlist, in it but below 50), counted over true partners.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/recall_headroom.py \\
        --ranker he-ranker-shortlist:1 [--limit N]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from api.cli_common import catalogue_session, embedded_catalogue
from matcher.evaluation import (
    VALIDATION_CUTOFF,
    VALIDATION_UNTIL,
    baseline_scorers,
    idea_task,
    profile_scorer,
    query_scores,
    single_signal,
)
from matcher.metrics import recall_at_k, relevant_ranks
from matcher.ranker import RERANK_DEPTH
from matcher.types import COMPONENTS
from matcher.weights import ensure_default_profiles, get_ref, published_version, to_scoring_profile

K = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranker", required=True, help="a stored learned profile, NAME:VERSION")
    parser.add_argument("--limit", type=int, help="only the first N requests (a quick look; figures differ)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with catalogue_session() as session:
        ensure_default_profiles(session=session)
        published = to_scoring_profile(published_version("horizon-europe", session=session))
        learned = to_scoring_profile(get_ref(args.ranker, session=session))
        if (learned.weights, learned.ties) != (published.weights, published.ties):
            # the misses below read the published profile's top RERANK_DEPTH as the ranker's shortlist
            parser.error(f"{args.ranker}'s first stage (its weights and ties) is not the published profile")
        embedder, rows, vectors = embedded_catalogue(session)
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)
    queries = queries[: args.limit] if args.limit else queries
    baselines = baseline_scorers(matcher)  # random, popularity, embeddings, graph
    singles = {name: baselines[name] for name in ("popularity", "embeddings", "graph")}
    singles |= {name: profile_scorer(matcher, single_signal(published, name)) for name in COMPONENTS}
    combined = {"published": profile_scorer(matcher, published), "learned": profile_scorer(matcher, learned)}

    recall = {name: np.zeros(len(queries)) for name in [*singles, *combined]}
    any_single, reach = np.zeros(len(queries)), np.zeros(len(queries))
    found: dict[str, list[npt.NDArray[np.bool_]]] = {name: [] for name in recall}
    # where the learned ranker's misses are, counted over true partners: newcomers, beyond the shortlist, beyond 50
    misses = {"newcomer": 0, "outside the shortlist": 0, "in the shortlist, below 50": 0, "found": 0}
    for q, query in enumerate(tqdm(queries, desc="requests", unit="request")):
        ranks = {}
        for name, scorer in {**singles, **combined}.items():
            ranks[name] = relevant_ranks(query_scores(query, scorer), query.truth)
            found[name].append(ranks[name] <= K)
            recall[name][q] = recall_at_k(ranks[name], k=K)
        any_single[q] = recall_at_k(np.min([ranks[name] for name in singles], axis=0), k=K)
        reach[q] = recall_at_k(ranks["published"], k=RERANK_DEPTH)
        newcomer = np.isin(query.truth, query.newcomers)
        hit, listed = ranks["learned"] <= K, ranks["published"] <= RERANK_DEPTH
        misses["newcomer"] += int(np.sum(newcomer & ~hit))
        misses["outside the shortlist"] += int(np.sum(~newcomer & ~listed))
        misses["in the shortlist, below 50"] += int(np.sum(~newcomer & listed & ~hit))
        misses["found"] += int(np.sum(hit))
    n_truth = sum(misses.values())
    print(f"{len(queries)} requests, {n_truth} true partners, {time.perf_counter() - started:.0f} s")  # noqa: T201
    print(f"recall@{K} (mean over requests, as the validation table):")  # noqa: T201
    for name, values in sorted(recall.items(), key=lambda item: -item[1].mean()):
        print(f"  {values.mean():.3f}  {name}")  # noqa: T201
    best = max(singles, key=lambda name: recall[name].mean())
    oracle = np.max(np.vstack([recall[name] for name in singles]), axis=0).mean()
    print(f"best single signal: {best} {recall[best].mean():.3f}; 1.5x that: {1.5 * recall[best].mean():.3f}")  # noqa: T201
    print(f"best single signal per request, chosen with hindsight: {oracle:.3f}")  # noqa: T201
    print(f"true partners in any single signal's top {K}: {any_single.mean():.3f}")  # noqa: T201
    print(f"true partners in the published profile's top {RERANK_DEPTH}, the re-ranker's reach: "  # noqa: T201
          f"{reach.mean():.3f}")
    learned_hits, best_hits = np.concatenate(found["learned"]), np.concatenate(found[best])
    print(f"the learned ranker's hits that {best} alone also finds: "  # noqa: T201
          f"{np.sum(learned_hits & best_hits) / max(int(learned_hits.sum()), 1):.3f}")
    print("the learned ranker's true partners, counted over partners:")  # noqa: T201
    for what, count in misses.items():
        print(f"  {count / n_truth:.3f}  {what}")  # noqa: T201

if __name__ == "__main__":
    main()
