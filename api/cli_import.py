"""``partnermatch import publications|projects|partnerships``: an office's own evidence, from the command line.

Each command plans the import (``seed_data.evidence_import``), prints what it would change, and writes it in one
transaction unless ``--dry-run``. A file with any problem is rejected whole: every problem is printed and the
command exits 1 with nothing written. The command line speaks for the admin: any institution may be changed.

A service running on PostgreSQL hears of the import (NOTIFY) and rebuilds its matcher; on SQLite, which cannot
announce changes, a running service shows an import made here after its next start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from api.cli_common import catalogue_session, console, err_console, fail
from seed_data.evidence_import import (
    EvidenceImportError,
    EvidencePlan,
    apply_plan,
    plan_partnerships,
    plan_projects,
    plan_publications,
)
from seed_data.publications import FORMATS
from seed_data.tables import utc_now

_FORMAT_HELP = f"Export format: {', '.join(FORMATS)} (default: detected from the content, else the extension)."
_DRY_RUN_HELP = "Show what would change; change nothing."
_RESTART_NOTE = ("a service running on PostgreSQL rebuilds its matcher now; on SQLite it shows the new evidence "
                 "after its next start")

# Makes the plan from an open session, the file's bytes and its name.
PlanMaker = Callable[[Session, bytes, str], EvidencePlan]


def _read(file: Path) -> bytes:
    if not file.is_file():
        raise fail(f"file not found: {file}")
    return file.read_bytes()


def _print_plan(plan: EvidencePlan, *, dry_run: bool) -> None:
    title = f"{'Dry run, nothing written' if dry_run else 'Imported'}: {plan.kind} from {plan.file}"
    table = Table("read", "merged duplicates", "added", "updated", "unchanged", "institutions", title=title)
    counts = plan.counts()
    table.add_row(*(str(counts[name]) for name in ("read", "merged", "added", "updated", "unchanged")),
                  ", ".join(plan.institution_ids) or "-")
    console.print(table)


def _execute(file: Path, *, dry_run: bool, make_plan: PlanMaker) -> None:
    """Plan with ``make_plan``, print the counts, apply and commit unless ``dry_run``; exit 1 on problems."""
    data = _read(file)
    started = time.perf_counter()
    with catalogue_session() as session:
        try:
            with console.status(f"checking {file.name}…"):
                plan = make_plan(session, data, file.name)
        except EvidenceImportError as exc:
            err_console.print(f"[red]rejected, nothing imported:[/red] {file.name}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                err_console.print(f"  {problem}", markup=False, highlight=False)
            raise typer.Exit(code=1) from exc
        if not dry_run:
            with console.status(f"writing {plan.added + plan.updated} row(s)…"):
                apply_plan(session=session, plan=plan, key_id=None, now=utc_now())
                session.commit()
    _print_plan(plan, dry_run=dry_run)
    elapsed = time.perf_counter() - started
    if dry_run:
        console.print(f"checked in {elapsed:.1f} s; run again without --dry-run to write it")
    else:
        console.print(f"done in {elapsed:.1f} s; {_RESTART_NOTE}")


def publications(
    file: Annotated[Path, typer.Argument(help="RIS, BibTeX, Scopus CSV, Web of Science tab-delimited or "
                                              "OpenAlex works JSON export.")],
    institution: Annotated[str, typer.Option("--institution", help="Catalogue id of the institution.")],
    fmt: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_DRY_RUN_HELP)] = False,
) -> None:
    """Import an institution's publication list (duplicates merged by DOI or title), all or nothing."""
    if fmt is not None and fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    _execute(file, dry_run=dry_run, make_plan=lambda session, data, name: plan_publications(
        session=session, institution_id=institution, data=data, filename=name, fmt=fmt, allowed=None))


def projects(
    file: Annotated[Path, typer.Argument(help="CSV (header row) or JSON (list of objects); columns: "
                                              "institution_id, title, code, abstract, keywords, start_year, "
                                              "end_year, funder, partners, url.")],
    institution: Annotated[str | None, typer.Option("--institution", help="Institution of rows without "
                                                                          "institution_id.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_DRY_RUN_HELP)] = False,
) -> None:
    """Import national and other non-CORDIS projects, all or nothing."""
    _execute(file, dry_run=dry_run, make_plan=lambda session, data, name: plan_projects(
        session=session, data=data, filename=name, institution_id=institution, allowed=None))


def partnerships(
    file: Annotated[Path, typer.Argument(help="CSV (header row) or JSON (list of objects); columns: "
                                              "institution_id, partner_name, partner_country, partner_ror, "
                                              "partner_id, partner_website, type, year, description, url.")],
    institution: Annotated[str | None, typer.Option("--institution", help="Institution of rows without "
                                                                          "institution_id.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_DRY_RUN_HELP)] = False,
) -> None:
    """Import known partnerships (MoU, dual degree, joint lab, ...), partners matched to the catalogue."""
    _execute(file, dry_run=dry_run, make_plan=lambda session, data, name: plan_partnerships(
        session=session, data=data, filename=name, institution_id=institution, allowed=None))


def register(import_app: typer.Typer) -> None:
    """Add ``publications``, ``projects`` and ``partnerships`` to the ``partnermatch import`` group."""
    import_app.command("publications")(publications)
    import_app.command("projects")(projects)
    import_app.command("partnerships")(partnerships)
