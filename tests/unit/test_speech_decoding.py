"""How the speech model decodes is chosen from the sound: clean speech gets the text just
heard as context, noisy speech is heard a stretch at a time with a wider beam."""

from __future__ import annotations

import numpy as np

from opendems.adapters.speech.whisper import SAMPLE_RATE, decoding_for, signal_to_noise_db
from tests.speech import pink_noise


def _talk(noise_rms: float, seconds: int = 20) -> np.ndarray:
    """Bursts of a loud tone (RMS 0.1 of full scale) with pauses, over noise."""
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    speech = 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 220 * t) * ((t % 2.0) < 1.2)
    sound = speech + pink_noise(len(t), seed=4) * noise_rms
    return (np.clip(sound, -1, 1) * 32767).astype(np.int16)


def test_clean_speech_is_decoded_with_context_and_noisy_speech_without() -> None:
    clean = decoding_for(_talk(0.0))
    assert clean.snr_db is None  # digital silence between the words: no noise floor
    assert (clean.beam_size, clean.previous_text) == (3, True)

    quiet_room = _talk(0.1 / 10 ** (40 / 20))
    assert 35 <= (signal_to_noise_db(quiet_room) or 0) <= 50
    assert decoding_for(quiet_room).previous_text

    street = _talk(0.1 / 10 ** (10 / 20))
    snr = signal_to_noise_db(street)
    assert snr is not None and 5 <= snr <= 20
    noisy = decoding_for(street)
    assert (noisy.beam_size, noisy.previous_text) == (5, False)
    assert noisy.provenance() == {
        "beam_size": 5,
        "previous_text_as_context": False,
        "signal_to_noise_db": snr,
    }


def test_a_recording_too_short_to_judge_is_taken_as_clean() -> None:
    assert signal_to_noise_db(np.zeros(100, np.int16)) is None
