"""Machine facts for the throughput benchmark: CPU, versions, memory, flops, fp32 peak.

Memory: :func:`status_kib` reads ``VmRSS`` (resident now) and ``VmHWM`` (the high-water mark of
the resident set since the process started) from ``/proc/self/status``. The benchmark runs each
configuration in a fresh process and reports its ``VmHWM`` (and the growth over the ``VmRSS`` it
had after importing JAX and building the inputs). ``tracemalloc`` and ``getrusage`` deltas miss
XLA's own allocations, so they are not used.

Flops: :func:`flops_per_seed_step` takes XLA's cost analysis of the compiled program with one
step minus the program with zero steps (the cost analysis counts a while-loop body once,
whatever its trip count, so the ``steps`` program cannot be used directly), divided by the number
of seeds. XLA counts every elementwise operation of a fused kernel as one flop (integer and
comparison operations of the invariant checks included) and ``tanh``/``exp`` as
``transcendentals``, not flops.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import time
import timeit


def cpu_model() -> str:
    """``Model name`` from ``lscpu`` (or ``platform.processor()`` without lscpu)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    match = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or "unknown")


def cpu_mhz() -> float | None:
    """Clock of the first CPU in ``/proc/cpuinfo`` (the nominal clock on most VMs)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", f.read(), re.MULTILINE)
    except OSError:
        return None
    return float(match.group(1)) if match else None


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            match = re.search(r"^flags\s*:\s*(.+)$", f.read(), re.MULTILINE)
    except OSError:
        return set()
    return set(match.group(1).split()) if match else set()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict:
    """CPU model, cores, clock, SIMD, Python/JAX versions, XLA_FLAGS, date, load."""
    import jax
    import jaxlib

    flags = cpu_flags()
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "mhz": cpu_mhz(),
        "simd": simd,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "devices": len(jax.devices()),
        "platform": jax.devices()[0].platform,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average": list(os.getloadavg()),
    }


def status_kib(field: str) -> int | None:
    """``VmRSS``, ``VmHWM``, ... of this process from ``/proc/self/status`` in KiB."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def time_calls(fn, *, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeat`` calls of ``fn`` (each must block until it is done).

    CPU seconds are this process's user + system time over all its threads
    (``time.process_time``): on a machine shared with other jobs they show the work done, while
    wall time also shows the waiting for a core.
    """
    cpu: list[float] = []

    def call():
        start = time.process_time()
        fn()
        cpu.append(time.process_time() - start)

    return timeit.repeat(call, number=1, repeat=repeat, timer=time.perf_counter), cpu


def _cost(compiled) -> tuple[float, float]:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per device program
        cost = cost[0] if cost else {}
    cost = cost or {}
    return float(cost.get("flops", 0.0)), float(cost.get("transcendentals", 0.0))


def flops_per_seed_step(compile_steps, n: int) -> tuple[float, float]:
    """``(flops, transcendentals)`` per seed-step from XLA's cost analysis.

    Args:
      compile_steps: ``steps -> compiled program`` (``jax.jit(...).lower(...).compile()``) for
        ``n`` seeds on one device.
      n: number of seeds of the program.
    """
    f1, t1 = _cost(compile_steps(1))
    f0, t0 = _cost(compile_steps(0))
    return (f1 - f0) / n, (t1 - t0) / n


_SKIP_OPS = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}


def kernels_per_step(compiled, steps: int) -> int | None:
    """Operations XLA runs per training step: the instructions of the body of the while loop
    whose known trip count is ``steps`` (fusions, copies, concatenations, ...), without
    parameters, tuples, constants and bitcasts. Each one is a separate pass over the seeds.
    ``None`` when no such loop is found."""
    text = compiled.as_text()
    for match in re.finditer(r"body=%?([\w.\-]+)[^\n]*\"known_trip_count\":\{\"n\":\"(\d+)\"",
                             text):
        if int(match.group(2)) != steps:
            continue
        body = re.search(r"\n%?" + re.escape(match.group(1)) + r" .*?\n}", text, re.S)
        if body:
            ops = re.findall(r"^\s*%?\S+ = .*?\s([a-z][\w-]*)\(", body.group(0), re.MULTILINE)
            return sum(op not in _SKIP_OPS for op in ops)
    return None


def measure_peak_flops(*, quick: bool = False) -> dict:
    """fp32 flop/s of two short jitted loops on all devices (one CPU device per core).

    * ``fma``: ``x = x * a + b`` 32 times per iteration of a ``fori_loop`` over 4096 floats per
      device (L1-resident; XLA fuses it into one vectorized loop);
    * ``matmul``: 1024 x 1024 float32 products, one per device.

    Returns each rate in wall time and per CPU-second, ``peak_flops_wall`` (the larger wall
    rate) and ``peak_flops``: the larger per-CPU-second rate times the number of cores used,
    i.e. the machine's rate with no other job running (wall time on a shared machine
    understates it).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from jax.sharding import AxisType, PartitionSpec

    n_dev = len(jax.devices())
    mesh = jax.make_mesh((n_dev,), ("d",), axis_types=(AxisType.Auto,))
    spec = PartitionSpec("d")
    inner, width = 32, 4096
    iters = 2000 if quick else 20000

    def fma(x):
        def body(_, x):
            for _ in range(inner):
                x = x * jnp.float32(0.999) + jnp.float32(0.001)
            return x

        return lax.fori_loop(0, iters, body, x)

    def mm(a):
        return jnp.matmul(a[0], a[0])[None]

    x = jnp.ones((n_dev * width,), jnp.float32)
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n_dev, 1024, 1024), np.float32))
    out = {}
    for name, fn, arg, flops in (
        ("fma", fma, x, 2.0 * inner * width * iters * n_dev),
        ("matmul", mm, a, 2.0 * 1024**3 * n_dev),
    ):
        prog = jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=spec, out_specs=spec))
        jax.block_until_ready(prog(arg))
        wall, cpu = time_calls(lambda p=prog, v=arg: jax.block_until_ready(p(v)),
                               repeat=3 if quick else 7)
        out[f"{name}_flops"] = flops / min(wall)
        out[f"{name}_flops_per_cpu_s"] = flops / min(cpu)
    cores = min(n_dev, usable_cores())
    out["peak_flops_wall"] = max(out["fma_flops"], out["matmul_flops"])
    # per CPU-second x cores: what all cores give when no other job runs
    out["peak_flops"] = cores * max(out["fma_flops_per_cpu_s"], out["matmul_flops_per_cpu_s"])
    return out
