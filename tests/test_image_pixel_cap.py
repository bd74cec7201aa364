"""The image pixel cap is the documented one (issue 10, defect 12).

``MAX_IMAGE_PIXELS`` says 40 M; Pillow on its own only warns up to twice its
limit, so a 50 M-pixel image used to be decoded and stored. The size declared
in the header is now checked before anything is decoded.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from ccms import attachments as att
from ccms.errors import ValidationFailed


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, *, pixels: bool) -> bytes:
    """A 1-bit grey PNG declaring ``width`` × ``height``; with ``pixels`` its (all-zero,
    highly compressible) image data is complete and decodable, else the file stops after
    the header's promise (a small file claiming a huge size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * height, 9) if pixels else zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_an_image_above_the_cap_but_below_twice_it_is_refused():
    # 50 M pixels: over the documented 40 M, under Pillow's own refusal at 80 M
    data = png_claiming(10_000, 5_000, pixels=True)
    assert len(data) < 20_000  # a small upload
    with pytest.raises(ValidationFailed) as exc:
        att.thumbnail(data)
    assert exc.value.zh == "图片像素过多（10000×5000，最多 40,000,000 像素），请缩小后再上传"
    assert "too many pixels (10000×5000; at most 40,000,000)" in exc.value.en
    assert exc.value.code == "image_too_large"


def test_a_small_file_claiming_a_huge_size_is_refused_by_its_header():
    data = png_claiming(100_000, 100_000, pixels=False)  # 10 G pixels in 80 bytes
    assert len(data) < 100
    with pytest.raises(ValidationFailed) as exc:
        att.thumbnail(data)
    assert exc.value.code == "image_too_large" and "40,000,000" in exc.value.zh and "40,000,000" in exc.value.en


def test_an_image_at_the_cap_is_accepted():
    data = png_claiming(8_000, 5_000, pixels=True)  # exactly 40 M
    assert att.thumbnail(data).startswith(b"\x89PNG")


@pytest.mark.needs_plugins("command")
def test_the_photo_upload_refuses_it_and_stores_nothing(ctx, client_for):
    """Through the case photo upload: 422 with the bilingual message, no attachment row."""
    from flow_engine_kit import person
    from sqlalchemy import func, select
    person(ctx, "photographer", roles=["command_supervisor"])
    c = client_for("photographer", "x-Secret-123456")
    r = c.api("POST", "/api/command/photos",
              files={"file": ("big.png", png_claiming(10_000, 5_000, pixels=True), "image/png")})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "图片像素过多" in err["message"] and "too many pixels" in err["message_en"]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(att.Attachment)) == 0
