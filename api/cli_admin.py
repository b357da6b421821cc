"""``partnermatch keys`` (API keys) and ``partnermatch weights`` (versioned weight profiles).

Changes made here are recorded with author ``cli:<OS user>`` and no API key: whoever can run the CLI
on the server can already write to its database.
"""

from __future__ import annotations

import getpass
import json
import logging
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import inspect
from sqlmodel import Session

from api import index_store
from api.auth import create_api_key, list_api_keys, revoke_api_key
from api.cli_common import console, err_console, fail
from api.db import make_engine
from api.errors import NotFound
from api.settings import get_settings
from embeddings.st import load_embedder
from matcher import weights as store
from matcher.suggest import Matcher
from matcher.types import COMPONENTS, TiePreference
from matcher.whatif import compare_rankings
from seed_data.tables import ApiKeyRole, Institution, WeightProfileVersion

logger = logging.getLogger(__name__)

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
weights_app = typer.Typer(help="Show, change, publish and roll back weight profiles.", no_args_is_help=True)

_TABLES = ("apikey", "weightprofileversion", "feedback")


def _session() -> Session:
    engine = make_engine(get_settings().database_url)
    missing = [name for name in _TABLES if not inspect(engine).has_table(name)]
    if missing:
        raise fail(f"the database lacks the tables {missing}: run `partnermatch db init` first")
    return Session(engine)


def _author() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password database
        user = "unknown"
    return f"cli:{user}"


# --- keys -------------------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for; recorded as the author of its changes.")],
    role: Annotated[ApiKeyRole, typer.Option(help="office: read and suggest; officer: also change weights.")],
    institution: Annotated[str | None, typer.Option(
        help="Make an owner key: the institution id (e.g. pic-953676162) whose profile the key may change.")] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    with _session() as session:
        owned: Institution | None = None
        if institution is not None:
            owned = session.get(Institution, institution)
            if owned is None:
                raise fail(f"no institution with id {institution!r}: look it up with "
                            "`partnermatch institutions search NAME`")
        try:
            row, plaintext = create_api_key(session=session, name=name, role=role)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        owner = ""
        if institution is not None and owned is not None:
            row.institution_id = institution
            session.add(row)
            session.flush()
            owner = f", owner key of {owned.name} ({institution})"
        session.commit()
        err_console.print(f"key {row.id} ({row.role}{owner}) for {row.name!r}; it is shown only now, store it "
                          "safely:")
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the keys (prefix only, never the key)."""
    with _session() as session:
        rows = list_api_keys(session=session)
        items: list[dict[str, Any]] = [
            {"id": r.id, "name": r.name, "role": r.role, "prefix": r.prefix, "created": r.created.isoformat(),
             "revoked": r.revoked.isoformat() if r.revoked else None, "institution_id": r.institution_id}
            for r in rows]
    if as_json:
        typer.echo(json.dumps(items, indent=1, ensure_ascii=False))
        return
    table = Table("id", "name", "role", "institution", "prefix", "created", "revoked", title="API keys")
    for item in items:
        table.add_row(str(item["id"]), item["name"], item["role"], item["institution_id"] or "",
                      f"{item['prefix']}…", item["created"][:19], (item["revoked"] or "")[:19])
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `keys list`).")]) -> None:
    """Revoke a key: it is refused from now on."""
    with _session() as session:
        try:
            row = revoke_api_key(key_id, session=session)
        except NotFound as exc:
            raise fail(str(exc)) from exc
        session.commit()
        console.print(f"key {row.id} ({row.prefix}…, {row.name!r}) revoked at {row.revoked}")


# --- weights ----------------------------------------------------------------------------------------------


def _store_session() -> Session:
    """A session on a database whose default profiles exist (as the service ensures at start-up)."""
    session = _session()
    store.ensure_default_profiles(session=session)
    session.commit()
    return session


def _parse_weights(values: list[str]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in values:
        name, sep, number = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            weights[name.strip()] = float(number)
        except ValueError as exc:
            raise fail(f"--weight wants COMPONENT=NUMBER (components: {', '.join(COMPONENTS)}), got {item!r}") \
                from exc
    return weights


def _print_version(row: WeightProfileVersion) -> None:
    normalised = store.to_scoring_profile(row).weights.normalised()
    state = "published" if row.published else "not published"
    table = Table("component", "weight", "normalised",
                  title=f"{store.format_ref(row)} ({row.programme}, {state})")
    for name in COMPONENTS:
        table.add_row(name, f"{row.weights.get(name, 0.0):g}", f"{normalised[name]:.3f}")
    console.print(table)
    console.print(f"mmr_lambda {row.mmr_lambda:g}; max_per_country {row.max_per_country or 'none'}; "
                  f"ties {row.ties}")
    console.print(f"by {row.author} at {row.created:%Y-%m-%d %H:%M}: {row.comment or '(no comment)'}")


@weights_app.command("list")
def weights_list() -> None:
    """List the profiles: latest version and published version of each."""
    with _store_session() as session:
        listings = store.list_profiles(session=session)
        table = Table("name", "programme", "latest", "published", "author", "created", "comment",
                      title="Weight profiles")
        for item in listings:
            row = item.latest
            table.add_row(row.name, row.programme, str(row.version), str(item.published_version or "-"), row.author,
                          f"{row.created:%Y-%m-%d %H:%M}", row.comment)
    console.print(table)


@weights_app.command("show")
def weights_show(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. horizon-europe-default.")],
    version: Annotated[int | None, typer.Option(min=1, help="Version (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a version's weights (raw and normalised) and parameters."""
    with _store_session() as session:
        try:
            row = store.get_version(name, version, session=session)
        except store.ProfileNotFound as exc:
            raise fail(str(exc)) from exc
        if as_json:
            typer.echo(row.model_dump_json(indent=1))
            return
        _print_version(row)


@weights_app.command("set")
def weights_set(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    comment: Annotated[str, typer.Option(help="Why the change (required).")],
    weight: Annotated[list[str] | None, typer.Option(help="COMPONENT=NUMBER; repeat for several.")] = None,
    mmr_lambda: Annotated[float | None, typer.Option("--lambda", help="Diversity λ in [0, 1].")] = None,
    max_per_country: Annotated[int | None, typer.Option(help="Cap of suggestions per country.")] = None,
    no_country_cap: Annotated[bool, typer.Option("--no-country-cap", help="Remove the cap per country.")] = False,
    ties: Annotated[TiePreference | None, typer.Option(help="Existing partners: preferred/neutral/excluded.")] = None,
) -> None:
    """Add a new version of a profile with the given changes (unpublished: publish it to use it)."""
    if not comment.strip():
        raise fail("--comment must say why")
    if max_per_country is not None and no_country_cap:
        raise fail("give --max-per-country or --no-country-cap, not both")
    changes: dict[str, object] = {}
    if weight:
        changes["weights"] = _parse_weights(weight)
    if mmr_lambda is not None:
        changes["mmr_lambda"] = mmr_lambda
    if max_per_country is not None or no_country_cap:
        changes["max_per_country"] = max_per_country
    if ties is not None:
        changes["ties"] = ties.value
    if not changes:
        raise fail("nothing to change: give --weight, --lambda, --max-per-country, --no-country-cap or --ties")
    with _store_session() as session:
        try:
            row = store.update_profile(name, changes, session=session, author=_author(), key_id=None,
                                       comment=comment)
        except (store.ProfileNotFound, store.InvalidProfile, store.ProfileConflict) as exc:
            raise fail(str(exc)) from exc
        session.commit()
        _print_version(row)
        console.print(f"publish it with: partnermatch weights publish {row.name} {row.version}")


@weights_app.command("publish")
def weights_publish(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version to publish.")],
) -> None:
    """Publish a version: suggestions for its programme use it from now on."""
    with _store_session() as session:
        try:
            row = store.publish(name, version, session=session)
        except (store.ProfileNotFound, store.ProfileConflict) as exc:
            raise fail(str(exc)) from exc
        session.commit()
        logger.info("%s published by %s", store.format_ref(row), _author())
        console.print(f"{store.format_ref(row)} is now the published profile for {row.programme}")


@weights_app.command("rollback")
def weights_rollback(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version to go back to.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
) -> None:
    """Add a new version equal to an earlier one and publish it."""
    if not comment.strip():
        raise fail("--comment must say why")
    with _store_session() as session:
        try:
            row = store.rollback(name, version, session=session, author=_author(), key_id=None, comment=comment)
        except (store.ProfileNotFound, store.InvalidProfile, store.ProfileConflict) as exc:
            raise fail(str(exc)) from exc
        session.commit()
        console.print(f"{store.format_ref(row)} (a copy of version {version}) is now published for {row.programme}")


@weights_app.command("compare")
def weights_compare(
    a: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: the latest version).")],
    b: Annotated[str, typer.Argument(help="NAME or NAME:VERSION, compared with A.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare two versions' weights and parameters."""
    with _store_session() as session:
        try:
            result = store.compare_versions(store.get_ref(a, session=session), store.get_ref(b, session=session))
        except (store.ProfileNotFound, store.InvalidProfile) as exc:
            raise fail(str(exc)) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=1))
        return
    table = Table("component", result.a, result.b, "Δ", "normalised Δ", title=f"{result.b} compared with {result.a}")
    for w in result.weights:
        mark = "" if w.changed else "[dim]"
        table.add_row(f"{mark}{w.component}", f"{w.a:g}", f"{w.b:g}", f"{w.delta:+.3g}", f"{w.delta_normalised:+.3f}")
    console.print(table)
    for p in result.parameters:
        console.print(f"{p.parameter}: {p.a} -> {p.b}" if p.changed else f"[dim]{p.parameter}: {p.a} (same)[/dim]")
    console.print("they score identically" if result.identical else "they score differently")


@weights_app.command("what-if")
def weights_what_if(
    a: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (the current scoring).")],
    b: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (the proposed scoring).")],
    area: Annotated[list[str] | None, typer.Option(help="Priority area key; repeatable.")] = None,
    k: Annotated[int, typer.Option(min=1, max=50, help="Length of each shortlist.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How every Kazakh university's top-k changes from A to B, with both versions' attached metrics."""
    with _store_session() as session:
        try:
            version_a, version_b = store.get_ref(a, session=session), store.get_ref(b, session=session)
        except (store.ProfileNotFound, store.InvalidProfile) as exc:
            raise fail(str(exc)) from exc
        # read before the commit below expires the rows (they are used after the session is closed)
        profile_a, profile_b = store.to_scoring_profile(version_a), store.to_scoring_profile(version_b)
        programme = version_a.programme
        attached = [(label, store.format_ref(v), v.metrics) for label, v in (("A", version_a), ("B", version_b))]
        settings = get_settings()
        embedder = load_embedder(settings.embedding_model, session=session)
        index, _ = index_store.matching_index(settings, session, embedder)  # the service's saved file
        session.commit()
    report = compare_rankings(Matcher(index, embedder), profile_a, profile_b, programme=programme, areas=area or [],
                              k=k)
    if as_json:
        typer.echo(json.dumps({"rankings": report.model_dump(), "metrics_a": attached[0][2],
                               "metrics_b": attached[1][2]}, indent=1))
        return
    table = Table("requester", "overlap", "τ", "entered", "left",
                  title=f"{b} against {a}: top-{k} of {report.n_requesters} Kazakh universities "
                        f"(mean overlap {report.mean_overlap}, mean τ {report.mean_rank_correlation})")
    for change in sorted(report.requesters, key=lambda c: c.overlap):
        table.add_row(change.requester_name, f"{change.overlap:.2f}", str(change.rank_correlation),
                      "\n".join(change.entered), "\n".join(change.left))
    console.print(table)
    for label, ref, attached_metrics in attached:
        metrics = (attached_metrics or {}).get("project_idea", {}).get("hybrid", {}).get("all")
        console.print(f"{label} {ref} validation metrics: {metrics or 'none attached'}")
