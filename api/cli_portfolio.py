"""``partnermatch portfolio``: partners for several requesters at once (``POST /portfolios`` on the command line),
as a table, JSON, or a CSV/XLSX file for the office."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from api.cli_common import catalogue_session, console, export_format, fail, load_matcher, resolve_institution
from api.errors import InvalidRequest
from api.portfolios import build_portfolio
from api.profiles import resolve_profile
from api.schemas_portfolios import (
    MAX_COUNTRY_BONUS,
    MAX_K,
    MAX_REQUESTERS,
    PortfolioRequest,
    PortfolioResponse,
    RequesterSelection,
)
from api.spreadsheet import add_sheet, csv_bytes, empty_workbook, workbook_bytes

logger = logging.getLogger("partnermatch")

EXPORT_COLUMNS = ("requester_id", "requester", "requester_country", "position", "partner_id", "partner",
                  "partner_country", "partner_kind", "score", "own_rank", "partner_load", "requester_total",
                  "independent_total", "ratio", "overlap", "shortfall")


def export_rows(answer: PortfolioResponse) -> list[list[Any]]:
    """One row per (requester, partner); a requester without partners gets one row with its shortfall."""
    rows: list[list[Any]] = []
    for r in answer.requesters:
        head = [r.requester.id, r.requester.name, r.requester.country]
        tail = [r.total, r.independent_total, r.ratio, r.overlap, r.shortfall]
        if not r.partners:
            rows.append([*head, None, None, None, None, None, None, None, None, *tail])
        for position, p in enumerate(r.partners, start=1):
            rows.append([*head, position, p.institution.id, p.institution.name, p.institution.country,
                         p.institution.kind, p.score, p.own_rank, p.load, *tail])
    return rows


def write_export(answer: PortfolioResponse, path: Path) -> None:
    """``answer`` as CSV (UTF-8 with BOM) or an Excel workbook, by ``path``'s suffix; cells made safe to open."""
    rows = export_rows(answer)
    if export_format(path) == "xlsx":
        book = empty_workbook()
        add_sheet(book, "Portfolio", EXPORT_COLUMNS, rows)
        path.write_bytes(workbook_bytes(book))
    else:
        path.write_bytes(csv_bytes(EXPORT_COLUMNS, rows))


def print_portfolio(answer: PortfolioResponse) -> None:
    """A rich table: one row per requester, then the spread."""
    table = Table("requester", "partners (country, score, own rank, shared by)", "total / alone", "overlap",
                  title=f"Portfolio — {answer.programme}, areas: {', '.join(answer.areas) or 'any'}, k={answer.k}, "
                        f"c={answer.c}, max per country {answer.max_per_country or '—'} ({answer.n_pool} in the pool)",
                  show_lines=True)
    for r in answer.requesters:
        partners = "\n".join(f"{p.institution.name} ({p.institution.country}, {p.score:.3f}, #{p.own_rank}, "
                             f"{p.load})" for p in r.partners)
        if r.shortfall:
            partners += f"\n[yellow]{len(r.partners)} of {answer.k}: {r.shortfall}[/yellow]"
        ratio = f" ({r.ratio:.1%})" if r.ratio is not None else ""
        table.add_row(f"{r.requester.name}\n{r.requester.id}", partners,
                      f"{r.total:.3f} / {r.independent_total:.3f}{ratio}", f"{r.overlap}/{answer.k}")
    console.print(table)
    spread = answer.spread
    ratio = f" ({answer.ratio:.1%} of the requesters' own top-{answer.k})" if answer.ratio is not None else ""
    console.print(f"total score {answer.total:.3f}{ratio}; {spread.n_partners} partners in {spread.n_countries} "
                  f"countries; max load {spread.max_load}, load Gini {spread.load_gini:.2f}; "
                  f"{answer.n_short} requester(s) short; ranked in {answer.seconds.get('rank', 0):.2f} s, solved in "
                  f"{answer.seconds.get('solve', 0):.3f} s")
    for note in answer.notes:
        console.print(f"note: {note}")


def portfolio(
    programme: Annotated[str, typer.Option(help="Programme key, e.g. horizon-europe, erasmus-cbhe, bri.")] = (
        "horizon-europe"
    ),
    requester: Annotated[list[str] | None, typer.Option(help="Requester id, name or abbreviation; repeat for "
                                                             "several (or use --country/--n).")] = None,
    country: Annotated[str | None, typer.Option(help="Select the requesters: institutions of this country "
                                                     "(with --area and --n).")] = None,
    area: Annotated[list[str] | None, typer.Option(help="Priority area to rank partners for; repeatable. With "
                                                        "--country the first one also selects the requesters.")
                    ] = None,
    n: Annotated[int, typer.Option(min=1, max=MAX_REQUESTERS,
                                   help="How many requesters to select (the strongest).")] = 20,
    kind: Annotated[str | None, typer.Option(help="Kind of the selected requesters (default university; 'any').")
                    ] = "university",
    k: Annotated[int, typer.Option(min=1, max=MAX_K, help="Partners per requester.")] = 5,
    c: Annotated[int, typer.Option(min=1, max=MAX_REQUESTERS, help="Requesters per partner, at most.")] = 2,
    max_per_country: Annotated[int | None, typer.Option(min=1, help="Partners of one country per requester.")
                               ] = None,
    partner_country: Annotated[list[str] | None, typer.Option(help="Only partners in this country; repeatable.")
                               ] = None,
    country_bonus: Annotated[float, typer.Option(min=0, max=MAX_COUNTRY_BONUS,
                                                 help="Bonus per distinct partner country of a requester (0: "
                                                      "scores only).")] = 0.0,
    profile: Annotated[str | None, typer.Option(help="Weight profile 'name' or 'name:version'.")] = None,
    export: Annotated[Path | None, typer.Option(help="Write the portfolio to a .csv or .xlsx file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what POST /portfolios returns.")] = False,
) -> None:
    """Assign partners to several requesters at once: k each, no partner to more than c requesters."""
    if bool(requester) == bool(country):
        raise fail("give --requester (repeatable) or --country with --area and --n, not both")
    if country and not area:
        raise fail("--country selects the requesters strongest in an area: give --area too")
    if export is not None:
        export_format(export)  # a wrong suffix exits now, not after the ranking
    with catalogue_session() as session:
        ids = [resolve_institution(session, r).id for r in requester or []]
        try:
            select = RequesterSelection(area=area[0], country=country, n=n,
                                        kind=None if kind in (None, "any") else kind) if country and area else None
            body = PortfolioRequest(programme=programme, requester_ids=ids or None, select=select, areas=area or [],
                                    k=k, c=c, max_per_country=max_per_country, countries=partner_country,
                                    country_bonus=country_bonus, profile=profile)
        except ValidationError as exc:
            raise fail(str(exc)) from exc
        matcher = load_matcher(session)  # exits when the database has no weight profiles table
        try:
            resolved = resolve_profile(body.programme, body.profile, session=session)
        except InvalidRequest as exc:
            raise fail(f"{exc.field}: {exc}") from exc
    try:
        answer = build_portfolio(matcher, body, resolved)
    except InvalidRequest as exc:
        raise fail(f"{exc.field}: {exc}") from exc
    if export is not None:
        write_export(answer, export)
        logger.info("wrote %s", export)
    if as_json:
        typer.echo(answer.model_dump_json(indent=1))
    else:
        print_portfolio(answer)
