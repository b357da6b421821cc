"""Portfolio matching time on the shipped catalogue: the ~20 Kazakh universities strongest in an area, k=5, c=2,
at most 2 partners per country, under each programme's default profile. Prints, per run, the time to rank
(one ``Matcher.rank`` per requester) and to solve the min-cost flow, and the portfolio's figures.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/portfolio_time.py [--area water] [--n 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from sqlmodel import Session

from api import index_store
from api.db import make_engine
from api.settings import get_settings
from embeddings.st import load_embedder
from matcher.portfolio import plan_portfolio, strongest_in_area
from matcher.profiles import load_default_profiles
from matcher.suggest import Matcher

logger = logging.getLogger("bench.portfolio_time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", default="water")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--c", type=int, default=2)
    parser.add_argument("--max-per-country", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--programmes", nargs="+", default=["horizon-europe", "erasmus-cbhe", "bri"])
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    with Session(make_engine(settings.database_url)) as session:
        embedder = load_embedder(settings.embedding_model, session=session)
        started = time.perf_counter()
        index, origin = index_store.matching_index(settings, session, embedder)
        logger.info("matching index %s in %.1f s: %d institutions", origin, time.perf_counter() - started, index.n)
    matcher = Matcher(index, embedder)
    profiles = load_default_profiles()
    ids = strongest_in_area(index, args.area, n=args.n)
    header = (f"requesters: {len(ids)} KZ universities strongest in {args.area}; k={args.k}, c={args.c}, "
              f"max per country {args.max_per_country}")
    print(header)  # noqa: T201
    for programme in args.programmes:
        walls, ranks, solves = [], [], []
        portfolio = None
        for _ in range(args.runs):
            started = time.perf_counter()
            portfolio = plan_portfolio(matcher, ids, profiles[programme], programme=programme, areas=[args.area],
                                       k=args.k, c=args.c, max_per_country=args.max_per_country)
            walls.append(time.perf_counter() - started)
            ranks.append(portfolio.seconds["rank"])
            solves.append(portfolio.seconds["solve"])
        assert portfolio is not None
        ratios = [r.ratio for r in portfolio.requesters if r.ratio is not None]
        countries = {index.countries[row] for row in portfolio.load}
        # no requester with a positive independent top-k (none selected, or no eligible partner): no ratio
        share = (f"{portfolio.total / portfolio.independent_total:.1%}" if portfolio.independent_total > 0
                 else "n/a")
        least = f"{min(ratios):.1%}" if ratios else "n/a"
        line = (f"{programme:15s} wall median {statistics.median(walls):.2f} s "
                f"(rank {statistics.median(ranks):.2f} s, "
                f"solve {statistics.median(solves) * 1000:.1f} ms) over {args.runs} runs; pool {portfolio.n_pool}; "
                f"total {portfolio.total:.3f} = {share} of the independent "
                f"top-{args.k}s (min requester {least}); {len(portfolio.load)} partners in {len(countries)} "
                f"countries, max load {portfolio.max_load}, load Gini {portfolio.load_gini:.2f}; "
                f"{sum(r.shortfall is not None for r in portfolio.requesters)} short")
        print(line)  # noqa: T201


if __name__ == "__main__":
    main()
