"""The web console end to end: the real service on the shipped catalogue, driven in headless Chromium.

The service is started the way the README runs it (``partnermatch db init`` then ``partnermatch serve``)
on a throw-away SQLite file, once per session; keys for an office, an officer and the owner of one
institution are made in its database. Chromium is Debian's (``/usr/bin/chromium``; Playwright's own
browser download does not work offline), driven by Playwright from PyPI. Screenshots go to
``test-output/e2e/`` (or ``$PARTNERMATCH_TEST_OUTPUT/e2e``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import Session

from api.auth import create_api_key
from api.db import make_engine
from tests.api.live_server import any_free_port, partnermatch_command

CHROMIUM = Path(os.environ.get("PARTNERMATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300  # db init (~30 s) is separate; a first start builds and stores the matching index
KAZNU = "pic-959424479"
# Scoring a request takes tens of milliseconds, but a first validation estimate builds its sample (seconds)
# and the 2 shared cores are slow under a full test run: wait generously, fail clearly.
expect.set_options(timeout=60_000)


@dataclass
class Service:
    url: str
    office_key: str
    officer_key: str
    owner_key: str  # the key of Al-Farabi Kazakh National University's owner
    database_url: str


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where screenshots go; kept after the run (CI can collect them)."""
    path = Path(os.environ.get("PARTNERMATCH_TEST_OUTPUT", REPO / "test-output")) / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``partnermatch db init`` + ``partnermatch serve`` on a fresh SQLite file with the shipped catalogue."""
    workdir = tmp_path_factory.mktemp("service")
    database_url = f"sqlite:///{workdir / 'partnermatch.sqlite3'}"
    env = {**os.environ, "PARTNERMATCH_DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    subprocess.run([*partnermatch_command(), "db", "init"], env=env, cwd=REPO, check=True, capture_output=True,
                   timeout=600)
    engine = make_engine(database_url)
    with Session(engine) as session:
        _, office = create_api_key(session=session, name="Almaty office (e2e)", role="office")
        _, officer = create_api_key(session=session, name="Ministry officer (e2e)", role="officer")
        owner_row, owner = create_api_key(session=session, name="KazNU profile owner (e2e)", role="office")
        owner_row.institution_id = KAZNU  # as `partnermatch keys create ... --institution` does
        session.commit()
    engine.dispose()
    port = any_free_port()
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen([*partnermatch_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"partnermatch serve exited with {process.returncode}: {(workdir / 'serve.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the service did not answer within {START_TIMEOUT_S} s")
        time.sleep(0.5)
    try:
        yield Service(url=url, office_key=office, officer_key=officer, owner_key=owner, database_url=database_url)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/ensure-chromium.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A fresh browser context (empty local storage) on the console; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(60_000)
    page.goto(service.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def use_key(page: Page, key: str) -> None:
    """Enter an API key in the header, as a user pastes it."""
    page.fill("#api-key", key)
    page.click("#key-form button")
    # expect() rather than wait_for_function: the console's Content-Security-Policy refuses the eval() that
    # Playwright's wait_for_function runs in the page
    expect(page.locator("#key-status")).to_contain_text("(")
