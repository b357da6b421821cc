"""Memory of a running service across matcher rebuilds (issue 13, finding 10: 1.2 GB -> 5.4 GB after 18).

Starts ``partnermatch serve`` (one worker, 127.0.0.1, ``--port``, default 18300) over a SQLite file in a
temporary folder holding the shipped catalogue (``partnermatch db init`` into it, a minute or two; or a copy
of ``--copy-from`` brought up to date by the same command), then repeats ``--rebuilds`` times: an owner
profile saved or removed through the API (the service rebuilds its matcher, and saves the new index, in the
background), a weight profile version made and published, and a few suggestions. After each rebuild it
prints the server's resident memory (VmRSS) and the rebuild's time as the server logged it; at the end the
first (after rebuild 1, the embedding model loaded by then), the last, the highest and last/first.
Target: last within 1.2x of the first.

    .venv/bin/python bench/rebuild_memory.py [--rebuilds 100] [--copy-from data/partnermatch.sqlite3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlmodel import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.auth import API_KEY_HEADER, create_api_key  # noqa: E402
from api.db import make_engine  # noqa: E402
from seed_data.tables import ApiKeyRole  # noqa: E402

OWNER = "pic-959424479"  # Al-Farabi Kazakh National University
PROFILE = "Al-Farabi Kazakh National University: hydrology, irrigation and water policy in Central Asia (edit {})."
WEIGHTS = "erasmus-cbhe-default"
REQUESTS = [{"requester_id": OWNER, "programme": "erasmus-cbhe", "areas": ["water"], "k": 10},
            {"requester_id": "pic-953676162", "programme": "horizon-europe", "areas": ["ai"], "k": 10,
             "countries": ["DE", "IT", "FR"]},
            {"text": "glacier melt and irrigation planning", "programme": "bri", "areas": ["water"], "k": 10}]
START_TIMEOUT_S = 900
REBUILD_TIMEOUT_S = 600
# the garbage collection figure is missing from the log of releases before it was measured
REBUILT = re.compile(r"matching index: .*; ([\d.]+) s(?: \(garbage collection ([\d.]+) s\))?")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "partnermatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """``partnermatch serve`` as a child process, its log lines collected."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.process = subprocess.Popen([*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-access-log"], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=REPO)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def rebuilds(self) -> list[tuple[float, float]]:
        """(seconds, of which garbage collection, NaN if not logged) of every matcher build logged so far."""
        return [(float(m[1]), float(m[2] or "nan")) for line in self.lines if (m := REBUILT.search(line))]

    def wait_for(self, n_builds: int, timeout_s: float) -> tuple[float, float]:
        deadline = time.monotonic() + timeout_s
        while len(self.rebuilds()) < n_builds:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server stopped or did not rebuild:\n" + "".join(self.lines[-30:]))
            time.sleep(0.2)
        return self.rebuilds()[n_builds - 1]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def rebuild_loop(server: Server, client: httpx.Client, n: int, figures: list[float], *, pid: int, owner: str,
                 officer: str) -> None:
    """``n`` rebuilds, each followed by a publish and suggestions; the RSS after each goes to ``figures``."""
    for i in range(1, n + 1):
        owner_headers = {API_KEY_HEADER: owner}
        if i % 2:
            response = client.put(f"/institutions/{OWNER}/profile", headers=owner_headers,
                                  json={"text": PROFILE.format(i)})
        else:
            response = client.delete(f"/institutions/{OWNER}/profile", headers=owner_headers)
        response.raise_for_status()
        seconds, collected = server.wait_for(i + 1, REBUILD_TIMEOUT_S)
        # a weight change published in between (the profile cache is voided; nothing is rebuilt)
        made = client.patch(f"/weights/{WEIGHTS}", headers={API_KEY_HEADER: officer},
                            json={"mmr_lambda": 0.5 + (i % 5) / 10, "comment": f"bench {i}"})
        made.raise_for_status()
        client.post(f"/weights/{WEIGHTS}/versions/{made.json()['version']}/publish",
                    headers={API_KEY_HEADER: officer}).raise_for_status()
        for request in REQUESTS:
            client.post("/suggestions", headers={API_KEY_HEADER: officer}, json=request).raise_for_status()
        figures.append(rss_mb(pid))
        print(f"rebuild {i:3d} ({'profile saved' if i % 2 else 'profile removed'}): "  # noqa: T201
              f"RSS {figures[-1]:.0f} MiB; rebuilt in {seconds:.1f} s, garbage collection {collected:.2f} s",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuilds", type=int, default=100)
    parser.add_argument("--port", type=int, default=18300)
    parser.add_argument("--copy-from", type=Path, help="a SQLite database to copy instead of loading afresh")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rebuild-memory-") as work:
        database = Path(work) / "partnermatch.sqlite3"
        url = f"sqlite:///{database}"
        env = {**os.environ, "PARTNERMATCH_DATABASE_URL": url, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
        env.pop("DATABASE_URL", None)
        started = time.perf_counter()
        if args.copy_from:
            shutil.copyfile(args.copy_from, database)
        subprocess.run([*_cli(), "db", "init"], env=env, cwd=REPO, check=True, capture_output=True)
        print(f"database ready in {time.perf_counter() - started:.0f} s ({url})", flush=True)  # noqa: T201
        engine = make_engine(url)
        with Session(engine) as session:
            owner_row, owner = create_api_key(session=session, name="bench owner", role=ApiKeyRole.office)
            owner_row.institution_id = OWNER
            _, officer = create_api_key(session=session, name="bench officer", role=ApiKeyRole.officer)
            session.commit()
        engine.dispose()

        server = Server(env, args.port)
        try:
            run(server, args, owner=owner, officer=officer)
        finally:
            server.stop()


def run(server: Server, args: argparse.Namespace, *, owner: str, officer: str) -> None:
    base = f"http://127.0.0.1:{args.port}"
    server.wait_for(1, START_TIMEOUT_S)
    with httpx.Client(base_url=base, timeout=120) as client:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # built, and now listening once the rest of the start-up is done
            try:
                client.get("/health").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for request in REQUESTS:
            client.post("/suggestions", headers={API_KEY_HEADER: officer}, json=request).raise_for_status()
        pid = server.process.pid
        print(f"started: RSS {rss_mb(pid):.0f} MiB; rebuilds: {args.rebuilds}", flush=True)  # noqa: T201
        figures: list[float] = []
        try:
            rebuild_loop(server, client, args.rebuilds, figures, pid=pid, owner=owner, officer=officer)
        except KeyboardInterrupt:  # stopped early (Ctrl-C): the figures so far
            print("stopped early", flush=True)  # noqa: T201
    if not figures:
        raise SystemExit("no rebuild completed: no memory figure to report")
    first, last = figures[0], figures[-1]
    print(f"RSS after rebuild 1: {first:.0f} MiB, after rebuild {len(figures)}: {last:.0f} MiB, "  # noqa: T201
          f"highest {max(figures):.0f} MiB; last/first {last / first:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
