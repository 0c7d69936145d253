"""Who speaks when: voices told apart in a transcript, offline.

The voice model is the speaker encoder that ships inside the pinned package ``Resemblyzer``
(``resemblyzer/pretrained.pt``; GE2E, Wan et al. 2018): a three-layer LSTM over 40-band mel
spectrograms of 1.6 s of speech, giving a 256-number voice print whose cosine similarity is
high for one voice and lower between voices. The package is installed without its
dependencies (PyTorch, librosa): its file is read here by an unpickler that accepts only
tensors and dictionaries (nothing in the file can run), checked against a pinned SHA-256, and
the network is built as an ONNX graph that onnxruntime runs. The mel spectrogram is computed
as librosa computes it (Slaney mel scale and norm; compared with librosa 0.11 when written:
equal to 1e-7; librosa is not a dependency). The package is pinned in the Makefile, which
installs it.

Turns: voice prints of 1.6 s windows over each segment's speech are grouped
(average linkage over cosine distance, cut at ``SAME_VOICE``); each word takes the group of
the window nearest it; ``with_speakers`` (domain) makes turns of that. Short windows (a
one-word answer) are not grouped but join the nearest group."""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib.util
import io
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from opendems.adapters.speech.sound import frame_rms
from opendems.domain.transcripts import Transcript

SAMPLE_RATE = 16_000
PACKAGE = "resemblyzer"  # import name of the pinned distribution Resemblyzer
DISTRIBUTION = "Resemblyzer 0.1.4"
MODEL_FILE = "pretrained.pt"
MODEL_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"

N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
MELS = 40
WINDOW_FRAMES = 160  # 1.6 s: what the model hears at a time
WINDOW = WINDOW_FRAMES * HOP
STEP = WINDOW  # windows side by side (overlapping halves: twice the work, no better turns)
MIN_GROUPED_S = 1.2  # a window with less speech than this joins a group, never starts one
MIN_WINDOW_S = 0.4  # less speech than this: no voice print at all
SAME_VOICE = 0.33  # cosine distance under which windows are one voice (average linkage)
MAX_GROUPED = 1500  # windows grouped at most (evenly chosen); the rest join the nearest group
LOUDNESS_DBFS = -30.0  # quieter speech is raised to this, as the model was trained
BATCH = 256  # windows a run: larger batches use the cores better (measured: 64 -> 256, 1.5x)


class VoiceModelMissing(RuntimeError):
    """The voice model's package is missing or its file is not the pinned one."""


def model_path() -> Path:
    found = importlib.util.find_spec(PACKAGE)
    folders = list(found.submodule_search_locations or []) if found is not None else []
    if not folders:
        raise VoiceModelMissing(
            f"the voice model ships in the Python package {DISTRIBUTION}; it is not installed"
        )
    return Path(folders[0]) / MODEL_FILE


# -- reading the model file without PyTorch ------------------------------------------------

_DTYPES: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


class _Storage:
    def __init__(self, dtype: type[np.generic]) -> None:
        self.dtype = dtype
        self.data: npt.NDArray[Any] | None = None


class _TensorRef:
    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> npt.NDArray[np.float32]:
        assert self.storage.data is not None
        item = self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset :],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.array(view, dtype=np.float32)


def _tensor(storage: _Storage, offset: int, size: Any, stride: Any, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Restricted(pickle.Unpickler):
    """Only what a saved state dictionary holds: tensors, dictionaries, numbers."""

    def __init__(self, f: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"the voice model file holds {module}.{name}: refused")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and pid[1] in _DTYPES):
            raise pickle.UnpicklingError("the voice model file holds an unknown kind of storage")
        return self.storages.setdefault(str(pid[2]), _Storage(_DTYPES[pid[1]]))


def read_state(f: BinaryIO) -> dict[str, npt.NDArray[np.float32]]:
    """The ``model_state`` of a PyTorch file in the format before 1.6 (a pickle stream
    followed by the raw storages), as arrays."""
    try:
        for _ in range(3):  # magic number, protocol version, system information
            _Restricted(f, {}).load()
        storages: dict[str, _Storage] = {}
        saved = _Restricted(f, storages).load()
        keys = _Restricted(f, {}).load()
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            storage = storages[str(key)]
            size = count * np.dtype(storage.dtype).itemsize
            raw = f.read(size)
            if len(raw) != size:
                raise ValueError("the file ends early")
            storage.data = np.frombuffer(raw, storage.dtype)
        state = saved["model_state"]
        return {str(k): v.array() for k, v in state.items() if isinstance(v, _TensorRef)}
    except (pickle.UnpicklingError, ValueError, KeyError, EOFError, struct.error, TypeError) as exc:
        raise VoiceModelMissing(f"the voice model file does not read: {exc}") from None


# -- the network as an ONNX graph ----------------------------------------------------------


def _gates(w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """PyTorch orders an LSTM's gates input, forget, cell, output; ONNX input, output,
    forget, cell."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def onnx_graph(state: dict[str, npt.NDArray[np.float32]], layers: int = 3) -> bytes:
    """The encoder: mels (frames, windows, 40) -> L2-normed voice prints (windows, 256)."""
    from onnx import TensorProto, helper, numpy_helper

    hidden = state["lstm.weight_hh_l0"].shape[1]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(state["linear.weight"], "linear_w"),
        numpy_helper.from_array(state["linear.bias"], "linear_b"),
    ]
    nodes = []
    x = "mels"
    for n in range(layers):
        w = _gates(state[f"lstm.weight_ih_l{n}"])[None]
        r = _gates(state[f"lstm.weight_hh_l{n}"])[None]
        b = np.concatenate([_gates(state[f"lstm.bias_ih_l{n}"]), _gates(state[f"lstm.bias_hh_l{n}"])])[None]
        inits += [
            numpy_helper.from_array(w, f"w{n}"),
            numpy_helper.from_array(r, f"r{n}"),
            numpy_helper.from_array(b, f"b{n}"),
        ]
        nodes.append(
            helper.make_node("LSTM", [x, f"w{n}", f"r{n}", f"b{n}"], [f"y{n}", f"h{n}"], hidden_size=hidden)
        )
        if n < layers - 1:
            nodes.append(helper.make_node("Squeeze", [f"y{n}", "axis1"], [f"x{n + 1}"]))
            x = f"x{n + 1}"
    last = f"h{layers - 1}"
    nodes += [
        helper.make_node("Squeeze", [last, "axis0"], ["state"]),
        helper.make_node("Gemm", ["state", "linear_w", "linear_b"], ["raw"], transB=1),
        helper.make_node("Relu", ["raw"], ["positive"]),
        helper.make_node("LpNormalization", ["positive"], ["prints"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "voice-encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["frames", "windows", MELS])],
        [helper.make_tensor_value_info("prints", TensorProto.FLOAT, ["windows", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


# -- the mel spectrogram (as librosa.feature.melspectrogram computes it) ------------------


def _hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    step = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / step, f * 3.0 / 200.0)


def _mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    step = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(step * (m - 15.0)), m * 200.0 / 3.0)


def mel_filters(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, bands: int = MELS) -> npt.NDArray[np.float32]:
    """Triangular filters on the Slaney mel scale, each normalised to unit area."""
    freqs = np.linspace(0.0, rate / 2, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2)), bands + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    filters = np.zeros((bands, len(freqs)))
    for i in range(bands):
        filters[i] = np.maximum(0.0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    filters *= (2.0 / (edges[2 : bands + 2] - edges[:bands]))[:, None]
    return filters.astype(np.float32)


_FILTERS = mel_filters()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def mel_spectrogram(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(frames, 40) power mel spectrogram, frames centred every 10 ms (zero-padded ends)."""
    padded = np.pad(audio.astype(np.float32), (N_FFT // 2, N_FFT // 2))
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count] * _HANN
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).astype(np.float32)
    return power @ _FILTERS.T


# -- the encoder and the grouping ----------------------------------------------------------


class VoiceEncoder:
    """Voice prints of 1.6 s windows of 16 kHz speech. Thread-safe; one per process."""

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = model_path()
        if not path.is_file():
            raise VoiceModelMissing(f"the voice model file is missing: {path}")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODEL_SHA256:
            raise VoiceModelMissing(f"the voice model file {path} is not the pinned one (SHA-256 {digest})")
        state = read_state(io.BytesIO(data))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(onnx_graph(state), options, providers=["CPUExecutionProvider"])
        self.provenance = {
            "speaker_model": f"GE2E voice encoder ({DISTRIBUTION}), onnxruntime on the CPU",
            "speaker_model_sha256": MODEL_SHA256,
        }

    def prints(self, windows: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """One L2-normed voice print per window (each ``WINDOW`` samples)."""
        out = np.zeros((len(windows), 256), np.float32)
        for at in range(0, len(windows), BATCH):
            mels = np.stack([mel_spectrogram(w)[:WINDOW_FRAMES] for w in windows[at : at + BATCH]], axis=1)
            out[at : at + BATCH] = self._session.run(None, {"mels": mels})[0]
        return out


def _louder(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if len(audio) else 0.0
    if rms <= 1e-6:
        return audio
    gain_db = LOUDNESS_DBFS - 20 * np.log10(rms)
    return audio * np.float32(10 ** (gain_db / 20)) if gain_db > 0 else audio


def _voiced(speech: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """The sample positions of ``speech`` outside its pauses: 30 ms frames more than 35 dB
    below its loudest, kept where they lie within 90 ms of a louder frame (word timings take
    in some silence, which would dilute a voice print)."""
    frame = SAMPLE_RATE * 30 // 1000
    rms = frame_rms(speech, frame)
    if len(rms) == 0:
        return np.arange(len(speech))
    loud = rms > rms.max() * 10 ** (-35 / 20)
    near = np.convolve(loud.astype(np.int64), np.ones(7, np.int64), mode="same") > 0
    keep = np.repeat(near, frame)
    keep = np.concatenate([keep, np.full(len(speech) - len(keep), bool(near[-1]))])
    return np.flatnonzero(keep)


def _windows(
    pcm: npt.NDArray[np.int16], segment: int, start: float, end: float
) -> list[tuple[int, float, float, npt.NDArray[np.float32]]]:
    """(segment, centre second, seconds of speech, samples) for windows over the speech
    between ``start`` and ``end`` (its pauses left out)."""
    a, b = max(0, round(start * SAMPLE_RATE)), min(len(pcm), round(end * SAMPLE_RATE))
    raw = pcm[a:b].astype(np.float32) / np.float32(32768.0)
    where = _voiced(raw)
    speech = _louder(raw[where])
    if len(speech) < MIN_WINDOW_S * SAMPLE_RATE:
        return []

    def second(at: int) -> float:
        return (a + int(where[min(at, len(where) - 1)])) / SAMPLE_RATE

    if len(speech) <= WINDOW:
        padded = np.pad(speech, (0, WINDOW - len(speech)))
        return [(segment, second(len(speech) // 2), len(speech) / SAMPLE_RATE, padded)]
    starts = list(range(0, len(speech) - WINDOW + 1, STEP))
    if starts[-1] != len(speech) - WINDOW:
        starts.append(len(speech) - WINDOW)
    return [(segment, second(s + WINDOW // 2), WINDOW / SAMPLE_RATE, speech[s : s + WINDOW]) for s in starts]


def _groups(prints: npt.NDArray[np.float32], grouped: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """A group number per window: the full windows are grouped by average linkage, groups of
    one are dropped, and every window joins the group whose centre it is nearest."""
    from scipy.cluster.hierarchy import fcluster, linkage

    chosen = np.flatnonzero(grouped)
    if len(chosen) > MAX_GROUPED:
        chosen = chosen[np.linspace(0, len(chosen) - 1, MAX_GROUPED).round().astype(int)]
    if len(chosen) < 2:
        return np.zeros(len(prints), np.int64)
    tree = linkage(prints[chosen].astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=SAME_VOICE, criterion="distance")
    centres = []
    for label in np.unique(labels):
        members = prints[chosen[labels == label]]
        if len(members) >= 2:
            centre = members.mean(axis=0)
            centres.append(centre / (np.linalg.norm(centre) or 1.0))
    if len(centres) < 2:
        return np.zeros(len(prints), np.int64)
    return np.asarray(np.argmax(prints @ np.stack(centres).T, axis=1), np.int64)


def word_voices(
    encoder: VoiceEncoder, pcm: npt.NDArray[np.int16], transcript: Transcript
) -> list[int | None]:
    """A voice (group number) per word of ``transcript`` (in order), None where the speech
    around it is too short to tell; ``pcm``: the recording as 16 kHz 16-bit samples."""
    windows: list[tuple[int, float, float]] = []  # (segment, centre second, seconds of speech)
    parts: list[npt.NDArray[np.float32]] = []
    batch: list[npt.NDArray[np.float32]] = []
    for n, s in enumerate(transcript.segments):
        if not s.words:
            continue
        for segment, centre, seconds, samples in _windows(pcm, n, s.words[0].start, s.words[-1].end):
            windows.append((segment, centre, seconds))
            batch.append(samples)
            if len(batch) == BATCH:  # the samples of a batch at a time: hours of speech fit
                parts.append(encoder.prints(batch))
                batch = []
    if batch:
        parts.append(encoder.prints(batch))
    prints = np.concatenate(parts) if parts else np.zeros((0, 256), np.float32)
    # A window the model has no print for (all of it cut to zero) tells nothing.
    usable = np.isfinite(prints).all(axis=1) & (np.linalg.norm(prints, axis=1) > 0.5)
    windows = [w for w, ok in zip(windows, usable, strict=True) if ok]
    prints = prints[usable]
    if not windows:
        return [None] * len(transcript.words)
    groups = _groups(prints, np.array([w[2] >= MIN_GROUPED_S for w in windows]))
    by_segment: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
    for (segment, centre, _), group in zip(windows, groups, strict=True):
        by_segment[segment].append((centre, int(group)))
    voices: list[int | None] = []
    for n, s in enumerate(transcript.segments):
        near = by_segment.get(n, [])
        for w in s.words:
            middle = (w.start + w.end) / 2
            voices.append(min(near, key=lambda c: abs(c[0] - middle))[1] if near else None)
    return voices


@functools.cache
def shared_encoder() -> VoiceEncoder:
    """One encoder per process, made on first use."""
    return VoiceEncoder()
