"""Small real image files for upload tests (no imaging library needed)."""
from __future__ import annotations

import struct
import zlib


def png_image(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (240, 150, 40)) -> bytes:
    """A valid PNG of one colour: what a phone photo is to the upload checks."""
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter byte 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
