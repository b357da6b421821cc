"""The ``partnermatch`` command line: catalogue build, database load and import, institution search."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from sqlmodel import Session, col, select

from api import index_store
from api.calls import resolve_call
from api.cli_admin import keys_app, weights_app
from api.cli_calls import calls_app
from api.cli_common import (
    catalogue_session,
    console,
    err_console,
    fail,
    load_matcher,
    open_matcher,
    resolve_institution,
)
from api.cli_consortium import consortium_app
from api.cli_evaluate import evaluate, learn_ranker, learn_weights
from api.cli_import import register as register_import_commands
from api.cli_portfolio import portfolio
from api.db import make_engine, migrate, new_migration
from api.errors import InvalidRequest
from api.profiles import resolve_profile
from api.routes.institutions import get_institution
from api.settings import REPO_ROOT, get_settings
from api.suggestions import suggestion_answer
from embeddings.cache import EmbeddingCache
from embeddings.st import SentenceTransformerEmbedder, load_embedder
from embeddings.store import save_vector_file, seed_cache_from_file
from matcher.engine import texts_and_vectors
from matcher.types import SuggestionRequest
from seed_data.build import build_catalogue
from seed_data.crud import CatalogueError, load_catalogue
from seed_data.files import DATA_DIR, read_json
from seed_data.importer import ImportValidationError, import_institutions
from seed_data.migrations import SchemaError
from seed_data.tables import Institution

app = typer.Typer(help="partnermatch: research-partnership matching for Kazakh universities.", no_args_is_help=True)
catalogue_app = typer.Typer(help="Build and inspect the shipped catalogue.", no_args_is_help=True)
db_app = typer.Typer(help="Create and load the database.", no_args_is_help=True)
import_app = typer.Typer(help="Import an office's own records.", no_args_is_help=True)
institutions_app = typer.Typer(help="Look up institutions.", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(institutions_app, name="institutions")

logger = logging.getLogger("partnermatch")

VECTORS_FILE = "vectors.npz"


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False) -> None:
    """Configure logging for every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


# --- catalogue ---------------------------------------------------------------------------------------


@catalogue_app.command("build")
def catalogue_build(
    raw: Annotated[Path, typer.Option(help="Folder of raw public sources (see its SOURCES.md).")] = (
        REPO_ROOT.parent / "shared" / "data" / "raw"
    ),
    out: Annotated[Path, typer.Option(help="Where the processed catalogue files go.")] = DATA_DIR,
) -> None:
    """Rebuild the processed catalogue files from the raw sources (deterministic) and print the report."""
    if not raw.is_dir():
        raise fail(f"raw data folder not found: {raw}")
    started = time.perf_counter()
    with console.status("building the catalogue (read sources, resolve identities, profiles)…"):
        report = build_catalogue(raw, out)
    _print_report(report)
    console.print(f"built in {time.perf_counter() - started:.1f} s into {out}")


@catalogue_app.command("stats")
def catalogue_stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: Annotated[Path, typer.Option(help="Catalogue folder.")] = DATA_DIR,
) -> None:
    """Counts of the shipped catalogue: sources read, institutions per country group and kind, merges."""
    report_path = data_dir / "build_report.json"
    if not report_path.exists():
        raise fail(f"no build report at {report_path}: run `partnermatch catalogue build`")
    report = read_json(report_path)
    if as_json:
        typer.echo(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    sources = Table("source", "what", "count", title="Records read per source")
    for source, counts in report["sources"].items():
        for what, n in counts.items():
            sources.add_row(source, what, str(n))
    console.print(sources)
    inst = report["institutions"]
    kinds = sorted(inst["by_kind"])
    groups = Table("country group", *kinds, "total", title=f"Institutions: {inst['total']}")
    for group, per_kind in inst["by_country_group_and_kind"].items():
        groups.add_row(group, *(str(per_kind.get(k, 0)) for k in kinds), str(sum(per_kind.values())))
    console.print(groups)
    console.print(f"with project text evidence: {inst['with_project_evidence']}; "
                  f"with any project (incl. H2020): {inst['with_any_project']}; Kazakhstan: {inst['kazakhstan']}")
    merges = report["merges"]
    console.print(f"merges accepted: {merges['accepted_by_reason']}; refused: {merges['refused']} "
                  f"{merges['refused_by_note']} (every decision in {merges['list']})")
    console.print(f"rows rejected: {report['rejected']['total']}")
    if "calls" in report:  # reports of builds before call topics have none
        calls = report["calls"]
        console.print(f"call topics: {calls['total']} (deadlines {calls['deadlines']['first']} to "
                      f"{calls['deadlines']['last']}); by action type {calls['by_action_type']}")
    for reason, n in report["rejected"]["by_reason"].items():
        console.print(f"  {n:>6}  {reason}")
    kz = report.get("kz_public_web")
    if kz:
        console.print(f"kz_public_web: evidence records matched {kz['evidence_records_matched']}, missing institutions "
                      f"matched {kz['missing_institutions_matched']}, created {kz['created']}, renamed "
                      f"{kz['renamed']}, merged {len(kz['merged'])}, unmatched {len(kz['unmatched'])}, rejected "
                      f"{kz['rejected']['total']}; items {kz['items_by_type']}; partnerships {kz['partnerships']}")
        for line in kz["rejected"]["list"][:20]:
            console.print(f"  rejected {line}")
    if report.get("evidence"):
        evidence = Table("country", "institutions", "universities", "research", "described only", "none",
                         "institutions with each type", title="Research evidence (Central Asia and China)")
        for country, ev in report["evidence"].items():
            evidence.add_row(country, str(ev["total"]), str(ev["universities"]), str(ev["with_research_evidence"]),
                             str(ev["described_only"]), str(ev["none"]),
                             ", ".join(f"{t} {n}" for t, n in ev["institutions_with_type"].items()))
        console.print(evidence)
        console.print("research evidence by country group: " + "; ".join(
            f"{group} {g.get('research', 0)} of {g['total']}"
            for group, g in report.get("evidence_by_country_group", {}).items()))
    beyond = report.get("bri_public_web")
    if beyond:
        console.print(f"bri_public_web: records {beyond['records_read']}, matched {beyond['matched']}, unmatched "
                      f"{len(beyond['unmatched'])}, rejected {beyond['rejected']['total']}; institutions with facts "
                      f"{beyond['institutions_with_facts_by_country']}; items {beyond['items_by_type']}; "
                      f"partnerships {beyond['partnerships']}")
    named = Table("asked for", "country", "found", "name", "sources", title="Institutions named in policy texts")
    for item in report["named_institutions"]:
        named.add_row(item["query"], item["country"], item.get("id", "[red]missing[/red]"), item.get("name", ""),
                      ", ".join(item.get("sources", [])))
    console.print(named)


# --- database -----------------------------------------------------------------------------------------


@db_app.command("init")
def db_init(data_dir: Annotated[Path, typer.Option(help="Catalogue folder.")] = DATA_DIR) -> None:
    """Create or migrate the schema, then load the shipped catalogue (loading twice changes nothing; a load
    that was interrupted is completed by running this again)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade = migrate(engine)
    except SchemaError as exc:
        raise fail(str(exc)) from exc
    was = upgrade.stamped or upgrade.before
    console.print(f"database schema: revision {upgrade.after}"
                  + ("" if was == upgrade.after else f" (was {was or 'a database without tables'})"))
    vectors = data_dir / VECTORS_FILE
    if vectors.exists():
        # before the catalogue: cached vectors are keyed by text, never by row, and are written in one
        # transaction, so the catalogue load below is what a killed `db init` can leave incomplete
        with Session(engine) as session:
            embedder = load_embedder(settings.embedding_model, session=session)
            inserted = seed_cache_from_file(vectors, session=session, cache=EmbeddingCache(),
                                            model_id=embedder.model_id)
            session.commit()
        console.print(f"embedding cache: {inserted} shipped vectors added for {embedder.model_id}")
    with Session(engine) as session:
        try:
            report = load_catalogue(session=session, data_dir=data_dir, show_progress=True)
        except CatalogueError as exc:
            raise fail(str(exc)) from exc
    table = Table("table", "inserted", "updated", "unchanged", "deleted",
                  title=f"Loaded into {engine.url.render_as_string(hide_password=True)}")
    for name, counts in report.tables().items():
        table.add_row(name, str(counts.inserted), str(counts.updated), str(counts.unchanged), str(counts.deleted))
    console.print(table)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration changes, e.g. 'institution: add acronym'.")],
) -> None:
    """Write a migration (seed_data/migrations/versions/) with the model changes since the latest one; review
    it, and its downgrade, before committing."""
    path = new_migration(message=message)
    console.print(f"written {path}: review it before committing")


@db_app.command("embed")
def db_embed(
    out: Annotated[Path, typer.Option(help="Vector file to write (shipped with the catalogue).")] = (
        DATA_DIR / VECTORS_FILE
    ),
) -> None:
    """Embed every project and area text the cache lacks, and write them all to a vector file."""
    settings = get_settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    with catalogue_session() as session:
        hashes, vectors = texts_and_vectors(session=session, embedder=embedder, show_progress=True)
        session.commit()
    save_vector_file(out, model_id=embedder.model_id, hashes=hashes, vectors=vectors)
    console.print(f"{len(hashes)} vectors written to {out} for {embedder.model_id}")


@import_app.command("institutions")
def import_institutions_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (header row) or JSON (list of objects).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")] = False,
) -> None:
    """Upsert an office's own institution records and profile texts, all or nothing."""
    if not file.exists():
        raise fail(f"file not found: {file}")
    with catalogue_session() as session:
        try:
            report = import_institutions(session=session, path=file, dry_run=dry_run)
        except ImportValidationError as exc:
            err_console.print(f"[red]rejected, nothing imported:[/red]\n{exc}")
            raise typer.Exit(code=1) from exc
    verb = "would create" if dry_run else "created"
    console.print(f"{verb} {len(report.created)}: {', '.join(report.created) or '-'}")
    for inst_id, changes in report.updated.items():
        console.print(f"{'would update' if dry_run else 'updated'} {inst_id}:")
        for field_name, (old, new) in changes.items():
            console.print(f"    {field_name}: {old!r} -> {new!r}")
    console.print(f"unchanged: {len(report.unchanged)}")


# --- service and suggestions ----------------------------------------------------------------------------


def rich_stderr_handler() -> logging.Handler:
    """The handler every command logs through (for ``serve``'s logging configuration)."""
    return RichHandler(console=Console(stderr=True), show_path=False)


def serve_log_config(level: int) -> dict[str, Any]:
    """Logging of the service, applied by uvicorn in every worker process: messages through rich as for
    every command; one plain line per request, since rendering each through rich took a third of a loaded
    worker's CPU."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"access": {"format": "%(asctime)s %(levelname)s %(message)s"}},
        "handlers": {
            "rich": {"()": "api.cli.rich_stderr_handler"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stderr"},
        },
        "root": {"level": logging.getLevelName(level), "handlers": ["rich"]},
        "loggers": {"uvicorn.access": {"handlers": ["access"], "propagate": False}},
    }


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each holds its own index in memory).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Run the API (and web console) with uvicorn."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    log_config = serve_log_config(logging.getLogger().getEffectiveLevel())
    if workers == 1:
        uvicorn.run("api.main:app_factory", factory=True, host=host, port=port, log_config=log_config,
                    access_log=access_log)
        return
    config = uvicorn.Config("api.main:app_factory", factory=True, host=host, port=port, workers=workers,
                            log_config=log_config, access_log=access_log)
    Multiprocess(config, sockets=[WorkerSocket.bound_to(host, port)]).run()


class WorkerSocket(socket.socket):
    """The address the workers listen on, bound anew by each worker process with ``SO_REUSEPORT``.

    uvicorn hands one socket to every worker. Sharing one listening socket, the workers' event loops are all
    woken by a new connection and the first awake accepts every connection waiting, and the same worker
    woke first each time: all connections (kept alive by their clients) went to one worker while the other
    idled (issue 13, finding 12). With a socket of its own in each worker, all bound to the address with
    ``SO_REUSEPORT``, the kernel spreads new connections over the workers that listen (by a hash of each
    connection's addresses). uvicorn sends its sockets to a worker by pickling them: this one pickles as its
    address, and unpickling binds a fresh socket, so every worker, a restarted one too, gets its own. The
    parent's socket stays bound (never listening: the kernel sends no connection to it), which reserves the
    port and reports one in use before any worker starts.
    """

    @classmethod
    def bound_to(cls, host: str, port: int) -> WorkerSocket:
        """A socket bound to ``host:port`` with ``SO_REUSEPORT``, declared TCP: uvicorn binds its own with
        protocol 0, so asyncio never sets TCP_NODELAY on the connections, and each keep-alive response after
        the first waits ~40 ms for the client's delayed ACK (uvicorn issue #3149)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = cls(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return WorkerSocket.bound_to, (host, port)


@app.command("suggest")
def suggest(
    requester: Annotated[str | None, typer.Argument(help="Catalogue id, name or abbreviation (e.g. KazNU).")] = None,
    programme: Annotated[str | None, typer.Option(help="Programme key, e.g. horizon-europe, erasmus-cbhe, bri "
                                                       "(default: the call's, else horizon-europe).")] = None,
    call: Annotated[str | None, typer.Option(help="Topic id of an open EU call (partnermatch calls search): its "
                                                  "text is the idea, its programme the programme.")] = None,
    area: Annotated[list[str] | None, typer.Option(help="Priority area key; repeat for several.")] = None,
    text: Annotated[str | None, typer.Option(help="A project idea or profile, instead of or with a requester.")] = None,
    country: Annotated[list[str] | None, typer.Option(help="Only candidates in this country; repeatable.")] = None,
    region: Annotated[list[str] | None, typer.Option(help="Only candidates in this country group (CENTRAL_ASIA, "
                                                         "EU27, BRI, ...); repeatable; with --country: either.")
                      ] = None,
    new_partners_only: Annotated[bool, typer.Option("--new-partners-only", help="Skip existing partners.")] = False,
    k: Annotated[int, typer.Option(min=1, max=100, help="How many suggestions.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full response as JSON.")] = False,
) -> None:
    """Suggest partners for an institution, a project idea or an open call, with reasons."""
    if requester is None and text is None and call is None:
        raise fail("give a requester (id, name or abbreviation), --text or --call")
    if programme is None and call is None:
        programme = "horizon-europe"
    with catalogue_session() as session:
        requester_id = resolve_institution(session, requester).id if requester else None
        try:
            request = SuggestionRequest(requester_id=requester_id, text=text, programme=programme, call=call,
                                        areas=area or [], countries=country, regions=region,
                                        new_partners_only=new_partners_only, k=k)
            # a call: its text (after --text) is the idea and its programme the programme, as POST /suggestions
            request, called = resolve_call(session, request, today=dt.date.today())
        except ValidationError as exc:
            raise fail(str(exc)) from exc
        except InvalidRequest as exc:
            raise fail(f"{'--' + exc.field}: {exc}") from exc
        assert request.programme is not None  # given, or the call's
        matcher = load_matcher(session)  # exits when the database has no weight profiles table
        try:
            resolved = resolve_profile(request.programme, None, session=session)  # the published one
        except InvalidRequest as exc:
            raise fail(f"--{exc.field}: {exc}") from exc
    try:
        response = suggestion_answer(matcher, request, resolved, called)
    except InvalidRequest as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(response.model_dump_json(indent=1))
        return
    who = response.requester.name if response.requester else "the text given"
    if called is not None:
        who = f"call {called.topic_id} ({called.title}; {called.action_type}, deadline "\
              f"{called.deadline.isoformat() if called.deadline else '-'}, {called.status})" + \
              (f" with {response.requester.name}" if response.requester else "")
    table = Table("#", "institution", "country", "kind", "score", "top reasons",
                  title=f"Partners for {who} — {request.programme}, areas: {', '.join(area or []) or 'any'} "
                        f"({response.n_eligible} eligible)", show_lines=True)
    for s in response.data:
        name = s.institution.name + (f"\n{s.institution.native_name}" if s.institution.native_name else "")
        table.add_row(str(s.rank), name, s.institution.country, s.institution.kind, f"{s.score:.3f}",
                      "\n".join(s.reasons[:3]))
    console.print(table)
    for note in response.notes:
        console.print(f"note: {note}")


# --- institutions -------------------------------------------------------------------------------------


@institutions_app.command("search")
def institutions_search(
    query: Annotated[str, typer.Argument(help="Name, alias, abbreviation or web domain; typos are tolerated.")],
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2 country code.")] = None,
    kind: Annotated[str | None, typer.Option(help="university, research, company, public or other.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find institutions by name, alias, abbreviation (KazNU, ENU, MEPhI) or domain."""
    with catalogue_session() as session:
        allowed = None
        if country or kind:
            matching = select(Institution.id)
            if country:
                matching = matching.where(Institution.country == country.upper())
            if kind:
                matching = matching.where(Institution.kind == kind)
            allowed = set(session.exec(matching).all())
        hits = index_store.search_index(get_settings(), session).search(query, limit=limit, allowed=allowed)
        # full rows (profiles included) only for the hits shown, not for the whole catalogue
        by_id = {row.id: row for row in session.exec(select(Institution).where(
            col(Institution.id).in_([h.id for h in hits]))).all()}
    if as_json:
        payload = [{"score": h.score, "matched": h.matched,
                    **by_id[h.id].model_dump(exclude={"profile_derived", "profile_owner"})} for h in hits]
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
        return
    table = Table("institution", "country", "kind", "identifiers", "projects", "score",
                  title=f"Institutions matching {query!r}", show_lines=True)
    for hit in hits:
        r = by_id[hit.id]
        ids = [f"id {r.id}"] + [f"{label} {value}" for label, value in
                                (("PIC", r.pic), ("ROR", r.ror_id), ("Erasmus", r.erasmus_code)) if value]
        name = r.name + (f"\n{r.native_name}" if r.native_name else "")
        table.add_row(name, r.country, r.kind, "\n".join(ids), str(r.n_projects), f"{hit.score:.0f}")
    console.print(table)
    if not hits:
        console.print("no institution matches")


@institutions_app.command("show")
def institutions_show(
    institution: Annotated[str, typer.Argument(help="Catalogue id, name or abbreviation (e.g. KazNU).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print what GET /institutions/{id} returns.")] = False,
) -> None:
    """One institution as the API shows it: identity, evidence by type, area strengths with the items behind
    each, known partnerships and co-participants."""
    with catalogue_session() as session:
        institution_id = resolve_institution(session, institution).id
        detail = get_institution(session=session, institution_id=institution_id, matcher=open_matcher(session))
    if as_json:
        typer.echo(detail.model_dump_json(indent=1))
        return
    ids = [f"{label} {value}" for label, value in (("id", detail.id), ("PIC", detail.pic), ("ROR", detail.ror_id),
                                                   ("Erasmus", detail.erasmus_code)) if value]
    console.print(f"[bold]{detail.name}[/bold] ({detail.country}, {detail.city or 'city unknown'}, {detail.kind})")
    console.print(" · ".join(ids))
    console.print(f"evidence: {detail.evidence_level}; "
                  + ", ".join(f"{n} {t}" for t, n in detail.evidence_counts.model_dump().items() if n))
    strengths = Table("area", "percentile", "items behind it", title="Strength per priority area", show_lines=True)
    for area in detail.area_strengths:
        items = [f"{e.type}: {e.title} ({e.year or 'undated'}) {e.source}" for e in area.evidence]
        strengths.add_row(area.name, f"{area.percentile:.0%}", "\n".join(items))
    console.print(strengths if detail.area_strengths else "no research evidence: no area strengths")
    if detail.evidence:
        items_table = Table("type", "title", "year", "source", title=f"Evidence items ({len(detail.evidence)})")
        for item in detail.evidence:
            items_table.add_row(item.type, item.title, str(item.year or ""), item.source)
        console.print(items_table)
    if detail.known_partnerships:
        ties = Table("partner", "country", "type", "year", "source", title="Known partnerships")
        for tie in detail.known_partnerships:
            ties.add_row(tie.partner_name + ("" if tie.partner_id else " (not in the catalogue)"),
                         tie.partner_country or "", tie.type, str(tie.year or ""), tie.source)
        console.print(ties)
    if detail.partners:
        console.print("co-participants: " + "; ".join(f"{p.name} ({p.country}, {p.n_shared})"
                                                       for p in detail.partners))


register_import_commands(import_app)
app.add_typer(keys_app, name="keys")
app.add_typer(consortium_app, name="consortium")
app.add_typer(weights_app, name="weights")
app.add_typer(calls_app, name="calls")
app.command("evaluate")(evaluate)
app.command("learn-weights")(learn_weights)
app.command("learn-ranker")(learn_ranker)
app.command("portfolio")(portfolio)
