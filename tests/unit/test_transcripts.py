"""Transcripts as data: their JSON form, the captions made from them, and the word error
rate the tests and the benchmark state their bounds in."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from opendems.domain.transcripts import Segment, Transcript, Word, normal_words, sentences, word_error_rate


def words(text: str, start: float, step: float = 0.4) -> tuple[Word, ...]:
    return tuple(
        Word(start + i * step, start + i * step + 0.3, " " + w, 0.9) for i, w in enumerate(text.split())
    )


def transcript() -> Transcript:
    long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    return Transcript(
        language="en",
        language_probability=1.0,
        duration_s=20.0,
        segments=(
            Segment(1.0, 2.5, "Stop <right> there & wait.", words("Stop <right> there & wait.", 1.0, 0.3)),
            Segment(3.0, 9.8, long, words(long, 3.0)),
            Segment(12.0, 12.1, "Go.", ()),
        ),
        model={"model": "whisper tiny.en"},
    )


def test_the_json_form_keeps_everything() -> None:
    t = transcript()
    again = Transcript.from_dict(t.to_dict())
    assert again.to_dict() == t.to_dict()  # (timings kept to the millisecond)
    assert again.segments[1].words[3].start == 4.2 and again.note == t.note
    assert t.to_dict()["format"] == 1
    assert t.text.startswith("Stop <right> there & wait. one two")
    assert len(t.words) == 5 + 16


def test_captions_are_webvtt_with_short_cues_and_escaped_text() -> None:
    vtt = transcript().webvtt()
    assert vtt.startswith("WEBVTT\n\n")
    cues = [block.split("\n") for block in vtt.strip().split("\n\n")[1:]]
    assert cues[0] == ["00:00:01.000 --> 00:00:02.500", "Stop &lt;right&gt; there &amp; wait."]
    # The long segment (6.7 s) is split by its words' timings: no cue over 6 s.
    timings = [c[0] for c in cues]
    for line in timings:
        a, b = (
            sum(float(x) * f for x, f in zip(t.split(":"), (3600, 60, 1), strict=True))
            for t in line.split(" --> ")
        )
        assert 0 < b - a <= 6.0
    assert any("sixteen" in c[1] for c in cues) and any(c[1].startswith("one two") for c in cues)
    assert cues[-1] == ["00:00:12.000 --> 00:00:12.500", "Go."]  # a cue without words lasts at least 0.5 s


def test_a_pause_ends_a_cue_even_without_punctuation() -> None:
    # Heard without punctuation, two sentences come as one segment; the half second of
    # silence between them still ends the first cue, so no caption stays up over the pause.
    said = words("the car near the school", 0.4, 0.3) + words("the driver said his name", 3.6, 0.3)
    t = Transcript("en", 1.0, 6.0, (Segment(0.4, 4.9, "", said),), {"model": "whisper tiny.en"})
    cues = [block.split("\n") for block in t.webvtt().strip().split("\n\n")[1:]]
    assert cues == [
        ["00:00:00.400 --> 00:00:01.900", "the car near the school"],
        ["00:00:03.600 --> 00:00:05.100", "the driver said his name"],
    ]
    close = words("the car near the school", 0.4, 0.3) + words("the driver", 2.0, 0.3)  # 0.1 s apart
    assert len(replace(t, segments=(Segment(0.4, 2.6, "", close),)).webvtt().strip().split("\n\n")) == 2


def test_a_note_is_a_webvtt_comment() -> None:
    empty = Transcript("", 0.0, 3.0, (), note="no speech was found (silence, noise or music)")
    assert empty.webvtt() == "WEBVTT\n\nNOTE\nno speech was found (silence, noise or music)\n"
    assert empty.search_segments() == []


def test_word_error_rate() -> None:
    assert word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert word_error_rate("the cat sat on the mat", "the cat sat on a mat") == 1 / 6  # one substitution
    assert word_error_rate("the cat sat", "the cat") == 1 / 3  # one deletion
    assert word_error_rate("the cat", "the black cat") == 1 / 2  # one insertion
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "words") == 1.0
    assert normal_words("Don't  STOP, now!") == ["don't", "stop", "now"]


# -- corrections ---------------------------------------------------------------------------

import pytest  # noqa: E402

from opendems.domain.errors import Invalid  # noqa: E402
from opendems.domain.transcripts import Correction, corrected, revision_kind, revision_of  # noqa: E402


def test_a_correction_replaces_a_word_keeping_its_timing() -> None:
    t = transcript()
    # words 0-4 are the first segment's; word 5 is "one" of the second
    r2 = corrected(t, [Correction(2, "there,"), Correction(5, "Juan")])
    assert r2.revision == 2 and t.revision == 1
    assert r2.words[5].text == " Juan" and r2.words[5].start == t.words[5].start
    assert r2.segments[1].text.startswith("Juan two three")
    assert r2.changes == (
        {"index": 2, "start_s": 1.6, "was": "there", "now": "there,"},
        {"index": 5, "start_s": 3.0, "was": "one", "now": "Juan"},
    )
    assert "Juan two" in r2.webvtt() and "one two" not in r2.webvtt()
    assert r2.segments[0] == t.segments[0].__class__(**{**t.segments[0].__dict__, "words": r2.segments[0].words,
                                                          "text": "Stop <right> there, & wait."})  # fmt: skip
    # The next revision counts from this one; the JSON form keeps revision and changes.
    again = Transcript.from_dict(r2.to_dict())
    assert again.to_dict() == r2.to_dict() and again.revision == 2 and again.changes == r2.changes
    r3 = corrected(again, [Correction(0, "")])
    assert r3.revision == 3 and r3.words[0].text == " <right>" and len(r3.words) == len(t.words) - 1
    assert r3.changes == ({"index": 0, "start_s": 1.0, "was": "Stop", "now": ""},)


def test_a_segment_whose_words_are_all_taken_out_goes() -> None:
    t = transcript()
    gone = corrected(t, [Correction(i, "") for i in range(5)])
    assert len(gone.segments) == 2 and gone.segments[0].text.startswith("one two")


@pytest.mark.parametrize(
    ("corrections", "message"),
    [
        ([], "no corrections"),
        ([Correction(21, "x")], "there is no word 21: the transcript has 21 words"),
        ([Correction(-1, "x")], "there is no word -1"),
        ([Correction(1, "a"), Correction(1, "b")], "word 1 is corrected twice"),
        ([Correction(1, "a\nb")], "control characters or line breaks"),
        ([Correction(1, "a\u202eb")], "control characters"),
        ([Correction(1, "x" * 201)], "at most 200 characters"),
        ([Correction(0, " Stop ")], "change nothing"),
    ],
)
def test_bad_corrections_are_refused_with_a_reason(corrections: list[Correction], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        corrected(transcript(), corrections)


def test_revision_kinds() -> None:
    assert revision_kind("transcript", 1) == "transcript" and revision_kind("captions", 3) == "captions-r3"
    assert revision_of("transcript") == ("transcript", 1) and revision_of("captions-r12") == ("captions", 12)
    assert revision_of("transcript-r0") is None and revision_of("proxy") is None
    assert revision_of("transcript-r1x") is None


def test_the_transcript_of_a_muted_copy_hides_what_the_sound_hides() -> None:
    from opendems.domain.transcripts import silenced

    t = transcript()
    # "<right> there" (1.3-1.9) and the start of "&" (1.9-2.2) lie in the stretch 1.35-1.95;
    # "five" (4.6-4.9) in 4.7-4.8; the segment without word timings (12.0-12.1) in 11-13.
    quiet = silenced(t, [(1.35, 1.95), (4.7, 4.8), (11.0, 13.0)])
    assert quiet.segments[0].text == "Stop [redacted] wait."
    assert [w.text for w in quiet.segments[0].words] == [" Stop", " [redacted]", " wait."]
    assert quiet.segments[0].words[1].start == 1.3 and quiet.segments[0].words[1].end == pytest.approx(2.2)
    assert "five" not in quiet.segments[1].text and "four [redacted] six" in quiet.segments[1].text
    assert quiet.segments[2].text == "[redacted]"
    vtt = quiet.webvtt()
    assert "there" not in vtt and "five" not in vtt and "Go." not in vtt and "[redacted]" in vtt
    assert silenced(t, []).to_dict() == t.to_dict()


def test_a_stretch_heard_at_once_is_cut_into_its_sentences() -> None:
    said = "Dr. Smith arrived at noon. Was anyone hurt? No one we waited"
    ws = words(said, 2.0)
    # a long pause before the last words ends a segment even without punctuation
    ws = (*ws[:-2], *(replace(w, start=w.start + 2.0, end=w.end + 2.0) for w in ws[-2:]))
    stretch = Segment(1.5, 9.0, said, ws)
    parts = sentences(stretch)
    assert [p.text for p in parts] == [
        "Dr. Smith arrived at noon.",
        "Was anyone hurt?",
        "No one",
        "we waited",
    ]
    assert sum(len(p.words) for p in parts) == len(ws)
    assert [w for p in parts for w in p.words] == list(ws)
    # the first piece keeps the stretch's start, the last its end; the others follow their words
    assert parts[0].start == 1.5 and parts[-1].end == 9.0
    assert (parts[1].start, parts[1].end) == (ws[5].start, ws[7].end)
    assert all(a.end <= b.start for a, b in pairwise(parts))


def test_a_stretch_of_one_sentence_or_without_words_is_kept_as_it_is() -> None:
    one = Segment(0.0, 2.0, "Stop there.", words("Stop there.", 0.2))
    assert sentences(one) == [one]
    bare = Segment(0.0, 2.0, "Stop. There.", ())
    assert sentences(bare) == [bare]
