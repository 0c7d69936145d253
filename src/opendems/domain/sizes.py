"""Byte counts as people read them, in binary units everywhere: the evidence page, reports and
the command line say the same thing of the same file."""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def short_size(size: int) -> str:
    """``823 bytes``, ``11.8 MiB``: a readable size for a table cell or a summary line."""
    if size < 1024:
        return f"{size:,} byte" + ("" if size == 1 else "s")
    scaled, unit = float(size) / 1024, 0
    while scaled >= 1024 and unit < len(_UNITS) - 1:
        scaled, unit = scaled / 1024, unit + 1
    return f"{scaled:.1f} {_UNITS[unit]}"


def size_text(size: int) -> str:
    """``12,345,678 bytes (11.8 MiB)``: the exact count a court checks, and a readable one."""
    readable = short_size(size)  # under a KiB, that is the exact count already
    return readable if size < 1024 else f"{size:,} bytes ({readable})"
