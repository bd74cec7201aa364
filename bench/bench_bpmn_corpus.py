"""BPMN import rate over public BPMN files: how many become an editable draft, how many are refused, 0 crashes.

    python bench/bench_bpmn_corpus.py                 # fetch the public packages, import every file, print the rate
    python bench/bench_bpmn_corpus.py --cache DIR     # keep the downloads in DIR (re-used next time)
    python bench/bench_bpmn_corpus.py --offline       # only the files in the repository (no download)
    python bench/bench_bpmn_corpus.py --list          # also one line per file: outcome and reason

The corpus is fetched at bench time with the ordinary package clients and
never committed (SpiffWorkflow's test files are LGPL):

* ``bpmn-io`` 0.2.2 (PyPI sdist, MIT): the test fixtures of bpmn-moddle,
  bpmn-auto-layout and bpmnlint it vendors (``tests/upstream/<project>``),
  reported per project;
* the repository's own ``tests/data/bpmn_corpus`` and ``tests/flow_examples``.

(Looked at and left out because they hold no BPMN diagram, only the XSD:
the SpiffWorkflow sdists 1.0.0-3.2.0 and the npm tarballs of bpmn-js and
bpmn-moddle. SpiffWorkflow's own test diagrams are in its repository only.)

Every ``.bpmn`` / ``.xml`` file that names the BPMN 2.0 model namespace is
imported with :func:`ccms.flows.bpmn_draft.import_bpmn_draft`; identical files
(same sha256) count once. Outcomes: **draft** (the definition passes the
meta-schema, so it is stored as a draft version the designer opens;
"complete" ones would even publish unchanged), **refused** (a bilingual
:class:`ValidationFailed`: not BPMN, no process, malformed XML ...) and
**crashed** (any other exception). bpmn-moddle's ``*.part.bpmn`` files are
element fragments written to test a parser (their root is not
``definitions``): they are counted, and the rate is also printed without them.

Exit status: 0 when there is no crash and drafts are at least 60 % of the
files, 1 otherwise, 2 when nothing could be fetched.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccms.errors import ValidationFailed
from ccms.flows.bpmn_draft import import_bpmn_draft
from ccms.flows.definition import check_flow, check_structure

PYPI = [("bpmn-io", "0.2.2")]
MODEL_NS = b"http://www.omg.org/spec/BPMN/20100524/MODEL"
TARGET = 0.60


def _unpack(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")


def fetch(cache: Path) -> dict[str, Path]:
    """Download and unpack each package once; {source name: folder}."""
    out: dict[str, Path] = {}
    for name, version in PYPI:
        folder = cache / f"{name}-{version}"
        if not folder.exists():
            dl = cache / "dl"
            dl.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                                f"{name}=={version}", "-d", str(dl)], capture_output=True, text=True, check=False)
            got = [p for p in dl.iterdir() if p.name.lower().replace("_", "-").startswith(f"{name.lower()}-{version}")]
            if r.returncode != 0 or not got:
                print(f"  ! {name} {version}: download failed ({r.stderr.strip()[-200:]})", file=sys.stderr)
                continue
            _unpack(got[0], folder)
        out[f"pypi:{name}"] = folder
    return out


def corpus(sources: dict[str, Path]) -> list[tuple[str, str, bytes]]:
    """(source, relative path, content) of every distinct BPMN file."""
    seen: set[str] = set()
    files = []
    for source, folder in sources.items():
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or not path.name.lower().endswith((".bpmn", ".xml")):
                continue
            data = path.read_bytes()
            if MODEL_NS not in data:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            rel = path.relative_to(folder)
            parts = rel.parts
            name = source
            if "upstream" in parts and parts.index("upstream") + 1 < len(parts):
                name = f"{source}/{parts[parts.index('upstream') + 1]}"  # the bpmn.io project it comes from
            files.append((name, str(rel), data))
    return files


def run(files: list[tuple[str, str, bytes]], listing: bool = False) -> dict[str, int]:
    totals: collections.Counter[str] = collections.Counter()
    per_source: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    reasons: collections.Counter[str] = collections.Counter()
    crashes = []
    for source, rel, data in files:
        fragment = rel.endswith(".part.bpmn")
        try:
            d, _notes = import_bpmn_draft(data)
            check_structure(d)
            outcome = "draft"
            if not check_flow(d):
                totals["complete"] += 1
            placeholders = sum(1 for n in d["nodes"] if n["type"] == "placeholder")
            totals["placeholders"] += placeholders
            why = f"{len(d['nodes'])} nodes, {placeholders} placeholders"
        except ValidationFailed as exc:
            outcome, why = "refused", exc.en
            reasons[exc.en.split(":", 1)[-1].split("(")[0].strip()[:70]] += 1
        except Exception as exc:  # noqa: BLE001 — a crash is what this bench counts
            outcome, why = "crashed", f"{type(exc).__name__}: {exc}"
            crashes.append((source, rel, why))
        totals[outcome] += 1
        per_source[source][outcome] += 1
        if not fragment:
            totals["whole"] += 1
            totals[f"whole_{outcome}"] += 1
        if listing:
            print(f"  {outcome:8} {source}/{rel}: {why[:120]}")
    total = totals["draft"] + totals["refused"] + totals["crashed"]
    print(f"\nBPMN corpus: {total} distinct files")
    for source, c in per_source.items():
        n = sum(c[k] for k in ("draft", "refused", "crashed"))
        print(f"  {source:32} {n:4} files: {c['draft']:4} drafts, {c['refused']:3} refused, {c['crashed']} crashed")
    rate = totals["draft"] / total if total else 0.0
    whole_rate = totals["whole_draft"] / totals["whole"] if totals["whole"] else 0.0
    print(f"total {total} / drafts {totals['draft']} / refused {totals['refused']} / crashed {totals['crashed']}"
          f" — draft rate {rate:.1%} (target >= {TARGET:.0%}, 0 crashes)")
    print(f"  without parser fragments (*.part.bpmn): {totals['whole']} files, draft rate {whole_rate:.1%}")
    print(f"  drafts complete as imported (no placeholder, every task with a rule): {totals['complete']}; "
          f"placeholders in all drafts: {totals['placeholders']}")
    if reasons:
        print("  refusals by reason:")
        for why, n in reasons.most_common(8):
            print(f"    {n:4}  {why}")
    for source, rel, why in crashes:
        print(f"  CRASH {source}/{rel}: {why}")
    return {"total": total, "draft": totals["draft"], "refused": totals["refused"], "crashed": totals["crashed"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", help="folder for the downloads (default: a temporary folder)")
    ap.add_argument("--offline", action="store_true", help="only the repository's own BPMN files")
    ap.add_argument("--list", action="store_true", help="one line per file")
    args = ap.parse_args(argv)
    sources: dict[str, Path] = {"repo:tests/data/bpmn_corpus": ROOT / "tests" / "data" / "bpmn_corpus",
                                "repo:tests/flow_examples": ROOT / "tests" / "flow_examples"}
    tmp = None
    if not args.offline:
        if args.cache:
            cache = Path(args.cache)
            cache.mkdir(parents=True, exist_ok=True)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="ccms-bpmn-corpus-")
            cache = Path(tmp.name)
        print(f"fetching the public BPMN corpus into {cache} ...")
        sources.update(fetch(cache))
    try:
        files = corpus(sources)
        if not files:
            print("no BPMN files found", file=sys.stderr)
            return 2
        result = run(files, args.list)
    finally:
        if tmp is not None:
            tmp.cleanup()
    ok = result["crashed"] == 0 and result["draft"] >= TARGET * result["total"]
    print("verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
