"""The first ``POST /weights/estimate`` after start-up (how long it waits for the validation sample), then
slider moves.

Starts the app in-process (its lifespan: indexes loaded or built, as ``serve`` does) on the database of
DATABASE_URL, waits ``--delay`` seconds (a client arriving some time after start-up), then times the first
estimate and ``--moves`` slider moves after it (each a weight vector not estimated before), and prints them.
Run it twice: the first run after a catalogue change builds the sample (and saves it with the saved indexes),
later runs load it. An office key is created for the run and revoked after it. Nothing listens on a port.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/estimate_first_call.py --delay 0
"""

from __future__ import annotations

import argparse
import statistics
import time

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.auth import create_api_key, revoke_api_key
from api.main import create_app

BODY = {"programme": "horizon-europe", "weights": {"thematic": 0.4, "area_fit": 0.2, "complementarity": 0.1,
                                                   "track_record": 0.2, "network": 0.1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between start-up and the first call")
    parser.add_argument("--moves", type=int, default=10, help="slider moves timed after the first call")
    args = parser.parse_args()
    app = create_app()
    started = time.perf_counter()
    with TestClient(app) as client:
        ready = time.perf_counter() - started
        with Session(app.state.engine) as session:
            key, plaintext = create_api_key(session=session, name="bench-estimate", role="office")
            session.commit()
            key_id = key.id
        try:
            time.sleep(args.delay)
            timings = []
            # the first call, then slider moves: each a weight vector not estimated before (a repeated one is
            # answered from the estimate's cache and would time nothing)
            for move in range(1 + args.moves):
                body = {**BODY, "weights": {**BODY["weights"], "thematic": BODY["weights"]["thematic"] + 0.01 * move}}
                t0 = time.perf_counter()
                response = client.post("/weights/estimate", json=body, headers={"X-API-Key": plaintext})
                timings.append(time.perf_counter() - t0)
                response.raise_for_status()
        finally:
            with Session(app.state.engine) as session:
                revoke_api_key(key_id, session=session)
                session.commit()
    moves = sorted(timings[1:])
    print(f"start-up {ready:.1f} s; delay {args.delay:.1f} s; first estimate {timings[0]:.2f} s; "  # noqa: T201
          f"{len(moves)} slider moves after it: p50 {1000 * statistics.median(moves):.0f} ms, "
          f"max {1000 * moves[-1]:.0f} ms; sample of {response.json()['sample']['n_queries']} queries")


if __name__ == "__main__":
    main()
