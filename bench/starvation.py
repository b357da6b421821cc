"""Do expensive-but-valid suggestion requests starve ordinary clients? 16 ordinary clients for T seconds,
alone and then together with hostile clients; p50/p99 and throughput of the ordinary clients in both runs.

Set-up (everything on 127.0.0.1, stopped at the end): a temporary SQLite database loaded with the shipped
catalogue (``partnermatch db init``, a minute or two; ``--database-url`` reuses one), one office key per
client, and ``partnermatch serve`` (one worker) on ``--port``.

- Ordinary clients: each its own key (an office), one request at a time, every request distinct (a
  Kazakh institution × programme × area, and an exclusion no other request has), so none is answered
  from the cache and every one is ranked.
- Hostile clients: each its own key and ``--hostile-concurrency`` requests at once, every one the most
  expensive the request model allows, read from the service's own OpenAPI schema: the longest text
  (distinct, so its embedding is never cached), every priority area, the most countries and exclusions,
  the largest ``k`` and ``offset``, diversification and a per-country cap.

Either kind: a refused request (429) is sent again after ``RETRY_S``, whatever ``Retry-After`` says, and
only answered requests (200) count in latencies and throughput; the run stops if an ordinary run has none.

Target: ordinary p99 with the hostile clients at most 2x the p99 without them.

    .venv/bin/python bench/starvation.py [--seconds 30] [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session

from api.auth import create_api_key
from api.db import make_engine
from seed_data.tables import ApiKeyRole

KZ_REQUESTERS = ["pic-959424479", "pic-953676162", "pic-923149680", "pic-952414871", "ror-0242cby63",
                 "pic-888282448", "ror-00vj0q898", "web-uib.kz"]
PROGRAMMES = ["horizon-europe", "erasmus-cbhe", "bri"]
AREAS = ["water", "ai", "green-energy", "food-agri"]
COUNTRIES = ["AT", "BE", "BG", "CH", "CN", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR",
             "HU", "IE", "IS", "IT", "JP", "KR", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE",
             "SI", "SK", "TR", "UA", "US", "IN", "CA", "AU", "BR", "IL", "RS", "GE", "AM", "MD", "KZ", "UZ"]
IDEA = ("Glacier melt monitoring, irrigation planning and transboundary water governance in Central Asian "
        "river basins, with machine learning for hydrological forecasting and climate adaptation. ")
RETRY_S = 0.1
HEALTH_WAIT_S = 600


@dataclass
class Figures:
    """What one run measured for one kind of client."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    last_answer: float = 0.0  # when the last answer came (a run ends when its slowest client's does)

    @property
    def throughput(self) -> float:
        """Answers per second, from the start to the last answer."""
        elapsed = self.last_answer - self.started
        return len(self.latencies_ms) / elapsed if elapsed > 0 else float("nan")

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


def ordinary_request(i: int) -> dict[str, Any]:
    return {"requester_id": KZ_REQUESTERS[i % len(KZ_REQUESTERS)], "programme": PROGRAMMES[i % len(PROGRAMMES)],
            "areas": [AREAS[i % len(AREAS)]], "k": 10, "exclude": [f"no-such-{i}"]}


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The JSON schema of a request field, without its ``anyOf: [..., null]`` wrapper."""
    prop: dict[str, Any] = schema["properties"][name]
    for option in prop.get("anyOf", []):
        if option.get("type") != "null":
            return {**prop, **option}
    return prop


def hostile_template(openapi: dict[str, Any], areas: list[str]) -> dict[str, Any]:
    """Bounds of the most expensive valid request, from the service's OpenAPI schema."""
    schema = openapi["components"]["schemas"]["SuggestionRequest"]
    big = 10**6  # no bound declared: the bench says so in its output
    return {
        "text_length": _field(schema, "text").get("maxLength", big),
        "areas": areas[: _field(schema, "areas").get("maxItems", big)],
        "countries": COUNTRIES[: _field(schema, "countries").get("maxItems", big)],
        "exclude": _field(schema, "exclude").get("maxItems", 1000),
        # integers: the request model is strict, and a schema bound may be written as 100.0
        "k": int(_field(schema, "k").get("maximum", 100)),
        "offset": int(_field(schema, "offset").get("maximum", 1000)),
    }


def hostile_request(template: dict[str, Any], i: int) -> dict[str, Any]:
    head = f"Request {i}. "
    text = (head + IDEA * (template["text_length"] // len(IDEA) + 1))[: template["text_length"]]
    return {"text": text, "programme": "horizon-europe", "areas": template["areas"],
            "countries": template["countries"],
            "exclude": [f"no-such-{i}-{j}" for j in range(template["exclude"])],
            "k": template["k"], "offset": template["offset"], "mmr_lambda": 0.5, "max_per_country": 1}


async def client_loop(base: str, key: str, make_request: Callable[[int], dict[str, Any]], timeout: float,
                      numbers: itertools.count, deadline: float, figures: Figures) -> None:
    """Requests one at a time until ``deadline``; only answered ones (200) give a latency, and a refused one
    is sent again after ``RETRY_S``."""
    async with httpx.AsyncClient(base_url=base, timeout=timeout, headers={"X-API-Key": key}) as client:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.post("/suggestions", json=make_request(next(numbers)))
                figures.count(response.status_code)
            except httpx.HTTPError as exc:
                figures.errors.append(type(exc).__name__)
                continue
            if response.status_code == 200:
                figures.last_answer = time.perf_counter()
                figures.latencies_ms.append((figures.last_answer - started) * 1000)
            else:
                await asyncio.sleep(RETRY_S)


async def run(base: str, keys: list[str], hostile_keys: list[str], *, seconds: float, concurrency: int,
              template: dict[str, Any]) -> tuple[Figures, Figures]:
    ordinary, hostile = Figures(), Figures()
    numbers = itertools.count(int(time.time() * 1000) % 10**9)  # distinct across runs too
    deadline = time.perf_counter() + seconds
    tasks = [client_loop(base, key, ordinary_request, 120, numbers, deadline, ordinary) for key in keys]
    tasks += [client_loop(base, key, lambda i: hostile_request(template, i), 600, numbers, deadline, hostile)
              for key in hostile_keys for _ in range(concurrency)]
    await asyncio.gather(*tasks)
    return ordinary, hostile


def report(name: str, figures: Figures) -> str:
    done = len(figures.latencies_ms)
    if not done:
        return f"{name}: none answered; statuses {dict(sorted(figures.statuses.items()))}"
    return (f"{name}: {done} answered in {figures.last_answer - figures.started:.1f} s = "
            f"{figures.throughput:.1f} req/s; "
            f"p50 {figures.percentile(0.5):.0f} ms, p99 {figures.percentile(0.99):.0f} ms; "
            f"statuses {dict(sorted(figures.statuses.items()))}; transport errors {len(figures.errors)}")


def make_keys(url: str, count: int, prefix: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            keys = [create_api_key(session=session, name=f"{prefix}-{n}", role=ApiKeyRole.office)[1]
                    for n in range(count)]
            session.commit()
    finally:
        engine.dispose()
    return keys


def wait_for_health(base: str, log: str) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < HEALTH_WAIT_S:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service did not answer /health within {HEALTH_WAIT_S} s; its log: {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--clients", type=int, default=16, help="ordinary clients")
    parser.add_argument("--hostile", type=int, default=2, help="hostile clients (keys)")
    parser.add_argument("--hostile-concurrency", type=int, default=8, help="requests at once per hostile key")
    parser.add_argument("--port", type=int, default=18400)
    parser.add_argument("--database-url", help="an initialised database to use (default: a new temporary one)")
    args = parser.parse_args()
    cli = os.path.join(os.path.dirname(sys.executable), "partnermatch")
    workdir = tempfile.mkdtemp(prefix="starvation-")
    url = args.database_url or f"sqlite:///{workdir}/pm.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "HF_HUB_OFFLINE": "1"}  # indexes saved next to the file
    if not args.database_url:
        started = time.perf_counter()
        subprocess.run([cli, "db", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"db init: {time.perf_counter() - started:.0f} s ({url})")  # noqa: T201
    keys = make_keys(url, args.clients, "starvation-ordinary")
    hostile_keys = make_keys(url, args.hostile, "starvation-hostile")
    log_path = os.path.join(workdir, "serve.log")
    base = f"http://127.0.0.1:{args.port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen([cli, "serve", "--host", "127.0.0.1", "--port", str(args.port),
                                   "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        print(f"service answering after {wait_for_health(base, log_path):.0f} s")  # noqa: T201
        openapi = httpx.get(f"{base}/openapi.json", timeout=30).json()
        areas = [area["key"] for area in httpx.get(f"{base}/areas", timeout=30).json()["data"]]
        template = hostile_template(openapi, areas)
        print(f"hostile requests: text {template['text_length']} characters, {len(template['areas'])} areas, "  # noqa: T201
              f"{len(template['countries'])} countries, {template['exclude']} exclusions, k {template['k']}, "
              f"offset {template['offset']}; {args.hostile} keys x {args.hostile_concurrency} at once")
        # a hostile request the service refuses as invalid would measure nothing: check one is answered
        probe = httpx.post(f"{base}/suggestions", json=hostile_request(template, -1), timeout=600,
                           headers={"X-API-Key": hostile_keys[0]})
        if probe.status_code != 200:
            raise SystemExit(f"a hostile request is not answered ({probe.status_code}): {probe.text[:500]}")
        # warm-up: the model and the code paths, so that neither run pays for first use
        asyncio.run(run(base, keys, hostile_keys[:1], seconds=5, concurrency=1, template=template))
        alone, _ = asyncio.run(run(base, keys, [], seconds=args.seconds, concurrency=0, template=template))
        mixed, hostile = asyncio.run(run(base, keys, hostile_keys, seconds=args.seconds,
                                         concurrency=args.hostile_concurrency, template=template))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(report(f"ordinary alone ({args.clients} clients)", alone))  # noqa: T201
    print(report(f"ordinary with {args.hostile} hostile", mixed))  # noqa: T201
    print(report("hostile", hostile))  # noqa: T201
    if not (alone.latencies_ms and mixed.latencies_ms):
        raise SystemExit("an ordinary run had no answered request: no ratio to measure")
    ratio = mixed.percentile(0.99) / alone.percentile(0.99)
    throughput = mixed.throughput / alone.throughput
    verdict = "met" if ratio <= 2 else "NOT met"
    print(f"ordinary p99 with/without hostile: {ratio:.2f}x (target <= 2x: {verdict}); "  # noqa: T201
          f"throughput with/without: {throughput:.2f}x; server log: {log_path}")


if __name__ == "__main__":
    main()
