"""Licence plates in video frames: a first pass with OpenCV's Haar cascade for number plates
(``haarcascade_russian_plate_number.xml``, shipped inside the OpenCV wheel; nothing is
downloaded). It finds plates of the common long format seen more or less head-on and misses
many on real footage (angled, dirty, small, other formats), so its boxes only start the
review: a person adds the rest as drawn boxes.

The cascade gives no score; each plate is reported with the number of neighbouring windows
that agreed on it as a confidence, mapped into 0..1 so that the tracker can weigh it like a
face detector's score."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from opendems.domain.tracking import Detection

CASCADE_FILE = "haarcascade_russian_plate_number.xml"
MODEL_NAME = "OpenCV Haar cascade (number plates)"
MIN_NEIGHBOURS = 4  # fewer lets shadows and text on clothing through
SCALE_FACTOR = 1.15  # 1.1 finds no more plates here and takes half as long again
MIN_SIZE = (36, 10)  # in the analysed frame: a plate smaller than this cannot be read anyway
FULL_AGREEMENT = 20  # neighbours at which the confidence reaches 1


class PlateDetector:
    """Plates in RGB frames; one instance per process. A cascade object is not thread-safe,
    so each thread that calls :meth:`detect` loads one of its own (a few milliseconds, once):
    several threads can then look for plates at once."""

    def __init__(self) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE_FILE  # type: ignore[attr-defined]
        if not path.is_file():
            raise RuntimeError(f"OpenCV's plate cascade {CASCADE_FILE} is not installed with OpenCV")
        self._path = path
        self._local = threading.local()
        self._cascade()  # refuse a file OpenCV cannot load now, not in the middle of a job
        self._provenance = {
            "plate_model": MODEL_NAME,
            "plate_model_file": CASCADE_FILE,
            "plate_model_version": cv2.__version__,
            "plate_model_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "plate_min_neighbours": MIN_NEIGHBOURS,
        }

    def _cascade(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(str(self._path))
            if cascade.empty():
                raise RuntimeError(f"OpenCV could not load {self._path}")
            self._local.cascade = cascade
        return cascade

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)

    def detect(self, frame: npt.NDArray[np.uint8]) -> list[Detection]:
        """Plates in one RGB frame, in its own pixels."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
        boxes, neighbours = self._cascade().detectMultiScale2(
            gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, minSize=MIN_SIZE
        )
        return [
            Detection(float(x), float(y), float(x + w), float(y + h), min(1.0, float(n) / FULL_AGREEMENT))
            for (x, y, w, h), n in zip(
                np.asarray(boxes).reshape(-1, 4), np.asarray(neighbours).reshape(-1), strict=True
            )
        ]


_DETECTOR: list[PlateDetector] = []
_LOCK = threading.Lock()


def plate_detector() -> PlateDetector:
    with _LOCK:
        if not _DETECTOR:
            _DETECTOR.append(PlateDetector())
        return _DETECTOR[0]
