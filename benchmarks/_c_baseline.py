"""Hand-written C baseline of the default workload, and the machine's FMA peak measured in C.

Sources in ``benchmarks/c/``: ``xor221.c`` (+ ``xor221_kernel.h``) trains the 2-2-1 XOR network
exactly as :func:`_baselines.numpy_backprop` (OpenMP over seeds, one seed per lane of the
widest native vectors: 512-bit with AVX-512, else 256-bit; all steps of a chunk of seeds in
registers; its own vectorized tanh and exp, see the file's header); ``peak.c`` runs 16
independent FMA chains per thread on 256- and 512-bit vectors.

Both are compiled once with ``gcc`` and :data:`CFLAGS` into ``benchmarks/results/c_build/``
(git ignores ``results/``), one shared library per hash of the sources, the flags, the
compiler's version and the CPU's flags (``-march=native``; a new build removes the older ones),
and loaded with :mod:`ctypes`.
Without ``gcc``, or when it fails, :func:`available` says why and the benchmark skips the C rows.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import cpu_flags, usable_cores

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE / "c"
BUILD_DIR = HERE / "results" / "c_build"
COMPILER = "gcc"
CFLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
#: Library name -> its sources (the first is compiled, all are hashed).
LIBRARIES = {"xor221": ("xor221.c", "xor221_kernel.h"), "peak": ("peak.c",)}
N_PARAMS = 9


class BuildError(RuntimeError):
    """The C baseline cannot be built or loaded here (the message says why, in one line)."""


def _compiler_version(cc: str) -> str:
    proc = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    return (proc.stdout.splitlines() or ["unknown"])[0]


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line), lines[0] if lines else "no output")


@functools.cache
def build(name: str) -> tuple[Path, float]:
    """Path of the compiled library ``name`` and gcc's seconds for it (0.0 when it was found
    already built). Compiles at most once per process and once per source/flags/compiler/CPU.

    Raises:
      BuildError: no gcc, or gcc failed (its first error line).
    """
    cc = shutil.which(COMPILER)
    if cc is None:
        raise BuildError(f"{COMPILER} not found")
    digest = hashlib.sha256()
    for part in (_compiler_version(cc), " ".join(CFLAGS), " ".join(sorted(cpu_flags())),
                 platform.machine()):
        digest.update(part.encode() + b"\0")
    for source in LIBRARIES[name]:
        digest.update((SOURCE_DIR / source).read_bytes() + b"\0")
    lib = BUILD_DIR / f"{name}-{digest.hexdigest()[:16]}.so"
    meta = lib.with_suffix(".json")
    if lib.exists():
        return lib, 0.0
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=BUILD_DIR)
    os.close(fd)
    cmd = [cc, *CFLAGS, str(SOURCE_DIR / LIBRARIES[name][0]), "-o", tmp]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise BuildError(f"{COMPILER} failed on {LIBRARIES[name][0]}: "
                         f"{_first_error(proc.stderr)}")
    os.replace(tmp, lib)  # atomic: a concurrent process sees the whole library or none
    meta.write_text(json.dumps({"command": cmd, "seconds": seconds}) + "\n", encoding="utf-8")
    for stale in BUILD_DIR.glob(f"{name}-*"):  # builds of older sources
        if stale.stem != lib.stem:
            stale.unlink(missing_ok=True)
    return lib, seconds


@functools.cache
def _load(name: str) -> ctypes.CDLL:
    path, _ = build(name)
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise BuildError(f"cannot load {path.name}: {e}") from None
    if name == "xor221":
        for fn, real in ((lib.train, ctypes.c_float), (lib.train_f64, ctypes.c_double)):
            ptr = ctypes.POINTER(real)
            fn.argtypes = [ptr, ctypes.c_long, ptr, ptr, ctypes.c_int, real, ctypes.c_long]
            fn.restype = None
        lib.xor221_set_threads.argtypes = [ctypes.c_int]
        lib.xor221_set_threads.restype = None
    else:
        lib.peak_measure.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
                                     ctypes.POINTER(ctypes.c_double)]
        lib.peak_measure.restype = ctypes.c_int
    return lib


@functools.cache
def available() -> str | None:
    """None when the C baseline runs here, else why not (one line, e.g. ``gcc not found``)."""
    try:
        for name in LIBRARIES:
            _load(name)
    except (BuildError, OSError, subprocess.SubprocessError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def build_seconds(name: str = "xor221") -> float | None:
    """gcc's seconds for library ``name`` when this process compiled it, 0.0 when it was
    already built, None when it cannot be built."""
    try:
        return build(name)[1]
    except BuildError:
        return None


def describe() -> str:
    """Compiler and flags, for the benchmark's text."""
    cc = shutil.which(COMPILER)
    version = _compiler_version(cc) if cc else f"{COMPILER} not found"
    return f"{version}, {' '.join(CFLAGS)}"


def c_train(params0: np.ndarray, x, y, *, lr: float, steps: int,
            threads: int | None = None) -> np.ndarray:
    """Final parameters after ``steps`` steps of the C baseline (``benchmarks/c/xor221.c``).

    Args:
      params0: ``(n, 9)`` float32 or float64 initial parameters in the shared order; its dtype
        picks the precision. Not modified (the C code trains a copy).
      x, y: the data, ``(S, 2)`` and ``(S,)`` or ``(S, 1)``, converted to that dtype.
      lr, steps: learning rate and number of gradient-descent steps.
      threads: OpenMP threads (default: the usable cores).

    Raises:
      BuildError: the C baseline cannot run here (see :func:`available`).
    """
    dtype = np.dtype(params0.dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"params0 must be float32 or float64, got {dtype}")
    params = np.array(params0, dtype=dtype, order="C", copy=True)
    if params.ndim != 2 or params.shape[1] != N_PARAMS:
        raise ValueError(f"params0 must have shape (n, {N_PARAMS}), got {params.shape}")
    xs = np.ascontiguousarray(x, dtype=dtype).reshape(-1, 2)
    ys = np.ascontiguousarray(y, dtype=dtype).reshape(-1)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x has {xs.shape[0]} samples, y has {ys.shape[0]}")
    lib = _load("xor221")
    fn, real = (lib.train, ctypes.c_float) if dtype == np.float32 else (lib.train_f64,
                                                                          ctypes.c_double)
    ptr = ctypes.POINTER(real)
    lib.xor221_set_threads(int(threads or usable_cores()))
    fn(params.ctypes.data_as(ptr), params.shape[0], xs.ctypes.data_as(ptr),
       ys.ctypes.data_as(ptr), xs.shape[0], lr, int(steps))
    return params


def _peak_run(lib, real_bits: int, vec_bits: int, threads: int, iters: int) -> dict:
    out = (ctypes.c_double * 5)()
    if lib.peak_measure(real_bits, vec_bits, threads, iters, out) != 0:
        raise ValueError(f"no FMA loop for fp{real_bits} on {vec_bits}-bit vectors")
    wall, cpu, flops, used = out[0], out[1], out[2], int(out[3])
    return {"wall_s": wall, "cpu_s": cpu, "flops": flops, "threads": used,
            "wall_flops": flops / max(wall, 1e-9),
            "cpu_flops": used * flops / max(cpu, 1e-9)}  # per CPU-second x threads


def c_peak_flops(threads: int | None = None, *, seconds: float = 0.2,
                 repeat: int = 3) -> dict:
    """fp32 and fp64 FMA peak of all cores measured in C (``benchmarks/c/peak.c``).

    For each precision and vector width (256, 512 bits): 16 independent FMA chains per thread
    for about ``seconds`` (calibrated on one thread), ``repeat`` runs on ``threads`` threads
    (default: the usable cores). Rates in GFLOP/s, 2 flops per FMA lane: ``wall`` is the best
    wall-clock rate; ``cpu`` the best rate per CPU-second of a thread times the threads, i.e.
    what all cores give when no other job runs (the same convention as
    ``_machine.measure_peak_flops``). ``fp32_gflops`` / ``fp64_gflops``: the best ``cpu`` rate
    over the widths, at ``fp32_vector_bits`` / ``fp64_vector_bits``.

    Raises:
      BuildError: the C code cannot run here (see :func:`available`).
    """
    lib = _load("peak")
    threads = int(threads or usable_cores())
    out: dict = {"threads": threads, "seconds": seconds, "repeat": repeat, "chains": 16,
                 "by_width": {}}
    for real in (32, 64):
        for bits in (256, 512):
            calib = _peak_run(lib, real, bits, 1, 20_000)
            iters = max(1000, int(20_000 * seconds / max(calib["cpu_s"], 1e-6)))
            runs = [_peak_run(lib, real, bits, threads, iters) for _ in range(repeat)]
            out["by_width"][f"fp{real}_{bits}"] = {
                "wall": max(r["wall_flops"] for r in runs) / 1e9,
                "cpu": max(r["cpu_flops"] for r in runs) / 1e9,
                "iters": iters, "threads_used": runs[0]["threads"]}
        best = max((256, 512), key=lambda b: out["by_width"][f"fp{real}_{b}"]["cpu"])
        out[f"fp{real}_gflops"] = out["by_width"][f"fp{real}_{best}"]["cpu"]
        out[f"fp{real}_gflops_wall"] = max(out["by_width"][f"fp{real}_{b}"]["wall"]
                                           for b in (256, 512))
        out[f"fp{real}_vector_bits"] = best
    return out
