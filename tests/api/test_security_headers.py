"""Security headers on every response, and a console that works under its Content-Security-Policy and links only to
http(s) websites (issue 13, finding 11); on the mini catalogue (tests/api/conftest.py)."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from playwright.sync_api import sync_playwright

from api.console import STATIC_DIR
from tests.api.conftest import NU
from tests.api.live_server import live_server

CHROMIUM = Path(os.environ.get("PARTNERMATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _policy(response: Response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive -> sources."""
    header = response.headers["content-security-policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def _assert_security_headers(response: Response) -> dict[str, list[str]]:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = _policy(response)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    return policy


def test_every_kind_of_response_has_the_security_headers(app: FastAPI) -> None:
    def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        responses = {
            "console page": client.get("/"), "console script": client.get("/console/main.js"),
            "JSON": client.get("/areas"), "404": client.get("/no-such-thing"),
            "422": client.get("/institutions", params={"limit": 0}), "401": client.post("/suggestions", json={}),
            "500": client.get("/explode"), "OpenAPI": client.get("/openapi.json"),
        }
    for name, response in responses.items():
        policy = _assert_security_headers(response)
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], name
    assert responses["500"].status_code == 500 and responses["401"].status_code == 401


class _Resources(HTMLParser):
    """What an HTML page loads, and what it has inline."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline_scripts = 0
        self.styles: list[str] = []
        self.images: list[str] = []
        self.inline_styles = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.scripts.append(values["src"] or "")
            else:
                self.inline_scripts += 1
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(values.get("href") or "")
        elif tag == "link" and "icon" in (values.get("rel") or ""):
            self.images.append(values.get("href") or "")
        elif tag == "style":
            self.inline_styles += 1
        self.inline_styles += "style" in values
        self.handlers += [name for name in values if name.startswith("on")]


def _allowed(url: str, sources: list[str]) -> bool:
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'" in sources
    if parts.scheme == "data":
        return "data:" in sources
    return f"{parts.scheme}://{parts.netloc}" in sources


def test_the_console_page_loads_only_what_its_policy_allows() -> None:
    page = _Resources()
    page.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert page.scripts and page.inline_scripts == 0 and page.inline_styles == 0 and page.handlers == []
    scripts = "\n".join(path.read_text(encoding="utf-8") for path in STATIC_DIR.glob("*.js"))
    # a style attribute is refused under style-src 'self'; ui.js h() sets `style` through the CSSOM
    assert not re.search(r"setAttribute\(\s*[\"']style|innerHTML|outerHTML|eval\(|new Function", scripts)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_documentation_pages_are_allowed_what_they_load(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    policy = _assert_security_headers(response)
    page = _Resources()
    page.feed(response.text)
    assert page.scripts
    assert all(_allowed(url, policy["script-src"]) for url in page.scripts), (page.scripts, policy)
    assert all(_allowed(url, policy["style-src"]) for url in page.styles), (page.styles, policy)
    assert all(_allowed(url, policy["img-src"]) for url in page.images), (page.images, policy)
    assert page.inline_scripts == 0 or "'unsafe-inline'" in policy["script-src"]
    assert page.inline_styles == 0 or "'unsafe-inline'" in policy["style-src"]


def test_the_console_works_under_its_policy_and_links_only_to_http_websites(app: FastAPI) -> None:
    """In Chromium: no policy violation, component bars keep their widths (set through the CSSOM), and an
    institution's website becomes a link only when it is an http(s) URL."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/ensure-chromium.sh does)")
    messages: list[str] = []
    with live_server(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
            page.goto(f"{url}/#/institution/{NU}")
            page.wait_for_selector("body[data-ready=true]")
            page.wait_for_selector(".ids a")
            links = page.evaluate("""async () => {
                const { identifiers, contributionBar } = await import("/console/find.js");
                const hrefs = (website) => [...identifiers({ ror_id: "052bx8q98", website }).querySelectorAll("a")]
                    .map((a) => a.getAttribute("href"));
                const bar = contributionBar([{ name: "thematic", value: 1, weight: 0.5, contribution: 0.5 }], 0.5);
                document.body.append(bar);
                return {
                    javascript: hrefs("javascript:alert(document.domain)"),
                    data: hrefs("data:text/html,<script>alert(1)</script>"),
                    spaced: hrefs(" JaVaScRiPt:alert(1)"),
                    https: hrefs("https://nu.edu.kz/"),
                    barWidth: bar.firstElementChild.style.width,
                };
            }""")
        finally:
            browser.close()
    ror = "https://ror.org/052bx8q98"
    assert links["javascript"] == links["data"] == links["spaced"] == [ror]
    assert links["https"] == [ror, "https://nu.edu.kz/"]
    assert links["barWidth"] == "50%"
    assert not [m for m in messages if "Content Security Policy" in m or m.startswith(("error", "pageerror"))], \
        messages
