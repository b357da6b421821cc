"""An institution's own evidence: uploads of publications, projects and partnerships, and removal of what was
imported (an admin key, or the institution's owner key).

An upload is planned in full before anything is written (a file with any problem changes nothing and is
answered with every problem), written in one transaction, and then the matcher is refreshed for the
institutions it touched only: their vectors and strengths, not a full rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, File, Query, Request, Response, UploadFile, status
from sqlmodel import Session

from api.auth import OfficeKey, auth_responses
from api.deps import SessionDep
from api.errors import Conflict, FileProblems, NotFound
from api.routes.institutions import InstitutionIdPath, owned_institution
from api.schemas import ImportResult, problem_responses
from api.state import refresh_matcher, refresh_matcher_logged
from seed_data.evidence_import import (
    CatalogueRowError,
    EvidenceImportError,
    EvidenceNotFoundError,
    EvidencePlan,
    apply_plan,
    plan_partnerships,
    plan_projects,
    plan_publications,
    remove_item,
    remove_partnership,
)
from seed_data.publications import FORMATS
from seed_data.tables import EvidenceItem, utc_now

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/institutions", tags=["evidence"], responses=problem_responses(503))

# An upload whose new texts are this many or fewer is embedded before the answer (a few seconds on a CPU):
# the suggestions use it at once. A larger one is embedded after the answer ("updating").
SYNC_REFRESH_MAX_TEXTS = 200

_RESPONSES: dict[int | str, dict[str, Any]] = {**auth_responses(), **problem_responses(404, 413, 422)}
PublicationFormat = Annotated[str | None, Query(
    pattern="^(" + "|".join(FORMATS) + ")$",
    description=f"One of {', '.join(FORMATS)}; detected from the file when absent.")]
DryRun = Annotated[bool, Query(description="Check the file and count what would change, writing nothing.")]
UploadedFile = Annotated[UploadFile, File(description="The exported file, as the service exported it.")]


def _apply(plan: EvidencePlan, *, dry_run: bool, session: Session, key_id: int | None, app: FastAPI,
           background: BackgroundTasks) -> ImportResult:
    """Write ``plan`` (unless ``dry_run``), commit, and refresh the matcher for the institutions it changed."""
    changed = plan.added + plan.updated
    matcher = "unchanged"
    if not dry_run and changed:
        apply_plan(session=session, plan=plan, key_id=key_id, now=utc_now())
        session.commit()
        texts = changed if plan.model is EvidenceItem else 0
        if texts <= SYNC_REFRESH_MAX_TEXTS:
            matcher = refresh_matcher(app, plan.institution_ids)
        else:
            background.add_task(refresh_matcher_logged, app, plan.institution_ids)
            matcher = "updating"
        logger.info("%s import %s: %s by API key %s", plan.kind, plan.file, plan.counts(), key_id)
    return ImportResult(institution_ids=plan.institution_ids, read=plan.read, duplicates_merged=plan.merged,
                        added=plan.added, updated=plan.updated, unchanged=plan.unchanged, dry_run=dry_run,
                        matcher=matcher)


def _read(file: UploadFile) -> tuple[bytes, str]:
    return file.file.read(), file.filename or "upload"


def _planned(make: Callable[[], EvidencePlan]) -> EvidencePlan:
    """``make()``'s plan; a file with problems becomes the API's 422 listing each."""
    try:
        plan = make()
    except EvidenceImportError as exc:
        raise FileProblems(exc.file, exc.problems) from exc
    return plan


@router.post("/{institution_id}/publications", response_model=ImportResult, responses=_RESPONSES)
def upload_publications(*, institution_id: InstitutionIdPath, file: UploadedFile, session: SessionDep,
                        key: OfficeKey, request: Request, background: BackgroundTasks,
                        format: PublicationFormat = None, dry_run: DryRun = False) -> ImportResult:
    """Add the institution's publications from an RIS, BibTeX, Scopus CSV, Web of Science or OpenAlex export;
    duplicates (same DOI or title) are merged, records already stored are left as they are."""
    owned_institution(session, institution_id, key)
    data, name = _read(file)
    plan = _planned(lambda: plan_publications(session=session, institution_id=institution_id, data=data,
                                              filename=name, fmt=format, allowed={institution_id}))
    return _apply(plan, dry_run=dry_run, session=session, key_id=key.id, app=request.app, background=background)


@router.post("/{institution_id}/projects", response_model=ImportResult, responses=_RESPONSES)
def upload_projects(*, institution_id: InstitutionIdPath, file: UploadedFile, session: SessionDep, key: OfficeKey,
                    request: Request, background: BackgroundTasks, dry_run: DryRun = False) -> ImportResult:
    """Add the institution's national and other projects from a CSV or JSON file (columns in the README)."""
    owned_institution(session, institution_id, key)
    data, name = _read(file)
    plan = _planned(lambda: plan_projects(session=session, data=data, filename=name, institution_id=institution_id,
                                          allowed={institution_id}))
    return _apply(plan, dry_run=dry_run, session=session, key_id=key.id, app=request.app, background=background)


@router.post("/{institution_id}/partnerships", response_model=ImportResult, responses=_RESPONSES)
def upload_partnerships(*, institution_id: InstitutionIdPath, file: UploadedFile, session: SessionDep,
                        key: OfficeKey, request: Request, background: BackgroundTasks,
                        dry_run: DryRun = False) -> ImportResult:
    """Add the institution's known partnerships from a CSV or JSON file (columns in the README); partners are
    resolved against the catalogue, and an unresolved one is kept by name."""
    owned_institution(session, institution_id, key)
    data, name = _read(file)
    plan = _planned(lambda: plan_partnerships(session=session, data=data, filename=name,
                                              institution_id=institution_id, allowed={institution_id}))
    return _apply(plan, dry_run=dry_run, session=session, key_id=key.id, app=request.app, background=background)


def _removed(remove: Callable[[], None], *, session: Session, institution_id: str, app: FastAPI) -> Response:
    """Run ``remove``, commit and refresh the institution in the matcher; 404 for an unknown row, 409 for a
    row of the shipped catalogue."""
    try:
        remove()
    except EvidenceNotFoundError as exc:
        raise NotFound(exc.kind, exc.row_id) from exc
    except CatalogueRowError as exc:
        raise Conflict(str(exc)) from exc
    session.commit()
    refresh_matcher(app, [institution_id])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{institution_id}/evidence/{item_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_RESPONSES, **problem_responses(409)})
def delete_evidence_item(*, institution_id: InstitutionIdPath, item_id: InstitutionIdPath, session: SessionDep,
                         key: OfficeKey, request: Request) -> Response:
    """Remove an imported evidence item (items of the shipped catalogue cannot be removed: 409)."""
    owned_institution(session, institution_id, key)
    return _removed(lambda: remove_item(session=session, institution_id=institution_id, item_id=item_id),
                    session=session, institution_id=institution_id, app=request.app)


@router.delete("/{institution_id}/partnerships/{partnership_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_RESPONSES, **problem_responses(409)})
def delete_partnership(*, institution_id: InstitutionIdPath, partnership_id: InstitutionIdPath,
                       session: SessionDep, key: OfficeKey, request: Request) -> Response:
    """Remove an imported partnership (those of the shipped catalogue cannot be removed: 409)."""
    owned_institution(session, institution_id, key)
    return _removed(lambda: remove_partnership(session=session, institution_id=institution_id,
                                               partnership_id=partnership_id),
                    session=session, institution_id=institution_id, app=request.app)
