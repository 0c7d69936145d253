"""Speech made in the tests from a known script: Debian's espeak-ng speaks each phrase, and
the phrases are joined with silences between them, so that when each phrase is spoken is
known to the millisecond (each phrase's sound is measured, not guessed)."""

from __future__ import annotations

import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 22_050  # espeak-ng's own rate


@dataclass(frozen=True)
class Spoken:
    text: str
    start: float  # seconds: where the phrase's sound begins and ends in the recording
    end: float


def _phrase(text: str, voice: str, speed: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "phrase.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True)
        with wave.open(str(out)) as w:
            assert w.getframerate() == RATE and w.getnchannels() == 1
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    loud = np.nonzero(np.abs(samples) > 0.01)[0]
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples[:0]


def speak(
    path: Path,
    phrases: list[str],
    *,
    gap_s: float = 0.8,
    lead_s: float = 0.5,
    voice: str = "en-us",
    speed: int = 150,
    noise: float = 0.0,
    seed: int = 0,
) -> list[Spoken]:
    """Write a 16-bit mono WAV of ``phrases`` spoken one after another, ``gap_s`` of silence
    between them (pink noise at RMS ``noise`` under all of it, if asked); return when each is
    spoken."""
    parts: list[np.ndarray] = [np.zeros(round(lead_s * RATE), np.float32)]
    spoken: list[Spoken] = []
    at = lead_s
    for text in phrases:
        sound = _phrase(text, voice, speed)
        spoken.append(Spoken(text, at, at + len(sound) / RATE))
        parts += [sound, np.zeros(round(gap_s * RATE), np.float32)]
        at += (len(sound) + round(gap_s * RATE)) / RATE
    audio = np.concatenate(parts)
    if noise:
        audio = audio + pink_noise(len(audio), seed) * noise
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return spoken


def pink_noise(n: int, seed: int = 0) -> np.ndarray:
    """Pink (1/f) noise of unit RMS: white noise shaped in the frequency domain."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n).astype(np.float32)
    return pink / float(np.sqrt(np.mean(pink**2)))


SCRIPT = [
    "The officer arrived at the corner of Maple Street and Pine Avenue.",
    "A man in a red jacket was standing next to the blue car.",
    "He said his name was John Smith and that he lived nearby.",
    "The witness told us the suspect ran toward the river.",
    "We found a black backpack under the bench in the park.",
    "The sergeant asked everyone to stay calm and wait outside.",
]
