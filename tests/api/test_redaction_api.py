"""Redaction through the API on the real app, database, disk and job steps: detect faces in
an uploaded video, review and change the plan (versions, reasons, conflicts), render a
version, and find the redacted copy with its provenance -- every step in custody."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.faces import face_shows, visible_part
from tests.factories import admin, make_container, user_actor
from tests.integration.test_redaction_render import FPS, SECONDS, H, W, make_clip


@pytest.fixture(scope="module")
def clip() -> tuple[bytes, list]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bwc.mp4"
        truth = make_clip(path)
        return path.read_bytes(), truth


@pytest.fixture
def c(tmp_path: Path) -> Container:
    return make_container(tmp_path)


@pytest.fixture
def web(c: Container) -> Iterator[TestClient]:
    with TestClient(create_app(c)) as client:
        yield client


def headers_for(c: Container, name: str, role: str) -> dict[str, str]:
    user_actor(c, name, role)
    token = create_token(admin(c), name, "t", uow=c.uow(), clock=c.clock).token
    return {"Authorization": f"Bearer {token}"}


def test_detect_review_and_render_a_redacted_copy(
    web: TestClient, c: Container, clip: tuple[bytes, list], tmp_path: Path
) -> None:
    data, truth = clip
    ivy = headers_for(c, "ivy", "investigator")
    r = web.post("/api/v1/evidence", params={"filename": "bwc.mp4"}, content=data, headers=ivy)
    assert r.status_code == 201, r.text
    item = r.json()["item"]["id"]
    base = f"/api/v1/evidence/{item}/redaction"

    assert web.get(f"{base}/plan", headers=ivy).status_code == 404  # nothing detected yet
    r = web.post(f"{base}/detect", headers=ivy)
    assert r.status_code == 202 and r.json()["job_id"]
    assert web.post(f"{base}/detect", headers=ivy).json()["job_id"] is None  # asked twice, done once
    c.processor.run_until_idle("w")

    r = web.get(f"{base}/plan", headers=ivy)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["version"] == 1 and v1["note"].startswith("automatic detection")
    plan = v1["plan"]
    assert (plan["width"], plan["height"], plan["frame_count"]) == (W, H, FPS * SECONDS)
    assert len(plan["tracks"]) >= 2 and all(t["reason"] == "unreviewed" for t in plan["tracks"])
    assert len(plan["detections"]["model_sha256"]) == 64

    # The reviewer keeps the second face (the suspect) and marks the others as bystanders.
    second = truth[60][1]
    for t in plan["tracks"]:
        box = t["boxes"].get("60")
        keep = (
            box is not None
            and box[0] < second[2]
            and second[0] < box[2]
            and box[1] < second[3]
            and second[1] < box[3]
        )
        t["include"], t["reason"] = (False, "unreviewed") if keep else (True, "bystander")
    plan["audio"] = [{"start_s": 1.0, "end_s": 2.0, "mode": "mute", "reason": "pii"}]
    change = {"base_version": 1, "reason": "keep the suspect; bystanders blurred", "plan": plan}
    r = web.put(f"{base}/plan", json={**change, "reason": " "}, headers=ivy)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = web.put(f"{base}/plan", json=change, headers=ivy)
    assert r.status_code == 201 and r.json()["version"] == 2
    r = web.put(f"{base}/plan", json=change, headers=ivy)  # made on version 1, which is stale now
    assert r.status_code == 409 and "reload" in r.json()["detail"]
    bad = {**change, "base_version": 2, "plan": {**plan, "width": 1920}}
    assert web.put(f"{base}/plan", json=bad, headers=ivy).status_code == 422
    versions = web.get(f"{base}/versions", headers=ivy).json()
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["created_by"] == "ivy"

    r = web.post(f"{base}/render", json={"version": 2}, headers=ivy)
    assert r.status_code == 202 and r.json() == {"version": 2, "job_id": r.json()["job_id"]}
    c.processor.run_until_idle("w")
    detail = web.get(f"/api/v1/evidence/{item}", headers=ivy).json()
    (redacted,) = [d for d in detail["derivatives"] if d["kind"] == "redacted-v2"]
    params = redacted["parameters"]
    assert params["plan_version"] == 2 and params["tracks_excluded"] >= 1
    assert params["model"] == "CenterFace" and params["model_sha256"] == plan["detections"]["model_sha256"]
    assert redacted["source_sha256"] == detail["original"]["sha256"]
    assert detail["original"]["sha256"] == __import__("hashlib").sha256(data).hexdigest()  # untouched

    r = web.get(f"/api/v1/evidence/{item}/derivatives/redacted-v2", headers=ivy)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    out = tmp_path / "redacted.mp4"
    out.write_bytes(r.content)
    src = tmp_path / "src.mp4"
    src.write_bytes(data)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        before = [f.to_ndarray(format="rgb24") for f in a.decode(video=0)]
        after = [f.to_ndarray(format="rgb24") for f in b.decode(video=0)]
    first = visible_part(truth[30][0], W, H)
    assert first is not None and not face_shows(before[30], after[30], first)  # a bystander: blurred
    assert face_shows(before[60], after[60], second, keep=0.6)  # the suspect: kept

    with c.uow() as uow:
        actions = [e.action for e in uow.custody.for_object("evidence", item)]
    for action in (
        "redaction:detect",
        "redaction:plan",
        "redaction:edit",
        "redaction:render",
        "evidence:derive",
    ):
        assert action in actions, action


def test_only_editors_change_plans_and_only_video_is_redacted(
    web: TestClient, c: Container, clip: tuple[bytes, list]
) -> None:
    ivy = headers_for(c, "ivy", "investigator")
    aud = headers_for(c, "aud", "auditor")
    item = web.post("/api/v1/evidence", params={"filename": "bwc.mp4"}, content=clip[0], headers=ivy).json()[
        "item"
    ]["id"]
    r = web.post(f"/api/v1/evidence/{item}/redaction/detect", headers=aud)
    assert r.status_code == 403
    note = web.post(
        "/api/v1/evidence", params={"filename": "n.txt"}, content=b"plain notes", headers=ivy
    ).json()["item"]["id"]
    r = web.post(f"/api/v1/evidence/{note}/redaction/detect", headers=ivy)
    assert r.status_code == 422 and "not a video or a photo" in r.json()["detail"]
    with c.uow() as uow:
        denied = [e for e in uow.custody.for_object("evidence", item) if e.outcome == "denied"]
    assert denied and denied[0].action == "redaction:detect"


def test_a_photo_is_redacted_too_without_its_metadata(web: TestClient, c: Container, tmp_path: Path) -> None:
    import io

    from PIL import Image

    from tests.faces import FacePath, still

    picture, boxes = still(800, 600, [FacePath(300, 260, 160), FacePath(620, 330, 120, mirror=True)])
    exif = Image.Exif()
    exif[0x010F] = "BodyCam Inc"  # Make
    raw = io.BytesIO()
    Image.fromarray(picture).save(raw, format="JPEG", quality=95, exif=exif)
    ivy = headers_for(c, "ivy", "investigator")
    item = web.post(
        "/api/v1/evidence", params={"filename": "scene.jpg"}, content=raw.getvalue(), headers=ivy
    ).json()["item"]["id"]
    base = f"/api/v1/evidence/{item}/redaction"
    assert web.post(f"{base}/detect", headers=ivy).status_code == 202
    c.processor.run_until_idle("w")
    plan = web.get(f"{base}/plan", headers=ivy).json()["plan"]
    assert (plan["width"], plan["height"], plan["frame_count"]) == (800, 600, 1)
    assert len(plan["tracks"]) == 2
    assert web.post(f"{base}/render", headers=ivy).json()["version"] == 1
    c.processor.run_until_idle("w")
    r = web.get(f"/api/v1/evidence/{item}/derivatives/redacted-v1", headers=ivy)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(r.content)) as out:
        assert not out.getexif()  # no camera, no GPS
        redacted = np.asarray(out.convert("RGB"))
    with Image.open(raw) as src:
        source = np.asarray(src.convert("RGB"))
    for box in boxes:
        assert not face_shows(source, redacted, box)
    corner = (slice(560, 600), slice(0, 40))
    assert np.abs(source[corner].astype(int) - redacted[corner].astype(int)).mean() < 1


def test_a_render_is_cancelled_midway_keeps_nothing_and_can_be_asked_again(
    web: TestClient, c: Container, clip: tuple[bytes, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    import opendems.services.jobs as jobs_service

    ivy = headers_for(c, "ivy", "investigator")
    item = web.post("/api/v1/evidence", params={"filename": "bwc.mp4"}, content=clip[0], headers=ivy).json()[
        "item"
    ]["id"]
    base = f"/api/v1/evidence/{item}/redaction"
    c.processor.run_until_idle("w")  # the proxy and the other media steps
    with c.uow() as uow:  # a plan as a reviewer left it: one box drawn by hand
        body = {
            "width": W,
            "height": H,
            "fps": FPS,
            "frame_count": FPS * SECONDS,
            "tracks": [{"id": "manual-1", "kind": "manual", "keyframes": {"0": [10, 10, 90, 90]}}],
        }
        uow.redaction.add(item, 1, body, "drawn by hand", 1, c.clock.now())
        uow.commit()
    job = web.post(f"{base}/render", headers=ivy).json()["job_id"]
    (listed,) = web.get(f"{base}/jobs", headers=ivy).json()
    assert listed["job_id"] == job and listed["kind"] == "render" and listed["state"] == "queued"

    # The render reports progress every 30 frames; at its first report a person cancels it.
    monkeypatch.setattr(jobs_service, "REPORT_EVERY_S", 0.0)
    make_context = c.processor.make_context
    cancelled: list[int] = []

    def context() -> jobs_service.StepContext:
        ctx = make_context()
        real = ctx.tools

        class Tools:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def redact_video(self, src, dst, plan, report):  # type: ignore[no-untyped-def]
                def cancel_then_report(fraction: float) -> None:
                    if not cancelled:
                        r = web.post(f"{base}/jobs/{job}/cancel", headers=ivy)
                        assert r.status_code == 200, r.text
                        cancelled.append(round(fraction * FPS * SECONDS))
                    report(fraction)

                return real.redact_video(src, dst, plan, cancel_then_report)

        ctx.tools = Tools()  # type: ignore[assignment]
        return ctx

    monkeypatch.setattr(c.processor, "make_context", context)
    (ended,) = c.processor.run_until_idle("w")
    assert cancelled and cancelled[0] < FPS * SECONDS  # it stopped partway through
    assert ended.state.value == "cancelled" and ended.error == "cancelled by ivy"
    (listed,) = web.get(f"{base}/jobs", headers=ivy).json()
    assert listed["state"] == "cancelled" and listed["derivative"] is None and listed["eta_s"] is None
    detail = web.get(f"/api/v1/evidence/{item}", headers=ivy).json()
    assert not [d for d in detail["derivatives"] if d["kind"].startswith("redacted")]
    assert not list(c.processor.make_context().work_dir.glob(f"job-{job}-*"))  # no half-written copy
    r = web.post(f"{base}/jobs/{job}/cancel", headers=ivy)
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]

    monkeypatch.setattr(c.processor, "make_context", make_context)
    again = web.post(f"{base}/render", headers=ivy).json()["job_id"]
    assert again is not None and again != job  # a cancelled render does not block a new one
    c.processor.run_until_idle("w")
    newest, old = web.get(f"{base}/jobs", headers=ivy).json()
    assert (newest["job_id"], newest["state"], newest["derivative"]) == (again, "done", "redacted-v1")
    assert old["job_id"] == job
    with c.uow() as uow:
        (event,) = [e for e in uow.custody.for_object("evidence", item) if e.action == "redaction:cancel"]
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert details["job"] == job and details["kind"] == "render"
