"""The form list / bulk import benchmark runs end to end (smoke sizes): the
indexed filter is used, both sides return the same page, the import stores
every record. No timing is asserted: machines are too noisy for that."""

from __future__ import annotations

import pytest
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_forms_list  # noqa: E402


@pytest.mark.needs_plugins("guidance", "command", "industry", "public_service", "data_hub", "exchange")  # bench/: a city deployment
def test_smoke_run_shape() -> None:
    result = bench_forms_list.run(smoke=True)
    assert [r["records"] for r in result["lists"]] == [400, 1_000]
    for r in result["lists"]:
        assert r["uses_index"], r["plan"]
        assert r["same_result"] and r["total"] == bench_forms_list.MATCHES and r["rows"] == bench_forms_list.PAGE
        assert r["engine_ms"] > 0 and r["raw_ms"] > 0 and r["ratio"] > 0
    assert result["flat"]["growth"] > 0
    assert result["import"]["imported"] == result["import"]["stored"] == 300
    lines = bench_forms_list.verdicts(result)
    assert len(lines) == 4 and all(isinstance(ok, bool) for _, ok in lines)
