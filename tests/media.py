"""Real media files generated in the tests (PyAV encodes, Pillow writes photos)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational


def video_bytes(
    *,
    codec: str = "libx264",
    container: str = "mp4",
    width: int = 320,
    height: int = 240,
    seconds: float = 1.0,
    fps: int = 15,
    rotation: int = 0,
    audio: bool = True,
    metadata: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
) -> bytes:
    """A short clip with moving colour bars (and silence), encoded for real."""
    buf = io.BytesIO()
    out = av.open(buf, mode="w", format=container, options=options or {})
    for key, value in (metadata or {}).items():
        out.metadata[key] = value
    v = out.add_stream(codec, rate=fps)
    v.width, v.height, v.pix_fmt = width, height, pix_fmt
    if rotation:
        v.set_display_rotation(rotation)
    a = out.add_stream("aac", rate=16000) if audio else None
    frames = int(seconds * fps)
    for i in range(frames):
        img = Image.new("RGB", (width, height), ((i * 16) % 256, 80, 160))
        for x in range(0, width, max(width // 8, 1)):
            img.paste(((x * 3 + i * 7) % 256, (x * 5) % 256, 40), (x, 0, x + 4, height))
        frame = av.VideoFrame.from_image(img).reformat(format=pix_fmt)
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        for packet in v.encode(frame):
            out.mux(packet)
    for packet in v.encode():
        out.mux(packet)
    if a is not None:
        _silence(out, a, seconds=seconds, rate=16000, fmt="fltp", sample_bytes=4, samples=1024)
    out.close()
    return buf.getvalue()


def _silence(
    out: Any, stream: Any, *, seconds: float, rate: int, fmt: str, sample_bytes: int, samples: int
) -> None:
    """Encode ``seconds`` of mono silence into ``stream`` and flush it."""
    for n in range(int(seconds * rate) // samples):
        frame = av.AudioFrame(format=fmt, layout="mono", samples=samples)
        frame.planes[0].update(bytes(samples * sample_bytes))
        frame.sample_rate = rate
        frame.pts = n * samples
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def mp3_bytes(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as out:
        a = out.add_stream("libmp3lame", rate=22050)
        _silence(out, a, seconds=seconds, rate=22050, fmt="s16p", sample_bytes=2, samples=1152)
    return buf.getvalue()


def audio_only_mp4(seconds: float = 1.0) -> bytes:
    """An MP4 -- a "video" file by its name -- that holds only sound."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        a = out.add_stream("aac", rate=16000)
        _silence(out, a, seconds=seconds, rate=16000, fmt="fltp", sample_bytes=4, samples=1024)
    return buf.getvalue()


def _rational(value: float) -> tuple[int, int]:
    return (round(value * 10_000), 10_000)


def jpeg_bytes(
    *,
    width: int = 64,
    height: int = 48,
    gps: tuple[float, float] | None = None,
    make: str = "Axon",
    model: str = "Body 4",
    serial: str | None = "X60A1234",
    taken: str = "2026:03:01 10:15:30",
    orientation: int = 1,
) -> bytes:
    """A JPEG photo with EXIF: camera, serial, time taken, orientation and GPS."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken
    if serial:
        sub[0xA431] = serial
    if gps:
        lat, lon = gps
        g = exif.get_ifd(0x8825)
        g[1] = "N" if lat >= 0 else "S"
        g[2] = tuple(IFDRational(*_rational(x)) for x in _dms(abs(lat)))
        g[3] = "E" if lon >= 0 else "W"
        g[4] = tuple(IFDRational(*_rational(x)) for x in _dms(abs(lon)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return float(d), float(m), round(s, 4)


def corrupt_exif_jpeg() -> bytes:
    """A JPEG whose APP1 EXIF block is garbage (the picture itself is fine)."""
    good = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 90, 0)).save(good, format="JPEG")
    data = good.getvalue()
    garbage = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + b"\xff\xff" + b"\x13" * 40
    app1 = b"\xff\xe1" + (len(garbage) + 2).to_bytes(2, "big") + garbage
    return data[:2] + app1 + data[2:]


def audio_rms(path: Path, start: float, end: float) -> float:
    """The RMS level of a file's sound (first channel) between two moments, in seconds."""
    with av.open(str(path)) as inp:
        samples = np.concatenate([f.to_ndarray()[0] for f in inp.decode(audio=0)])
        rate = inp.streams.audio[0].sample_rate
    window = samples[int(start * rate) : int(end * rate)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))
