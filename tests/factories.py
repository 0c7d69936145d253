"""Test factories in one place: settings, containers, actors, and real media files."""

from __future__ import annotations

import io
import math
import os
import struct
import wave
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opendems.bootstrap import Container, initialise
from opendems.config import Settings
from opendems.domain.access import DEFAULT_ROLES, Principal, Role
from opendems.domain.custody import Where
from opendems.services.accounts import create_user, principal_of
from opendems.services.context import Actor
from tests.stack.settings import prepare_data_dir


def make_settings(root: Path, **overrides: object) -> Settings:
    # No background workers in tests: a test runs the jobs it means to, when it means to.
    # Transcription and OCR off unless a test asks for them: a test runs the steps it means to.
    values: dict[str, object] = {
        "data_dir": root / "data",
        "segment_size": 64 * 1024,
        "workers": 0,
        "transcription": "off",
        "ocr": "off",
        # Meaning search off unless a test asks for it: the full-text tests count exact word
        # hits, and embedding every document of every test would cost minutes.
        "meaning_search": False,
    }
    values.update(overrides)
    if "database_url" not in overrides:
        prepare_data_dir(
            Path(str(values["data_dir"]))
        )  # scale-out mode: this directory's own database and prefix
    return Settings.load(**values)


class FakeClock:
    """A clock the test moves by hand (idle timeouts, lockout windows, expiry)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


MADE: list[Container] = []  # every container a test made (their pools are closed after it)


def make_container(root: Path, clock: FakeClock | None = None, **overrides: object) -> Container:
    c = Container(make_settings(root, **overrides))
    MADE.append(c)
    if clock is not None:
        c.clock = clock  # type: ignore[assignment]
    initialise(c)
    return c


def where(endpoint: str = "test") -> Where:
    return Where(service="api", endpoint=endpoint, client_address="127.0.0.1", user_agent="pytest")


def admin(c: Container) -> Actor:
    return c.system_actor("test")


PASSWORD = "correct horse battery"


def user_actor(c: Container, name: str, role: Role | str, unit: str | None = None) -> Actor:
    """Create a user with ``role`` (once) and return an actor for it."""
    role_value = role.value if isinstance(role, Role) else role
    with c.uow() as uow:
        existing = uow.accounts.user_by_name(name)
    if existing is None:
        existing = create_user(
            admin(c), name, role_value, password=PASSWORD, unit=unit, uow=c.uow(), clock=c.clock
        ).user
    with c.uow() as uow:
        return Actor(principal_of(uow, existing, "token"), where())


def principal(role: Role, pid: int = 7, unit: str | None = None) -> Principal:
    """A principal with the role's default permissions (no database needed)."""
    return Principal(
        id=pid, name=f"{role.value}-{pid}", role=role, permissions=DEFAULT_ROLES[role][1], unit=unit
    )


# -- real media, generated -------------------------------------------------------------


def png_bytes(width: int = 16, height: int = 16, seed: int = 0) -> bytes:
    """A valid RGB PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((x * 16 + seed) % 256, (y * 16) % 256, (x * y + seed) % 256))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def wav_bytes(seconds: float = 0.5, rate: int = 8000, freq: float = 440.0) -> bytes:
    """A valid mono 16-bit PCM WAV recording of a tone."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def pdf_bytes(text: str = "Incident report", *, encrypted: bool = False) -> bytes:
    """A minimal valid one-page PDF; ``encrypted``: it asks for a password to open."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if encrypted:  # standard security handler whose user password is not empty
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"
        )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    extra = f" /Encrypt {len(objects)} 0 R /ID [<{'ab' * 16}> <{'ab' * 16}>]" if encrypted else ""
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{extra} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def mp4_bytes(payload: int = 4096) -> bytes:
    """An ISO base-media (MP4) file: ftyp box followed by an mdat box."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    mdat_body = os.urandom(payload)
    return (
        struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(mdat_body) + 8) + b"mdat" + mdat_body
    )


def random_file(path: Path, size: int, chunk: int = 4 * 1024 * 1024) -> Path:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
    return path
