"""Password rules beyond length and character classes (等保二级 identity):
no common or leaked password, no user name, no name in pinyin.

The common-password list ships in ``core/passwords/`` (provenance and licence
in its README); nothing is downloaded at run time.
"""

from __future__ import annotations

import itertools
import re
import string
from functools import lru_cache
from pathlib import Path

from pypinyin import Style, pinyin

COMMON_PASSWORDS_FILE = Path(__file__).parent / "passwords" / "common-passwords.txt"
# Stripped from both ends to catch "password" + "123!" style variants.
_DECORATION = string.digits + string.punctuation + " "
# A core shorter than this is too generic to refuse on its own ("abc" + digits).
MIN_CORE = 4
# A name's pinyin (or its initials) shorter than this would refuse too much.
MIN_NAME_PART = 3
# Readings of a name with several heteronyms, combined, at most this many.
MAX_NAME_READINGS = 32
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, lower case (about 20,000 entries)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def is_common(password: str) -> bool:
    """The password, case-insensitively, or its core without leading/trailing digits
    and symbols (``Password123!`` → ``password``) is on the list."""
    lowered = password.strip().lower()
    words = common_passwords()
    if lowered in words:
        return True
    core = lowered.strip(_DECORATION)
    return len(core) >= MIN_CORE and core != lowered and core in words


def name_forms(display_name: str) -> set[str]:
    """Lower-case forms of a person's name that must not appear in a password:
    full pinyin and initials of every reading (张三 → zhangsan, zs; 曾 → zeng, ceng),
    or the letters of a name written in Latin script; forms shorter than
    :data:`MIN_NAME_PART` are dropped."""
    name = display_name.strip()
    if not name:
        return set()
    readings = pinyin(name, style=Style.NORMAL, heteronym=True, errors="default")
    forms: set[str] = set()
    for combo in itertools.islice(itertools.product(*readings), MAX_NAME_READINGS):
        parts = [_NON_ALNUM.sub("", p.lower()) for p in combo]
        parts = [p for p in parts if p]
        forms.add("".join(parts))
        if len(parts) > 1:
            forms.add("".join(p[0] for p in parts))
    return {f for f in forms if len(f) >= MIN_NAME_PART}


def name_in_password(password: str, display_name: str) -> bool:
    """A name form appears in the password, case-insensitively, also when
    separators are put between its syllables (``Zeng-guofan``)."""
    lowered = password.lower()
    compact = _NON_ALNUM.sub("", lowered)
    return any(form in lowered or form in compact for form in name_forms(display_name))
