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
    voices: list[str] | None = None,
) -> list[Spoken]:
    """Write a 16-bit mono WAV of ``phrases`` spoken one after another, ``gap_s`` of silence
    between them (pink noise at RMS ``noise`` under all of it, if asked); return when each is
    spoken. ``voices``: an espeak-ng voice per phrase (a conversation), else ``voice``."""
    parts: list[np.ndarray] = [np.zeros(round(lead_s * RATE), np.float32)]
    spoken: list[Spoken] = []
    at = lead_s
    for n, text in enumerate(phrases):
        sound = _phrase(text, voices[n] if voices else voice, speed)
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
# More of what officers say, for recordings longer than the script (the benchmarks').
MORE = [
    "The caller reported a loud argument in the apartment upstairs.",
    "Both vehicles were moved to the side of the road before we arrived.",
    "She could not remember the colour of the truck that left the scene.",
    "The store manager gave us a copy of the receipt and the camera footage.",
    "I advised him of his rights and he said that he understood them.",
    "The dog was barking at the back door when the neighbours came out.",
    "We searched the garage and the shed behind the house.",
    "The victim was taken to the hospital with injuries to her arm.",
]


def talking_video(wav: Path, out: Path, *, width: int = 320, height: int = 240, fps: int = 15) -> None:
    """An H.264/AAC MP4 of plain moving frames with ``wav`` as its sound (a body camera's
    recording, as far as the redaction is concerned)."""
    from fractions import Fraction

    import av

    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    seconds = len(samples) / rate
    with av.open(str(out), "w", format="mp4") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = np.full((height, width, 3), (i * 3) % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024].reshape(1, -1)
            af = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            af.sample_rate, af.pts = rate, start
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)


def speech_wer(reference: str, hypothesis: str) -> float:
    """Word error rate after Whisper's English text normaliser (spelling variants such as
    colour/color, numbers written as figures or words, punctuation): the measure speech
    recognition results are reported in."""
    from whisper_normalizer.english import EnglishTextNormalizer

    from opendems.domain.transcripts import word_error_rate

    normal = EnglishTextNormalizer()
    return word_error_rate(normal(reference), normal(hypothesis))
