"""Measures of sound shared by the speech adapters."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def frame_rms(samples: npt.NDArray[Any], frame: int) -> npt.NDArray[np.float64]:
    """The root-mean-square level of each whole ``frame`` of samples (a shorter tail is left
    out), in the samples' own units."""
    count = len(samples) // frame
    block = samples[: count * frame].reshape(count, frame).astype(np.float64)
    return np.asarray(np.sqrt((block**2).mean(axis=1)))
