"""QR codes as images a chat can show without a file on disk (the web chat's authenticator enrolment)."""
from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg


def qr_svg_data_uri(text: str) -> str:
    """`text` as a QR code in an SVG `data:` URI (the page's CSP allows data: images)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grouped_secret(secret: str) -> str:
    """A base32 secret in groups of four, easier to type into an authenticator app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
