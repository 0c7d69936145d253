"""The authorization matrix, generated from the application's own route table.

Every API route x every default role x every object relation {own, unit, other, restricted,
sealed} is called over HTTP with that role's token, and the answer must be what the access
model says: allowed (neither 401, 403 nor 404), 403 (visible but not permitted) or 404
(outside the caller's scope, so its existence is not revealed).

A route added to the application without an entry in ``SPECS`` (API) or ``PAGES`` (browser
pages) fails ``test_every_route_has_an_entry``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.domain.access import DEFAULT_ROLES, Permission, Role
from opendems.domain.evidence import Restriction
from opendems.services import cases as case_svc
from opendems.services import evidence as ev_svc
from opendems.services import members as member_svc
from opendems.services.accounts import create_token
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.web.app import create_app
from tests.api import pages_admin, pages_cases, pages_items, pages_library, pages_search
from tests.factories import admin, make_container, png_bytes, user_actor

RELATIONS = ("own", "unit", "other", "restricted", "sealed")
ROLES = [r for r in Role if r is not Role.SYSTEM]
P = Permission


def expected_visible(role: Role, relation: str) -> bool:
    """The access model's scope rule, stated on its own (see domain/access.py)."""
    perms = DEFAULT_ROLES[role][1]
    if relation == "own":
        return True
    if relation == "sealed":
        return P.ACCESS_SEALED in perms
    if relation == "restricted":
        return P.ACCESS_RESTRICTED in perms
    if P.SCOPE_AGENCY in perms:
        return True
    return relation == "unit" and P.SCOPE_UNIT in perms


# -- the world every request runs against ---------------------------------------------------


@dataclass
class World:
    c: Container
    client: TestClient
    tokens: dict[Role, dict[str, str]]
    items: dict[tuple[Role, str], str]  # (subject role, relation) -> evidence id
    cases: dict[tuple[Role, str], str]  # (subject role, relation) -> case number
    other_token_id: int
    job_of: dict[str, int]  # evidence id -> its first job
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1000))


def subject(role: Role) -> str:
    return f"s-{role.value.replace('_', '-')}"


def _ingest(c: Container, actor: Any, seed: int, **fields: Any) -> str:
    req = IngestRequest(filename=f"m{seed}.png", **fields)
    return ingest_stream(
        actor, req, [png_bytes(seed=seed)], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    c = make_container(Path(tmp_path_factory.mktemp("matrix")))
    system = admin(c)
    north_off = user_actor(c, "n-off", Role.OFFICER, unit="north")
    south_off = user_actor(c, "s-off", Role.OFFICER, unit="south")
    north_sup = user_actor(c, "n-sup", Role.SUPERVISOR, unit="north")
    south_sup = user_actor(c, "s-sup", Role.SUPERVISOR, unit="south")
    user_actor(c, "bystander", Role.OFFICER, unit="east")
    tokens: dict[Role, dict[str, str]] = {}
    for role in ROLES:
        user_actor(c, subject(role), role, unit="north")
        issued = create_token(system, subject(role), "matrix", uow=c.uow(), clock=c.clock)
        tokens[role] = {"Authorization": f"Bearer {issued.token}"}
    other_token_id = create_token(system, "bystander", "theirs", uow=c.uow(), clock=c.clock).record.id

    items: dict[tuple[Role, str], str] = {}
    cases: dict[tuple[Role, str], str] = {}
    seed = 0
    shared: dict[str, str] = {}
    for relation, who, level in (
        ("unit", north_off, Restriction.NORMAL),
        ("other", south_off, Restriction.NORMAL),
        ("restricted", south_off, Restriction.RESTRICTED),
        ("sealed", south_off, Restriction.SEALED),
    ):
        seed += 1
        shared[relation] = _ingest(c, who, seed)
        if level is not Restriction.NORMAL:
            ev_svc.edit_evidence(
                system,
                shared[relation],
                {"restriction": level},
                reason="matrix",
                uow=c.uow(),
                clock=c.clock,
                limits=c.limits,
            )
    shared_cases: dict[str, str] = {}
    for relation, who, level in (
        ("unit", north_sup, "normal"),
        ("other", south_sup, "normal"),
        ("restricted", south_sup, "restricted"),
        ("sealed", south_sup, "sealed"),
    ):
        number = f"MX-{relation}"
        case_svc.create_case(who, number, {"title": relation}, uow=c.uow(), clock=c.clock)
        if level != "normal":
            member_svc.set_case_restriction(who, number, level, reason="matrix", uow=c.uow(), clock=c.clock)
        shared_cases[relation] = number
    for role in ROLES:
        seed += 1
        items[(role, "own")] = _ingest(c, system, seed, captured_by=subject(role))
        number = f"MX-own-{role.value}"
        case_svc.create_case(system, number, {"title": "own"}, uow=c.uow(), clock=c.clock)
        member_svc.change_member(system, "case", number, subject(role), add=True, uow=c.uow(), clock=c.clock)
        cases[(role, "own")] = number
        for relation in RELATIONS[1:]:
            items[(role, relation)] = shared[relation]
            cases[(role, relation)] = shared_cases[relation]
    with c.uow() as uow:
        job_of = {item: uow.jobs.for_item(item)[0].id for item in set(items.values())}
    client = TestClient(create_app(c))
    with client:
        yield World(c, client, tokens, items, cases, other_token_id, job_of)


# -- what each route needs ------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    role: Role
    relation: str
    world: World

    @property
    def item(self) -> str:
        return self.world.items[(self.role, self.relation)]

    @property
    def case(self) -> str:
        return self.world.cases[(self.role, self.relation)]

    @property
    def own_item(self) -> str:
        return self.world.items[(self.role, "own")]

    def fresh_upload(self) -> str:
        """An upload owned by the caller for "own", by someone else otherwise."""
        owner = (
            self.role
            if self.relation == "own"
            else (Role.INVESTIGATOR if self.role is Role.OFFICER else Role.OFFICER)
        )
        headers = self.world.tokens[owner]
        r = self.world.client.post(
            "/api/v1/uploads",
            headers={
                **headers,
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "10",
                "Upload-Metadata": "filename bS5wbmc=",
            },
        )
        assert r.status_code == 201, r.text
        return str(r.headers["location"].rsplit("/", 1)[1])


Request = dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """``needs``: permissions the route asks for (all of them); ``target``: what the
    relation applies to (evidence, case, upload, token, or none); ``build``: the request;
    ``also_ok``: a 404 detail pattern that means "allowed, then found nothing to do"."""

    needs: tuple[Permission, ...]
    target: str
    build: Callable[[Call], Request]
    also_ok: str | None = None


def tus(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": "1.0.0", **(extra or {})}


def upload_call(
    method: str, extra: dict[str, str] | None = None, content: bytes | None = None
) -> Callable[[Call], Request]:
    def build(call: Call) -> Request:
        upload = call.fresh_upload()
        req: Request = {"method": method, "url": f"/api/v1/uploads/{upload}", "headers": tus(extra)}
        if content is not None:
            req["content"] = content
        return req

    return build


E = "/api/v1/evidence"
C = "/api/v1/cases"
SPECS: dict[tuple[str, str], list[Spec]] = {
    ("GET", "/api/v1/health"): [Spec((), "public", lambda k: {"method": "GET", "url": "/api/v1/health"})],
    ("GET", "/api/v1/me"): [Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/me"})],
    # evidence
    ("POST", E): [
        Spec(
            (P.EVIDENCE_CREATE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": E,
                "params": {"filename": "x.png"},
                "content": png_bytes(seed=next(k.world.seq)),
            },
        )
    ],
    ("GET", E): [
        Spec((), "none", lambda k: {"method": "GET", "url": E})
    ],  # a list: empty without evidence:view
    ("GET", "/api/v1/search"): [
        Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/search", "params": {"q": "m"}})
    ],  # a list: empty without evidence:view
    ("GET", E + "/{evidence_id}"): [
        Spec((P.EVIDENCE_VIEW,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}"})
    ],
    ("PATCH", E + "/{evidence_id}"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "PATCH",
                "url": f"{E}/{k.item}",
                "json": {"reason": "m", "description": f"d{next(k.world.seq)}"},
            },
        )
    ],
    ("POST", E + "/{evidence_id}/tags"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": f"{E}/{k.item}/tags",
                "json": {"tags": [f"t{next(k.world.seq)}"]},
            },
        )
    ],
    ("DELETE", E + "/{evidence_id}/tags/{tag}"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {"method": "DELETE", "url": f"{E}/{k.item}/tags/absent", "params": {"reason": "m"}},
            also_ok="not tagged|no tag|does not have",
        )
    ],
    ("GET", E + "/{evidence_id}/derivatives/{kind}"): [
        # Allowed means the proxy is not made yet (404 "has no proxy"): the check comes first.
        Spec(
            (P.EVIDENCE_PLAY,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/derivatives/proxy"},
            also_ok="has no proxy",
        )
    ],
    ("GET", E + "/{evidence_id}/jobs"): [
        Spec((P.EVIDENCE_VIEW,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}/jobs"})
    ],
    # Redaction: the world's items are photos, so an allowed call goes on to "has no plan" or a job.
    ("POST", E + "/{evidence_id}/redaction/detect"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {"method": "POST", "url": f"{E}/{k.item}/redaction/detect"},
        )
    ],
    ("GET", E + "/{evidence_id}/redaction/plan"): [
        Spec(
            (P.EVIDENCE_VIEW,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/redaction/plan"},
            also_ok="has no redaction plan",
        )
    ],
    ("GET", E + "/{evidence_id}/redaction/versions"): [
        Spec(
            (P.EVIDENCE_VIEW,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/redaction/versions"},
        )
    ],
    ("PUT", E + "/{evidence_id}/redaction/plan"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "PUT",
                "url": f"{E}/{k.item}/redaction/plan",
                "json": {
                    "base_version": 1,
                    "reason": "m",
                    "plan": {"width": 64, "height": 48, "fps": 30, "frame_count": 10},
                },
            },
            also_ok="has no redaction plan",
        )
    ],
    ("POST", E + "/{evidence_id}/redaction/render"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {"method": "POST", "url": f"{E}/{k.item}/redaction/render"},
            also_ok="has no redaction plan",
        )
    ],
    ("GET", E + "/{evidence_id}/redaction/jobs"): [
        Spec(
            (P.EVIDENCE_VIEW,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}/redaction/jobs"}
        )
    ],
    ("POST", E + "/{evidence_id}/redaction/jobs/{job_id}/cancel"): [
        # The item's first job is a media job, not a redaction one: allowed means 404.
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": f"{E}/{k.item}/redaction/jobs/{k.world.job_of[k.item]}/cancel",
            },
            also_ok="has no redaction job",
        )
    ],
    # Sharing and court exports. A share or export that does not exist: allowed means 404.
    ("POST", "/api/v1/shares"): [
        Spec(
            (P.SHARE_CREATE, P.EVIDENCE_VIEW),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/shares",
                "json": {
                    "recipient_kind": "link",
                    "recipient_email": "d@law.example",
                    "evidence_ids": [k.item],
                },
            },
        )
    ],
    ("GET", "/api/v1/shares"): [Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/shares"})],
    ("GET", "/api/v1/shares/{share_id}"): [
        Spec(
            (), "none", lambda k: {"method": "GET", "url": "/api/v1/shares/SH-0000-0000"}, also_ok="not found"
        )
    ],
    ("GET", "/api/v1/shares/{share_id}/receipt.pdf"): [
        Spec(
            (),
            "none",
            lambda k: {"method": "GET", "url": "/api/v1/shares/SH-0000-0000/receipt.pdf"},
            also_ok="not found",
        )
    ],
    ("POST", "/api/v1/shares/{share_id}/revoke"): [
        Spec(
            (),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/shares/SH-0000-0000/revoke",
                "json": {"reason": "x"},
            },
            also_ok="not found",
        )
    ],
    ("POST", "/api/v1/shares/{share_id}/code"): [
        Spec(
            (),
            "none",
            lambda k: {"method": "POST", "url": "/api/v1/shares/SH-0000-0000/code"},
            also_ok="not found",
        )
    ],
    ("POST", "/api/v1/exports"): [
        Spec(
            (P.EVIDENCE_DOWNLOAD,),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/exports",
                "json": {"title": "t", "evidence_ids": [k.item]},
            },
        )
    ],
    ("GET", "/api/v1/exports"): [Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/exports"})],
    ("GET", "/api/v1/exports/{export_id}"): [
        Spec(
            (),
            "none",
            lambda k: {"method": "GET", "url": "/api/v1/exports/EX-2026-999999"},
            also_ok="not found",
        )
    ],
    ("GET", "/api/v1/exports/{export_id}/package.zip"): [
        Spec(
            (),
            "none",
            lambda k: {"method": "GET", "url": "/api/v1/exports/EX-2026-999999/package.zip"},
            also_ok="not found",
        )
    ],
    # A PDF's words and pages: the world's photos are not PDFs, so an allowed call ends in 422.
    ("POST", E + "/{evidence_id}/redaction/find-text"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": f"{E}/{k.item}/redaction/find-text",
                "json": {"terms": ["m1"]},
            },
        )
    ],
    # A recording's transcript is its content (evidence:play); correcting it is an edit. The
    # world's items have no transcript (404 after the check).
    ("GET", E + "/{evidence_id}/transcript"): [
        Spec(
            (P.EVIDENCE_PLAY,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/transcript"},
            also_ok="has no transcript",
        )
    ],
    ("POST", E + "/{evidence_id}/transcript/corrections"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {
                "method": "POST",
                "url": f"{E}/{k.item}/transcript/corrections",
                "json": {
                    "base_revision": 1,
                    "reason": "misheard",
                    "corrections": [{"index": 0, "text": "x"}],
                },
            },
            also_ok="has no transcript",
        )
    ],
    # Personal details said in a recording: the world's items have no transcript (404 after
    # the check); the check is evidence:edit, as for the plan they are suggested for.
    ("GET", E + "/{evidence_id}/redaction/spoken-pii"): [
        Spec(
            (P.EVIDENCE_EDIT,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/redaction/spoken-pii"},
            also_ok="has no transcript",
        )
    ],
    ("GET", E + "/{evidence_id}/redaction/pages/{page}.png"): [
        # A picture of the content: evidence:play, as for previews (an auditor sees records only).
        Spec(
            (P.EVIDENCE_PLAY,),
            "evidence",
            lambda k: {"method": "GET", "url": f"{E}/{k.item}/redaction/pages/0.png"},
        )
    ],
    ("GET", E + "/{evidence_id}/custody"): [
        Spec((P.CUSTODY_READ,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}/custody"})
    ],
    ("GET", E + "/{evidence_id}/original"): [
        Spec((P.EVIDENCE_DOWNLOAD,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}/original"})
    ],
    ("POST", "/api/v1/jobs/{job_id}/retry"): [
        # The item's first job (queued, never failed): allowed means "only a failed job" (409).
        Spec(
            (P.EVIDENCE_VERIFY,),
            "evidence",
            lambda k: {"method": "POST", "url": f"/api/v1/jobs/{k.world.job_of[k.item]}/retry"},
        )
    ],
    ("GET", "/api/v1/jobs"): [
        Spec((P.EVIDENCE_VERIFY,), "none", lambda k: {"method": "GET", "url": "/api/v1/jobs"})
    ],
    # tus uploads
    ("OPTIONS", "/api/v1/uploads"): [
        Spec((), "public", lambda k: {"method": "OPTIONS", "url": "/api/v1/uploads"})
    ],
    ("POST", "/api/v1/uploads"): [
        Spec(
            (P.EVIDENCE_CREATE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/uploads",
                "headers": tus({"Upload-Length": "10", "Upload-Metadata": "filename bS5wbmc="}),
            },
        )
    ],
    ("HEAD", "/api/v1/uploads/{upload_id}"): [Spec((), "upload", upload_call("HEAD"))],
    ("GET", "/api/v1/uploads/{upload_id}"): [Spec((), "upload", upload_call("GET"))],
    ("PATCH", "/api/v1/uploads/{upload_id}"): [
        Spec(
            (),
            "upload",
            upload_call(
                "PATCH", {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, b"abc"
            ),
        )
    ],
    ("DELETE", "/api/v1/uploads/{upload_id}"): [Spec((), "upload", upload_call("DELETE"))],
    # cases
    ("POST", C): [
        Spec(
            (P.CASE_MANAGE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": C,
                "json": {"number": f"N-{next(k.world.seq)}", "title": "t"},
            },
        )
    ],
    ("GET", C): [Spec((), "none", lambda k: {"method": "GET", "url": C})],
    ("GET", C + "/{number}"): [
        Spec((P.CASE_VIEW,), "case", lambda k: {"method": "GET", "url": f"{C}/{k.case}"})
    ],
    ("PATCH", C + "/{number}"): [
        Spec(
            (P.CASE_MANAGE,),
            "case",
            lambda k: {
                "method": "PATCH",
                "url": f"{C}/{k.case}",
                "json": {"reason": "m", "description": f"d{next(k.world.seq)}"},
            },
        )
    ],
    ("POST", C + "/{number}/close"): [
        Spec(
            (P.CASE_MANAGE,),
            "case",
            lambda k: {"method": "POST", "url": f"{C}/{k.case}/close", "json": {"reason": "m"}},
        )
    ],
    ("POST", C + "/{number}/reopen"): [
        Spec(
            (P.CASE_MANAGE,),
            "case",
            lambda k: {"method": "POST", "url": f"{C}/{k.case}/reopen", "json": {"reason": "m"}},
        )
    ],
    ("GET", C + "/{number}/timeline"): [
        Spec((P.CASE_VIEW,), "case", lambda k: {"method": "GET", "url": f"{C}/{k.case}/timeline"})
    ],
    ("GET", C + "/{number}/evidence"): [
        Spec((P.CASE_VIEW,), "case", lambda k: {"method": "GET", "url": f"{C}/{k.case}/evidence"})
    ],
    ("POST", C + "/{number}/evidence"): [
        Spec(
            (P.CASE_MANAGE, P.EVIDENCE_VIEW),
            "case",
            lambda k: {
                "method": "POST",
                "url": f"{C}/{k.case}/evidence",
                "json": {"evidence_id": k.own_item},
            },
        )
    ],
    ("DELETE", C + "/{number}/evidence/{evidence_id}"): [
        Spec(
            (P.CASE_MANAGE, P.EVIDENCE_VIEW),
            "case",
            lambda k: {
                "method": "DELETE",
                "url": f"{C}/{k.case}/evidence/{k.own_item}",
                "params": {"reason": "m"},
            },
            also_ok=r"is not in case",
        )
    ],
    ("PUT", C + "/{number}/restriction"): [
        Spec(
            (P.CASE_MANAGE, P.EVIDENCE_RESTRICT),
            "case",
            lambda k: {
                "method": "PUT",
                "url": f"{C}/{k.case}/restriction",
                "json": {
                    "reason": "m",
                    "restriction": {"own": "normal", "unit": "normal", "other": "normal"}.get(
                        k.relation, k.relation
                    ),
                },
            },
        )
    ],
    # named members, on cases and on items
    ("GET", "/api/v1/{object_type}/{object_id}/members"): [
        Spec((P.CASE_VIEW,), "case", lambda k: {"method": "GET", "url": f"{C}/{k.case}/members"}),
        Spec((P.EVIDENCE_VIEW,), "evidence", lambda k: {"method": "GET", "url": f"{E}/{k.item}/members"}),
    ],
    ("POST", "/api/v1/{object_type}/{object_id}/members"): [
        Spec(
            (P.CASE_MANAGE,),
            "case",
            lambda k: {"method": "POST", "url": f"{C}/{k.case}/members", "json": {"username": "bystander"}},
        ),
        Spec(
            (P.EVIDENCE_RESTRICT,),
            "evidence",
            lambda k: {"method": "POST", "url": f"{E}/{k.item}/members", "json": {"username": "bystander"}},
        ),
    ],
    ("DELETE", "/api/v1/{object_type}/{object_id}/members/{username}"): [
        Spec(
            (P.CASE_MANAGE,),
            "case",
            lambda k: {"method": "DELETE", "url": f"{C}/{k.case}/members/nobody-at-all"},
            also_ok="no user named",
        ),
        Spec(
            (P.EVIDENCE_RESTRICT,),
            "evidence",
            lambda k: {"method": "DELETE", "url": f"{E}/{k.item}/members/nobody-at-all"},
            also_ok="no user named",
        ),
    ],
    # accounts, roles, tokens, sessions
    ("GET", "/api/v1/users"): [
        Spec((P.USER_MANAGE,), "none", lambda k: {"method": "GET", "url": "/api/v1/users"})
    ],
    ("POST", "/api/v1/users"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/users",
                "json": {"username": f"new{next(k.world.seq)}", "role": "officer"},
            },
        )
    ],
    ("PATCH", "/api/v1/users/{username}"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {
                "method": "PATCH",
                "url": "/api/v1/users/bystander",
                "json": {"reason": "m", "display_name": f"B {next(k.world.seq)}"},
            },
        )
    ],
    ("POST", "/api/v1/users/{username}/unlock"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {"method": "POST", "url": "/api/v1/users/bystander/unlock", "json": {"reason": "m"}},
        )
    ],
    ("POST", "/api/v1/users/{username}/mfa-reset"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {"method": "POST", "url": "/api/v1/users/bystander/mfa-reset", "json": {"reason": "m"}},
        )
    ],
    ("POST", "/api/v1/users/{username}/password-reset"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/users/bystander/password-reset",
                "json": {"reason": "m"},
            },
        )
    ],
    ("GET", "/api/v1/roles"): [
        Spec((P.USER_MANAGE,), "none", lambda k: {"method": "GET", "url": "/api/v1/roles"})
    ],
    ("PUT", "/api/v1/roles/{name}"): [
        Spec(
            (P.ROLE_MANAGE,),
            "none",
            lambda k: {
                "method": "PUT",
                "url": "/api/v1/roles/matrix_role",
                "json": {"permissions": ["case:view"]},
            },
        )
    ],
    ("GET", "/api/v1/tokens"): [
        Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/tokens"}),
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {"method": "GET", "url": "/api/v1/tokens", "params": {"username": "bystander"}},
        ),
    ],
    ("POST", "/api/v1/tokens"): [
        Spec((), "none", lambda k: {"method": "POST", "url": "/api/v1/tokens", "json": {"name": "mine"}}),
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/tokens",
                "json": {"name": "theirs", "username": "bystander"},
            },
        ),
    ],
    ("DELETE", "/api/v1/tokens/{token_id}"): [
        Spec(
            (P.USER_MANAGE,),
            "none",
            lambda k: {"method": "DELETE", "url": f"/api/v1/tokens/{k.world.other_token_id}"},
        ),
    ],
    ("POST", "/api/v1/sessions/end-all"): [
        Spec((), "none", lambda k: {"method": "POST", "url": "/api/v1/sessions/end-all"})
    ],
    # evidence categories (every default role holds evidence:view or category:manage: all read)
    ("GET", "/api/v1/categories"): [
        Spec((), "none", lambda k: {"method": "GET", "url": "/api/v1/categories"})
    ],
    ("POST", "/api/v1/categories"): [
        Spec(
            (P.CATEGORY_MANAGE,),
            "none",
            lambda k: {
                "method": "POST",
                "url": "/api/v1/categories",
                "json": {"name": f"Cat {next(k.world.seq)}"},
            },
        )
    ],
    ("PATCH", "/api/v1/categories/{category_id}"): [
        Spec(
            (P.CATEGORY_MANAGE,),
            "none",
            lambda k: {"method": "PATCH", "url": "/api/v1/categories/999999", "json": {"retention_days": 30}},
            also_ok="no category 999999",
        )
    ],
    ("POST", "/api/v1/categories/{category_id}/deactivate"): [
        Spec(
            (P.CATEGORY_MANAGE,),
            "none",
            lambda k: {"method": "POST", "url": "/api/v1/categories/999999/deactivate"},
            also_ok="no category 999999",
        )
    ],
    # the audit trail
    ("GET", "/api/v1/audit"): [
        Spec((P.AUDIT_READ,), "none", lambda k: {"method": "GET", "url": "/api/v1/audit"})
    ],
    ("GET", "/api/v1/audit/export.csv"): [
        Spec((P.AUDIT_READ,), "none", lambda k: {"method": "GET", "url": "/api/v1/audit/export.csv"})
    ],
}

# Browser pages: public, or behind the session cookie (without one they send you to sign in).
PAGES: dict[tuple[str, str], str] = {
    ("GET", "/"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/sign-in"): "public",
    ("POST", "/sign-in"): "public",
    ("GET", "/sign-in/oidc"): "public",
    ("GET", "/sign-in/oidc/callback"): "public",
    ("GET", "/sign-in/mfa"): "session",
    ("POST", "/sign-in/mfa"): "session",
    ("GET", "/sign-in/mfa/enrol"): "session",
    ("POST", "/sign-in/mfa/enrol"): "session",
    ("GET", "/account"): "session",
    ("POST", "/account/password"): "session",
    ("POST", "/account/password-strength"): "session",
    ("POST", "/sign-out"): "session",
    ("POST", "/sign-out/everywhere"): "session",
    ("GET", "/static/app.css"): "public",
    # The share portal: a link recipient's own access code, or the signed-in named account.
    ("GET", "/s/{token}"): "public",
    ("POST", "/s/{token}"): "public",
    ("GET", "/s/{token}/files/{evidence_id}"): "public",
    ("GET", "/s/{token}/files/{evidence_id}/download"): "public",
    ("GET", "/s/{token}/files/{evidence_id}/captions"): "public",
    ("GET", "/s/{token}/all.zip"): "public",
    ("GET", "/s/{token}/receipt.pdf"): "public",
    ("GET", "/s/{token}/exports/{export_id}.zip"): "public",
    ("GET", "/shares/{share_id}/open/exports/{export_id}.zip"): "session",
    ("GET", "/shares"): "session",
    ("GET", "/shares/new"): "session",
    ("POST", "/shares/new"): "session",
    ("GET", "/shares/{share_id}"): "session",
    ("POST", "/shares/{share_id}/revoke"): "session",
    ("POST", "/shares/{share_id}/code"): "session",
    ("GET", "/exports"): "session",
    ("POST", "/exports"): "session",
    ("GET", "/shares/{share_id}/open"): "session",
    ("GET", "/shares/{share_id}/open/files/{evidence_id}"): "session",
    ("GET", "/shares/{share_id}/open/files/{evidence_id}/download"): "session",
    ("GET", "/shares/{share_id}/open/files/{evidence_id}/captions"): "session",
    ("GET", "/shares/{share_id}/open/all.zip"): "session",
    ("GET", "/shares/{share_id}/open/receipt.pdf"): "session",
    ("GET", "/static/vendor/{name}"): "public",
    **pages_library.PAGES,
    **pages_items.PAGES,
    **pages_cases.PAGES,
    **pages_admin.PAGES,
    **pages_search.PAGES,
}


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the application answers, read from its router."""

    def walk(routes: list[Any]) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):
                yield from walk(route.original_router.routes)
            elif getattr(route, "methods", None):
                for method in route.methods:
                    if method != "HEAD" or route.path.startswith("/api/v1/uploads/"):
                        yield method, route.path

    return set(walk(app.routes))


def test_every_route_has_an_entry(world: World) -> None:
    routes = route_table(world.client.app)  # type: ignore[arg-type]
    missing = sorted(routes - set(SPECS) - set(PAGES))
    assert not missing, f"routes without an authorization-matrix entry: {missing}"
    stale = sorted((set(SPECS) | set(PAGES)) - routes)
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


def cases_for_matrix() -> list[tuple[str, str, int, Role, str]]:
    out = []
    for (method, path), specs in SPECS.items():
        for n, spec in enumerate(specs):
            for role in ROLES:
                if spec.target in {"evidence", "case"}:
                    relations: tuple[str, ...] = RELATIONS
                elif spec.target == "upload":
                    # Only a role that may upload has uploads of its own.
                    relations = (
                        ("own", "other") if P.EVIDENCE_CREATE in DEFAULT_ROLES[role][1] else ("other",)
                    )
                else:
                    relations = ("-",)
                for relation in relations:
                    out.append((method, path, n, role, relation))
    return out


def expectation(spec: Spec, role: Role, relation: str) -> str:
    perms = DEFAULT_ROLES[role][1]
    if spec.target == "public":
        return "allow"
    if spec.target == "upload":
        if relation != "own":
            return "hidden"
        return "allow"
    if spec.target in {"evidence", "case"} and not expected_visible(role, relation):
        return "hidden"
    return "allow" if all(p in perms for p in spec.needs) else "forbid"


@pytest.mark.parametrize(("method", "path", "n", "role", "relation"), cases_for_matrix())
def test_matrix(world: World, method: str, path: str, n: int, role: Role, relation: str) -> None:
    spec = SPECS[(method, path)][n]
    call = Call(role, relation if relation != "-" else "own", world)
    req = spec.build(call)
    headers = (
        {**world.tokens[role], **req.pop("headers", {})}
        if spec.target != "public"
        else req.pop("headers", {})
    )
    r = world.client.request(headers=headers, **req)
    want = expectation(spec, role, relation)
    detail = ""
    if r.content and r.headers.get("content-type", "").startswith("application/problem+json"):
        detail = r.json().get("detail", "")
    assert r.status_code < 500, r.text
    if want == "allow":
        acceptable_404 = spec.also_ok is not None and r.status_code == 404 and re.search(spec.also_ok, detail)
        assert r.status_code not in (401, 403) and (r.status_code != 404 or acceptable_404), (
            f"{role.value} should be allowed: {r.status_code} {r.text[:300]}"
        )
    elif want == "forbid":
        assert r.status_code == 403, f"{role.value} should get 403: {r.status_code} {r.text[:300]}"
    else:
        assert r.status_code == 404, f"{role.value} should get 404: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize(("method", "path"), [k for k, v in PAGES.items() if v == "session"])
def test_session_pages_need_a_session(world: World, method: str, path: str) -> None:
    with TestClient(world.client.app, base_url="https://testserver", follow_redirects=False) as web:  # type: ignore[arg-type]
        if path == "/account/password-strength":
            r = web.post(path, json={"password": "x"})
        else:
            r = web.request(method, path, data={"csrf_token": "x"} if method == "POST" else None)
    assert r.status_code in (303, 401), r.text
    if r.status_code == 303:
        assert r.headers["location"].startswith("/sign-in?")


def test_no_token_no_entry(world: World) -> None:
    for (method, path), specs in SPECS.items():
        if specs[0].target == "public":
            continue
        url = re.sub(r"\{[^}]+\}", "x1", path)
        r = world.client.request(method, url, headers=tus() if "uploads" in path else None)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
