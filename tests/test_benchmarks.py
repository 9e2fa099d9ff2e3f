"""Smoke test of benchmarks/throughput.py: a tiny run completes and writes its files; and the
hand-written C baseline (benchmarks/_c_baseline.py) computes NumPy's backprop.

No timing is asserted (timings depend on the machine and its load); only that every method runs,
computes the engine's result, and that the Markdown and JSON outputs are written. The C tests
are skipped where gcc is not found (and fail where gcc is found but cannot build the baseline).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "throughput.py"
C_METHOD = "C (OpenMP)"
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or not SCRIPT.exists(),
                               reason="gcc not found, or benchmarks/ not in this checkout")


def _bench_module(name: str):
    if str(BENCHMARKS) not in sys.path:  # as when the scripts run: their siblings import
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    if shutil.which("gcc"):  # the C row is there and computes the engine's result
        assert doc["c_baseline"].startswith("gcc"), doc["c_baseline"]
        assert C_METHOD in {r["method"] for r in doc["main"]}
        assert [r["ok"] for r in doc["check"]["rows"] if r["method"] == C_METHOD] == [True]
        assert doc["c_peak"]["fp32_gflops"] > 0 and doc["c_peak"]["fp64_gflops"] > 0
        assert doc["peak_flops_used"] >= doc["peak"]["peak_flops"]


def _close(a, b, dtype) -> bool:
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _c_module(vector_bytes: int | None = None):
    """The C baseline's module; with ``vector_bytes``, built for that SIMD width instead of the
    widest native one (GCC splits vectors wider than the CPU's)."""
    c_baseline = _bench_module("_c_baseline")
    if vector_bytes is not None:
        c_baseline.CFLAGS = (*c_baseline.CFLAGS, f"-DVBYTES={vector_bytes}")
        # its own folder: a build replaces the other builds of the same name in its folder
        c_baseline.BUILD_DIR = c_baseline.BUILD_DIR / f"vbytes{vector_bytes}"
    assert c_baseline.available() is None, c_baseline.available()
    return c_baseline


@needs_gcc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("samples", [4, 3])  # 4: the unrolled path of the kernel; 3: the loop
@pytest.mark.parametrize("width", ["native", "other"])  # both the 256- and 512-bit code
def test_c_train_matches_numpy_backprop(dtype, samples, width):
    c_baseline = _c_module()
    if width == "other":  # the width this CPU does not pick (AVX-512: 32 bytes, else 64)
        c_baseline = _c_module(32 if "avx512f" in c_baseline.cpu_flags() else 64)
    baselines = _bench_module("_baselines")
    rng = np.random.default_rng(7)
    # 37 seeds: full chunks (16 or 32 seeds in float32, 8 or 16 in float64) and a padded one.
    # Random data, not XOR: XOR is symmetric in x1, x2, which would hide a swapped parameter.
    x, y = rng.standard_normal((samples, 2)), rng.uniform(size=(samples, 1))
    p0 = rng.standard_normal((37, 9)).astype(dtype)
    keep = p0.copy()
    ref = baselines.numpy_backprop(p0, x, y, lr=0.5, steps=20)
    out = c_baseline.c_train(p0, x, y, lr=0.5, steps=20)
    assert out.dtype == dtype and out.shape == p0.shape
    assert np.array_equal(p0, keep)  # the input is not modified
    assert _close(out, ref, dtype), np.abs(out - ref).max()
    assert _close(c_baseline.c_train(p0, x, y, lr=0.5, steps=20, threads=1), ref, dtype)
    # negative controls: the comparison sees a 1% change of lr and two swapped parameters
    assert not _close(c_baseline.c_train(p0, x, y, lr=0.505, steps=20), ref, dtype)
    for i, j in ((0, 1), (4, 5), (6, 8)):
        swapped = p0.copy()
        swapped[:, [i, j]] = p0[:, [j, i]]
        out = c_baseline.c_train(swapped, x, y, lr=0.5, steps=20)
        out[:, [i, j]] = out[:, [j, i]]
        assert not _close(out, ref, dtype), (i, j)


@needs_gcc
def test_c_train_rejects_bad_input():
    c_baseline = _bench_module("_c_baseline")
    x, y = np.zeros((4, 2)), np.zeros(4)
    with pytest.raises(TypeError):
        c_baseline.c_train(np.zeros((3, 9), np.int32), x, y, lr=1.0, steps=1)
    with pytest.raises(ValueError):
        c_baseline.c_train(np.zeros((3, 8), np.float32), x, y, lr=1.0, steps=1)
    with pytest.raises(ValueError):
        c_baseline.c_train(np.zeros((3, 9), np.float32), x, np.zeros(3), lr=1.0, steps=1)
