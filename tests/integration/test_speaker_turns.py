"""Speaker turns on real speech: a conversation spoken by two espeak-ng voices (a man's and a
woman's) is transcribed by the shipped Whisper model and its voices told apart by the
shipped voice encoder; one voice alone gives no turns."""

from __future__ import annotations

import io
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from opendems.adapters.speech import speakers, whisper
from opendems.domain.transcripts import Transcript
from tests.speech import MORE, SCRIPT, Spoken, speak

MAN, WOMAN = "en-us", "en-us+f3"
PHRASES = (SCRIPT + MORE)[:8]
ATTRIBUTED_BOUND = 0.9  # of the words, at least this share with the right speaker (measured 1.0)


def _speaker_of_phrase(t: Transcript, said: Spoken) -> list[str | None]:
    return [
        s.speaker
        for s in t.segments
        for w in s.words
        if said.start - 0.3 <= (w.start + w.end) / 2 <= said.end + 0.3
    ]


@pytest.mark.parametrize("gap_s", [0.8, 0.25], ids=["pauses", "quick-exchange"])
def test_two_voices_are_told_apart_turn_by_turn(tmp_path: Path, gap_s: float) -> None:
    path = tmp_path / "conversation.wav"
    voices = [MAN if n % 2 == 0 else WOMAN for n in range(len(PHRASES))]
    spoken = speak(path, PHRASES, voices=voices, gap_s=gap_s)
    t = whisper.transcriber("tiny.en").transcribe(path)
    names = {s.speaker for s in t.segments}
    assert names == {"Speaker 1", "Speaker 2"}, [(s.speaker, s.text) for s in t.segments]
    assert t.segments[0].speaker == "Speaker 1"  # named in the order they are first heard
    # Each voice is one speaker: the label most of the man's words carry is not the woman's.
    heard: dict[str, Counter[str | None]] = {MAN: Counter(), WOMAN: Counter()}
    for said, voice in zip(spoken, voices, strict=True):
        heard[voice].update(_speaker_of_phrase(t, said))
    man_label = heard[MAN].most_common(1)[0][0]
    woman_label = heard[WOMAN].most_common(1)[0][0]
    assert man_label != woman_label
    right = heard[MAN][man_label] + heard[WOMAN][woman_label]
    total = sum(heard[MAN].values()) + sum(heard[WOMAN].values())
    assert right / total >= ATTRIBUTED_BOUND, heard
    # Every turn is spoken by one voice: a segment never holds both.
    for s in t.segments:
        assert s.speaker in (man_label, woman_label)
    assert t.model["speaker_model_sha256"] == speakers.MODEL_SHA256
    assert f"<v {man_label}>" in t.webvtt() and f"<v {woman_label}>" in t.webvtt()


def test_one_voice_gives_no_turns(tmp_path: Path) -> None:
    path = tmp_path / "statement.wav"
    speak(path, PHRASES)
    t = whisper.transcriber("tiny.en").transcribe(path)
    assert t.words and all(s.speaker is None for s in t.segments)
    assert "<v " not in t.webvtt()
    assert t.model["speaker_model"].startswith("GE2E voice encoder")


def test_the_voice_model_file_is_read_without_running_anything_in_it() -> None:
    class Sneaky:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("echo run",))

    stream = io.BytesIO()
    for head in (1, 1001, {"little_endian": True}):
        pickle.dump(head, stream)
    pickle.dump({"model_state": Sneaky()}, stream)
    stream.seek(0)
    with pytest.raises(speakers.VoiceModelMissing, match=r"posix\.system: refused"):
        speakers.read_state(stream)


def test_a_voice_model_file_that_is_not_the_pinned_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = tmp_path / "pretrained.pt"
    data = bytearray(speakers.model_path().read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(speakers, "model_path", lambda: changed)
    with pytest.raises(speakers.VoiceModelMissing, match="not the pinned one"):
        speakers.VoiceEncoder()


def test_without_the_voice_model_the_transcript_still_comes_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> speakers.VoiceEncoder:
        raise speakers.VoiceModelMissing("the voice model ships in the Python package Resemblyzer 0.1.4")

    monkeypatch.setattr(speakers, "shared_encoder", missing)
    path = tmp_path / "statement.wav"
    speak(path, PHRASES[:2])
    t = whisper.transcriber("tiny.en").transcribe(path)
    assert t.words and all(s.speaker is None for s in t.segments)
    assert t.model["speakers"].startswith("not told apart: the voice model ships in")


def test_words_over_silence_or_a_steady_tone_get_no_voice_and_nothing_breaks() -> None:
    from opendems.domain.transcripts import Segment, Word

    rate = speakers.SAMPLE_RATE
    t = np.arange(6 * rate) / rate
    pcm = np.zeros(12 * rate, np.int16)
    pcm[6 * rate :] = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    words = tuple(Word(s, s + 0.5, f" w{n}", 0.5) for n, s in enumerate((0.5, 1.5, 2.5, 6.5, 8.0, 10.0)))
    transcript = Transcript(
        "en", 1.0, 12.0, (Segment(0.5, 3.0, "", words[:3]), Segment(6.5, 10.5, "", words[3:]))
    )
    voices = speakers.word_voices(speakers.shared_encoder(), pcm, transcript)
    assert len(voices) == 6 and voices[:3] == [None, None, None]
