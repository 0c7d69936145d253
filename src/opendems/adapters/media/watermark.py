"""Visible watermarks burned into shared copies of videos and photos.

A share made with the watermark option streams and downloads copies that carry its lines
(who it was shared with, the share's id, when) in the picture itself; the original is only
read. The mark has two parts, both white with a dark outline so they read on any scene:

* a **band** low in the picture: the lines at 85 % opacity over a faint dark backing,
  sized to the frame's height (shrunk, then wrapped, where a line would not fit across);
* a **diagonal**: the same lines, faint (25 %), corner to corner across the picture above
  the band, so a crop that drops the band still leaves the mark.

The mark is drawn once, upright as the picture is displayed (EXIF orientation for photos,
display rotation for phone videos), with Pillow and Bitstream Vera Sans Bold (the TrueType
font reportlab ships). For a video it is then turned into per-pixel weights on the YUV 4:2:0
planes and blended into each decoded frame with integer numpy arithmetic, touching only the
pixels it covers (dense blocks where the text is dense, scattered pixels elsewhere); no
colour conversion either way. Decoding, blending and encoding run in three threads, as the
redaction render does (whose pipeline helpers are reused); x264 uses threads of its own.
"""

from __future__ import annotations

import functools
import io
import math
import queue
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
import numpy.typing as npt
import reportlab
from PIL import Image, ImageDraw, ImageFont, ImageOps

from opendems.adapters.media.redact import _drain, _stage, _stop_stages
from opendems.adapters.media.transcode import (
    KEYFRAME_SECONDS,
    NO_PICTURE_TYPE,
    PROXY_CRF,
    PROXY_PRESET,
    TOOL_AV,
    TOOL_PIL,
    _first_rotation,
    aac_output,
)
from opendems.domain.jobs import NoPicture, PermanentFailure

FONT_PATH = Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf"
FONT_NAME = "Bitstream Vera Sans Bold"
TOOL = f"{TOOL_AV} / {TOOL_PIL} / {FONT_NAME}"

VIDEO_PRESET = PROXY_PRESET
VIDEO_CRF = PROXY_CRF  # as the proxies people stream: at 1080p, 20 costs x264 a third more time
JPEG_QUALITY = 92

BAND_TEXT = 0.034  # the band's text height, as a share of the picture's (displayed) height
BAND_MIN_PX = 9  # never smaller, whatever the picture (then lines are wrapped instead)
BAND_MAX_WIDTH = 0.94  # of the picture's width
BAND_MARGIN = 0.045  # between the band and the bottom edge, as a share of the height
BAND_OPACITY = 0.85
BAND_BACKING = 0.35  # the dark backing behind the band's text
DIAGONAL_LENGTH = 0.72  # the diagonal's widest line spans this share of the picture's diagonal
DIAGONAL_MAX_TEXT = 0.085  # of the height
DIAGONAL_MIN_SCALE = 1.0  # at least as large as the band's text
DIAGONAL_MIN_PX = 12
DIAGONAL_OPACITY = 0.25
LINE_SPACING = 1.3
_STRIP = 16  # rows per strip when deciding dense blocks against scattered pixels
_DENSE = 0.35  # a strip's block is blended whole when this share of it is covered


# -- the text --------------------------------------------------------------------------------------


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size)


@functools.cache
def _charset() -> frozenset[int]:
    from reportlab.pdfbase.ttfonts import TTFontFile

    return frozenset(c for c, glyph in TTFontFile(str(FONT_PATH)).charToGlyph.items() if glyph)


def printable(line: str) -> str:
    """``line`` as the font can draw it: a letter it lacks is written without its accent
    ("ą" as "a"), anything else it lacks as "?", control characters as spaces."""
    have = _charset()
    out = []
    for ch in line:
        if unicodedata.category(ch).startswith("C") or ch.isspace():
            out.append(" ")
        elif ord(ch) in have:
            out.append(ch)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(ord(c) in have for c in base) else "?")
    return " ".join("".join(out).split())


def _clean(lines: list[str]) -> list[str]:
    drawn = [printable(line) for line in lines]
    drawn = [line for line in drawn if line]
    if not drawn:
        raise ValueError("a watermark needs at least one line of text")
    return drawn


def _wrap(lines: list[str], font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Break lines wider than ``width``: between their " · " parts first, then between words
    (a word wider on its own stays whole)."""
    out: list[str] = []
    for line in lines:
        current = ""
        parts = line.split(" · ")
        for part in parts:
            candidate = f"{current} · {part}" if current else part
            if font.getlength(candidate) <= width:
                current = candidate
                continue
            if current:
                out.append(current)
            current = ""
            for word in part.split(" "):
                candidate = f"{current} {word}" if current else word
                if current and font.getlength(candidate) > width:
                    out.append(current)
                    current = word
                else:
                    current = candidate
        out.append(current)
    return [line for line in out if line]


def _text_block(lines: list[str], size: int, opacity: float, backing: float = 0.0) -> Image.Image:
    """The lines, centred, white with a dark outline (and a dark backing), as an RGBA
    layer just large enough for them."""
    font = _font(size)
    stroke = max(1, round(size / 11))
    pad = round(size * 0.45) if backing else 0
    step = round(size * LINE_SPACING)
    widths = [math.ceil(font.getlength(line)) for line in lines]
    ascent, descent = font.getmetrics()
    width = max(widths) + 2 * (stroke + pad)
    height = step * (len(lines) - 1) + ascent + descent + 2 * (stroke + pad)
    fill = Image.new("L", (width, height), 0)  # where the text is white
    cover = Image.new("L", (width, height), 0)  # where it is drawn at all (text and outline)
    draw_fill, draw_cover = ImageDraw.Draw(fill), ImageDraw.Draw(cover)
    for n, (line, w) in enumerate(zip(lines, widths, strict=True)):
        xy = ((width - w) / 2, pad + stroke + n * step)
        draw_fill.text(xy, line, font=font, fill=255)
        draw_cover.text(xy, line, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    alpha = np.asarray(cover, dtype=np.float32) / 255 * opacity
    if backing:
        alpha = alpha + backing * (1 - alpha)  # the text over its backing
    layer = np.empty((height, width, 4), dtype=np.uint8)
    layer[..., :3] = np.asarray(fill)[..., None]
    layer[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return Image.fromarray(layer, "RGBA")


@dataclass(frozen=True)
class Layout:
    """The mark's layers for a picture of ``width`` x ``height`` (as displayed), each with the
    place of its top-left corner; the band's box (x1, y1, x2, y2) for the record."""

    width: int
    height: int
    layers: tuple[tuple[Image.Image, tuple[int, int]], ...]
    band: tuple[int, int, int, int]
    band_text_px: int
    lines: tuple[str, ...]


def layout(width: int, height: int, lines: list[str]) -> Layout:
    drawn = _clean(lines)
    # The band: sized to the height, shrunk to fit the width, wrapped below the floor.
    room = width * BAND_MAX_WIDTH
    size = max(BAND_MIN_PX, round(height * BAND_TEXT))
    widest = max(_font(size).getlength(line) for line in drawn) + 2 * size
    if widest > room:
        size = max(BAND_MIN_PX, math.floor(size * room / widest))
    band_lines = _wrap(drawn, _font(size), room - 2 * size)
    band = _text_block(band_lines, size, BAND_OPACITY, BAND_BACKING)
    bx = (width - band.width) // 2
    by = max(0, height - round(height * BAND_MARGIN) - band.height)
    # The diagonal: corner to corner of the picture above the band, rising to the right,
    # faint; at least as large as the band's text (wrapped where the lines are long for it).
    above = max(by, height // 2)
    angle = math.degrees(math.atan2(above, width))
    diagonal = math.hypot(width, above) * DIAGONAL_LENGTH
    unit = max(_font(100).getlength(line) for line in drawn) / 100
    dsize = min(
        max(math.floor(diagonal / max(unit, 1e-6)), round(size * DIAGONAL_MIN_SCALE), DIAGONAL_MIN_PX),
        max(round(height * DIAGONAL_MAX_TEXT), DIAGONAL_MIN_PX),
    )
    diag_lines = _wrap(drawn, _font(dsize), diagonal)
    diag = _text_block(diag_lines, dsize, DIAGONAL_OPACITY).rotate(
        angle, expand=True, resample=Image.Resampling.BICUBIC
    )
    dx, dy = (width - diag.width) // 2, (above - diag.height) // 2
    layers = tuple(_clip(img, pos, width, height) for img, pos in ((diag, (dx, dy)), (band, (bx, by))))
    return Layout(
        width,
        height,
        tuple(layer for layer in layers if layer is not None),
        (max(0, bx), by, min(width, bx + band.width), min(height, by + band.height)),
        size,
        tuple(band_lines),
    )


def _clip(
    img: Image.Image, pos: tuple[int, int], width: int, height: int
) -> tuple[Image.Image, tuple[int, int]] | None:
    """The part of a layer that falls inside the picture."""
    x, y = pos
    box = (max(0, -x), max(0, -y), min(img.width, width - x), min(img.height, height - y))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return img.crop(box), (x + box[0], y + box[1])


def overlay(mark: Layout) -> Image.Image:
    """The whole mark on a transparent RGBA picture of the layout's size."""
    canvas = Image.new("RGBA", (mark.width, mark.height), (0, 0, 0, 0))
    for img, pos in mark.layers:
        canvas.alpha_composite(img, dest=pos)
    return canvas


# -- photos ----------------------------------------------------------------------------------------


def watermark_image(src: BinaryIO, lines: list[str]) -> tuple[bytes, dict[str, Any]]:
    """The photo with the mark, upright as EXIF orientation says and without the original's
    metadata (GPS, device serials), as the previews are: PNG where the source is a PNG or has
    transparency, JPEG otherwise. The first frame of an animated image."""
    try:
        with Image.open(src) as img:
            img.load()
            source_format = (img.format or "").upper()
            upright = ImageOps.exif_transpose(img)
            alpha = upright.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in upright.info
            base = upright.convert("RGBA")
    except Image.DecompressionBombError as exc:
        raise PermanentFailure(f"the image is too large to watermark safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PermanentFailure(f"the image does not decode ({exc})") from None
    mark = layout(base.width, base.height, lines)
    for layer, pos in mark.layers:
        base.alpha_composite(layer, dest=pos)
    png = alpha or source_format == "PNG"
    out = io.BytesIO()
    if png:
        (base if alpha else base.convert("RGB")).save(out, format="PNG")
    else:
        base.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    params: dict[str, Any] = {
        "format": "png" if png else "jpeg",
        "width": base.width,
        "height": base.height,
        "lines": list(lines),
        "drawn_lines": list(mark.lines),
        "band": list(mark.band),
        "font": FONT_NAME,
        "exif_orientation_applied": True,
        "metadata_stripped": True,
    }
    if not png:
        params["quality"] = JPEG_QUALITY
    return out.getvalue(), params


# -- videos ----------------------------------------------------------------------------------------


class _PlaneBlend:
    """Blends one plane toward a target, pixel by pixel: ``p' = p (1 - a) + t a``, in 7-bit
    fixed point (``(p * inv + add) >> 7``, which leaves uncovered pixels exactly as they were).
    Rows go in strips: a strip's covered block is blended whole when the mark is dense there,
    its covered pixels one by one when it is sparse (the diagonal's strokes)."""

    def __init__(self, alpha: npt.NDArray[np.floating[Any]], target: npt.NDArray[np.floating[Any]]) -> None:
        inv = np.round((1 - alpha) * 128).astype(np.uint16)
        add = (np.round(alpha * target * 128) + 64).astype(np.uint16)
        touched = inv < 128
        width = alpha.shape[1]
        self.blocks: list[tuple[slice, slice, npt.NDArray[np.uint16], npt.NDArray[np.uint16]]] = []
        scattered: list[npt.NDArray[np.intp]] = []
        for y0 in range(0, alpha.shape[0], _STRIP):
            strip = touched[y0 : y0 + _STRIP]
            cols = np.flatnonzero(strip.any(axis=0))
            if not len(cols):
                continue
            x0, x1 = int(cols[0]), int(cols[-1]) + 1
            count = int(strip.sum())
            if count >= _DENSE * strip.shape[0] * (x1 - x0):
                rows, cols_ = slice(y0, y0 + strip.shape[0]), slice(x0, x1)
                self.blocks.append((rows, cols_, inv[rows, cols_].copy(), add[rows, cols_].copy()))
            else:
                ys, xs = np.nonzero(strip)
                scattered.append((ys + y0) * width + xs)
        self.index = np.concatenate(scattered) if scattered else np.empty(0, dtype=np.intp)
        self.inv = inv.reshape(-1)[self.index]
        self.add = add.reshape(-1)[self.index]
        self.pixels = int(touched.sum())

    def apply(self, plane: npt.NDArray[np.uint8]) -> None:
        for rows, cols, inv, add in self.blocks:
            block = plane[rows, cols]
            block[:] = ((block * inv + add) >> 7).astype(np.uint8)
        if len(self.index):
            flat = plane.reshape(-1)
            flat[self.index] = ((flat[self.index] * self.inv + self.add) >> 7).astype(np.uint8)


class FrameMark:
    """The mark, made once, for frames of ``width`` x ``height`` as stored, that a player
    turns by ``rotation`` degrees (counter-clockwise) to show them upright."""

    def __init__(self, width: int, height: int, rotation: int, lines: list[str]) -> None:
        quarter = round(rotation / 90) % 4
        upright = (height, width) if quarter % 2 else (width, height)
        self.layout = layout(*upright, lines)
        picture = overlay(self.layout)
        if quarter:
            picture = picture.rotate(-90 * quarter, expand=True)  # back to the stored orientation
        rgba = np.asarray(picture, dtype=np.float32) / 255
        luma, alpha = rgba[..., 0], rgba[..., 3]  # the mark is grey: R = G = B
        self.width, self.height = width, height
        self.luma = _PlaneBlend(alpha, 16 + 219 * luma)  # limited range, as H.264 stores it
        chroma_alpha = alpha.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
        self.chroma = _PlaneBlend(chroma_alpha, np.full_like(chroma_alpha, 128))

    def apply(self, image: npt.NDArray[np.uint8]) -> None:
        """Mark, in place, a YUV 4:2:0 frame as PyAV's ``to_ndarray`` lays it out (the Y plane,
        then U and V, each ``height / 2`` by ``width / 2``, packed)."""
        h, w = self.height, self.width
        self.luma.apply(image[:h])
        chroma = image[h:].reshape(2, h // 2, w // 2)
        self.chroma.apply(chroma[0])
        self.chroma.apply(chroma[1])


def _open(src: BinaryIO) -> Any:
    try:
        return av.open(src, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentFailure(f"not a readable video ({exc.strerror or exc})") from None


def watermark_video(
    src: BinaryIO, dst: Path, lines: list[str], report: Callable[[float], None]
) -> dict[str, Any]:
    """Write to ``dst`` an H.264/AAC MP4 (yuv420p, faststart, a keyframe every 2 s) of the
    video with the mark in every frame, at the source's size (odd sizes lose their last
    column or row) and frame timing; a phone's rotation is kept as display rotation, the mark
    upright as shown. The sound is re-encoded to AAC. ``report`` gets the progress (0-1)
    every frame; whatever it raises stops the render. Any failure leaves no ``dst``."""
    try:
        return _watermark_video(src, dst, lines, report)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def _watermark_video(
    src: BinaryIO, dst: Path, lines: list[str], report: Callable[[float], None]
) -> dict[str, Any]:
    with _open(src) as inp:
        if not inp.streams.video:
            raise NoPicture("the file holds no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        width, height = vin.codec_context.width, vin.codec_context.height
        if width < 2 or height < 2:
            raise PermanentFailure(f"the video's picture size ({width}x{height}) is not usable")
        even_w, even_h = width - width % 2, height - height % 2
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        gop = str(max(1, round(float(rate) * KEYFRAME_SECONDS)))
        duration = inp.duration / 1_000_000 if inp.duration else None
        rotation = _first_rotation(inp, vin)
        mark = FrameMark(even_w, even_h, rotation, lines)
        params: dict[str, Any] = {
            "container": "mp4",
            "codec": "h264",
            "video_codec": "h264",
            "pix_fmt": "yuv420p",
            "preset": VIDEO_PRESET,
            "crf": VIDEO_CRF,
            "keyframe_seconds": KEYFRAME_SECONDS,
            "faststart": True,
            "width": even_w,
            "height": even_h,
            "fps": round(float(rate), 3),
            "display_rotation": rotation,
            "lines": list(lines),
            "drawn_lines": list(mark.layout.lines),
            "band": list(mark.layout.band),  # as displayed (upright)
            "font": FONT_NAME,
        }
        with av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout: Any = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = even_w, even_h, "yuv420p"
            vout.codec_context.time_base = vin.time_base  # every frame keeps its own time
            vout.codec_context.gop_size = int(gop)
            vout.codec_context.options = {
                "crf": str(VIDEO_CRF),
                "preset": VIDEO_PRESET,
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
            if rotation:
                vout.set_display_rotation(rotation)
            aout, resampler = aac_output(out, ain, params)
            failure: list[BaseException] = []
            decoded: queue.Queue[Any] = queue.Queue(maxsize=6)
            marked: queue.Queue[Any] = queue.Queue(maxsize=6)

            def demux() -> Iterator[tuple[str, Any]]:
                streams = [s for s in (vin, ain) if s is not None]
                for packet in inp.demux(*streams):
                    for frame in packet.decode():
                        yield ("v" if packet.stream is vin else "a", frame)

            def burn(item: tuple[str, Any]) -> tuple[str, Any]:
                kind, frame = item
                if kind == "a":
                    return item
                if frame.format.name != "yuv420p" or (frame.width, frame.height) != (even_w, even_h):
                    frame = frame.reformat(width=even_w, height=even_h, format="yuv420p")
                image = frame.to_ndarray()
                mark.apply(image)
                made = av.VideoFrame.from_ndarray(image, format="yuv420p")
                return ("v", (made, frame.pts, frame.time_base, frame.time))

            t1 = threading.Thread(
                target=_stage(demux(), lambda x: x, decoded, failure), name="opendems-wm-decode", daemon=True
            )
            t2 = threading.Thread(
                target=_stage(_drain(decoded), burn, marked, failure), name="opendems-wm-mark", daemon=True
            )
            t1.start()
            t2.start()
            written = 0
            last_time = 0.0
            consumed = False
            try:
                for kind, payload in _drain(marked):
                    if kind == "v":
                        frame, pts, time_base, at = payload
                        frame.pts, frame.time_base = pts, time_base
                        frame.pict_type = NO_PICTURE_TYPE  # the source's I-frames do not force ours
                        for p in vout.encode(frame):
                            out.mux(p)
                        written += 1
                        last_time = float(at or last_time)
                        # Also a heartbeat when the length is unknown: the job's lease stays renewed.
                        report(min(last_time / duration, 0.99) if duration else 0.0)
                    elif aout is not None:
                        payload.pts = None
                        for converted in resampler.resample(payload):
                            for p in aout.encode(converted):
                                out.mux(p)
                consumed = True  # the last stage's end marker came: both stages are done
            finally:
                if not consumed:
                    _stop_stages((t1, t2), (decoded, marked), failure)
                t1.join()
                t2.join()
            if failure and not isinstance(failure[0], av.error.FFmpegError):
                raise failure[0]
            if failure and written == 0:
                exc = failure[0]
                raise PermanentFailure(f"the video does not decode ({getattr(exc, 'strerror', '') or exc})")
            if failure:
                params["truncated_at_s"] = round(last_time, 3)  # a damaged tail: what decoded is kept
            if written == 0:
                raise PermanentFailure("the video stream holds no decodable frame")
            for p in vout.encode():
                out.mux(p)
            if aout is not None:
                for converted in resampler.resample(None):
                    for p in aout.encode(converted):
                        out.mux(p)
                for p in aout.encode():
                    out.mux(p)
        params["frames"] = written
    return params
