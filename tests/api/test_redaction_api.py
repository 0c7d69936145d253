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
    assert r.status_code == 422 and "not a video, a photo or a PDF" in r.json()["detail"]
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


# -- PDF documents --------------------------------------------------------------------------------

NAME, SSN, PHONE, EMAIL, DOB = (
    "Jane Doe",
    "123-45-6789",
    "(555) 123-4567",
    "jane.doe@example.com",
    "04/12/1980",
)
LETTER = [
    [
        (f"Witness: {NAME} of Springfield", 72, 720),
        (f"SSN: {SSN} on the form", 72, 700),
        (f"Call {PHONE} after six", 72, 680),
        (f"Write to {EMAIL} please", 72, 660),
        (f"DOB: {DOB} noted", 72, 640),
        ("Badge 4471 attended the scene", 72, 620),
    ],
    [(f"Statement of {NAME} continues here", 72, 720), ("The vehicle was blue", 72, 700)],
]


def pdf_bytes(tmp_path: Path, pages: list[list[tuple[str, float, float]]] = LETTER) -> bytes:
    from tests.integration.test_pdf_redaction import letter_pdf

    return letter_pdf(tmp_path / "statement.pdf", pages).read_bytes()


def upload_pdf(web: TestClient, headers: dict[str, str], data: bytes, name: str = "statement.pdf") -> str:
    r = web.post("/api/v1/evidence", params={"filename": name}, content=data, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["item"]["kind"] == "document"
    return str(r.json()["item"]["id"])


def text_of(data: bytes, tmp_path: Path) -> list[str]:
    from tests.integration.test_pdf_redaction import page_texts

    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    return page_texts(path)


def close_to(a: list[float], b: tuple[float, ...], tolerance: float = 0.2) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_a_pdf_is_searched_reviewed_and_rendered_with_the_personal_data_taken_out(
    web: TestClient, c: Container, tmp_path: Path
) -> None:
    import hashlib

    from tests.integration.test_pdf_redaction import assert_gone, display_box

    data = pdf_bytes(tmp_path)
    src = tmp_path / "statement.pdf"
    ivy = headers_for(c, "ivy", "investigator")
    item = upload_pdf(web, ivy, data)
    base = f"/api/v1/evidence/{item}/redaction"

    assert web.post(f"{base}/detect", headers=ivy).status_code == 202
    c.processor.run_until_idle("w")
    v1 = web.get(f"{base}/plan", headers=ivy).json()
    plan = v1["plan"]
    assert (plan["width"], plan["height"], plan["fps"], plan["frame_count"]) == (612, 792, 1.0, 2)
    assert plan["effect"] == "box" and plan["padding"] == 0 and plan["fail_secure"]["enabled"] is False
    assert plan["detections"]["pages"] == [[612, 792], [612, 792]]
    assert plan["detections"]["tool"].startswith("pypdfium2")
    assert "4 match(es) of personal data" in v1["note"]
    by_label = {t["label"]: t for t in plan["tracks"]}
    assert sorted(by_label) == ["dob", "email", "phone", "ssn"] and len(plan["tracks"]) == 4
    for label, word in (("ssn", SSN), ("phone", PHONE), ("email", EMAIL), ("dob", DOB)):
        t = by_label[label]
        assert (t["kind"], t["include"], t["reason"]) == ("text", True, "pii")
        assert list(t["boxes"]) == ["0"] and "keyframes" not in t
        assert close_to(t["boxes"]["0"], display_box(src, 0, word, pad=0)), (label, t["boxes"])
    # Nothing of what was found is kept in the plan, its note or the custody trail: only labels and boxes.
    with c.uow() as uow:
        custody = json.dumps([e.details for e in uow.custody.for_object("evidence", item)])
    for text in (json.dumps(v1), custody):
        for secret in (SSN, PHONE, EMAIL, DOB, "123456789", "5551234567", "jane"):
            assert secret not in text.lower()

    # The reviewer looks for the witness's name: found on both pages, the plan unchanged.
    r = web.post(f"{base}/find-text", json={"terms": [NAME.lower(), "nobody here"]}, headers=ivy)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["pages"] == [[612, 792], [612, 792]]
    assert [(m["page"], m["term"], m["length"]) for m in found["matches"]] == [(0, 0, 7), (1, 0, 7)]
    assert close_to(found["matches"][0]["box"], display_box(src, 0, NAME, pad=0))
    assert close_to(found["matches"][1]["box"], display_box(src, 1, NAME, pad=0))
    assert web.get(f"{base}/versions", headers=ivy).json()[-1]["version"] == 1
    with c.uow() as uow:
        (event,) = [e for e in uow.custody.for_object("evidence", item) if e.action == "redaction:find-text"]
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert details["terms"] == 2 and details["matches"] == 2 and "jane" not in json.dumps(details).lower()

    # Version 2: the name on both pages, a badge number drawn by hand; the date of birth kept.
    for n, m in enumerate(found["matches"], 1):
        box = m["box"]
        plan["tracks"].append(
            {
                "id": f"term-{n}",
                "kind": "text",
                "label": "term",
                "reason": "witness",
                "boxes": {str(m["page"]): box},
            }
        )
    badge = display_box(src, 0, "4471", pad=1)
    plan["tracks"].append(
        {"id": "manual-1", "kind": "manual", "reason": "officer-safety", "boxes": {"0": badge}}
    )
    by_label["dob"]["include"] = False
    change = {
        "base_version": 1,
        "reason": "the witness's name and the badge; the date of birth is needed",
        "plan": plan,
    }
    r = web.put(f"{base}/plan", json=change, headers=ivy)
    assert r.status_code == 201, r.text

    r = web.post(f"{base}/render", headers=ivy)
    assert r.status_code == 202 and r.json()["version"] == 2
    assert web.post(f"{base}/render", headers=ivy).json()["job_id"] is None  # asked twice, made once
    c.processor.run_until_idle("w")
    (job,) = [j for j in web.get(f"{base}/jobs", headers=ivy).json() if j["kind"] == "render"]
    assert (job["state"], job["derivative"]) == ("done", "redacted-v2"), job
    detail = web.get(f"/api/v1/evidence/{item}", headers=ivy).json()
    (redacted,) = [d for d in detail["derivatives"] if d["kind"] == "redacted-v2"]
    assert redacted["mime_type"] == "application/pdf"
    assert redacted["source_sha256"] == detail["original"]["sha256"] == hashlib.sha256(data).hexdigest()
    params = redacted["parameters"]
    assert params["plan_version"] == 2 and params["plan_note"] == change["reason"]
    assert params["pages"] == 2 and params["pages_redacted"] == 2 and params["boxes"] == 6
    assert params["tracks_included"] == 6 and params["tracks_excluded"] == 1
    assert params["tool"].startswith("pypdfium2") and params["metadata_stripped"] is True
    assert params["detection"]["pages"] == [[612, 792], [612, 792]] and "model" not in params

    r = web.get(f"/api/v1/evidence/{item}/derivatives/redacted-v2", headers=ivy)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    first, second = text_of(r.content, tmp_path)
    for gone in (NAME, SSN, PHONE, EMAIL, "4471"):
        assert gone not in first + second, gone
    for kept in ("Witness:", "of Springfield", "SSN:", "on the form", "Call", "after six", "Write to"):
        assert kept in first, kept
    assert DOB in first and "Badge" in first and "attended the scene" in first
    assert "Statement of" in second and "continues here" in second and "The vehicle was blue" in second
    out = tmp_path / "redacted.pdf"
    out.write_bytes(r.content)
    for gone in (NAME, SSN, PHONE, EMAIL, "4471"):
        assert_gone(out, gone)
    with c.uow() as uow:
        actions = [e.action for e in uow.custody.for_object("evidence", item)]
    for action in (
        "redaction:detect",
        "redaction:plan",
        "redaction:find-text",
        "redaction:edit",
        "redaction:render",
    ):
        assert action in actions, action


def test_a_pdf_plan_keeps_each_box_on_its_page(web: TestClient, c: Container, tmp_path: Path) -> None:
    ivy = headers_for(c, "ivy", "investigator")
    item = upload_pdf(web, ivy, pdf_bytes(tmp_path))
    base = f"/api/v1/evidence/{item}/redaction"
    web.post(f"{base}/detect", headers=ivy)
    c.processor.run_until_idle("w")
    plan = web.get(f"{base}/plan", headers=ivy).json()["plan"]

    def save(track: dict[str, object], **changes: object) -> tuple[int, str]:
        body = {**plan, "tracks": [*plan["tracks"], track], **changes}
        r = web.put(f"{base}/plan", json={"base_version": 1, "reason": "r", "plan": body}, headers=ivy)
        return r.status_code, r.json().get("detail", "")

    drawn = {"id": "manual-1", "kind": "manual", "boxes": {"1": [500, 700, 640, 720]}}
    status, detail = save(drawn)
    assert status == 422 and "outside page 2 (index 1)" in detail and "612 x 792 points" in detail
    status, detail = save({**drawn, "boxes": {"2": [10, 10, 20, 20]}})
    assert status == 422 and "no page 3 (index 2)" in detail and "2 page(s)" in detail
    status, detail = save({"id": "manual-1", "kind": "manual", "keyframes": {"0": [10, 10, 20, 20]}})
    assert status == 422 and "boxes), not keyframes" in detail
    status, detail = save({**drawn, "boxes": {"1": [10, 10, 20, 20]}}, effect="blur")
    assert status == 422 and "solid black boxes" in detail
    assert save({**drawn, "boxes": {"1": [10, 10, 20, 20]}})[0] == 201


def test_a_scanned_pdf_gets_an_empty_plan_and_pages_are_drawn_for_the_editor(
    web: TestClient, c: Container, tmp_path: Path
) -> None:
    import io

    import pypdfium2 as pdfium
    from PIL import Image

    from tests.integration.test_pdf_redaction import add_image

    doc = pdfium.PdfDocument.new()
    page = doc.new_page(612, 792)
    add_image(doc, page, np.full((300, 240, 3), 200, dtype=np.uint8), (612, 0, 0, 792, 0, 0))
    page.gen_content()
    doc.save(tmp_path / "scan.pdf")
    page.close()
    doc.close()
    ivy = headers_for(c, "ivy", "investigator")
    aud = headers_for(c, "aud", "auditor")
    item = upload_pdf(web, ivy, (tmp_path / "scan.pdf").read_bytes(), "scan.pdf")
    base = f"/api/v1/evidence/{item}/redaction"
    web.post(f"{base}/detect", headers=ivy)
    c.processor.run_until_idle("w")
    v1 = web.get(f"{base}/plan", headers=ivy).json()
    assert v1["plan"]["tracks"] == [] and "no text layer" in v1["note"]

    r = web.get(f"{base}/pages/0.png", params={"width": 500}, headers=ivy)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    assert r.headers["x-pdf-pages"] == "1" and r.headers["x-page-size-points"] == "612 792"
    with Image.open(io.BytesIO(r.content)) as picture:
        assert picture.width == 500 and abs(picture.height - 792 * 500 / 612) <= 1
        assert picture.convert("RGB").getpixel((250, 300)) == (200, 200, 200)
    with Image.open(io.BytesIO(web.get(f"{base}/pages/0.png?width=9000", headers=ivy).content)) as big:
        assert big.width == 2000  # capped
    r = web.get(f"{base}/pages/1.png", headers=ivy)
    assert r.status_code == 404 and "no page 2" in r.json()["detail"]
    assert web.get(f"{base}/pages/0.png", headers=aud).status_code == 403  # records, never content
    with c.uow() as uow:
        pages = [e for e in uow.custody.for_object("evidence", item) if e.action == "redaction:page"]
    assert pages[0].outcome == "success"
    assert {k: v for k, v in json.loads(pages[0].details).items() if k in ("page", "width")} == {
        "page": 0,
        "width": 500,
    }
    assert any(e.outcome == "denied" for e in pages)


def test_other_documents_are_refused_and_a_queued_pdf_render_can_be_cancelled(
    web: TestClient, c: Container, tmp_path: Path
) -> None:
    ivy = headers_for(c, "ivy", "investigator")
    note = web.post("/api/v1/evidence", params={"filename": "n.txt"}, content=b"notes", headers=ivy).json()
    base = f"/api/v1/evidence/{note['item']['id']}/redaction"
    r = web.post(f"{base}/detect", headers=ivy)
    assert r.status_code == 422 and "not a video, a photo or a PDF" in r.json()["detail"]
    for r in (
        web.post(f"{base}/find-text", json={"terms": ["notes"]}, headers=ivy),
        web.get(f"{base}/pages/0.png", headers=ivy),
    ):
        assert r.status_code == 422 and "not a PDF document" in r.json()["detail"]

    item = upload_pdf(web, ivy, pdf_bytes(tmp_path))
    base = f"/api/v1/evidence/{item}/redaction"
    r = web.post(f"{base}/find-text", json={"terms": ["x"]}, headers=ivy)
    assert r.status_code == 422 and "2 to 200 characters" in r.json()["detail"]
    web.post(f"{base}/detect", headers=ivy)
    c.processor.run_until_idle("w")
    job = web.post(f"{base}/render", headers=ivy).json()["job_id"]
    r = web.post(f"{base}/jobs/{job}/cancel", headers=ivy)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    c.processor.run_until_idle("w")
    detail = web.get(f"/api/v1/evidence/{item}", headers=ivy).json()
    assert not [d for d in detail["derivatives"] if d["kind"].startswith("redacted")]
