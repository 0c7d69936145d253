from __future__ import annotations

import pytest

from opendems.domain.sizes import short_size, size_text


@pytest.mark.parametrize(
    ("size", "short", "full"),
    [
        (0, "0 bytes", "0 bytes"),
        (1, "1 byte", "1 byte"),
        (823, "823 bytes", "823 bytes"),
        (1023, "1,023 bytes", "1,023 bytes"),
        (1024, "1.0 KiB", "1,024 bytes (1.0 KiB)"),
        (25_088, "24.5 KiB", "25,088 bytes (24.5 KiB)"),
        (12_345_678, "11.8 MiB", "12,345,678 bytes (11.8 MiB)"),
        (1 << 30, "1.0 GiB", "1,073,741,824 bytes (1.0 GiB)"),
        (3 << 60, "3072.0 PiB", "3,458,764,513,820,540,928 bytes (3072.0 PiB)"),
    ],
)
def test_sizes_in_binary_units(size: int, short: str, full: str) -> None:
    assert short_size(size) == short
    assert size_text(size) == full
