"""``partnermatch consortium build | check | evaluate``: the consortium builder from the command line."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from api.cli_common import (
    catalogue_session,
    console,
    embedded_catalogue,
    export_format,
    fail,
    load_matcher,
    open_matcher,
    resolve_institution,
)
from api.consortia import answer, export_bytes
from api.errors import InvalidRequest
from api.schemas_consortia import ConsortiumAnswer, ConsortiumRequest
from matcher.consortium import MAX_ALTERNATIVES, TERMS, ConsortiumWeights, check_consortium
from matcher.consortium_eval import run_consortium_evaluation
from matcher.consortium_rules import UnknownRule
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, EmptyEvaluation, check_window
from matcher.ranking import RequestError
from matcher.weights import ProfileNotFound, ensure_default_profiles, published_version, to_scoring_profile

logger = logging.getLogger("partnermatch")

consortium_app = typer.Typer(help="Build and check consortia against a programme's composition rules.",
                             no_args_is_help=True)


def _print(response: ConsortiumAnswer) -> None:
    console.print(f"[bold]{response.programme} / {response.action_type}[/bold], size {response.size[0]}-"
                  f"{response.size[1]}, pool {response.pool_size}, {response.seconds} s")
    for aspect in response.aspects:
        console.print(f"  aspect {aspect.index}: {aspect.text[:140]}")
    for p in response.proposals:
        table = Table("role", "institution", "country", "kind", "quality", "coord.", "aspects (evidence)",
                      title=f"Alternative {p.rank}: objective {p.objective:.3f} ({p.solver_status}, gap "
                            f"{p.solver_gap:.0%}), {p.size} members, {len(p.countries)} countries, "
                            f"{'valid' if p.valid else 'INVALID'}", show_lines=True)
        for m in p.members:
            covers = "\n".join(f"{c.aspect}: {c.evidence.title or c.evidence.id}"[:90] for c in m.aspects)
            table.add_row(m.role.replace("_", " "), m.institution.name, m.institution.country, m.institution.kind,
                          f"{m.quality:.2f}", str(m.coordinated_projects), covers)
        console.print(table)
        console.print("  objective: " + ", ".join(f"{k} {v:+.3f}" for k, v in p.breakdown.items()))
        for r in p.rules:
            console.print(f"  [{'green' if r.satisfied else 'red'}]{'ok' if r.satisfied else 'FAIL'}[/] "
                          f"{r.rule}: {r.explanation}")
    for note in response.notes:
        console.print(f"note: {note}")


@consortium_app.command("build")
def build(
    requester: Annotated[str | None, typer.Option(
        help="Catalogue id, name or abbreviation of the requesting institution (e.g. KazNU).")] = None,
    call: Annotated[str | None, typer.Option(help="Call topic id: its programme, action type, title and text.")] = None,
    programme: Annotated[str | None, typer.Option(help="Programme key (with --call: none, or the call's).")] = None,
    action_type: Annotated[str | None, typer.Option(help="RIA, IA, CSA, MSCA, ERC, EIC or other.")] = None,
    text: Annotated[str | None, typer.Option(help="The idea (with --call: put before the call's text).")] = None,
    lock: Annotated[list[str] | None, typer.Option(help="Institution (id or name) every proposal includes; repeatable.")
                    ] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Institution (id or name) never proposed; repeatable.")
                       ] = None,
    size_min: Annotated[int | None, typer.Option(help="Fewest members (requester included).")] = None,
    size_max: Annotated[int | None, typer.Option(help="Most members (requester included).")] = None,
    alternatives: Annotated[int, typer.Option(min=1, max=MAX_ALTERNATIVES, help="How many alternatives.")] = 3,
    export: Annotated[Path | None, typer.Option(help="Write the proposals to this .csv or .xlsx file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full response as JSON.")] = False,
) -> None:
    """Propose alternative consortia that meet the composition rules of a call or programme."""
    file_format = export_format(export) if export is not None else None  # before the build, not after it
    with catalogue_session() as session:
        def ids(names: list[str] | None) -> list[str]:
            return [resolve_institution(session, name).id for name in names or []]

        try:
            body = ConsortiumRequest(requester_id=resolve_institution(session, requester).id if requester else None,
                                     call=call, programme=programme, action_type=action_type, text=text,
                                     lock=ids(lock), exclude=ids(exclude), size_min=size_min, size_max=size_max,
                                     alternatives=alternatives)
        except ValidationError as exc:
            raise fail(str(exc)) from exc
        matcher = load_matcher(session)
        try:
            response = answer(matcher, body, session, today=dt.date.today())
        except InvalidRequest as exc:
            raise fail(f"{exc.field}: {exc}") from exc
    if export is not None and file_format is not None:
        content, _ = export_bytes(response, file_format)  # the answer printed below, not a second build
        export.write_bytes(content)
        logger.info("wrote %s", export)  # on stderr: stdout holds only the answer (--json)
    if as_json:
        typer.echo(response.model_dump_json(indent=1))
    else:
        _print(response)


@consortium_app.command("check")
def check_members(
    members: Annotated[list[str], typer.Argument(help="Institution ids of the consortium.")],
    programme: Annotated[str, typer.Option(help="Programme key.")] = "horizon-europe",
    action_type: Annotated[str | None, typer.Option(help="RIA, IA, CSA, MSCA, ERC, EIC or other.")] = None,
    coordinator: Annotated[str | None, typer.Option(help="The designated coordinator's id.")] = None,
) -> None:
    """Check a consortium against the programme's composition rules, rule by rule."""
    with catalogue_session() as session:
        index = open_matcher(session).index
    try:
        rules, results = check_consortium(index, programme, action_type, members, coordinator_id=coordinator)
    except (UnknownRule, RequestError) as exc:
        raise fail(f"{exc.field}: {exc}") from exc
    for r in results:
        console.print(f"[{'green' if r.satisfied else 'red'}]{'ok' if r.satisfied else 'FAIL'}[/] {r.rule}: "
                      f"{r.explanation}\n     ({r.paraphrase} — {r.source})")
    for note in rules.notes:
        console.print(f"note: {note}")
    if not all(r.satisfied for r in results):
        raise typer.Exit(code=1)


@consortium_app.command("evaluate")
def evaluate(
    limit: Annotated[int | None, typer.Option(help="Projects sampled from the window (default: all).")] = 100,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    cutoff: Annotated[str, typer.Option(help="Index date.")] = VALIDATION_CUTOFF.isoformat(),
    until: Annotated[str, typer.Option(help="Projects starting from the cutoff up to this date.")] = (
        VALIDATION_UNTIL.isoformat()),
    out: Annotated[Path | None, typer.Option(help="Write the report (with per-project rows) as JSON here.")] = None,
    weights: Annotated[list[str] | None, typer.Option(
        help="Objective weight TERM=VALUE overriding the default (e.g. cohesion=0.2); repeatable.")] = None,
) -> None:
    """Replay history: build each Horizon Europe project's consortium (its real size) from its coordinator and
    text, as of the cutoff; consortium recall against the ranking core's top-N, rule satisfaction, timings."""
    try:
        start, end = dt.date.fromisoformat(cutoff), dt.date.fromisoformat(until)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    try:  # a pydantic ValidationError is a ValueError too
        overrides = ConsortiumWeights.model_validate(dict(w.split("=", 1) for w in weights)) if weights else None
    except ValueError as exc:
        raise typer.BadParameter(f"--weights takes TERM=VALUE, TERM one of {', '.join(TERMS)}: {exc}") from exc
    with catalogue_session() as session:
        try:
            ensure_default_profiles(session=session)
            session.commit()
            profile = to_scoring_profile(published_version("horizon-europe", session=session))
            check_window(session, cutoff=start, until=end)
        except (ProfileNotFound, EmptyEvaluation) as exc:
            raise fail(str(exc)) from exc
        embedder, rows, vectors = embedded_catalogue(session)
        report = run_consortium_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors,
                                           cutoff=start, until=end, profile=profile, limit=limit, seed=seed,
                                           weights=overrides)
        session.commit()  # the chunks' query vectors, cached for the next run
    if out is not None:
        out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    table = Table("breakdown", "n", "built", "infeasible", "recall", "baseline", "rules ok", "optimal", "gap",
                  "p50 s", "p90 s", title=f"Consortia on history: {report['sample']['n']} of "
                                          f"{report['n_window_queries']} projects (seed {seed}), cutoff {cutoff}")
    formats = {"consortium_recall": ".4f", "baseline_recall": ".4f", "rule_satisfaction": ".0%",
               "optimal_share": ".0%", "mean_gap": ".2f", "seconds_p50": ".2f", "seconds_p90": ".2f"}
    for name, row in report["summary"].items():  # "—": nothing built in that breakdown, nothing measured
        table.add_row(name, str(row["n"]), str(row["n_built"]), str(row["n_infeasible"]),
                      *("—" if row[key] is None else format(row[key], spec) for key, spec in formats.items()))
    console.print(table)
