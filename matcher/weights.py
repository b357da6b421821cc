"""Versioned weight profiles: the store behind ``/weights``, the ``weights`` CLI and the suggestion route.

A profile is a name (``horizon-europe-default``) with numbered versions. A change never rewrites a
version: it adds the next one, recording who made it (author and API key) and why (comment). Exactly
one version per programme is *published*; suggestions for the programme use it unless a request
names another (``"name"`` for its latest version, ``"name:version"`` for one). Feedback on suggested
partners is recorded against the version that produced them, so versions can be compared on outcomes.

Every function takes the session keyword-only and flushes but never commits: the caller owns the
transaction (one per request in the API, one per command in the CLI).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from matcher.profiles import DEFAULT_PROFILES_FILE, load_default_profiles
from matcher.ranker import load_ranker
from matcher.types import COMPONENTS, ComponentWeights, ScoringProfile, TiePreference
from seed_data.safe_text import check_text
from seed_data.tables import (
    AUTHOR_MAX_LENGTH,
    COMMENT_MAX_LENGTH,
    MAX_SQL_INT,
    PROFILE_NAME_MAX_LENGTH,
    PROFILE_NAME_PATTERN,
    Feedback,
    FeedbackStatus,
    Institution,
    Programme,
    WeightProfileVersion,
)

logger = logging.getLogger(__name__)

SYSTEM_AUTHOR = "system"
LEARNED = "learned"  # the kind of a version that stores a learned ranker
DEFAULT_NAME_SUFFIX = "-default"
# Parameters besides the weights that a new version may change.
PARAMETERS = ("mmr_lambda", "max_per_country", "ties")
# ``GET /weights/compare`` is a route, so a profile of that name could never be read at ``/weights/{name}``.
RESERVED_NAMES = frozenset({"compare"})
_REF = re.compile(PROFILE_NAME_PATTERN.removesuffix("$") + r"(?::([1-9][0-9]{0,9}))?")


# --- errors -----------------------------------------------------------------------------------------------


class ProfileNotFound(LookupError):
    """No profile of that name, no such version of it, or no published profile for a programme."""

    def __init__(self, message: str, *, name: str | None = None, version: int | None = None,
                 programme: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.version = version
        self.programme = programme


class InvalidProfile(ValueError):
    """Parameters that cannot make a profile (unknown component, negative weight, λ outside [0, 1], …);
    ``field`` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ProfileConflict(ValueError):
    """The name is taken, or a concurrent change took the version number or the published slot first."""


class InvalidFeedback(ValueError):
    """Feedback naming something unknown (institution, profile version, status); ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileListing:
    """A profile's latest version, the version of it that is published (if any) and how many there are."""

    latest: WeightProfileVersion
    published_version: int | None
    n_versions: int


class WeightDiff(BaseModel):
    """One component's weight in two versions, as stored and normalised (as scoring uses it)."""

    component: str
    a: float
    b: float
    delta: float = Field(description="b - a")
    a_normalised: float
    b_normalised: float
    delta_normalised: float = Field(description="b_normalised - a_normalised")
    changed: bool


class ParameterDiff(BaseModel):
    """One non-weight parameter (programme, mmr_lambda, max_per_country, ties) in two versions."""

    parameter: str
    a: float | int | str | None
    b: float | int | str | None
    changed: bool


class ProfileComparison(BaseModel):
    """How version ``b`` differs from version ``a`` in its parameters."""

    a: str = Field(description="name:version")
    b: str = Field(description="name:version")
    a_id: int
    b_id: int
    weights: list[WeightDiff] = Field(description="Every component, in scoring order")
    parameters: list[ParameterDiff]
    identical: bool = Field(description="Whether the two versions score identically")


class FeedbackCounts(BaseModel):
    """Feedback on one profile version, counted per status."""

    profile_version_id: int
    name: str
    version: int
    programme: str
    published: bool
    counts: dict[str, int] = Field(description="Status -> number of reports; every status is present")
    total: int


# --- references and validation ----------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` -> ``(name, None)`` (the latest version); ``"name:3"`` -> ``(name, 3)``.

    Examples
    --------
    >>> parse_ref("horizon-europe-default:2")
    ('horizon-europe-default', 2)
    >>> parse_ref("bri-default")
    ('bri-default', None)
    """
    match = _REF.fullmatch(ref)
    if match is None or len(ref.split(":", 1)[0]) > PROFILE_NAME_MAX_LENGTH:
        raise InvalidProfile("profile", f"not a profile reference: {ref!r}; expected 'name' or 'name:version', "
                                        f"the name in lower-case letters, digits, '.', '_' and '-'")
    version = int(match.group(1)) if match.group(1) else None
    if version is not None and version > MAX_SQL_INT:
        raise InvalidProfile("profile", f"version {version} is out of range (at most {MAX_SQL_INT})")
    return ref.split(":", 1)[0], version


def format_ref(row: WeightProfileVersion) -> str:
    """``"name:version"`` of a stored version."""
    return f"{row.name}:{row.version}"


def _check_name(name: str) -> None:
    if not re.fullmatch(PROFILE_NAME_PATTERN, name) or len(name) > PROFILE_NAME_MAX_LENGTH:
        raise InvalidProfile("name", f"invalid profile name {name!r}: use at most {PROFILE_NAME_MAX_LENGTH} "
                                     "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")
    if name in RESERVED_NAMES:
        raise InvalidProfile("name", f"{name!r} is reserved; reserved names: {sorted(RESERVED_NAMES)}")


def _check_text(field: str, value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise InvalidProfile(field, f"{field} is {len(value)} characters long; at most {max_length} allowed")
    try:  # the CLI's comments too: PostgreSQL cannot store a NUL, nor UTF-8 a lone surrogate
        check_text(value)
    except ValueError as exc:
        raise InvalidProfile(field, f"{field}: {exc}") from exc


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Every component's weight (missing ones 0.0), checked: known names, finite, >= 0, not all zero."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise InvalidProfile("weights", f"unknown component(s) {unknown}; allowed: {list(COMPONENTS)}")
    try:
        values = {name: float(weights.get(name, 0.0)) for name in COMPONENTS}
    except (TypeError, ValueError) as exc:
        raise InvalidProfile("weights", f"weights must be numbers, got {dict(weights)}") from exc
    bad = {name: value for name, value in values.items() if not (math.isfinite(value) and value >= 0)}
    if bad:
        raise InvalidProfile("weights", f"weights must be finite and >= 0, got {bad}")
    total = sum(values.values())
    if not (total > 0 and math.isfinite(total)):
        raise InvalidProfile("weights", "at least one component weight must be positive (weights are "
                                        "normalised to sum to 1), and their sum finite")
    return values


def check_parameters(*, weights: Mapping[str, float], mmr_lambda: Any, max_per_country: Any,
                     ties: Any) -> ScoringProfile:
    """The scoring profile these parameters make; ``InvalidProfile`` naming the first bad one."""
    checked = check_weights(weights)
    if isinstance(mmr_lambda, bool) or not isinstance(mmr_lambda, int | float) or not math.isfinite(mmr_lambda) \
            or not 0 <= mmr_lambda <= 1:
        raise InvalidProfile("mmr_lambda", f"mmr_lambda must be a number in [0, 1], got {mmr_lambda!r}")
    if max_per_country is not None and (isinstance(max_per_country, bool) or not isinstance(max_per_country, int)
                                        or not 1 <= max_per_country <= MAX_SQL_INT):
        raise InvalidProfile("max_per_country", f"max_per_country must be null (no cap) or an integer in "
                                                f"[1, {MAX_SQL_INT}], got {max_per_country!r}")
    allowed_ties = [t.value for t in TiePreference]
    if ties not in allowed_ties:
        raise InvalidProfile("ties", f"unknown tie preference {ties!r}; allowed: {allowed_ties}")
    try:
        return ScoringProfile(weights=ComponentWeights(**checked), mmr_lambda=float(mmr_lambda),
                              max_per_country=max_per_country, ties=TiePreference(ties))
    except ValidationError as exc:  # the checks above cover ScoringProfile's constraints; this is a backstop
        raise InvalidProfile("weights", str(exc)) from exc


def to_scoring_profile(row: WeightProfileVersion) -> ScoringProfile:
    """The profile a stored version scores with (a learned version's model is loaded into the process's
    ranker registry, once per model)."""
    ranker_id = None
    if row.kind == LEARNED:
        if not row.model:
            raise InvalidProfile("profile", f"{format_ref(row)} is a learned profile without a model")
        ranker_id = load_ranker(row.model).id
    return ScoringProfile(kind="learned" if row.kind == LEARNED else "weights", ranker_id=ranker_id,
                          weights=ComponentWeights(**{name: row.weights.get(name, 0.0) for name in COMPONENTS}),
                          mmr_lambda=row.mmr_lambda, max_per_country=row.max_per_country,
                          ties=TiePreference(row.ties))


# --- reading ----------------------------------------------------------------------------------------------


def known_programmes(*, session: Session) -> list[str]:
    """Programmes a profile may be made for: the catalogue's, those with a default profile, and those that
    already have profiles."""
    catalogue = session.exec(select(Programme.key)).all()
    profiled = session.exec(select(WeightProfileVersion.programme).distinct()).all()
    return sorted(set(catalogue) | set(load_default_profiles()) | set(profiled))


def list_versions(name: str, *, session: Session) -> list[WeightProfileVersion]:
    """Every version of profile ``name``, oldest first; ``ProfileNotFound`` if there is none."""
    rows = list(session.exec(select(WeightProfileVersion).where(col(WeightProfileVersion.name) == name)
                             .order_by(col(WeightProfileVersion.version))).all())
    if not rows:
        raise ProfileNotFound(f"no weight profile named {name!r}", name=name)
    return rows


def get_version(name: str, version: int | None = None, *, session: Session) -> WeightProfileVersion:
    """Version ``version`` of profile ``name`` (``None``: the latest); ``ProfileNotFound`` if absent."""
    stmt = select(WeightProfileVersion).where(col(WeightProfileVersion.name) == name)
    if version is None:
        row = session.exec(stmt.order_by(col(WeightProfileVersion.version).desc()).limit(1)).first()
    else:
        row = session.exec(stmt.where(col(WeightProfileVersion.version) == version)).first()
    if row is None:
        if version is None or _latest_number(name, session=session) is None:
            raise ProfileNotFound(f"no weight profile named {name!r}", name=name, version=version)
        raise ProfileNotFound(f"weight profile {name!r} has no version {version} (latest: "
                              f"{_latest_number(name, session=session)})", name=name, version=version)
    return row


def get_ref(ref: str, *, session: Session) -> WeightProfileVersion:
    """The version a ``"name"`` or ``"name:version"`` reference names."""
    name, version = parse_ref(ref)
    return get_version(name, version, session=session)


def list_profiles(*, session: Session) -> list[ProfileListing]:
    """Every profile's latest version with its published version, by name."""
    rows = session.exec(select(WeightProfileVersion).order_by(col(WeightProfileVersion.name),
                                                              col(WeightProfileVersion.version))).all()
    by_name: dict[str, list[WeightProfileVersion]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    return [
        ProfileListing(latest=versions[-1],
                       published_version=next((v.version for v in versions if v.published), None),
                       n_versions=len(versions))
        for versions in by_name.values()
    ]


def published_version(programme: str, *, session: Session) -> WeightProfileVersion:
    """The programme's published version; ``ProfileNotFound`` saying why when there is none."""
    row = session.exec(select(WeightProfileVersion).where(col(WeightProfileVersion.programme) == programme,
                                                          col(WeightProfileVersion.published))).first()
    if row is not None:
        return row
    with_published = sorted(session.exec(select(WeightProfileVersion.programme)
                                         .where(col(WeightProfileVersion.published))).all())
    has_any = session.exec(select(WeightProfileVersion.id)
                           .where(col(WeightProfileVersion.programme) == programme).limit(1)).first()
    if has_any is None:
        message = f"unknown programme {programme!r}: it has no weight profile; programmes with a published " \
                  f"profile: {with_published}"
    else:
        message = f"programme {programme!r} has no published weight profile: publish a version of one of its " \
                  "profiles first"
    raise ProfileNotFound(message, programme=programme)


def published_profile(programme: str, *, session: Session) -> ScoringProfile:
    """The scoring profile suggestions for ``programme`` use by default."""
    return to_scoring_profile(published_version(programme, session=session))


def resolve_for_request(programme: str, ref: str | None, *, session: Session) -> WeightProfileVersion:
    """The version a suggestion request scores with: the one ``ref`` names, else the programme's published one."""
    if ref is None:
        return published_version(programme, session=session)
    return get_ref(ref, session=session)


# --- changing ---------------------------------------------------------------------------------------------


def _latest_number(name: str, *, session: Session) -> int | None:
    latest: int | None = session.exec(select(func.max(WeightProfileVersion.version))
                                      .where(col(WeightProfileVersion.name) == name)).one()
    return latest


def _flush(session: Session, what: str) -> None:
    """Flush; a uniqueness clash (a concurrent change took the version number or the published slot)
    becomes ``ProfileConflict``. The session is rolled back then, as it must be after a failed flush."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ProfileConflict(f"{what} clashed with a concurrent change; nothing was saved, try again") from exc


def _add_version(*, session: Session, name: str, version: int, programme: str, profile: ScoringProfile,
                 author: str, key_id: int | None, comment: str, metrics: dict[str, Any] | None,
                 provenance: dict[str, Any] | None, model: str | None = None) -> WeightProfileVersion:
    _check_text("author", author, AUTHOR_MAX_LENGTH)
    _check_text("comment", comment, COMMENT_MAX_LENGTH)
    row = WeightProfileVersion(
        name=name, version=version, programme=programme,
        weights={name_: float(getattr(profile.weights, name_)) for name_ in COMPONENTS},
        mmr_lambda=profile.mmr_lambda, max_per_country=profile.max_per_country, ties=profile.ties.value,
        author=author, key_id=key_id, comment=comment, published=False, metrics=metrics, provenance=provenance,
        kind=LEARNED if model is not None else "weights", model=model,
    )
    session.add(row)
    _flush(session, f"creating version {version} of {name!r}")
    logger.info("weight profile %s:%d created by %s (%s)", name, version, author, comment or "no comment")
    return row


def create_profile(
    *,
    session: Session,
    name: str,
    programme: str,
    weights: Mapping[str, float],
    mmr_lambda: float = 0.7,
    max_per_country: int | None = None,
    ties: str = TiePreference.neutral.value,
    author: str,
    key_id: int | None = None,
    comment: str = "",
    published: bool = False,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> WeightProfileVersion:
    """Create profile ``name`` for ``programme`` as its version 1 (published only if asked).

    Raises ``InvalidProfile`` for bad parameters or an unknown programme, ``ProfileConflict`` if the
    name is taken.
    """
    programmes = known_programmes(session=session)
    if programme not in programmes:
        raise InvalidProfile("programme", f"unknown programme {programme!r}; known: {programmes}")
    return _create(session=session, name=name, programme=programme, weights=weights, mmr_lambda=mmr_lambda,
                   max_per_country=max_per_country, ties=ties, author=author, key_id=key_id, comment=comment,
                   published=published, metrics=metrics, provenance=provenance)


def _create(*, session: Session, name: str, programme: str, weights: Mapping[str, float], mmr_lambda: float,
            max_per_country: int | None, ties: str, author: str, key_id: int | None, comment: str,
            published: bool, metrics: dict[str, Any] | None,
            provenance: dict[str, Any] | None) -> WeightProfileVersion:
    _check_name(name)
    profile = check_parameters(weights=weights, mmr_lambda=mmr_lambda, max_per_country=max_per_country, ties=ties)
    if _latest_number(name, session=session) is not None:
        raise ProfileConflict(f"a weight profile named {name!r} exists already; change it with a new version")
    row = _add_version(session=session, name=name, version=1, programme=programme, profile=profile, author=author,
                       key_id=key_id, comment=comment, metrics=metrics, provenance=provenance)
    return publish(name, 1, session=session) if published else row


def create_learned_profile(*, session: Session, name: str, programme: str, model: str, base: ScoringProfile,
                           author: str, comment: str, metrics: dict[str, Any] | None,
                           provenance: dict[str, Any] | None) -> WeightProfileVersion:
    """Store a learned ranker as profile ``name`` version 1 (unpublished): the ``model`` text, with ``base``'s
    diversity and tie settings (its weights are kept for reference; the model scores). The model must load."""
    _check_name(name)
    programmes = known_programmes(session=session)
    if programme not in programmes:
        raise InvalidProfile("programme", f"unknown programme {programme!r}; known: {programmes}")
    if _latest_number(name, session=session) is not None:
        raise ProfileConflict(f"a weight profile named {name!r} exists already")
    try:
        load_ranker(model)
    except ValueError as exc:
        raise InvalidProfile("model", str(exc)) from exc
    return _add_version(session=session, name=name, version=1, programme=programme, profile=base, author=author,
                        key_id=None, comment=comment, metrics=metrics, provenance=provenance, model=model)


def update_profile(
    name: str,
    changes: Mapping[str, Any],
    *,
    session: Session,
    author: str,
    key_id: int | None,
    comment: str,
    provenance: dict[str, Any] | None = None,
) -> WeightProfileVersion:
    """Add the next version of ``name``: its latest version with ``changes`` applied, unpublished.

    ``changes`` may hold ``weights`` (only the components given change), ``mmr_lambda``,
    ``max_per_country`` (``None`` removes the cap) and ``ties``. Changes that leave every parameter as
    it is are refused, so each version means something.
    """
    unknown = sorted(set(changes) - {"weights", *PARAMETERS})
    if unknown:
        raise InvalidProfile(unknown[0], f"cannot change {unknown}; changeable: {['weights', *PARAMETERS]}")
    for field in ("weights", "mmr_lambda", "ties"):
        if field in changes and changes[field] is None:
            raise InvalidProfile(field, f"{field} cannot be null; leave it out to keep the current value")
    latest = get_version(name, session=session)
    if latest.kind == LEARNED and changes.get("weights"):
        raise InvalidProfile("weights", f"{format_ref(latest)} is a learned ranker: it has no weights to change")
    weights = {**latest.weights, **(changes.get("weights") or {})}
    params = {p: changes.get(p, getattr(latest, p)) for p in PARAMETERS}
    profile = check_parameters(weights=weights, **params)
    current = to_scoring_profile(latest)
    if profile.model_copy(update={"kind": current.kind, "ranker_id": current.ranker_id}) == current:
        field = "weights" if "weights" in changes or not changes else next(iter(changes))
        raise InvalidProfile(field, f"these changes leave every parameter as in {format_ref(latest)}; "
                                    "nothing to change")
    return _add_version(session=session, name=name, version=latest.version + 1, programme=latest.programme,
                        profile=profile, author=author, key_id=key_id, comment=comment, metrics=None,
                        provenance=provenance if latest.kind != LEARNED else (provenance or latest.provenance),
                        model=latest.model if latest.kind == LEARNED else None)


def publish(name: str, version: int, *, session: Session) -> WeightProfileVersion:
    """Publish version ``version`` of ``name``; every other version for its programme is unpublished."""
    row = get_version(name, version, session=session)
    if row.published:
        return row
    others = session.exec(select(WeightProfileVersion).where(col(WeightProfileVersion.programme) == row.programme,
                                                             col(WeightProfileVersion.published))).all()
    for other in others:
        other.published = False
        session.add(other)
    # unpublish first: the database allows one published version per programme at any moment
    _flush(session, f"unpublishing {row.programme!r} profiles")
    row.published = True
    session.add(row)
    _flush(session, f"publishing {format_ref(row)}")
    logger.info("weight profile %s published for %s (was: %s)", format_ref(row), row.programme,
                ", ".join(format_ref(o) for o in others) or "none")
    return row


def rollback(name: str, to_version: int, *, session: Session, author: str, key_id: int | None,
             comment: str) -> WeightProfileVersion:
    """Add the next version of ``name`` with version ``to_version``'s parameters, and publish it."""
    source = get_version(name, to_version, session=session)
    latest = _latest_number(name, session=session) or to_version
    row = _add_version(session=session, name=name, version=latest + 1, programme=source.programme,
                       profile=to_scoring_profile(source), author=author, key_id=key_id, comment=comment,
                       metrics=None, provenance=source.provenance)
    return publish(name, row.version, session=session)


def attach_metrics(name: str, version: int, metrics: dict[str, Any], *, session: Session) -> WeightProfileVersion:
    """Store validation metrics on a version (the one field a version may gain after creation: they
    describe it, they do not change how it scores)."""
    row = get_version(name, version, session=session)
    row.metrics = metrics
    session.add(row)
    session.flush()
    return row


def ensure_default_profiles(*, session: Session, path: Path = DEFAULT_PROFILES_FILE) -> list[WeightProfileVersion]:
    """For each programme of the default-profiles file: with no profile version at all, create
    ``<programme>-default`` version 1 by ``system``, published. When the file's defaults have changed since
    the system wrote that profile's latest version (and nobody else has written one since), add the new
    defaults as its next version, published if the published version was the system's. Returns what was
    created (running it again creates nothing)."""
    created = []
    for programme, profile in load_default_profiles(path).items():
        name = f"{programme}{DEFAULT_NAME_SUFFIX}"
        has_any = session.exec(select(WeightProfileVersion.id)
                               .where(col(WeightProfileVersion.programme) == programme).limit(1)).first()
        if has_any is not None:
            upgraded = _upgrade_default(session=session, name=name, programme=programme, profile=profile, path=path)
            created += [upgraded] if upgraded is not None else []
            continue
        if _latest_number(name, session=session) is not None:
            logger.warning("no default profile for %s: the name %r belongs to another programme", programme, name)
            continue
        created.append(_create(
            session=session, name=name, programme=programme,
            weights=profile.weights.model_dump(), mmr_lambda=profile.mmr_lambda,
            max_per_country=profile.max_per_country, ties=profile.ties.value, author=SYSTEM_AUTHOR,
            key_id=None, comment=f"default profile from {path.name}", published=True, metrics=None,
            provenance={"source": path.name},
        ))
    if created:
        logger.info("default weight profiles created: %s", ", ".join(format_ref(r) for r in created))
    return created


def _upgrade_default(*, session: Session, name: str, programme: str, profile: ScoringProfile,
                     path: Path) -> WeightProfileVersion | None:
    """The new version of ``name`` with the file's changed defaults, if the system wrote its latest version."""
    if _latest_number(name, session=session) is None:
        return None
    latest = get_version(name, session=session)
    if latest.author != SYSTEM_AUTHOR or latest.programme != programme or to_scoring_profile(latest) == profile:
        return None
    published = session.exec(select(WeightProfileVersion).where(
        col(WeightProfileVersion.programme) == programme, col(WeightProfileVersion.published))).first()
    row = _add_version(session=session, name=name, version=latest.version + 1, programme=programme, profile=profile,
                       author=SYSTEM_AUTHOR, key_id=None, comment=f"default profile from {path.name}, changed",
                       metrics=None, provenance={"source": path.name})
    if published is not None and published.name == name and published.author == SYSTEM_AUTHOR:
        return publish(name, row.version, session=session)
    return row


# --- comparing --------------------------------------------------------------------------------------------


def compare_versions(a: WeightProfileVersion, b: WeightProfileVersion) -> ProfileComparison:
    """How ``b``'s parameters differ from ``a``'s: every weight (raw and normalised) and parameter.

    Only parameters: a comparison of the rankings the two produce belongs to the evaluation code.
    """
    norm_a, norm_b = to_scoring_profile(a).weights.normalised(), to_scoring_profile(b).weights.normalised()
    weights = []
    for name in COMPONENTS:
        wa, wb = float(a.weights.get(name, 0.0)), float(b.weights.get(name, 0.0))
        weights.append(WeightDiff(component=name, a=wa, b=wb, delta=wb - wa, a_normalised=norm_a[name],
                                  b_normalised=norm_b[name], delta_normalised=norm_b[name] - norm_a[name],
                                  changed=not math.isclose(norm_a[name], norm_b[name], abs_tol=1e-12)))
    parameters = [
        ParameterDiff(parameter=p, a=getattr(a, p), b=getattr(b, p), changed=getattr(a, p) != getattr(b, p))
        for p in ("programme", *PARAMETERS)
    ]
    scoring_changed = any(w.changed for w in weights) or any(p.changed for p in parameters
                                                             if p.parameter != "programme")
    return ProfileComparison(a=format_ref(a), b=format_ref(b), a_id=_id(a), b_id=_id(b), weights=weights,
                             parameters=parameters, identical=not scoring_changed)


def _id(row: WeightProfileVersion) -> int:
    if row.id is None:
        raise ValueError(f"{format_ref(row)} has not been stored yet")
    return row.id


# --- feedback ---------------------------------------------------------------------------------------------


def record_feedback(
    *,
    session: Session,
    institution_id: str,
    programme: str,
    profile_version_id: int,
    status: str,
    key_id: int,
    requester_id: str | None = None,
    note: str | None = None,
) -> Feedback:
    """Record what came of suggesting ``institution_id`` under profile version ``profile_version_id``."""
    statuses = [s.value for s in FeedbackStatus]
    if status not in statuses:
        raise InvalidFeedback("status", f"unknown status {status!r}; allowed: {statuses}")
    if session.get(Institution, institution_id) is None:
        raise InvalidFeedback("institution_id", f"no institution with id {institution_id!r}")
    if not 1 <= profile_version_id <= MAX_SQL_INT or session.get(WeightProfileVersion, profile_version_id) is None:
        raise InvalidFeedback("profile_version_id", f"no weight profile version with id {profile_version_id}")
    programmes = known_programmes(session=session)
    if programme not in programmes:
        raise InvalidFeedback("programme", f"unknown programme {programme!r}; known: {programmes}")
    if note is not None and len(note) > COMMENT_MAX_LENGTH:
        raise InvalidFeedback("note", f"note is {len(note)} characters long; at most {COMMENT_MAX_LENGTH} allowed")
    row = Feedback(requester_id=requester_id, institution_id=institution_id, programme=programme,
                   profile_version_id=profile_version_id, status=status, key_id=key_id, note=note)
    session.add(row)
    session.flush()
    logger.info("feedback %s on %s (profile version %d)", status, institution_id, profile_version_id)
    return row


def feedback_summary(*, session: Session, name: str | None = None) -> list[FeedbackCounts]:
    """Feedback counted per profile version and status, by name and version; every version appears,
    with zeros where it has no feedback. ``name`` keeps one profile (``ProfileNotFound`` if unknown)."""
    versions = list_versions(name, session=session) if name is not None else list(
        session.exec(select(WeightProfileVersion).order_by(col(WeightProfileVersion.name),
                                                           col(WeightProfileVersion.version))).all())
    stmt = select(Feedback.profile_version_id, Feedback.status, func.count()).group_by(
        col(Feedback.profile_version_id), col(Feedback.status))
    if name is not None:
        stmt = stmt.join(WeightProfileVersion, col(WeightProfileVersion.id) == col(Feedback.profile_version_id)) \
            .where(col(WeightProfileVersion.name) == name)
    counted: dict[int, dict[str, int]] = {}
    for version_id, status, n in session.exec(stmt).all():
        counted.setdefault(version_id, {})[status] = int(n)
    summary = []
    for row in versions:
        counts = {s.value: 0 for s in FeedbackStatus} | counted.get(_id(row), {})
        summary.append(FeedbackCounts(profile_version_id=_id(row), name=row.name, version=row.version,
                                      programme=row.programme, published=row.published, counts=counts,
                                      total=sum(counts.values())))
    return summary
