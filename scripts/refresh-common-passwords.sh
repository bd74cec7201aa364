#!/bin/sh
# Refresh core/passwords/common-passwords.txt from Django's wheel on PyPI
# (BSD-3-Clause; provenance in core/passwords/README.md). Run by hand, never at run time.
set -eu
VERSION="${1:-5.2.20}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pip download --no-deps --only-binary=:all: "django==$VERSION" -d "$TMP" -q
python3 - "$TMP" "$HERE/core/passwords" <<'PY'
import glob, gzip, hashlib, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(src + "/*.whl")[0])
raw = wheel.read("django/contrib/auth/common-passwords.txt.gz")
data = gzip.decompress(raw)
open(dest + "/common-passwords.txt", "wb").write(data)
lic = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")]
open(dest + "/LICENSE", "wb").write(wheel.read(lic[0]))
print("gz sha256", hashlib.sha256(raw).hexdigest())
print("txt sha256", hashlib.sha256(data).hexdigest(), data.count(b"\n"), "lines")
PY
