"""Redaction of videos, photos and PDF documents: start the automatic first pass, read and
save versions of the plan, render a version into a redacted derivative. For a PDF also: find
the words a reviewer types (their boxes, per page) and draw a page of the original for the
editor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from opendems.domain.jobs import JobState
from opendems.ports import MediaTools, PiiScanner
from opendems.services import redaction as svc
from opendems.services import transcripts
from opendems.services.context import Actor
from opendems.web.deps import actor, container

router = APIRouter(prefix="/api/v1/evidence", tags=["redaction"])
ActorDep = Annotated[Actor, Depends(actor)]


def media_tools() -> MediaTools:
    """The tools the job workers use, for the two PDF reads made while a person waits."""
    from opendems.adapters.media.transcode import MediaTools as Tools

    return Tools()


ToolsDep = Annotated[MediaTools, Depends(media_tools)]


def pii_scanner() -> PiiScanner:
    """The personal-details finder (spaCy loads once per process, on first use)."""
    from opendems.adapters.text.pii import pii_finder

    return pii_finder()


ScannerDep = Annotated[PiiScanner, Depends(pii_scanner)]


class SpokenFindingOut(BaseModel):
    entity: str = Field(
        description="the kind, as the finder names it (PERSON, PHONE_NUMBER, US_STREET_ADDRESS...)"
    )
    label: str = Field(description="the kind in words")
    text: str = Field(description="the words as transcribed")
    start_s: float = Field(description="where to start muting, in seconds")
    end_s: float
    score: float


class JobQueued(BaseModel):
    job_id: int | None = Field(description="the job queued; null when it had been queued or done already")


class PlanOut(BaseModel):
    evidence_id: str
    version: int
    note: str
    created_by: str
    created_at: datetime
    plan: dict[str, Any]


class PlanVersionOut(BaseModel):
    version: int
    note: str
    created_by: str
    created_at: datetime


class PlanIn(BaseModel):
    base_version: int = Field(description="the version these changes were made on")
    reason: str = Field(description="why the plan changes; kept with the version and in custody")
    plan: dict[str, Any]


class SavedOut(BaseModel):
    version: int


class RenderIn(BaseModel):
    version: int | None = Field(default=None, description="the plan version to render (default: the latest)")


class RenderOut(BaseModel):
    version: int
    job_id: int | None


class FindTextIn(BaseModel):
    terms: list[str] = Field(
        description="words to find (1 to 50, each 2 to 200 characters); a space also matches a line break"
    )
    match_case: bool = Field(default=False, description="match upper and lower case exactly")
    whole_words: bool = Field(default=True, description='"Doe" does not match inside "Doehler"')


class TextMatchOut(BaseModel):
    page: int = Field(description="the page's index, from 0 (as in the plan)")
    term: int = Field(description="which of the terms, by its index in the request (from 0)")
    length: int = Field(description="characters matched on this line (a match over two lines is two)")
    box: list[float] = Field(description="x1, y1, x2, y2 in points from the page's top-left corner")


class FindTextOut(BaseModel):
    pages: list[list[float]] = Field(description="[width, height] of each page as displayed, in points")
    matches: list[TextMatchOut]


class RedactionJobOut(BaseModel):
    job_id: int
    kind: Literal["detect", "render"]
    version: int | None = Field(description="the plan version a render is of")
    state: JobState
    progress: float = Field(description="0 to 1")
    eta_s: float | None = Field(description="seconds left at the pace so far (running jobs)")
    error: str | None
    derivative: str | None = Field(description="the redacted copy's kind, once the render is done")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, r: svc.RedactionJob) -> RedactionJobOut:
        return cls(
            job_id=r.job.id,
            kind=r.kind,
            version=r.version,
            state=r.job.state,
            progress=r.job.progress,
            eta_s=None if r.eta_s is None else round(r.eta_s, 1),
            error=r.job.error,
            derivative=r.derivative,
            created_at=r.job.created_at,
            finished_at=r.job.finished_at,
        )


@router.post(
    "/{evidence_id}/redaction/detect",
    status_code=202,
    response_model=JobQueued,
    summary="Find faces automatically: the first version of the item's redaction plan",
)
def detect(evidence_id: str, request: Request, who: ActorDep) -> JobQueued:
    c = container(request)
    return JobQueued(job_id=svc.start_detection(who, evidence_id, uow=c.uow(), clock=c.clock))


@router.get(
    "/{evidence_id}/redaction/plan",
    response_model=PlanOut,
    summary="A version of the redaction plan (default: the latest)",
)
def get_plan(
    evidence_id: str, request: Request, who: ActorDep, version: Annotated[int | None, Query(ge=1)] = None
) -> PlanOut:
    c = container(request)
    view = svc.get_plan(who, evidence_id, version, uow=c.uow(), clock=c.clock)
    return PlanOut(
        evidence_id=view.evidence_id,
        version=view.version,
        note=view.note,
        created_by=view.created_by,
        created_at=view.created_at,
        plan=view.plan.to_dict(),
    )


@router.get(
    "/{evidence_id}/redaction/versions",
    response_model=list[PlanVersionOut],
    summary="Every version of the redaction plan: who saved it, when and why",
)
def versions(evidence_id: str, request: Request, who: ActorDep) -> list[PlanVersionOut]:
    c = container(request)
    return [PlanVersionOut(**v) for v in svc.plan_history(who, evidence_id, uow=c.uow(), clock=c.clock)]


@router.put(
    "/{evidence_id}/redaction/plan",
    status_code=201,
    response_model=SavedOut,
    summary="Save changes as the next version of the plan (with a reason)",
)
def save_plan(evidence_id: str, body: PlanIn, request: Request, who: ActorDep) -> SavedOut:
    c = container(request)
    version = svc.save_plan(
        who,
        evidence_id,
        body.plan,
        base_version=body.base_version,
        reason=body.reason,
        uow=c.uow(),
        clock=c.clock,
    )
    return SavedOut(version=version)


@router.post(
    "/{evidence_id}/redaction/render",
    status_code=202,
    response_model=RenderOut,
    summary="Render a version of the plan into a redacted copy (the original is never touched)",
)
def render(evidence_id: str, request: Request, who: ActorDep, body: RenderIn | None = None) -> RenderOut:
    c = container(request)
    version, job_id = svc.request_render(
        who, evidence_id, version=body.version if body else None, uow=c.uow(), clock=c.clock
    )
    return RenderOut(version=version, job_id=job_id)


@router.get(
    "/{evidence_id}/redaction/jobs",
    response_model=list[RedactionJobOut],
    summary="The detection and renders of the item: state, progress and time left (newest first)",
)
def jobs(evidence_id: str, request: Request, who: ActorDep) -> list[RedactionJobOut]:
    c = container(request)
    return [RedactionJobOut.of(r) for r in svc.redaction_jobs(who, evidence_id, uow=c.uow(), clock=c.clock)]


@router.post(
    "/{evidence_id}/redaction/jobs/{job_id}/cancel",
    response_model=RedactionJobOut,
    summary="Cancel a queued or running detection or render (nothing of it is kept)",
)
def cancel(evidence_id: str, job_id: int, request: Request, who: ActorDep) -> RedactionJobOut:
    c = container(request)
    return RedactionJobOut.of(svc.cancel_job(who, evidence_id, job_id, uow=c.uow(), clock=c.clock))


@router.post(
    "/{evidence_id}/redaction/find-text",
    response_model=FindTextOut,
    summary="A PDF: find every occurrence of some words, with its box on its page (the plan is not changed)",
)
def find_text(
    evidence_id: str, body: FindTextIn, request: Request, who: ActorDep, tools: ToolsDep
) -> FindTextOut:
    c = container(request)
    scan = svc.find_text(
        who,
        evidence_id,
        body.terms,
        match_case=body.match_case,
        whole_words=body.whole_words,
        uow=c.uow(),
        clock=c.clock,
        blobs=c.blobs,
        tools=tools,
    )
    return FindTextOut(
        pages=[[w, h] for w, h in scan.pages],
        matches=[
            TextMatchOut(
                page=m.page,
                term=int(m.label.removeprefix("term-")) - 1,
                length=m.length,
                box=[round(v, 1) for v in m.box],
            )
            for m in scan.matches
        ],
    )


@router.get(
    "/{evidence_id}/redaction/pages/{page}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="A PDF: one page of the original as a picture, for the redaction editor",
)
def page_image(
    evidence_id: str,
    request: Request,
    who: ActorDep,
    tools: ToolsDep,
    page: Annotated[int, Path(ge=0, description="the page's index, from 0 (as in the plan)")],
    width: Annotated[int, Query(ge=16, le=10_000, description="pixels; at most 2000 are drawn")] = 1000,
) -> Response:
    c = container(request)
    png, meta = svc.page_image(
        who, evidence_id, page, width, uow=c.uow(), clock=c.clock, blobs=c.blobs, tools=tools
    )
    return Response(
        png,
        media_type="image/png",
        headers={
            "Cache-Control": "private, no-store",
            "X-PDF-Pages": str(meta["pages"]),
            "X-Page-Size-Points": f"{meta['page_width_pt']:g} {meta['page_height_pt']:g}",
        },
    )


@router.get(
    "/{evidence_id}/redaction/spoken-pii",
    response_model=list[SpokenFindingOut],
    summary="A recording: the personal details said in it, each with the stretch to mute (suggestions; the plan is not changed)",
)
def spoken_pii(
    evidence_id: str, request: Request, who: ActorDep, scanner: ScannerDep
) -> list[SpokenFindingOut]:
    c = container(request)
    found = transcripts.find_spoken_pii(
        who, evidence_id, uow=c.uow(), clock=c.clock, blobs=c.blobs, scanner=scanner
    )
    return [SpokenFindingOut(**f.to_dict()) for f in found]
