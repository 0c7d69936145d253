"""A photo as the tools that look at it need it: decoded, turned upright as its EXIF says."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from opendems.domain.jobs import PermanentFailure


def upright_rgb(src: BinaryIO | str | Path, doing: str) -> npt.NDArray[np.uint8]:
    """The photo's first frame as RGB pixels (height, width, 3), upright; a clear
    ``PermanentFailure`` for a file that does not decode or is too large to ``doing`` safely."""
    from PIL import Image, ImageOps

    try:
        with Image.open(src) as img:
            img.load()
            upright = ImageOps.exif_transpose(img).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise PermanentFailure(f"the image is too large to {doing} safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PermanentFailure(f"the image does not decode ({exc})") from None
    return np.asarray(upright, dtype=np.uint8).copy()
