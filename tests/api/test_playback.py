"""Playing proxies in the browser: Range requests decrypt only what they need, behind the
access check, with one custody event per viewing session."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from opendems.bootstrap import Container
from opendems.services.accounts import create_token
from opendems.web.app import create_app
from tests.factories import FakeClock, admin, make_container, pdf_bytes, user_actor
from tests.media import video_bytes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def c(tmp_path: Path, clock: FakeClock) -> Container:
    return make_container(tmp_path, clock=clock)


@pytest.fixture
def web(c: Container) -> Iterator[TestClient]:
    with TestClient(create_app(c)) as client:
        yield client


def headers_for(c: Container, name: str, role: str) -> dict[str, str]:
    user_actor(c, name, role)
    token = create_token(admin(c), name, "t", uow=c.uow(), clock=c.clock).token
    return {"Authorization": f"Bearer {token}"}


def views(c: Container, evidence_id: str) -> list[tuple[str, str | None]]:
    with c.uow() as uow:
        return [
            (e.actor_name, e.details_dict.get("playback"))
            for e in uow.custody.for_object("evidence", evidence_id)
            if e.action == "evidence:view"
        ]


def test_a_player_seeks_through_the_proxy(web: TestClient, c: Container, clock: FakeClock) -> None:
    ivy = headers_for(c, "ivy", "investigator")
    r = web.post(
        "/api/v1/evidence", params={"filename": "bwc.mp4"}, content=video_bytes(seconds=3), headers=ivy
    )
    item_id = r.json()["item"]["id"]
    not_yet = web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers=ivy)
    assert not_yet.status_code == 404 and "has no proxy (yet)" in not_yet.json()["detail"]
    c.processor.run_until_idle("w")

    full = web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers=ivy)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    data = full.content
    with av.open(io.BytesIO(data)) as p:
        assert p.streams.video[0].codec_context.name == "h264"
    size = len(data)
    # A browser's player: the start, then a seek to the middle, then the end.
    for first, last in ((0, 1), (size // 2, size // 2 + 999), (size - 100, size - 1)):
        r = web.get(
            f"/api/v1/evidence/{item_id}/derivatives/proxy", headers={**ivy, "Range": f"bytes={first}-{last}"}
        )
        assert r.status_code == 206 and r.content == data[first : last + 1]
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
    bad = web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers={**ivy, "Range": f"bytes={size}-"})
    assert bad.status_code == 416
    poster = web.get(f"/api/v1/evidence/{item_id}/derivatives/poster", headers=ivy)
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"

    # Five requests for the proxy, one viewing: one custody event (and one for the poster).
    assert views(c, item_id) == [("ivy", "proxy"), ("ivy", "poster")]
    clock.advance(minutes=31)
    web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers={**ivy, "Range": "bytes=0-9"})
    assert views(c, item_id)[-1] == ("ivy", "proxy") and len(views(c, item_id)) == 3


def test_playback_is_behind_the_access_check(web: TestClient, c: Container) -> None:
    olga = headers_for(c, "olga", "officer")
    item_id = web.post(
        "/api/v1/evidence", params={"filename": "bwc.mp4"}, content=video_bytes(), headers=olga
    ).json()["item"]["id"]
    c.processor.run_until_idle("w")
    assert web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers=olga).status_code == 200
    auditor = headers_for(c, "audrey", "auditor")
    assert web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers=auditor).status_code == 403
    other = headers_for(c, "otto", "officer")
    assert web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy", headers=other).status_code == 404
    assert web.get(f"/api/v1/evidence/{item_id}/derivatives/proxy").status_code == 401
    assert web.get(f"/api/v1/evidence/{item_id}/derivatives/nonsense", headers=olga).status_code == 404


def test_several_cameras_of_one_incident_line_up(web: TestClient, c: Container) -> None:
    ivy = headers_for(c, "ivy", "investigator")
    assert (
        web.post("/api/v1/cases", headers=ivy, json={"number": "INC-9", "title": "Pursuit"}).status_code
        == 201
    )
    cameras = {
        "dashcam.mp4": "2026-03-01T10:00:00Z",
        "bwc-1.mp4": "2026-03-01T10:00:12Z",  # MP4 keeps whole seconds
        "bwc-2.mp4": "2026-03-01T09:59:58Z",
    }
    ids = {}
    for n, (name, start) in enumerate(cameras.items()):
        data = video_bytes(seconds=2, metadata={"creation_time": start}, width=160 + 16 * n, height=120)
        r = web.post(
            "/api/v1/evidence", params={"filename": name, "case": "INC-9"}, content=data, headers=ivy
        )
        ids[name] = r.json()["item"]["id"]
    web.post(
        "/api/v1/evidence",
        params={"filename": "notes.pdf", "case": "INC-9"},
        content=pdf_bytes(),
        headers=ivy,
    )
    c.processor.run_until_idle("w")
    line = web.get("/api/v1/cases/INC-9/timeline", headers=ivy).json()
    timed = [(e["evidence_id"], e["offset_s"]) for e in line if e["offset_s"] is not None]
    assert timed == [(ids["bwc-2.mp4"], 0.0), (ids["dashcam.mp4"], 2.0), (ids["bwc-1.mp4"], 14.0)]
    assert all(e["has_proxy"] and 1.9 <= e["duration_s"] <= 2.2 for e in line if e["kind"] == "video")
    assert line[-1]["kind"] == "document" and line[-1]["offset_s"] is None  # untimed, last
