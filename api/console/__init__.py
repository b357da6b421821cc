"""The web console: static pages served by the API itself at ``/`` (no build step, no internet).

The pages call the same HTTP API as any client (with the API key the user enters, kept in the browser's
local storage); charts are drawn as inline SVG, so nothing is fetched from outside the service.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve the console: ``/`` is the page, ``/console/…`` its scripts and styles."""
    app.mount("/console", StaticFiles(directory=STATIC_DIR), name="console")

    @app.get("/", include_in_schema=False)
    def console_page() -> FileResponse:
        # no-cache: a browser revalidates (304 when unchanged) so a new version is picked up on reload
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
