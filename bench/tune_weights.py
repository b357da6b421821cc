"""Tune a weight profile on the validation split (projects of 2024, index as of 2024-01-01): a random search
of the weight simplex, then coordinate ascent, on the quick validation sample (the ranking core's values of
a seeded sample of project-idea requests), maximising recall@50 + nDCG@10. Prints each step, every single
component alone and the best weights; nothing is saved (officers save a profile with `partnermatch weights
set` and publish it; the shipped defaults are data). The reserved test split (2025) is never read.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/tune_weights.py --queries 400
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sqlmodel import Session

from api.db import make_engine
from api.settings import get_settings
from embeddings.st import SentenceTransformerEmbedder
from matcher.profiles import load_default_profiles
from matcher.quick_eval import build_validation_sample
from matcher.types import COMPONENTS

STEPS = (0.0, 0.5, 1.0, 2.0, 4.0)  # multipliers of a weight tried in each round


def objective(metrics: dict[str, float]) -> float:
    """What the tuning maximises: recall@50 plus nDCG@10 (the issue's two targets)."""
    return metrics["recall@50"] + metrics["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=400, help="validation requests sampled")
    parser.add_argument("--programme", default="horizon-europe", help="default profile to start from")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--random", type=int, default=300, help="random weightings tried before the ascent")
    args = parser.parse_args()
    settings = get_settings()
    started = time.perf_counter()
    with Session(make_engine(settings.database_url)) as session:
        embedder = SentenceTransformerEmbedder(settings.embedding_model)
        sample = build_validation_sample(session=session, embedder=embedder, n_queries=args.queries)
        session.commit()
    print(f"sample of {sample.n_queries_} requests built in {time.perf_counter() - started:.0f} s")  # noqa: T201
    weights = {name: max(w, 0.05) for name, w in load_default_profiles()[args.programme].weights.model_dump().items()}
    best = objective(sample.metrics(weights))
    print(f"start {json.dumps({k: round(v, 3) for k, v in weights.items()})} -> {best:.4f}")  # noqa: T201
    rng = np.random.default_rng(0)
    for _ in range(args.random):  # random points of the simplex first: the landscape has ridges
        trial = dict(zip(COMPONENTS, rng.dirichlet(np.full(len(COMPONENTS), 0.7)), strict=True))
        value = objective(sample.metrics(trial))
        if value > best + 1e-4:
            best, weights = value, trial
    print(f"random search ({args.random}): {json.dumps({k: round(v, 3) for k, v in weights.items()})} -> "  # noqa: T201
          f"{best:.4f}")
    for round_ in range(args.rounds):
        for name in COMPONENTS:
            for factor in STEPS:
                trial = {**weights, name: weights[name] * factor if factor else 0.0}
                if sum(trial.values()) <= 0:
                    continue
                value = objective(sample.metrics(trial))
                if value > best + 1e-4:
                    best, weights = value, trial
        total = sum(weights.values())
        weights = {k: v / total for k, v in weights.items()}
        print(f"round {round_ + 1}: {json.dumps({k: round(v, 3) for k, v in weights.items()})} -> "  # noqa: T201
              f"{best:.4f} {sample.metrics(weights)}")
    single = {name: sample.metrics({name: 1.0}) for name in COMPONENTS}
    print("single components:", json.dumps(single))  # noqa: T201
    print("best:", json.dumps({k: round(v, 3) for k, v in weights.items()}), sample.metrics(weights))  # noqa: T201


if __name__ == "__main__":
    main()
