"""Smoke test of benchmarks/throughput.py: a tiny run completes and writes its files.

No timing is asserted (timings depend on the machine and its load); only that every method runs,
computes the engine's result, and that the Markdown and JSON outputs are written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")
def test_throughput_quick_runs(tmp_path):
    md, js = tmp_path / "bench.md", tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--sizes", "64", "--steps", "5", "--repeat", "1",
         "--check-seeds", "64", "--f64-size", "0", "--widths", "2", "--depths", "",
         "--width-seeds", "64", "--big-seeds", "0", "--breakdown-seeds", "0", "--no-memory",
         "--no-flags-row", "--markdown", str(md), "--json", str(js)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["check"]["ok"]
    assert {r["method"] for r in doc["main"]} >= {"engine", "prototype", "textbook JAX",
                                                 "NumPy", "Python loop"}
    assert all(r["rate"] > 0 for r in doc["main"])
    assert doc["widths"][0]["form"] == "scalar"
    assert doc["machine"]["xla_flags"]
    assert "| seeds | method |" in md.read_text(encoding="utf-8")
