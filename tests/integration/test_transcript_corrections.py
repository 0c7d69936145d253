"""People correct what the model misheard, over the real API on a real transcript: each set of
corrections, with its reason, becomes the next revision (the earlier one kept, byte for byte);
the captions, the search index and the spoken personal details follow the latest revision;
custody says who corrected which words and why; a stale or bad correction is refused and
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendems.domain.transcripts import Transcript
from opendems.services.accounts import create_token
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.search import search
from opendems.web.app import create_app
from tests.factories import admin, make_container, user_actor
from tests.speech import SCRIPT, speak


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "interview.wav"
    speak(path, SCRIPT)
    return path


def index_of(body: dict[str, Any], word: str) -> tuple[int, float, str]:
    """The place (counted through all words), start and text of the first word that reads
    ``word`` (give or take punctuation)."""
    at = 0
    for segment in body["segments"]:
        for w in segment["words"]:
            if w["text"].strip(" .,").lower() == word:
                return at, w["start"], w["text"].strip()
            at += 1
    raise AssertionError(f"{word!r} is not in the transcript")


def test_corrections_make_revisions_that_captions_search_and_custody_follow(
    tmp_path: Path, recording: Path
) -> None:
    c = make_container(tmp_path, transcription="tiny.en")
    ivy = user_actor(c, "ivy", "investigator")
    user_actor(c, "val", "auditor")
    item = ingest_stream(
        ivy, IngestRequest(filename="interview.wav", title="Witness interview"), [recording.read_bytes()],
        uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits,
    ).item  # fmt: skip
    c.processor.run_until_idle("w")
    ivy_token = create_token(admin(c), "ivy", "t", uow=c.uow(), clock=c.clock).token
    val_token = create_token(admin(c), "val", "t", uow=c.uow(), clock=c.clock).token
    auth = {"Authorization": f"Bearer {ivy_token}"}
    url = f"/api/v1/evidence/{item.id}/transcript"
    with TestClient(create_app(c)) as client:
        first = client.get(url, headers=auth).json()
        assert first["revision"] == 1 and first["language"] == "en" and first["language_name"] == "English"
        assert [r["revision"] for r in first["revisions"]] == [1] and first["captions"] == "captions"
        river, river_at, river_was = index_of(first, "river")
        smith, _, smith_was = index_of(first, "smith")

        # Bad corrections: a clear problem, nothing stored.
        for body, status, words in [
            ({"base_revision": 1, "reason": "", "corrections": [{"index": river, "text": "canal"}]}, 422,
             "say why"),
            ({"base_revision": 1, "reason": "r", "corrections": [{"index": 9999, "text": "x"}]}, 422,
             "there is no word 9999"),
            ({"base_revision": 1, "reason": "r", "corrections": [{"index": river, "text": "a\x00b"}]}, 422,
             "control characters"),
            ({"base_revision": 2, "reason": "r", "corrections": [{"index": river, "text": "canal"}]}, 409,
             "at revision 1, not 2"),
        ]:  # fmt: skip
            r = client.post(f"{url}/corrections", headers=auth, json=body)
            assert r.status_code == status, r.text
            assert r.headers["content-type"] == "application/problem+json" and words in r.json()["detail"]
        # An auditor may read the transcript but not correct it.
        r = client.post(
            f"{url}/corrections",
            headers={"Authorization": f"Bearer {val_token}"},
            json={"base_revision": 1, "reason": "r", "corrections": [{"index": river, "text": "canal"}]},
        )
        assert r.status_code == 403
        assert client.get(url, headers=auth).json()["revision"] == 1

        reason = "the witness said canal (checked against the recording)"
        r = client.post(
            f"{url}/corrections",
            headers=auth,
            json={
                "base_revision": 1,
                "reason": reason,
                "corrections": [{"index": river, "text": "canal"}, {"index": smith, "text": "Smyth."}],
            },
        )
        assert r.status_code == 201, r.text
        second = r.json()
        assert second["revision"] == 2 and second["captions"] == "captions-r2"
        assert [(x["index"], x["was"], x["now"]) for x in second["changes"]] == [
            (smith, smith_was, "Smyth."),
            (river, river_was, "canal"),
        ]
        assert [(v["revision"], v["by"], v["reason"]) for v in second["revisions"]] == [
            (1, "whisper tiny.en", "as transcribed"),
            (2, "ivy", reason),
        ]
        assert client.get(url, headers=auth).json()["revision"] == 2
        captions = client.get(f"/api/v1/evidence/{item.id}/derivatives/captions-r2", headers=auth)
        assert captions.status_code == 200 and "canal" in captions.text and "Smyth" in captions.text
        # The revision it was made from is kept as it was.
        old = client.get(f"/api/v1/evidence/{item.id}/derivatives/transcript", headers=auth)
        assert Transcript.from_dict(json.loads(old.content)).revision == 1 and "river" in old.text
        # The same base again is stale now.
        r = client.post(
            f"{url}/corrections",
            headers=auth,
            json={"base_revision": 1, "reason": "r", "corrections": [{"index": river, "text": "lake"}]},
        )
        assert r.status_code == 409 and "reload" in r.json()["detail"]

        # The spoken personal details are found in what the transcript now says.
        found = client.get(f"/api/v1/evidence/{item.id}/redaction/spoken-pii", headers=auth).json()
        assert "John Smyth" in [f["text"].strip(" .") for f in found]

    # Search follows the latest revision, at the second the word was said.
    hits = search(admin(c), "canal", limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock).hits
    assert [h.evidence_id for h in hits] == [item.id] and hits[0].source == "transcript"
    assert hits[0].at_seconds is not None and hits[0].at_seconds <= river_at
    assert search(admin(c), "river", limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock).hits == []

    # Custody: who corrected which words, and why (not the words themselves).
    with c.uow() as uow:
        events = uow.custody.for_object("evidence", item.id)
    corrections = [e for e in events if e.action == "transcript:correct"]
    denied = [e for e in corrections if e.outcome == "denied"]
    done = [e for e in corrections if e.outcome == "success"]
    assert len(denied) == 1 and len(done) == 1
    assert done[0].reason == reason and done[0].details_dict["revision"] == 2
    assert sorted(done[0].details_dict["words"]) == sorted([river, smith])
    assert "canal" not in (done[0].details or "") and "Smyth" not in (done[0].details or "")
    derived = [e.details_dict["kind"] for e in events if e.action == "evidence:derive"]
    assert derived[-2:] == ["transcript-r2", "captions-r2"]
