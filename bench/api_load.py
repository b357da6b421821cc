"""API under load on loopback: N concurrent clients for T seconds against a uvicorn started here.

Starts ``partnermatch serve`` on a free 127.0.0.1 port (the database from DATABASE_URL), waits for
/health, then runs each scenario with ``--clients`` concurrent clients for ``--seconds`` and prints
requests/s, p50/p95/p99 latency and errors. Traffic goes to 127.0.0.1 only; every loop is bounded in
time and the server is stopped at the end.

    DATABASE_URL=sqlite:///data/partnermatch.sqlite3 .venv/bin/python bench/api_load.py
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

KZ_REQUESTERS = ["pic-959424479", "pic-953676162", "pic-923149680", "pic-952414871", "ror-0242cby63",
                 "pic-888282448", "ror-00vj0q898", "web-uib.kz"]
SCENARIOS = {
    # the ceiling of this set-up (client and server on the same 2 cores): the cheapest route there is
    "health": lambda i: ("GET", "/health", None),
    "suggestions": lambda i: ("POST", "/suggestions", {
        "requester_id": KZ_REQUESTERS[i % len(KZ_REQUESTERS)],
        "programme": ("horizon-europe", "erasmus-cbhe", "bri")[i % 3],
        "areas": (["water"], ["ai"], ["green-energy"], ["food-agri"])[i % 4], "k": 10}),
    # every request differs (it excludes a different institution), so none is answered from the cache
    "suggestions, all distinct": lambda i: ("POST", "/suggestions", {
        "requester_id": KZ_REQUESTERS[i % len(KZ_REQUESTERS)],
        "programme": ("horizon-europe", "erasmus-cbhe", "bri")[i % 3],
        "areas": (["water"], ["ai"], ["green-energy"], ["food-agri"])[i % 4], "k": 10, "exclude": [f"no-such-{i}"]}),
    "institution detail": lambda i: ("GET", f"/institutions/{KZ_REQUESTERS[i % len(KZ_REQUESTERS)]}", None),
    "institution search": lambda i: ("GET", "/institutions",
                                     {"q": ("KazNU", "Camerino", "Nazarbaev Univ", "Cardiff")[i % 4]}),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(client: httpx.AsyncClient, make, deadline: float, counter, latencies: list[float],
                  errors: list[str]) -> None:
    while time.perf_counter() < deadline:
        method, path, payload = make(next(counter))
        started = time.perf_counter()
        try:
            if method == "POST":
                response = await client.post(path, json=payload)
            else:
                response = await client.get(path, params=payload)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {path}")
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__} {path}")
        latencies.append((time.perf_counter() - started) * 1000)


async def run(base: str, name: str, *, clients: int, seconds: float, key: str) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits, headers={"X-API-Key": key}) as client:
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(_client(client, SCENARIOS[name], deadline, counter, latencies, errors)
                               for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    pct = lambda q: ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")  # noqa: E731
    print(f"{name}: {len(latencies)} requests in {elapsed:.1f} s = {len(latencies) / elapsed:.0f} req/s; "  # noqa: T201
          f"p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, p99 {pct(0.99):.1f} ms; errors {len(errors)}"
          + (f" (first: {errors[0]})" if errors else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    # suggestions need an office key: make one for this run and revoke it at the end
    cli = os.path.join(os.path.dirname(sys.executable), "partnermatch")
    key = subprocess.run([cli, "keys", "create", "bench-api-load", "--role", "office"], check=True,
                         capture_output=True, text=True).stdout.strip()
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="api-load-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen([cli, "serve", "--workers", str(args.workers),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < 300:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit(f"the service did not answer /health within 300 s; its log: {log.name}")
        print(f"service answering after {time.perf_counter() - started:.1f} s")  # noqa: T201
        for name in args.scenario or list(SCENARIOS):
            asyncio.run(run(base, name, clients=args.clients, seconds=args.seconds, key=key))
    finally:
        server.terminate()
        server.wait(timeout=30)
        listed = json.loads(subprocess.run([cli, "keys", "list", "--json"], capture_output=True, text=True).stdout)
        for item in listed:
            if item["name"] == "bench-api-load" and not item["revoked"]:
                subprocess.run([cli, "keys", "revoke", str(item["id"])], check=False, capture_output=True)


if __name__ == "__main__":
    main()
