"""Media type from content, never from the file name."""

from __future__ import annotations

import filetype

_TEXT_BOM = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith(_TEXT_BOM):
        return True
    if b"\x00" in head:
        return False
    sample = head[:8192]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is still text.
        if exc.start < len(sample) - 4:
            return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls / len(sample) < 0.01


def detect_mime(head: bytes) -> str:
    """The MIME type the first bytes of a file show; ``application/octet-stream`` if unknown."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if head.lstrip().startswith(b"WEBVTT"):
        return "text/vtt"
    if _looks_like_text(head):
        return "text/plain"
    return "application/octet-stream"
