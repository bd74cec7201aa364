"""Masking of personal numbers for roles without the right to read them in full.

Pure functions: lists, exports and the JSON API call them when the reader
lacks the field's "read in full" right. The shapes follow common practice on
Chinese government systems: ``138****5678`` and ``110105********1234``.
"""

from __future__ import annotations

import re
from typing import Any

_MOBILE = re.compile(r"1\d{10}")
_LANDLINE = re.compile(r"(0\d{2,3}-?)(\d{7,8})(-\d{1,6})?")


def _middle(text: str, keep_start: int, keep_end: int) -> str:
    """Star out the middle; a text too short to keep both ends is starred out but for its last character."""
    if len(text) <= keep_start + keep_end:
        return "*" * max(len(text) - 1, 0) + text[-1:] if len(text) > 1 else "*" * len(text)
    return text[:keep_start] + "*" * (len(text) - keep_start - keep_end) + text[len(text) - keep_end:]


def mask_phone(value: Any) -> str:
    """``13812345678`` -> ``138****5678``; ``010-12345678`` -> ``010-****5678``; ``None`` -> ``""``."""
    if value is None:
        return ""
    text = str(value)
    if _MOBILE.fullmatch(text):
        return _middle(text, 3, 4)
    m = _LANDLINE.fullmatch(text)
    if m:
        area, number, ext = m.group(1), m.group(2), m.group(3) or ""
        return area + _middle(number, 0, 4) + ext
    return _middle(text, 3, 4)


def mask_idcard(value: Any) -> str:
    """``110105199001011234`` -> ``110105********1234`` (region kept, birth date hidden)."""
    if value is None:
        return ""
    return _middle(str(value), 6, 4)
