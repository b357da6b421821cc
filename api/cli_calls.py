"""``partnermatch calls search|show``: the open and forthcoming EU call topics in the catalogue.

The commands ask what ``GET /calls`` and ``GET /calls/{topic_id}`` answer (the same functions, in
``api/calls.py``), with the calls' status relative to today.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from api.calls import call_detail, list_calls
from api.cli_common import catalogue_session, console, fail
from api.errors import NotFound
from api.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from seed_data.calls import CallFilters
from seed_data.tables import ActionType

calls_app = typer.Typer(help="Open and forthcoming EU call topics.", no_args_is_help=True)


def _amount(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}M"


@calls_app.command("search")
def calls_search(
    query: Annotated[str | None, typer.Argument(help="Words that must all occur in the topic id, title, keywords "
                                                     "or text, e.g. 'water irrigation'.")] = None,
    programme: Annotated[str | None, typer.Option(help="Programme key (horizon-europe) or the portal's programme "
                                                       "name (LIFE).")] = None,
    action_type: Annotated[ActionType | None, typer.Option(help="The action type.")] = None,
    cluster: Annotated[str | None, typer.Option(help="Horizon Europe cluster or part: CL1-CL6, MISS, ...")] = None,
    deadline_from: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
                                                              help="Deadline on or after.")] = None,
    deadline_to: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
                                                            help="Deadline on or before.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only calls open or forthcoming today.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    as_json: Annotated[bool, typer.Option("--json", help="Print what GET /calls answers.")] = False,
) -> None:
    """Find call topics by words, programme, action type, cluster and deadline, soonest deadline first."""
    filters = CallFilters(q=query, programme=programme, action_type=action_type, cluster=cluster,
                          deadline_from=deadline_from.date() if deadline_from else None,
                          deadline_to=deadline_to.date() if deadline_to else None, open_only=open_only)
    today = dt.date.today()
    with catalogue_session() as session:
        page = list_calls(session=session, filters=filters, today=today, limit=limit)
    if as_json:
        typer.echo(page.model_dump_json(indent=1))
        return
    table = Table("topic", "title", "programme", "type", "deadline", "status", "budget (EUR)",
                  title=f"{page.count} call topic(s)" + (f", first {len(page.data)}" if page.count > len(page.data)
                                                         else ""))
    for call in page.data:
        budget = _amount(call.budget_min) if call.budget_min == call.budget_max else \
            f"{_amount(call.budget_min)}-{_amount(call.budget_max)}"
        table.add_row(call.topic_id, call.title, call.programme_key or call.programme, call.action_type,
                      call.deadline.isoformat() if call.deadline else "-", call.status, budget)
    console.print(table)


@calls_app.command("show")
def calls_show(
    topic_id: Annotated[str, typer.Argument(help="Topic id, e.g. HORIZON-CL6-2027-02-FARM2FORK-01.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print what GET /calls/{topic_id} answers.")] = False,
) -> None:
    """One call topic in full: programme, action type, deadline, budget, text and conditions."""
    with catalogue_session() as session:
        try:
            call = call_detail(session=session, topic_id=topic_id, today=dt.date.today())
        except NotFound as exc:
            raise fail(f"{exc} Try `partnermatch calls search`.") from exc
    if as_json:
        typer.echo(json.dumps(call.model_dump(mode="json"), indent=1, ensure_ascii=False))
        return
    console.print(f"[bold]{call.topic_id}[/bold]: {call.title}")
    facts = [
        ("programme", call.programme + (f" ({call.programme_key})" if call.programme_key else "")),
        ("cluster", call.cluster or "-"),
        ("call", f"{call.call_identifier or '-'}: {call.call_title or '-'}"),
        ("action type", f"{call.action_type} ({call.types_of_action or '-'})"),
        ("deadline", f"{call.deadline.isoformat() if call.deadline else '-'} ({call.deadline_model or '-'}), "
                     f"{call.status}"),
        ("budget", f"{_amount(call.budget_min)} to {_amount(call.budget_max)} EUR per grant, "
                   f"{call.expected_grants if call.expected_grants is not None else '?'} grant(s) expected"),
        ("keywords", ", ".join(call.keywords) or "-"),
        ("portal", call.url or "-"),
    ]
    for name, value in facts:
        console.print(f"{name:>12}: {value}", markup=False, highlight=False)
    console.print()
    console.print(call.text or "(the portal gives no description)", markup=False, highlight=False)
    if call.conditions:
        console.print()
        console.print("[bold]Conditions[/bold]")
        console.print(call.conditions, markup=False, highlight=False)
