"""Suggestion latency, in process: the shipped catalogue and a synthetic 100,000-institution catalogue.

For each catalogue it times ``Matcher.suggest`` over a fixed set of requests (Kazakh requesters,
programmes, areas) and, in the same run over the same vector matrix, a bare baseline: one numpy matmul
of the query against every institution vector plus ``argpartition`` top-k. It prints p50/p95 of both
and their ratio. The synthetic catalogue resamples real institutions (vectors with small noise,
re-normalised; memberships copied), so the graph and strengths keep the real distributions.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/suggest_latency.py [--ranker NAME]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import statistics
import time
from collections import defaultdict

import numpy as np
from sqlmodel import Session

from api.db import make_engine
from api.settings import get_settings
from embeddings.st import SentenceTransformerEmbedder
from matcher.engine import CatalogueIndex, build_index, load_index
from matcher.profiles import load_default_profiles
from matcher.suggest import Matcher
from matcher.types import ScoringProfile, SuggestionRequest
from matcher.weights import get_ref, to_scoring_profile

PROGRAMMES = ("horizon-europe", "erasmus-cbhe", "bri")
AREAS = (["water"], ["ai"], ["green-energy", "environment-climate"], ["food-agri"], ["space"])


def _requests(index: CatalogueIndex, n: int) -> list[SuggestionRequest]:
    kz = [i.id for i in index.institutions if i.country == "KZ" and i.kind == "university"]
    rng = np.random.default_rng(0)
    return [SuggestionRequest(requester_id=str(rng.choice(kz)), programme=PROGRAMMES[i % 3],
                              areas=AREAS[i % len(AREAS)], k=10) for i in range(n)]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def measure(index: CatalogueIndex, embedder: SentenceTransformerEmbedder, *, n: int, label: str,
            profile: ScoringProfile | None = None) -> None:
    """Time ``n`` suggestions (each programme's default profile, or ``profile`` for all) against the bare top-k."""
    matcher = Matcher(index, embedder)
    profiles = load_default_profiles() if profile is None else defaultdict(lambda: profile)
    requests = _requests(index, n)
    gc.collect()
    gc.freeze()  # as the service does once its indexes are loaded (api/state.py): no full collections of them
    for request in requests[:5]:  # warm caches (filter masks, BLAS threads)
        matcher.suggest(request, profiles[request.programme])
    suggest_ms, bare_ms = [], []
    rng = np.random.default_rng(1)
    for request in requests:
        started = time.perf_counter()
        matcher.suggest(request, profiles[request.programme])
        suggest_ms.append((time.perf_counter() - started) * 1000)
        query = index.vectors[rng.integers(index.n)]
        started = time.perf_counter()
        scores = index.vectors @ query
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        bare_ms.append((time.perf_counter() - started) * 1000)
    s50, s95 = _percentiles(suggest_ms)
    b50, b95 = _percentiles(bare_ms)
    print(f"{label}: {index.n} institutions, {n} requests")  # noqa: T201
    print(f"  suggest   p50 {s50:7.2f} ms   p95 {s95:7.2f} ms")  # noqa: T201
    print(f"  bare top-k p50 {b50:7.2f} ms   p95 {b95:7.2f} ms   (numpy matmul + argpartition)")  # noqa: T201
    print(f"  ratio     p50 {s50 / b50:7.2f}x   p95 {s95 / b95:7.2f}x")  # noqa: T201


def synthetic(index: CatalogueIndex, n_target: int, *, seed: int = 0) -> CatalogueIndex:
    """A catalogue of ``n_target`` institutions resampled from ``index`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(index.n, size=n_target)
    noise = rng.normal(scale=0.02, size=(n_target, index.vectors.shape[1])).astype(np.float32)
    institutions = [{"id": f"syn-{i}", "name": f"synthetic {i}", "country": index.institutions[s].country,
                     "kind": index.institutions[s].kind} for i, s in enumerate(source)]
    members = index.membership[: index.n]
    participations = [
        {"project_id": index.projects[j].id, "pic": f"syn-{i}", "institution_id": f"syn-{i}", "role": "participant"}
        for i, s in enumerate(source) for j in members[s].indices
    ]
    projects = [{"id": p.id, "programme": p.programme, "acronym": p.acronym, "title": p.title,
                 "start_date": p.start_date, "keywords": p.keywords} for p in index.projects]
    has_text = np.linalg.norm(index.project_vectors, axis=1) > 0
    syn = build_index(
        institutions=institutions, projects=projects, participations=participations,
        project_vectors={p.id: index.project_vectors[j] for j, p in enumerate(index.projects) if has_text[j]},
        owner_vectors={}, areas=[{"key": k, "name": n} for k, n in zip(index.area_keys, index.area_names,
                                                                          strict=True)],
        area_vectors=index.area_vectors, programmes=list(index.programmes.values()))
    # resampled institutions share their source's vector up to noise, so duplicates are not identical
    jittered = syn.vectors + noise * syn.has_evidence[:, None]
    vectors = (jittered / np.maximum(np.linalg.norm(jittered, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    vectors[~syn.has_evidence] = 0.0
    return dataclasses.replace(syn, vectors=vectors)  # replace() re-derives the index's cached arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--ranker", help="also time this stored profile (e.g. a learned ranker) for every request")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    embedder = SentenceTransformerEmbedder(get_settings().embedding_model)
    with Session(make_engine(get_settings().database_url)) as session:
        started = time.perf_counter()
        index = load_index(session=session, embedder=embedder)
        print(f"index loaded in {time.perf_counter() - started:.1f} s: {index.stats}")  # noqa: T201
        ranker = to_scoring_profile(get_ref(args.ranker, session=session)) if args.ranker else None
    measure(index, embedder, n=args.requests, label="shipped catalogue")
    if ranker is not None:
        measure(index, embedder, n=args.requests, label=f"shipped catalogue, {args.ranker}", profile=ranker)
    started = time.perf_counter()
    syn = synthetic(index, args.synthetic)
    print(f"synthetic index built in {time.perf_counter() - started:.1f} s: {syn.stats}")  # noqa: T201
    measure(syn, embedder, n=args.requests, label="synthetic catalogue")
    if ranker is not None:
        measure(syn, embedder, n=args.requests, label=f"synthetic catalogue, {args.ranker}", profile=ranker)


if __name__ == "__main__":
    main()
