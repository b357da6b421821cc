"""Weight profiles: read them (office key), create, change, publish and roll them back (officer key);
estimate and compare unsaved weights (office key), for the console's sliders.

A change never rewrites a version: it adds the next one, recorded with the key's id and name.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Path, Query, Request, status
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException

from api import index_store
from api.auth import OfficerKey, auth_responses, require_office
from api.deps import MatcherDep, SessionDep
from api.errors import InvalidRequest, NotFound
from api.schemas import (
    EstimatePublic,
    EstimateRequest,
    EstimateSample,
    EvaluationStarted,
    PublishedEstimate,
    SweepPoint,
    SweepPublic,
    WeightProfileCreate,
    WeightProfileRollback,
    WeightProfilesPublic,
    WeightProfileSummary,
    WeightProfileUpdate,
    WeightProfileVersionPublic,
    WeightProfileVersionsPublic,
    WhatIfPublic,
    WhatIfRequest,
    problem_responses,
)
from matcher import weights as store
from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, check_window, run_evaluation
from matcher.quick_eval import NOTE, ValidationSample
from matcher.suggest import Matcher
from matcher.types import MAX_AREAS, AreaKeys, ScoringProfile
from matcher.whatif import compare_rankings
from seed_data.tables import (
    MAX_SQL_INT,
    PROFILE_NAME_MAX_LENGTH,
    PROFILE_NAME_PATTERN,
    PROFILE_REF_PATTERN,
    WeightProfileVersion,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/weights", tags=["weights"], responses={**problem_responses(503), **auth_responses()})

NamePath = Annotated[str, Path(max_length=PROFILE_NAME_MAX_LENGTH, pattern=PROFILE_NAME_PATTERN,
                               description="Profile name, e.g. horizon-europe-default")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_SQL_INT)]
RefQuery = Annotated[str, Query(max_length=PROFILE_NAME_MAX_LENGTH + 10, pattern=PROFILE_REF_PATTERN,
                                description="name:version, or name for its latest version")]
_READ = [Depends(require_office)]
# An unsaved profile in a what-if comparison shows as "unsaved:0" with id 0 (stored ids start at 1).
UNSAVED_NAME = "unsaved"
_SAMPLE_LOCKS_GUARD = threading.Lock()


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn the store's domain errors into the API's: 404, 422 naming the field, 409."""
    try:
        yield
    except store.ProfileNotFound as exc:
        if exc.version is not None and exc.name is not None:
            raise NotFound("weight profile version", f"{exc.name}:{exc.version}", key_name="name:version") from exc
        raise NotFound("weight profile", exc.name or str(exc), key_name="name") from exc
    except store.InvalidProfile as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    except store.ProfileConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


def _public(row: WeightProfileVersion) -> WeightProfileVersionPublic:
    return WeightProfileVersionPublic.model_validate(row.model_dump())


def _commit(session: Session, row: WeightProfileVersion) -> WeightProfileVersionPublic:
    """Commit the request's change and show the version as stored (a commit expires loaded rows)."""
    session.commit()
    session.refresh(row)
    return _public(row)


@router.get("", response_model=WeightProfilesPublic, dependencies=_READ)
def read_weight_profiles(session: SessionDep) -> WeightProfilesPublic:
    """List every weight profile's latest version and which version of it is published."""
    listings = store.list_profiles(session=session)
    data = [WeightProfileSummary.model_validate({**item.latest.model_dump(), "n_versions": item.n_versions,
                                                 "published_version": item.published_version})
            for item in listings]
    return WeightProfilesPublic(data=data, count=len(data))


# Declared before /{name}, which would otherwise take "compare" for a profile name.
@router.get("/compare", response_model=store.ProfileComparison, dependencies=_READ,
            responses=problem_responses(404, 422))
def compare_weight_profiles(a: RefQuery, b: RefQuery, session: SessionDep) -> store.ProfileComparison:
    """Compare two versions' weights (raw and normalised) and parameters; `b` is compared with `a`."""
    with _store_errors():
        return store.compare_versions(store.get_ref(a, session=session), store.get_ref(b, session=session))


@router.get("/what-if", response_model=WhatIfPublic, dependencies=_READ, responses=problem_responses(404, 422))
def what_if(
    a: RefQuery,
    b: RefQuery,
    session: SessionDep,
    matcher: MatcherDep,
    areas: Annotated[AreaKeys | None, Query(max_length=MAX_AREAS, description="Priority-area keys, each once")] = None,
    k: Annotated[int, Query(ge=1, le=50)] = 10,
) -> WhatIfPublic:
    """How the top-k of every Kazakh university changes from version `a` to `b`, with both versions' metrics."""
    with _store_errors():
        version_a, version_b = store.get_ref(a, session=session), store.get_ref(b, session=session)
    _check_areas(matcher, areas or [])
    if version_a.programme not in matcher.index.programmes:
        raise InvalidRequest("a", f"programme {version_a.programme!r} of {a!r} is not in the catalogue")
    rankings = compare_rankings(matcher, store.to_scoring_profile(version_a), store.to_scoring_profile(version_b),
                                programme=version_a.programme, areas=areas or [], k=k)
    return WhatIfPublic(parameters=store.compare_versions(version_a, version_b), rankings=rankings,
                        metrics_a=version_a.metrics, metrics_b=version_b.metrics)


def _check_areas(matcher: Matcher, areas: list[str]) -> None:
    unknown = [area for area in areas if area not in matcher.index.area_keys]
    if unknown:
        raise InvalidRequest("areas", f"unknown area(s) {unknown}; known: {matcher.index.area_keys}")


@router.post("/what-if", response_model=WhatIfPublic, dependencies=_READ, responses=problem_responses(404, 422))
def what_if_unsaved(body: WhatIfRequest, session: SessionDep, matcher: MatcherDep) -> WhatIfPublic:
    """As `GET /weights/what-if`, with unsaved parameters as `b` (shown as `unsaved:0`, id 0, no metrics);
    `a` null compares with `b.programme`'s published profile."""
    b = body.b
    if b.programme not in matcher.index.programmes:
        raise InvalidRequest("b.programme",
                             f"unknown programme {b.programme!r}; known: {sorted(matcher.index.programmes)}")
    try:
        profile_b = store.check_parameters(weights=b.weights, mmr_lambda=b.mmr_lambda,
                                           max_per_country=b.max_per_country, ties=b.ties.value)
    except store.InvalidProfile as exc:
        raise InvalidRequest(f"b.{exc.field}", str(exc)) from exc
    if body.a is None:
        try:
            version_a = store.published_version(b.programme, session=session)
        except store.ProfileNotFound as exc:
            raise InvalidRequest("a", f"{exc}; name the profile to compare with in `a`") from exc
    else:
        with _store_errors():
            version_a = store.get_ref(body.a, session=session)
    _check_areas(matcher, body.areas)
    unsaved = WeightProfileVersion(id=0, name=UNSAVED_NAME, version=0, programme=b.programme,
                                   weights=profile_b.weights.model_dump(), mmr_lambda=profile_b.mmr_lambda,
                                   max_per_country=profile_b.max_per_country, ties=profile_b.ties.value,
                                   author="unsaved", comment="unsaved parameters")
    rankings = compare_rankings(matcher, store.to_scoring_profile(version_a), profile_b, programme=b.programme,
                                areas=body.areas, k=body.k)
    return WhatIfPublic(parameters=store.compare_versions(version_a, unsaved), rankings=rankings,
                        metrics_a=version_a.metrics, metrics_b=None)


def validation_sample(app: FastAPI, matcher: Matcher) -> ValidationSample:
    """The app's validation sample, prepared after start-up (``warm_validation_sample``) or on first use, and
    again after the matcher was rebuilt (the catalogue changed). One at a time per app: loaded from its saved
    file when the catalogue is unchanged, else built (some 12 s on the shipped catalogue) and saved."""
    with _SAMPLE_LOCKS_GUARD:
        lock = getattr(app.state, "validation_sample_lock", None)
        if lock is None:
            lock = app.state.validation_sample_lock = threading.Lock()
    with lock:
        built_for, sample = getattr(app.state, "validation_sample", None) or (None, None)
        if sample is not None and built_for is not None and built_for() is matcher:
            return sample
        started = time.perf_counter()
        logger.info("building the validation sample for weight estimates (once per matcher)")
        sample = index_store.validation_sample(app.state.settings, app.state.engine, matcher.embedder)
        # a weak reference: a matcher swapped out since must not stay in memory for the sample's sake
        app.state.validation_sample = (weakref.ref(matcher), sample)
        logger.info("validation sample ready: %d queries, %.0f MB, %.1f s", sample.n_queries_, sample.nbytes_ / 1e6,
                    time.perf_counter() - started)
        return sample


def warm_validation_sample(app: FastAPI) -> None:
    """Load (or build and save) the validation sample now, so the first estimate does not wait for it; run in
    a thread after start-up. A failure is logged: the first estimate tries again and reports it."""
    try:
        if app.state.matcher is not None:
            validation_sample(app, app.state.matcher)
    except Exception as exc:  # a background thread has no one to answer
        logger.warning("validation sample not prepared at start-up: %s", exc)


@router.post("/estimate", response_model=EstimatePublic, dependencies=_READ, responses=problem_responses(422))
def estimate_weights(body: EstimateRequest, session: SessionDep, matcher: MatcherDep,
                     request: Request) -> EstimatePublic:
    """Validation metrics of unsaved weights on a fixed sample of 2024 project ideas, next to the programme's
    published profile (tens of milliseconds; the sample is prepared after start-up, and a call that comes
    before it is ready waits for it)."""
    started = time.perf_counter()
    with _store_errors():
        weights = store.check_weights(body.weights)
    try:
        published = store.published_version(body.programme, session=session)
    except store.ProfileNotFound as exc:
        raise InvalidRequest("programme", str(exc)) from exc
    if body.sweep is not None and not any(v > 0 for name, v in weights.items() if name != body.sweep.component):
        raise InvalidRequest("sweep.component", f"every weight but {body.sweep.component!r} is 0: give another "
                                                "component a weight to sweep this one")
    sample = validation_sample(request.app, matcher)
    published_profile = store.to_scoring_profile(published)
    sweep = None
    if body.sweep is not None:
        points = sample.sweep(weights, body.ties, component=body.sweep.component, metric=body.sweep.metric,
                              steps=body.sweep.steps)
        sweep = SweepPublic(component=body.sweep.component, metric=body.sweep.metric,
                            points=[SweepPoint(weight=w, value=v) for w, v in points])
    return EstimatePublic(
        sample=EstimateSample(task="project_idea", n_queries=sample.n_queries_, cutoff=sample.cutoff.isoformat(),
                              until=sample.until.isoformat(), note=NOTE),
        metrics=sample.metrics(weights, body.ties),
        published=PublishedEstimate(profile=store.format_ref(published),
                                    metrics=sample.metrics(published_profile.weights.model_dump(),
                                                           published_profile.ties)),
        sweep=sweep,
        seconds=round(time.perf_counter() - started, 3),
    )


@router.get("/{name}", response_model=WeightProfileVersionPublic, dependencies=_READ,
            responses=problem_responses(404, 422))
def read_weight_profile(name: NamePath, session: SessionDep) -> WeightProfileVersionPublic:
    """Show a profile's latest version."""
    with _store_errors():
        return _public(store.get_version(name, session=session))


@router.get("/{name}/versions", response_model=WeightProfileVersionsPublic, dependencies=_READ,
            responses=problem_responses(404, 422))
def read_weight_profile_versions(name: NamePath, session: SessionDep) -> WeightProfileVersionsPublic:
    """List every version of a profile, oldest first."""
    with _store_errors():
        rows = store.list_versions(name, session=session)
    return WeightProfileVersionsPublic(data=[_public(r) for r in rows], count=len(rows))


@router.get("/{name}/versions/{version}", response_model=WeightProfileVersionPublic, dependencies=_READ,
            responses=problem_responses(404, 422))
def read_weight_profile_version(
    name: NamePath, version: VersionPath, session: SessionDep
) -> WeightProfileVersionPublic:
    """Show one version of a profile."""
    with _store_errors():
        return _public(store.get_version(name, version, session=session))


@router.post("", response_model=WeightProfileVersionPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(409, 422))
def create_weight_profile(
    body: WeightProfileCreate, session: SessionDep, key: OfficerKey
) -> WeightProfileVersionPublic:
    """Create a weight profile as its version 1, unpublished."""
    with _store_errors():
        row = store.create_profile(
            session=session, name=body.name, programme=body.programme, weights=body.weights,
            mmr_lambda=body.mmr_lambda, max_per_country=body.max_per_country, ties=body.ties.value,
            author=key.name, key_id=key.id, comment=body.comment,
        )
    return _commit(session, row)


@router.patch("/{name}", response_model=WeightProfileVersionPublic, responses=problem_responses(404, 409, 422))
def update_weight_profile(
    name: NamePath, body: WeightProfileUpdate, session: SessionDep, key: OfficerKey
) -> WeightProfileVersionPublic:
    """Add a new, unpublished version of a profile: its latest version with the given fields changed."""
    changes = body.model_dump(exclude_unset=True, exclude={"comment"})
    if "ties" in changes and changes["ties"] is not None:
        changes["ties"] = changes["ties"].value
    with _store_errors():
        row = store.update_profile(name, changes, session=session, author=key.name, key_id=key.id,
                                   comment=body.comment)
    return _commit(session, row)


@router.post("/{name}/versions/{version}/publish", response_model=WeightProfileVersionPublic,
             responses=problem_responses(404, 409, 422))
def publish_weight_profile(name: NamePath, version: VersionPath, session: SessionDep,
                           key: OfficerKey) -> WeightProfileVersionPublic:
    """Publish a version: suggestions for its programme use it from now on (the previous one is unpublished)."""
    with _store_errors():
        row = store.publish(name, version, session=session)
    logger.info("%s published by API key %s (%s)", store.format_ref(row), key.id, key.name)
    return _commit(session, row)


@router.post("/{name}/versions/{version}/evaluate", response_model=EvaluationStarted,
             status_code=status.HTTP_202_ACCEPTED, responses=problem_responses(404, 422))
def evaluate_weight_profile(name: NamePath, version: VersionPath, session: SessionDep, key: OfficerKey,
                            matcher: MatcherDep, background: BackgroundTasks, request: Request) -> EvaluationStarted:
    """Evaluate a version on the validation split (a few minutes); its metrics appear on the version when done."""
    with _store_errors():
        row = store.get_version(name, version, session=session)
    check_window(session, cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)  # a 422 now, not a failure logged later
    background.add_task(_evaluate, request.app.state.engine, matcher, name, version, store.to_scoring_profile(row))
    logger.info("evaluation of %s started by API key %s (%s)", store.format_ref(row), key.id, key.name)
    return EvaluationStarted(profile=store.format_ref(row), cutoff=VALIDATION_CUTOFF.isoformat(),
                             until=VALIDATION_UNTIL.isoformat())


def _evaluate(engine: Engine, matcher: Matcher, name: str, version: int, profile: ScoringProfile) -> None:
    """Run the validation evaluation and attach its figures to the version (runs after the response)."""
    try:
        with Session(engine) as session:
            rows = read_catalogue(session)
            vectors = embed_projects(rows, session=session, embedder=matcher.embedder, stats=EmbeddingStats())
            report = run_evaluation(rows, session=session, embedder=matcher.embedder, project_vectors=vectors,
                                    cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL, profile=profile)
            store.attach_metrics(name, version, {"split": "validation", **report}, session=session)
            session.commit()
    except Exception:  # a background task has no one to answer: log it with its traceback
        logger.exception("evaluation of %s:%s failed", name, version)


@router.post("/{name}/rollback", response_model=WeightProfileVersionPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(404, 409, 422))
def rollback_weight_profile(name: NamePath, body: WeightProfileRollback, session: SessionDep,
                            key: OfficerKey) -> WeightProfileVersionPublic:
    """Add a new version equal to an earlier one and publish it."""
    with _store_errors():
        store.list_versions(name, session=session)  # an unknown name is a 404; an unknown to_version a 422
        try:
            row = store.rollback(name, body.to_version, session=session, author=key.name, key_id=key.id,
                                 comment=body.comment)
        except store.ProfileNotFound as exc:
            raise store.InvalidProfile("to_version", str(exc)) from exc
    return _commit(session, row)
