"""``partnermatch evaluate``, ``learn-weights`` and ``learn-ranker``: scoring checked against real history."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import typer
from rich.table import Table
from sqlmodel import Session, col, select

from api.cli_common import catalogue_session, console, embedded_catalogue, fail
from embeddings.st import SentenceTransformerEmbedder
from matcher.engine import CatalogueRows
from matcher.evaluation import (
    TRAINING_CUTOFF,
    VALIDATION_CUTOFF,
    VALIDATION_UNTIL,
    EmptyEvaluation,
    check_window,
    idea_task,
    run_evaluation,
)
from matcher.metrics import METRICS
from matcher.weights import (
    create_profile,
    ensure_default_profiles,
    format_ref,
    get_ref,
    published_version,
    to_scoring_profile,
)
from seed_data.tables import Feedback, WeightProfileVersion


def _print_report(report: dict[str, Any], *, title: str) -> None:
    table = Table("method", "breakdown", "queries", *METRICS, title=title)
    for method, breakdowns in report["project_idea"].items():
        for breakdown, row in breakdowns.items():
            table.add_row(method, breakdown, str(row["n_queries"]), *(f"{row[m]:.4f}" for m in METRICS))
    console.print(table)
    partners = Table("method", "queries", *METRICS, title="Task: new partners for an institution")
    for method, row in report["new_partners"].items():
        partners.add_row(method, str(row["n_queries"]), *(f"{row[m]:.4f}" for m in METRICS))
    console.print(partners)
    console.print(f"evaluated in {report['seconds']} s; index as of {report['cutoff']}: {report['index']}")


def evaluate(
    profile: Annotated[str, typer.Option(help="Weight profile NAME or NAME:VERSION (default: published).")] = (
        "horizon-europe-default"
    ),
    cutoff: Annotated[str, typer.Option(help="Index date: only projects starting before it are known.")] = (
        VALIDATION_CUTOFF.isoformat()
    ),
    until: Annotated[str, typer.Option(help="Requests: projects starting from the cutoff up to this date.")] = (
        VALIDATION_UNTIL.isoformat()
    ),
    projects: Annotated[Path | None, typer.Option(help="File of project ids (one per line) to restrict to.")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        help="Further profiles (NAME or NAME:VERSION, weights or learned) evaluated in the same run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every figure as JSON.")] = False,
) -> None:
    """Rank partners as of a cutoff and score them against who really took part after it."""
    try:
        start, end = dt.date.fromisoformat(cutoff), dt.date.fromisoformat(until)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    restrict = {line.strip() for line in projects.read_text().splitlines() if line.strip()} if projects else None
    with catalogue_session() as session:
        ensure_default_profiles(session=session)
        version = get_ref(profile, session=session)
        profile_ref = format_ref(version)  # read now: the commit below expires the row
        others = {ref: to_scoring_profile(get_ref(ref, session=session)) for ref in compare or []}
        try:
            # at once, not after loading the model and embedding
            check_window(session, cutoff=start, until=end, restrict_to=restrict)
            embedder, rows, vectors = embedded_catalogue(session)
            report = run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=start,
                                    until=end, profile=to_scoring_profile(version), restrict_to=restrict,
                                    extra_profiles=others)
            session.commit()  # the ideas' query vectors, cached for the next run
        except EmptyEvaluation as exc:
            raise fail(str(exc)) from exc
    report["profile_ref"] = profile_ref
    if as_json:
        typer.echo(json.dumps(report, indent=1))
    else:
        _print_report(report, title=f"Task: partners for a project idea — {report['profile_ref']}, "
                                    f"cutoff {cutoff}, until {until}")


def _prepare_learning(session: Session, new_name: str) -> tuple[SentenceTransformerEmbedder, CatalogueRows,
                                                                 dict[str, npt.NDArray[np.float32]]]:
    """What learning needs, checked first: the new profile's name is free and both windows (training,
    validation) hold requests (at once, not after minutes of reading, embedding and fitting); then the model,
    the catalogue rows and the project vectors (cached ones committed)."""
    if session.exec(select(WeightProfileVersion.id).where(col(WeightProfileVersion.name) == new_name)).first():
        raise fail(f"a weight profile named {new_name!r} exists already: give another with --name")
    try:
        check_window(session, cutoff=TRAINING_CUTOFF, until=VALIDATION_CUTOFF)
        check_window(session, cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)
    except EmptyEvaluation as exc:
        raise fail(str(exc)) from exc
    return embedded_catalogue(session)


def learn_weights(
    programme: Annotated[str, typer.Option(help="Programme whose published profile gives the other parameters.")] = (
        "horizon-europe"
    ),
    name: Annotated[str | None, typer.Option(help="Name of the new profile (default: <programme>-learned-<date>).")] = (
        None
    ),
) -> None:
    """Fit the component weights on history before the validation cutoff; save them as a new, unpublished
    profile with its validation metrics attached."""
    from matcher.learn import learn_profile  # scikit-learn takes seconds to import: only for this command

    with catalogue_session() as session:
        ensure_default_profiles(session=session)
        base_version = get_ref(f"{programme}-default", session=session)
        new_name = name or f"{programme}-learned-{dt.date.today().isoformat()}"
        embedder, rows, vectors = _prepare_learning(session, new_name)
        try:
            train_matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                             cutoff=TRAINING_CUTOFF, until=VALIDATION_CUTOFF)
        except EmptyEvaluation as exc:
            raise fail(str(exc)) from exc
        verdicts = [(f.requester_id, f.institution_id, int(f.status == "accepted"))
                    for f in session.exec(select(Feedback).where(col(Feedback.status).in_(["accepted", "rejected"])))
                    if f.requester_id]
        with console.status(f"fitting weights on {len(queries)} training projects and {len(verdicts)} verdicts…"):
            profile, provenance = learn_profile(train_matcher, queries, base=to_scoring_profile(base_version),
                                                feedback=verdicts)
        with console.status("validating the learned weights…"):
            try:
                report = run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors,
                                        cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL, profile=profile)
            except EmptyEvaluation as exc:
                raise fail(str(exc)) from exc
        metrics = {"split": "validation", "cutoff": report["cutoff"], "until": report["until"],
                   "project_idea": report["project_idea"], "new_partners": report["new_partners"]}
        row = create_profile(session=session, name=new_name, programme=programme,
                             weights=profile.weights.model_dump(), mmr_lambda=profile.mmr_lambda,
                             max_per_country=profile.max_per_country, ties=profile.ties.value,
                             author=f"cli:{getpass.getuser()}", comment="learned from history before "
                             f"{VALIDATION_CUTOFF.isoformat()}; validation metrics attached", published=False,
                             metrics=metrics, provenance=provenance)
        session.commit()
        console.print(f"saved {row.name}:{row.version} (unpublished): weights {profile.weights.model_dump()}")
    _print_report(report, title=f"Validation — learned weights {new_name}")


def learn_ranker(
    programme: Annotated[str, typer.Option(help="Programme whose published profile is the base (negatives, "
                                                "diversity and ties).")] = "horizon-europe",
    name: Annotated[str | None, typer.Option(help="Name of the new profile (default: <programme>-ranker-<date>).")] = (
        None
    ),
) -> None:
    """Train a LightGBM LambdaRank ranker on history before the validation cutoff (parameters chosen on
    time-ordered folds), validate it beside the published profile, and save it as a new, unpublished
    profile of kind "learned" with its features, parameters, training-data hash, gains and metrics."""
    from matcher.learn import train_ranker  # LightGBM and scikit-learn take seconds to import: only here
    from matcher.weights import create_learned_profile

    with catalogue_session() as session:
        ensure_default_profiles(session=session)
        base_version = published_version(programme, session=session)
        base, base_ref = to_scoring_profile(base_version), format_ref(base_version)
        new_name = name or f"{programme}-ranker-{dt.date.today().isoformat()}"
        embedder, rows, vectors = _prepare_learning(session, new_name)
        try:
            train_matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                               cutoff=TRAINING_CUTOFF, until=VALIDATION_CUTOFF)
            session.commit()
        except EmptyEvaluation as exc:
            raise fail(str(exc)) from exc
        with console.status(f"training the ranker on {len(queries)} projects of "
                            f"[{TRAINING_CUTOFF}, {VALIDATION_CUTOFF})…"):
            model, provenance = train_ranker(train_matcher, queries, base=base)
        row = create_learned_profile(session=session, name=new_name, programme=programme, model=model, base=base,
                                     author=f"cli:{getpass.getuser()}", metrics=None, provenance=provenance,
                                     comment=f"LightGBM LambdaRank trained on history before "
                                             f"{VALIDATION_CUTOFF.isoformat()}; validation metrics attached")
        session.commit()  # the model is kept even if the validation below is interrupted
        console.print(f"saved {row.name}:{row.version} (learned, unpublished); validating it…")
        with console.status("validating the ranker beside the published profile…"):
            try:
                report = run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors,
                                        cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL,
                                        profile=to_scoring_profile(row),
                                        extra_profiles={base_ref: base})
            except EmptyEvaluation as exc:
                raise fail(str(exc)) from exc
        row.metrics = {"split": "validation", "cutoff": report["cutoff"], "until": report["until"],
                       "project_idea": report["project_idea"], "new_partners": report["new_partners"]}
        session.add(row)
        session.commit()
        console.print(f"validation metrics attached to {row.name}:{row.version}; gains: {provenance['gain']}")
    _print_report(report, title=f"Validation — learned ranker {new_name} (hybrid) beside {base_ref}")
