"""Speaker turns made from a voice per word (domain), and the captions that carry them."""

from __future__ import annotations

import pytest

from opendems.domain.transcripts import Segment, Transcript, Word, with_speakers


def _segment(start: float, *texts: str, step: float = 0.5) -> Segment:
    words = tuple(Word(start + n * step, start + n * step + 0.4, f" {t}", 0.9) for n, t in enumerate(texts))
    return Segment(start, words[-1].end, "".join(w.text for w in words).strip(), words)


def _transcript(*segments: Segment) -> Transcript:
    return Transcript("en", 1.0, 30.0, segments)


def test_a_segment_where_the_voice_changes_is_split_and_speakers_are_named_in_order() -> None:
    t = _transcript(
        _segment(0.0, "where", "were", "you", "last", "night", "at", "home", "all", "evening"),
        _segment(6.0, "can", "anyone", "confirm", "that"),
    )
    voices = [7, 7, 7, 7, 7, 3, 3, 3, 3, 7, 7, 7, 7]
    out = with_speakers(t, voices)
    assert [(s.speaker, s.text) for s in out.segments] == [
        ("Speaker 1", "where were you last night"),
        ("Speaker 2", "at home all evening"),
        ("Speaker 1", "can anyone confirm that"),
    ]
    first, second = out.segments[0], out.segments[1]
    assert first.start == 0.0 and first.end == first.words[-1].end
    assert second.start == second.words[0].start == 2.5
    assert out.words == t.words  # the words and their order are kept: corrections still apply


def test_a_short_change_of_voice_inside_a_segment_is_taken_for_noise() -> None:
    t = _transcript(_segment(0.0, "the", "car", "was", "blue", "and", "parked", step=0.3))
    out = with_speakers(t, [1, 1, 2, 1, 1, 1])  # "was": 0.4 s
    assert out == t  # one voice left: nothing to tell apart


def test_a_whole_short_segment_keeps_its_own_voice() -> None:
    t = _transcript(_segment(0.0, "did", "you", "see", "him"), _segment(3.0, "no"))
    out = with_speakers(t, [1, 1, 1, 1, 2])
    assert [s.speaker for s in out.segments] == ["Speaker 1", "Speaker 2"]


def test_words_of_unknown_voice_take_their_neighbours_and_one_voice_changes_nothing() -> None:
    t = _transcript(_segment(0.0, "hello", "there"), _segment(2.0, "yes"))
    assert with_speakers(t, [None, 4, None]) == t
    assert with_speakers(t, [None, None, None]) == t
    out = with_speakers(t, [None, 4, 5])
    assert [s.speaker for s in out.segments] == ["Speaker 1", "Speaker 2"]
    with pytest.raises(ValueError, match="2 voices for 3 words"):
        with_speakers(t, [1, 2])


def test_captions_carry_the_speaker_as_a_webvtt_voice() -> None:
    t = _transcript(_segment(0.0, "stop", "right", "there"), _segment(3.0, "okay", "okay"))
    out = with_speakers(t, [1, 1, 1, 2, 2])
    vtt = out.webvtt()
    assert "<v Speaker 1>stop right there" in vtt and "<v Speaker 2>okay okay" in vtt
    assert Transcript.from_dict(out.to_dict()) == out  # the speaker is kept in the JSON
