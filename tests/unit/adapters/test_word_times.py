"""Word times follow the sound: a pause that alignment handed to a word beside it is taken
back, a soft edge is kept, and a pause that is not quiet leaves the word as it was."""

from __future__ import annotations

import numpy as np
import pytest

from opendems.adapters.speech.whisper import EDGE_PAD_S, SAMPLE_RATE, fit_to_sound
from opendems.domain.transcripts import Word


def sound(*parts: tuple[float, float]) -> np.ndarray:
    """Consecutive stretches of (seconds, amplitude) of a 220 Hz tone; amplitude 0 is silence."""
    pieces = []
    for seconds, amplitude in parts:
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pieces.append(amplitude * np.sin(2 * np.pi * 220 * t))
    return np.concatenate(pieces).astype(np.float32)


def test_a_trailing_pause_is_taken_back_with_a_margin() -> None:
    audio = sound((0.5, 0.0), (0.4, 0.5), (0.7, 0.0), (0.4, 0.5))
    smith, nobody = fit_to_sound([Word(0.5, 1.6, " Smith", 0.9), Word(1.6, 2.0, " Nobody", 0.9)], audio)
    assert smith.start == 0.5 and smith.end == pytest.approx(0.9 + EDGE_PAD_S, abs=0.011)
    assert nobody == Word(1.6, 2.0, " Nobody", 0.9)  # all sound: untouched


def test_a_leading_pause_is_taken_back_with_a_margin() -> None:
    audio = sound((0.5, 0.0), (0.6, 0.0), (0.4, 0.5))
    (the,) = fit_to_sound([Word(0.5, 1.5, " The", 0.9)], audio)
    assert the.start == pytest.approx(1.1 - EDGE_PAD_S, abs=0.011) and the.end == 1.5


def test_a_soft_ending_and_a_short_pause_stay_in_the_word() -> None:
    # A consonant 30 dB below the vowel is sound; 0.15 s of silence is too short to take back.
    audio = sound((0.4, 0.5), (0.2, 0.5 * 10 ** (-30 / 20)), (0.15, 0.0))
    (word,) = fit_to_sound([Word(0.0, 0.75, " Smith", 0.9)], audio)
    assert word == Word(0.0, 0.75, " Smith", 0.9)


def test_a_pause_full_of_street_noise_is_left_alone() -> None:
    audio = sound((0.4, 0.5), (0.8, 0.05))  # 20 dB below the word: not quiet enough to judge
    (word,) = fit_to_sound([Word(0.0, 1.2, " stop", 0.9)], audio)
    assert word == Word(0.0, 1.2, " stop", 0.9)


def test_a_word_over_silence_or_past_the_end_keeps_its_times() -> None:
    audio = sound((1.0, 0.0))
    assert fit_to_sound([Word(0.2, 0.8, " uh", 0.1), Word(1.2, 1.5, " late", 0.1)], audio) == (
        Word(0.2, 0.8, " uh", 0.1),
        Word(1.2, 1.5, " late", 0.1),
    )
