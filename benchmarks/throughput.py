"""Throughput of the numeric engine against baselines on the default workload.

Workload: 2-2-1, tanh hidden units, sigmoid output, squared error (mean over the 4 XOR samples of
``(yhat - y)**2 / 2``), plain gradient descent (optax ``sgd``), float32. The data set and the
learning rate are the engine's own (``make_dataset("xor")``, the default lr of ``sgd``) and are
handed to every baseline; the initial parameters are drawn by the engine's init scheme (default
``normal``) and handed to every baseline as an ``(N, 9)`` array in the shared order.

Methods, all in this one process, after :func:`symjax.configure_xla` set the XLA flags before JAX
was imported, so the JAX baselines run under the same flags as the engine:

* ``engine``: ``symjax.numeric.sweep.run_sweep``, the training call of ``symjax.verify`` (exact
path,
  invariant checks at every step, chunks of ``--chunk`` seeds, sharded over the CPU devices,
  init drawn per chunk, results fetched to NumPy);
* ``prototype``: a minimal hand-written scalar-leaf ``vmap(scan)`` with the same arithmetic and
  none of the engine's machinery (``_prototype.py``);
* ``textbook JAX``: ``X @ W.T`` + ``jax.grad`` + ``vmap(scan)`` + ``jit`` (``_baselines.py``);
* ``NumPy``: hand-written backprop vectorized over seeds (``_baselines.py``);
* ``Python loop``: one jitted step per Python call, one seed at a time (``_baselines.py``);
* ``torch vmap(grad)`` and ``torch.compile``: only when ``torch`` is importable;
* ``C (OpenMP)``: hand-written C, OpenMP over seeds, one seed per lane of the widest native
  vectors, its own vectorized tanh/exp (``benchmarks/c/xor221.c``, ``_c_baseline.py``); only
  when ``gcc`` is found and compiles it (``-O3 -march=native -fopenmp``), on all usable cores.

Baselines that would take long at large N run fewer steps (``steps timed`` column) and their rate
is extrapolated per seed-step; the Python loop is timed on 2 seeds (its cost is per seed).
Times are ``jax.block_until_ready`` calls timed with ``timeit.repeat``; the table shows the best
and the median rate; compile time is separate. Peak memory is ``VmHWM`` of a fresh process that
runs one configuration once (see ``_machine.py``). Flops per seed-step come from XLA's cost
analysis, the fp32 peak from two short measurements, a jitted JAX loop
(``_machine.measure_peak_flops``) and FMA chains in C (``benchmarks/c/peak.c``, when gcc is
found); '% of fp32 peak' uses the larger.

Usage::

    python benchmarks/throughput.py [--quick] [--sizes 1e3,1e4,1e5,1e6] [--steps 1000]
        [--markdown FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import symjax

HERE = Path(__file__).resolve().parent
WIDTHS = (2, 2, 1)
#: Final parameters of a baseline must satisfy |p - p_engine| <= ATOL + RTOL * |p_engine|
#: elementwise, for every checked seed. 1000 steps of gradient descent with lr 2 amplify
#: float32 rounding differences (matmul vs fixed-order sums, NumPy vs XLA transcendentals);
#: measured: median 1e-6, worst of 4096 seeds 3e-4.
TOLERANCE = {"float32": (1e-3, 1e-3), "float64": (1e-8, 1e-8)}
#: ... for at least this fraction of the seeds: a seed near a bifurcation of the dynamics (e.g. two
#: nearly equal hidden units) amplifies the rounding difference itself (seen: 1 seed in 131072
#: off by 0.14 after 200 steps, equally far from a float64 run in both float32 programs).
MIN_WITHIN = 0.999
TARGETS = {"float32": 4e8, "float32_aim": 5e8, "float64": 1.5e8, "compile_s": 2.0,
           "big_seconds": 5.0, "big_peak_gib": 1.0}
#: The fp32 peak the issue's absolute targets were derived from: 4e8 seed-steps/s is "40% of the
#: hardware limit" of ~460 flops per seed-step at ~470 GFLOP/s. The second block of the targets
#: section scales the speed targets by (the peak measured here) / this, i.e. keeps them as the
#: same fractions of the hardware limit.
ISSUE_PEAK_FLOPS = 470e9
#: Largest seed-steps of one timed run of a slow baseline (fewer steps are timed above it).
BASELINE_WORK = {"textbook JAX": 5e7, "textbook JAX (any widths)": 2e7, "NumPy": 1e7,
                 "torch vmap(grad)": 1e7, "torch.compile": 1e7}
PYLOOP_SEEDS = 2
C_METHOD = "C (OpenMP)"
#: Cache blocks and devices of the prototype row of the main table.
PROTOTYPE_BLOCK = 4096


# -- small helpers -----------------------------------------------------------------------------
def _num(text: str) -> int:
    value = float(text)
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


def _nums(text: str) -> list[int]:
    return [_num(t) for t in text.split(",") if t.strip()]


def _rate_str(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """Pad the leading axis to ``n`` rows with copies of the first row."""
    return a if a.shape[0] == n else np.concatenate([a, np.repeat(a[:1], n - a.shape[0], 0)])


class Timed(NamedTuple):
    """One timed method at one size."""

    run: Callable[[], Any]  # one full timed call (blocks until done)
    steps: int  # steps of the timed call
    seeds: int  # seeds of the timed call
    compile_s: float | None  # XLA lower + compile of the training program
    final: np.ndarray | None  # final parameters after the full ``steps``, or None
    info: dict  # extra facts (form used, batching, ...)


@dataclasses.dataclass
class Context:
    """What every method shares: data, learning rate, init, options."""

    x: np.ndarray  # (4, 2) float64, the engine's XOR
    y: np.ndarray  # (4, 1)
    lr: float
    init: str
    chunk: int
    repeat: int
    quick: bool
    devices: int


def _ctx_spec(ctx: Context) -> dict:
    """The JSON-able part of a context (a worker rebuilds the data from the engine)."""
    return {k: v for k, v in dataclasses.asdict(ctx).items() if k not in ("x", "y")}


def _ctx_from_spec(spec: dict) -> Context:
    from symjax.numeric.datasets import make_dataset

    data = make_dataset("xor", WIDTHS)
    return Context(x=data.x, y=data.y, **spec)


def _steps_for(method: str, n: int, steps: int) -> int:
    cap = BASELINE_WORK.get(method)
    return steps if cap is None else max(1, min(steps, int(cap // n)))


# -- runners: each returns a Timed -------------------------------------------------------------
def _engine_plan(ctx: Context, n: int, steps: int, dtype: str, widths=WIDTHS):
    from symjax.experiments.verify import resolve

    return resolve(widths=list(widths), dataset="xor", init=ctx.init, optimizer="sgd",
                   lr=ctx.lr, seeds=n, steps=steps, dtype=dtype, path="exact", chunk=ctx.chunk)


#: Engine compile seconds per configuration (the engine caches programs, so a second run of the
#: same configuration reports 0).
_ENGINE_COMPILE_S: dict = {}


def engine_runner(ctx: Context, n: int, steps: int, dtype: str, widths=WIDTHS) -> Timed:
    """The engine's training call; its first run (which compiles) is not timed."""
    from symjax.numeric.inits import pinned_numerics
    from symjax.numeric.sweep import run_sweep

    plan = _engine_plan(ctx, n, steps, dtype, widths)
    seeds = np.arange(n, dtype=np.uint32)
    x, y = plan.data.x.astype(dtype), plan.data.y.astype(dtype)

    def sweep(keep: bool):
        with pinned_numerics(dtype):
            return run_sweep(plan.train_configs(), plan.inits, seeds, x, y,
                             chunk=plan.config["chunk"], keep_params=keep, progress=False)

    start = time.perf_counter()
    first = sweep(True)
    first_s = time.perf_counter() - start
    key = (steps, dtype, tuple(widths), first.batching)  # one program per batching
    compile_s = sum(first.compile_seconds.values()) or _ENGINE_COMPILE_S.get(key, 0.0)
    _ENGINE_COMPILE_S[key] = compile_s
    runs = first.runs[(plan.inits[0].spec, plan.optimizers[0].label)]
    info = {"form": plan.form, "path": plan.path_used, "first_call_s": first_s,
            "init": runs.init_params, "batching": dataclasses.asdict(first.batching),
            "seeds_per_call": first.seeds_per_call}
    return Timed(lambda: sweep(False), steps, n, compile_s, runs.final_params, info)


def engine_flops(ctx: Context, dtype: str, widths=WIDTHS, n: int = 256) -> tuple[float, float]:
    """Flops and transcendentals per seed-step of the engine's training step (checks included).

    XLA's cost analysis of ``symjax.numeric.train.make_step`` compiled alone for ``n`` seeds on one
    device. (The ``steps=1`` minus ``steps=0`` difference used for the other programs would also
    count the engine's end-of-run metrics, which XLA shares with the step-0 metrics when
    ``steps=0``.)
    """
    import jax

    from symjax.numeric.inits import perturbation_key, pinned_numerics
    from symjax.numeric.train import TrainState, _init_checks, make_step

    plan = _engine_plan(ctx, n, 1, dtype, widths)
    cfg = plan.train_configs()[0]
    x, y = plan.data.x.astype(dtype), plan.data.y.astype(dtype)
    with pinned_numerics(dtype):
        keys = jax.vmap(perturbation_key)(np.arange(n, dtype=np.uint32))
        step = make_step(cfg, keys, x, y)
        params = jax.ShapeDtypeStruct((cfg.net.n_params, n), dtype)
        state = TrainState(params, jax.eval_shape(cfg.optimizer.transformation().init, params),
                           jax.eval_shape(functools.partial(_init_checks, cfg), params))
        compiled = jax.jit(step).lower(state, jax.ShapeDtypeStruct((), np.int32)).compile()
    cost = compiled.cost_analysis()
    cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
    return cost.get("flops", 0.0) / n, cost.get("transcendentals", 0.0) / n


def _block_for(n: int, devices: int, target: int = PROTOTYPE_BLOCK) -> int:
    """Seeds per block: about ``target``, a multiple of 16, little padding (as the engine)."""
    per_device = -(-n // devices)
    blocks = -(-per_device // target)
    return 16 * -(-per_device // blocks // 16)


def prototype_runner(ctx: Context, n: int, steps: int, dtype: str, flat0: np.ndarray,
                     variant=None) -> Timed:
    import jax
    from _machine import kernels_per_step
    from _prototype import Variant, prototype_program

    from symjax.numeric.inits import pinned_numerics

    variant = variant or Variant(block=_block_for(n, ctx.devices), devices=ctx.devices)
    m = variant.padded(n)
    x, y = ctx.x.astype(dtype), ctx.y.astype(dtype)
    with pinned_numerics(dtype):
        args = [jax.device_put(_pad(flat0.astype(dtype), m))]
        if not variant.constant_data:
            args += [jax.device_put(x), jax.device_put(y)]
        start = time.perf_counter()
        prog = prototype_program(variant, steps=steps, lr=ctx.lr, x=x, y=y)
        compiled = prog.lower(*args).compile()
        compile_s = time.perf_counter() - start

    def run():
        with pinned_numerics(dtype):
            return jax.block_until_ready(compiled(*args))

    final = np.asarray(run()[0])[:n]
    return Timed(run, steps, n, compile_s, final, {"variant": variant.label, "padded": m,
                                                   "kernels": kernels_per_step(compiled, steps)})


def prototype_flops(ctx: Context, dtype: str, variant=None, n: int = 256):
    import jax
    from _machine import flops_per_seed_step
    from _prototype import N_PARAMS, Variant, prototype_program

    from symjax.numeric.inits import pinned_numerics

    variant = dataclasses.replace(variant or Variant(), devices=1, block=0)
    x, y = ctx.x.astype(dtype), ctx.y.astype(dtype)
    args = [jax.ShapeDtypeStruct((n, N_PARAMS), dtype)]
    if not variant.constant_data:
        args += [jax.ShapeDtypeStruct(x.shape, dtype), jax.ShapeDtypeStruct(y.shape, dtype)]

    def compile_steps(k):
        return prototype_program(variant, steps=k, lr=ctx.lr, x=x, y=y).lower(*args).compile()

    with pinned_numerics(dtype):
        return flops_per_seed_step(compile_steps, n)


def textbook_runner(ctx: Context, n: int, steps: int, dtype: str, flat0: np.ndarray) -> Timed:
    import jax
    from _baselines import textbook_jax

    from symjax.numeric.inits import pinned_numerics

    run_steps = _steps_for("textbook JAX", n, steps)
    with pinned_numerics(dtype):
        p0 = jax.device_put(flat0.astype(dtype))
        start = time.perf_counter()
        compiled = textbook_jax(flat0.astype(dtype), ctx.x, ctx.y, lr=ctx.lr,
                                steps=run_steps).lower(p0).compile()
        compile_s = time.perf_counter() - start

    def run():
        with pinned_numerics(dtype):
            return jax.block_until_ready(compiled(p0))

    final = np.asarray(run()) if run_steps == steps else None
    return Timed(run, run_steps, n, compile_s, final, {})


def textbook_flops(ctx: Context, dtype: str, n: int = 256) -> tuple[float, float]:
    import jax
    from _baselines import textbook_jax
    from _machine import flops_per_seed_step

    from symjax.numeric.inits import pinned_numerics

    p0 = np.zeros((n, 9), dtype)
    with pinned_numerics(dtype):
        return flops_per_seed_step(
            lambda k: textbook_jax(p0, ctx.x, ctx.y, lr=ctx.lr, steps=k).lower(
                jax.ShapeDtypeStruct(p0.shape, dtype)).compile(), n)


def textbook_any_runner(ctx: Context, widths, n: int, steps: int, dtype: str,
                        flat0: np.ndarray) -> Timed:
    import jax
    from _prototype import textbook_program

    from symjax.numeric.datasets import make_dataset
    from symjax.numeric.inits import pinned_numerics

    data = make_dataset("xor", widths)
    run_steps = _steps_for("textbook JAX (any widths)", n, steps)
    with pinned_numerics(dtype):
        args = [jax.device_put(a.astype(dtype)) for a in (flat0, data.x, data.y)]
        start = time.perf_counter()
        compiled = textbook_program(widths, steps=run_steps, lr=ctx.lr).lower(*args).compile()
        compile_s = time.perf_counter() - start

    def run():
        with pinned_numerics(dtype):
            return jax.block_until_ready(compiled(*args))

    return Timed(run, run_steps, n, compile_s, None, {})


def textbook_any_final(ctx: Context, widths, steps: int, dtype: str, flat0: np.ndarray):
    """Final parameters of the any-widths textbook program after the full ``steps``."""
    from _prototype import textbook_program

    from symjax.numeric.datasets import make_dataset
    from symjax.numeric.inits import pinned_numerics

    data = make_dataset("xor", widths)
    with pinned_numerics(dtype):
        prog = textbook_program(widths, steps=steps, lr=ctx.lr)
        return np.asarray(prog(flat0.astype(dtype), data.x.astype(dtype), data.y.astype(dtype)))


def textbook_any_flops(ctx: Context, widths, dtype: str, n: int = 256):
    import jax
    from _machine import flops_per_seed_step
    from _prototype import textbook_program

    from symjax.numeric.datasets import make_dataset
    from symjax.numeric.inits import pinned_numerics

    data = make_dataset("xor", widths)
    npar = symjax.Layout(widths).n_params
    args = [jax.ShapeDtypeStruct(s, dtype) for s in ((n, npar), data.x.shape, data.y.shape)]
    with pinned_numerics(dtype):
        return flops_per_seed_step(
            lambda k: textbook_program(widths, steps=k, lr=ctx.lr).lower(*args).compile(), n)


def numpy_runner(ctx: Context, n: int, steps: int, dtype: str, flat0: np.ndarray) -> Timed:
    from _baselines import numpy_backprop

    run_steps = _steps_for("NumPy", n, steps)
    p0 = flat0.astype(dtype)

    def run():
        return numpy_backprop(p0, ctx.x, ctx.y, lr=ctx.lr, steps=run_steps)

    with np.errstate(over="ignore"):
        final = run() if run_steps == steps else None
    return Timed(run, run_steps, n, None, final, {})


def python_loop_measure(ctx: Context, steps: int, flat0: np.ndarray) -> dict:
    """Per seed-step time of the Python loop, from a long run minus a one-step run.

    ``_baselines.python_loop`` jits a fresh step function on every call, so every call compiles
    once. The one-step run (1 seed) measures that; the long run trains ``PYLOOP_SEEDS`` seeds
    for ``max(steps, 500)`` steps (50 with ``--quick``): per seed-step = (t_long - t_one) /
    (seeds x long steps), each time the minimum of two runs. ``final`` holds the parameters
    after ``steps`` steps (checked against the engine).
    """
    from _baselines import python_loop

    p0 = flat0[:PYLOOP_SEEDS].astype(np.float32)
    long_steps = max(steps, 50 if ctx.quick else 500)

    def best(seeds, k):
        out = []
        for _ in range(2):
            start = time.perf_counter()
            python_loop(p0[:seeds], ctx.x, ctx.y, lr=ctx.lr, steps=k)
            out.append(time.perf_counter() - start)
        return min(out)

    t_one, t_long = best(1, 1), best(PYLOOP_SEEDS, long_steps)
    per = max(t_long - t_one, 1e-9) / (PYLOOP_SEEDS * long_steps)
    final = python_loop(p0, ctx.x, ctx.y, lr=ctx.lr, steps=steps)
    return {"rate": 1.0 / per, "compile_s": t_one, "final": final, "seeds": PYLOOP_SEEDS,
            "steps": long_steps}


TORCH_METHODS = (("vmap", "torch vmap(grad)"), ("compile", "torch.compile"))


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_runner(ctx: Context, kind: str, n: int, steps: int, dtype: str,
                 flat0: np.ndarray) -> Timed:
    """``torch.func.vmap(grad)`` or an elementwise backprop step under ``torch.compile``.

    Only runs where torch is installed (it is not imported otherwise).
    """
    import torch

    method = "torch vmap(grad)" if kind == "vmap" else "torch.compile"
    run_steps = _steps_for(method, n, steps)
    tdt = getattr(torch, dtype)
    x = torch.as_tensor(ctx.x, dtype=tdt)
    y = torch.as_tensor(ctx.y[:, 0], dtype=tdt)
    p0 = torch.as_tensor(flat0, dtype=tdt)
    lr = ctx.lr

    def loss(p):
        h1 = torch.tanh(p[0] * x[:, 0] + p[1] * x[:, 1] + p[6])
        h2 = torch.tanh(p[2] * x[:, 0] + p[3] * x[:, 1] + p[7])
        out = torch.sigmoid(p[4] * h1 + p[5] * h2 + p[8])
        return torch.mean((out - y) ** 2 / 2)

    if kind == "vmap":
        grad = torch.func.vmap(torch.func.grad(loss))

        def step(p):
            return p - lr * grad(p)
    else:
        def step(p):
            w1, w2, w3, w4, w5, w6, b1, b2, b3 = p.unbind(1)
            g = [torch.zeros_like(w1) for _ in range(9)]
            for s in range(x.shape[0]):
                x1, x2, t = x[s, 0], x[s, 1], y[s]
                a1 = torch.tanh(w1 * x1 + w2 * x2 + b1)
                a2 = torch.tanh(w3 * x1 + w4 * x2 + b2)
                a3 = torch.sigmoid(w5 * a1 + w6 * a2 + b3)
                d3 = (a3 - t) * a3 * (1 - a3) / x.shape[0]
                d1 = d3 * w5 * (1 - a1 * a1)
                d2 = d3 * w6 * (1 - a2 * a2)
                for i, v in enumerate((d1 * x1, d1 * x2, d2 * x1, d2 * x2, d3 * a1, d3 * a2,
                                       d1, d2, d3)):
                    g[i] = g[i] + v
            return p - lr * torch.stack(g, dim=1)

        step = torch.compile(step)

    def train(k):
        with torch.no_grad() if kind != "vmap" else torch.enable_grad():
            p = p0
            for _ in range(k):
                p = step(p)
            return p.numpy()

    start = time.perf_counter()
    train(1)  # torch.compile compiles on the first call
    compile_s = time.perf_counter() - start
    final = train(steps) if run_steps == steps else None
    return Timed(lambda: train(run_steps), run_steps, n, compile_s, final, {})


def c_unavailable() -> str | None:
    """Why the C baseline cannot run here (no gcc, a compiler error), or None."""
    from _c_baseline import available

    return available()


def c_runner(ctx: Context, n: int, steps: int, dtype: str, flat0: np.ndarray) -> Timed:
    """The hand-written C baseline (``_c_baseline.c_train``), all steps, all usable cores.

    compile: gcc's time for the library when this process built it, 0 when it was already
    built (cached under ``results/c_build/``).
    """
    from _c_baseline import build_seconds, c_train

    p0 = flat0.astype(dtype)

    def run():
        return c_train(p0, ctx.x, ctx.y, lr=ctx.lr, steps=steps)

    return Timed(run, steps, n, build_seconds(), run(), {})


def c_peak(quick: bool) -> dict:
    """``_c_baseline.c_peak_flops`` (shorter with ``--quick``), or ``{"error": why not}``."""
    reason = c_unavailable()
    if reason:
        return {"error": reason}
    from _c_baseline import c_peak_flops

    return c_peak_flops(seconds=0.05 if quick else 0.2, repeat=2 if quick else 3)


def c_peak_line(cpeak: dict) -> str:
    """The C peak measurement in one line of the report."""
    if "error" in cpeak:
        return f"fp32 peak, measured in C: not available ({cpeak['error']})"
    w = cpeak["by_width"]
    ghz = cpeak["fp32_gflops"] / cpeak["threads"] / 32
    return (f"fp32 peak, measured in C (benchmarks/c/peak.c): {cpeak['fp32_gflops']:.0f} GFLOP/s "
            f"= {cpeak['threads']} threads x the best per-CPU-second rate of "
            f"{cpeak['chains']} independent FMA chains per thread (256-bit vectors "
            f"{w['fp32_256']['cpu']:.0f}, 512-bit {w['fp32_512']['cpu']:.0f}; best wall rate "
            f"{cpeak['fp32_gflops_wall']:.0f} under the current load; 32 flop/cycle per core "
            f"would mean {ghz:.2f} GHz); fp64 {cpeak['fp64_gflops']:.0f} GFLOP/s (256-bit "
            f"{w['fp64_256']['cpu']:.0f}, 512-bit {w['fp64_512']['cpu']:.0f}).")


def c_status() -> str:
    """Compiler and flags of the C baseline, or why its rows are skipped."""
    from _c_baseline import describe

    reason = c_unavailable()
    return describe() if reason is None else f"not available ({reason}), C rows skipped"


_RUNS: dict = {}


def cached(key: tuple, make: Callable[[], Any]):
    """``make()`` once per key (the same method, size, steps and dtype is prepared once)."""
    if key not in _RUNS:
        _RUNS[key] = make()
    return _RUNS[key]


# -- timing and memory -------------------------------------------------------------------------
def _rates(timed: Timed, times: list[float], cpu: list[float]) -> dict:
    work = timed.seeds * timed.steps
    return {"times_s": times, "cpu_s": cpu, "rate": work / min(times),
            "rate_median": work / statistics.median(times), "rate_cpu": work / min(cpu),
            "steps_timed": timed.steps}


def time_rate(timed: Timed, repeat: int) -> dict:
    """Best and median seed-steps per second of ``repeat`` calls."""
    from _machine import time_calls

    return _rates(timed, *time_calls(timed.run, repeat=repeat))


def time_rates(timeds: dict[str, Timed], repeat: int) -> dict[str, dict]:
    """:func:`time_rate` of several methods, interleaved: ``repeat`` rounds of one call of each,
    so that a change of the machine's load during the measurement hits every method alike."""
    from _machine import time_calls

    calls: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in timeds}
    for _ in range(repeat):
        for key, timed in timeds.items():
            wall, cpu = time_calls(timed.run, repeat=1)
            calls[key][0].extend(wall)
            calls[key][1].extend(cpu)
    return {k: _rates(timeds[k], *calls[k]) for k in timeds}


def run_worker(spec: dict, *, flags: bool = True, timeout: float = 1800) -> dict:
    """Run one configuration in a fresh process (``--worker``); returns its JSON report."""
    env = dict(os.environ)
    if not flags:
        env.pop("XLA_FLAGS", None)
        if ORIGINAL_XLA_FLAGS:
            env["XLA_FLAGS"] = ORIGINAL_XLA_FLAGS
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"worker failed (rc {proc.returncode}): {' | '.join(tail)}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_main(spec: dict) -> dict:
    """One configuration in this fresh process: set up, run once (or ``repeat`` times), report
    ``VmHWM`` and the ``VmRSS`` after setup, in KiB."""
    if spec.get("flags", True):
        symjax.configure_xla()
    import jax
    from _machine import status_kib

    ctx = _ctx_from_spec(spec["ctx"])
    method, n, steps, dtype = spec["method"], spec["n"], spec["steps"], spec["dtype"]
    widths = tuple(spec.get("widths", WIDTHS))
    npar = symjax.Layout(widths).n_params
    flat0 = np.random.default_rng(0).standard_normal((n, npar)).astype(dtype)
    out: dict[str, Any] = {"devices": len(jax.devices()), "xla_flags": os.environ.get(
        "XLA_FLAGS", "")}
    out["rss_setup_kib"] = status_kib("VmRSS")
    if method == "verify":
        for label in ("cold", "warm"):
            start = time.perf_counter()
            res = symjax.verify(widths=list(widths), init=ctx.init, optimizer="sgd", lr=ctx.lr,
                                seeds=n, steps=steps, dtype=dtype, chunk=ctx.chunk, quiet=True)
            out[f"{label}_total_s"] = time.perf_counter() - start
            out[f"{label}_compile_s"] = sum(res.timing["compile_seconds"].values())
            out[f"{label}_run_s"] = sum(res.timing["run_seconds"].values())
        out["form"] = res.layout["form"]
    else:
        runners = {
            "engine": lambda: engine_runner(ctx, n, steps, dtype, widths),
            "prototype": lambda: prototype_runner(ctx, n, steps, dtype, flat0),
            "textbook JAX": lambda: textbook_runner(ctx, n, steps, dtype, flat0),
            "textbook JAX (any widths)": lambda: textbook_any_runner(ctx, widths, n, steps,
                                                                     dtype, flat0),
            "NumPy": lambda: numpy_runner(ctx, n, steps, dtype, flat0),
            "Python loop": lambda: python_loop_measure(ctx, steps, flat0),
            C_METHOD: lambda: c_runner(ctx, n, steps, dtype, flat0),
        }
        timed = runners[method]()
        if isinstance(timed, Timed):
            out["compile_s"] = timed.compile_s
            if spec.get("repeat", 0):
                rate = time_rate(timed, spec["repeat"])
                out.update({k: rate[k] for k in ("rate", "rate_median", "rate_cpu")})
            else:
                timed.run()
    out["hwm_kib"] = status_kib("VmHWM")
    return out


def memory_of(spec: dict, enabled: bool) -> dict:
    """``{"peak_mib", "growth_mib"}`` of a configuration in a fresh process (or empty)."""
    if not enabled:
        return {}
    rep = run_worker(spec)
    if "error" in rep or rep.get("hwm_kib") is None:
        return {"memory_error": rep.get("error", "VmHWM unavailable")}
    return {"peak_mib": rep["hwm_kib"] / 1024,
            "growth_mib": (rep["hwm_kib"] - rep["rss_setup_kib"]) / 1024}


# -- formatting --------------------------------------------------------------------------------
def _mem_str(row: dict) -> str:
    if "peak_mib" not in row:
        return "-"
    return f"{row['peak_mib']:.0f} (+{row['growth_mib']:.0f})"


def _opt(fmt: str):
    return lambda v: "-" if v is None else format(v, fmt)


NOTES_MAIN = (
    "Rate: best (and median) of the timed calls, wall time. per CPU-s: seed-steps per CPU-second "
    "of this process, all threads (insensitive to other jobs on the machine; unloaded, a program "
    "on 2 devices reaches at most about 2x it in wall time). x engine: best rate / the engine's "
    "best rate at the same size and dtype. compile: XLA lower + compile of the training program "
    "(engine: as reported by run_sweep; Python loop: its one-step call). peak RSS: VmHWM of a "
    "fresh process that runs the configuration once, and its growth over the RSS after imports "
    "and inputs. flops/seed-step: XLA cost analysis of one step (NumPy, the Python loop and C: "
    "the textbook JAX count). (extrap.): fewer steps or seeds were timed; the rate is per "
    "seed-step. C (OpenMP): benchmarks/c/xor221.c on all usable cores; its compile is gcc's "
    "time for the library (0: already built, cached under results/c_build/)."
)

MAIN_COLUMNS = [
    ("seeds", "n", lambda v: f"{v:.0e}".replace("e+0", "e")),
    ("method", "method", str),
    ("dtype", "dtype", str),
    ("steps timed", "timed", str),
    ("seed-steps/s best", "rate", _rate_str),
    ("median", "rate_median", _rate_str),
    ("per CPU-s", "rate_cpu", _rate_str),
    ("x engine", "ratio", _opt(".3g")),
    ("compile s", "compile_s", _opt(".2f")),
    ("peak RSS MiB (+growth)", None, None),
    ("flops/seed-step", "flops", _opt(".0f")),
    ("% of fp32 peak", "peak_pct", _opt(".1f")),
]


def render(rows: list[dict], columns, markdown: bool) -> list[str]:
    cells = [[c[0] for c in columns]]
    for r in rows:
        line = []
        for _, key, fmt in columns:
            if key is None:
                line.append(_mem_str(r))
            else:
                line.append(fmt(r.get(key)) if r.get(key) is not None or key == "ratio"
                            else "-")
        cells.append(line)
    if markdown:
        out = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return out + ["| " + " | ".join(c) + " |" for c in cells[1:]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    fmt_line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt_line(cells[0]), fmt_line(["-" * w for w in widths]), *map(fmt_line, cells[1:])]


class Report:
    """Collects sections of text and Markdown (printed as they come) and the JSON document."""

    def __init__(self):
        self.text: list[str] = []
        self.md: list[str] = []
        self.doc: dict[str, Any] = {}

    def heading(self, title: str):
        self.text += ["", title, "=" * len(title)]
        self.md += ["", f"### {title}", ""]
        print("\n".join(self.text[-3:]), flush=True)

    def lines(self, lines: list[str], md: list[str] | None = None):
        self.text += lines
        self.md += lines if md is None else md
        print("\n".join(lines), flush=True)

    def table(self, rows: list[dict], columns):
        self.lines(render(rows, columns, False), render(rows, columns, True))


# -- sections ----------------------------------------------------------------------------------
def with_derived(row: dict, engine_rate: float | None, peak: float) -> dict:
    if engine_rate and row.get("rate"):
        row["ratio"] = row["rate"] / engine_rate
    if row.get("flops") and row.get("rate"):
        row["peak_pct"] = 100 * row["rate"] * row["flops"] / peak
    return row


def compare(final: np.ndarray | None, reference: np.ndarray, dtype: str) -> dict:
    """Max |diff| to the engine, bitwise-equal seeds, and the tolerance verdict."""
    if final is None:
        return {}
    ref = reference[: final.shape[0]]
    diff = np.abs(final.astype(np.float64) - ref.astype(np.float64))
    rtol, atol = TOLERANCE[dtype]
    ok = diff <= atol + rtol * np.abs(ref.astype(np.float64))
    within = int(np.all(ok, axis=1).sum())
    return {"max_abs_diff": float(np.nanmax(diff)) if diff.size else 0.0,
            "bitwise_seeds": int(np.all(final == ref, axis=1).sum()),
            "checked_seeds": int(final.shape[0]), "within_tol_seeds": within,
            "ok": within >= MIN_WITHIN * final.shape[0]}


CHECK_COLUMNS = [
    ("method", "method", str),
    ("dtype", "dtype", str),
    ("seeds x steps", "work", str),
    ("bitwise = engine", "bitwise", str),
    ("within tol", "within", str),
    ("max |p - p_engine|", "max_abs_diff", _opt(".2e")),
    ("verdict", "verdict", str),
]


def section_check(rep: Report, ctx: Context, n: int, steps: int, dtypes) -> dict:
    """Same init, same data, same lr: every method's final parameters against the engine's."""
    rep.heading(f"Same result: final parameters after {steps} steps vs the engine")
    rows = []
    for dtype in dtypes:
        key = (n, steps, dtype)
        eng = cached(("engine", *key), lambda: engine_runner(ctx, n, steps, dtype))
        flat0, ref = eng.info["init"], eng.final
        runners = {"prototype": lambda: prototype_runner(ctx, n, steps, dtype, flat0),
                   "NumPy": lambda: numpy_runner(ctx, n, steps, dtype, flat0)}
        runners["textbook JAX"] = lambda: textbook_runner(ctx, n, steps, dtype, flat0)
        if dtype == "float32":
            runners["Python loop"] = lambda: python_loop_measure(ctx, steps, flat0)
            if torch_available():
                for kind, label in TORCH_METHODS:
                    runners[label] = lambda k=kind: torch_runner(ctx, k, n, steps, dtype, flat0)
        if c_unavailable() is None:
            runners[C_METHOD] = lambda: c_runner(ctx, n, steps, dtype, flat0)
        finals = {}
        for method, make in runners.items():
            run = cached((method, *key), make) if method != "Python loop" else cached(
                ("Python loop", steps), make)
            finals[method] = run["final"] if isinstance(run, dict) else run.final
        for method, final in finals.items():
            if final is None:
                continue
            c = compare(final, ref, dtype)
            rows.append({"method": method, "dtype": dtype, **c,
                         "work": f"{c['checked_seeds']} x {steps}",
                         "bitwise": f"{c['bitwise_seeds']}/{c['checked_seeds']}",
                         "within": f"{c['within_tol_seeds']}/{c['checked_seeds']}",
                         "verdict": "same" if c["ok"] else "DIFFERENT"})
    rep.table(rows, CHECK_COLUMNS)
    tols = ", ".join(f"{d}: rtol {r:g}, atol {a:g}" for d, (r, a) in TOLERANCE.items())
    rep.lines([f"Same init (engine's '{ctx.init}' scheme, seeds 0..{n - 1}), the engine's XOR "
               f"and lr {ctx.lr:g}. Tolerance per parameter |p - p_engine| <= atol + rtol "
               f"|p_engine| ({tols}), required for {100 * MIN_WITHIN:g}% of the seeds; the Python "
               f"loop is checked on its {PYLOOP_SEEDS} timed seeds."])
    return {"rows": rows, "seeds": n, "steps": steps, "ok": all(r["ok"] for r in rows)}


def section_main(rep: Report, ctx: Context, sizes, steps: int, peak: float, flops: dict,
                 memory: bool, f64_size: int | None) -> list[dict]:
    rep.heading(f"Throughput, 2-2-1 XOR, {steps} steps (seed-steps/s = seeds x steps / s)")
    rows: list[dict] = []
    base = {"steps": steps, "ctx": _ctx_spec(ctx)}
    pyloop, pyloop_mem = None, {}
    configs = [(n, "float32") for n in sizes] + ([(f64_size, "float64")] if f64_size else [])
    for n, dtype in configs:
        key = (n, steps, dtype)
        eng = cached(("engine", *key), lambda: engine_runner(ctx, n, steps, dtype))
        flat0 = eng.info["init"]
        makers = {"engine": lambda: eng,
                  "prototype": lambda: prototype_runner(ctx, n, steps, dtype, flat0)}
        makers["textbook JAX"] = lambda: textbook_runner(ctx, n, steps, dtype, flat0)
        makers["NumPy"] = lambda: numpy_runner(ctx, n, steps, dtype, flat0)
        if dtype == "float32" and torch_available():
            for kind, label in TORCH_METHODS:
                makers[label] = lambda k=kind: torch_runner(ctx, k, n, steps, dtype, flat0)
        if c_unavailable() is None:
            makers[C_METHOD] = lambda: c_runner(ctx, n, steps, dtype, flat0)
        timeds = {method: cached((method, *key), make) for method, make in makers.items()}
        rates = time_rates(timeds, ctx.repeat)
        engine_rate = rates["engine"]["rate"]
        for method, timed in timeds.items():
            rate = rates[method]
            fl = flops.get((method, dtype)) or flops[("textbook JAX", dtype)]
            spec = {**base, "method": method, "n": n, "dtype": dtype, "steps": timed.steps}
            row = {"n": n, "method": method, "dtype": dtype, **rate,
                   "timed": f"{timed.seeds}x{timed.steps}" + ("" if timed.steps == steps
                                                              else " (extrap.)"),
                   "compile_s": timed.compile_s, "flops": fl[0], "transcendentals": fl[1],
                   **{k: v for k, v in timed.info.items() if k != "init"},
                   **memory_of(spec, memory)}
            rows.append(with_derived(row, engine_rate, peak))
        if dtype == "float32":
            if pyloop is None:
                pyloop = cached(("Python loop", steps),
                                lambda: python_loop_measure(ctx, steps, flat0))
                pyloop_mem = memory_of({**base, "method": "Python loop", "n": PYLOOP_SEEDS,
                                        "dtype": dtype}, memory)
            fl = flops[("textbook JAX", "float32")]
            rows.append(with_derived({
                "n": n, "method": "Python loop", "dtype": dtype, "rate": pyloop["rate"],
                "rate_median": None, "timed": f"{PYLOOP_SEEDS}x{pyloop['steps']} (extrap.)",
                "compile_s": pyloop["compile_s"], "flops": fl[0], "transcendentals": fl[1],
                **pyloop_mem}, engine_rate, peak))
        print(f"  ... {n} seeds {dtype} done", file=sys.stderr, flush=True)
    rep.table(rows, MAIN_COLUMNS)
    return rows


def section_no_flags(rep: Report, ctx: Context, n: int, steps: int, repeat: int,
                     engine_row: dict | None) -> dict:
    rep.heading("Engine without configure_xla (fresh process, no XLA flags)")
    spec = {"method": "engine", "n": n, "steps": steps, "dtype": "float32", "repeat": repeat,
            "flags": False, "ctx": _ctx_spec(ctx)}
    out = run_worker(spec, flags=False)
    if "error" in out:
        rep.lines([out["error"]])
        return out
    with_flags = engine_row["rate"] if engine_row else None
    lines = [f"{n} seeds x {steps} steps, float32, XLA_FLAGS={out['xla_flags']!r}, "
             f"{out['devices']} device(s): best {out['rate']:.3g} seed-steps/s "
             f"(median {out['rate_median']:.3g}, {out['rate_cpu']:.3g} per CPU-second), "
             f"compile {out['compile_s']:.2f} s"]
    if with_flags:
        lines.append(f"With the flags (table above): {with_flags:.3g} seed-steps/s, "
                     f"{with_flags / out['rate']:.2f}x faster.")
    rep.lines(lines)
    return out


WIDTH_COLUMNS = [
    ("widths", "widths", str),
    ("params", "params", str),
    ("method", "method", str),
    ("form used", "form", str),
    ("steps timed", "timed", str),
    ("seed-steps/s best", "rate", _rate_str),
    ("per CPU-s", "rate_cpu", _rate_str),
    ("x engine", "ratio", _opt(".3g")),
    ("compile s", "compile_s", _opt(".2f")),
    ("peak RSS MiB (+growth)", None, None),
    ("flops/seed-step", "flops", _opt(".0f")),
    ("% of fp32 peak", "peak_pct", _opt(".1f")),
    ("max |p - p_engine|", "max_abs_diff", _opt(".1e")),
    ("within tol", "within", str),
]


def section_widths(rep: Report, ctx: Context, series, n: int, steps: int, peak: float,
                   memory: bool, check_seeds: int) -> list[dict]:
    rep.heading(f"Width and depth, {n} seeds x {steps} steps, float32")
    rows = []
    for widths in series:
        label = "-".join(map(str, widths))
        npar = symjax.Layout(widths).n_params
        eng = engine_runner(ctx, n, steps, "float32", widths)
        flat0 = eng.info["init"]
        tb = textbook_any_runner(ctx, widths, n, steps, "float32", flat0)
        k = min(check_seeds, n)
        diff = compare(textbook_any_final(ctx, widths, steps, "float32", flat0[:k]),
                       eng.final[:k], "float32")
        rates = time_rates({"engine": eng, "textbook": tb}, ctx.repeat)
        engine_rate = rates["engine"]["rate"]
        for method, timed, fl, rate in (
            ("engine", eng, engine_flops(ctx, "float32", widths), rates["engine"]),
            ("textbook JAX (any widths)", tb, textbook_any_flops(ctx, widths, "float32"),
             rates["textbook"]),
        ):
            spec = {"method": method, "n": n, "steps": timed.steps, "dtype": "float32",
                    "widths": list(widths), "ctx": _ctx_spec(ctx)}
            row = {"widths": label, "params": str(npar), "method": method,
                   "form": eng.info["form"] if method == "engine" else "matmul",
                   "timed": f"{timed.seeds}x{timed.steps}" + ("" if timed.steps == steps
                                                              else " (extrap.)"),
                   **rate, "compile_s": timed.compile_s, "flops": fl[0],
                   "transcendentals": fl[1], **memory_of(spec, memory)}
            if method != "engine":
                row.update(diff, within=f"{diff['within_tol_seeds']}/{diff['checked_seeds']}")
            rows.append(with_derived(row, engine_rate, peak))
        print(f"  ... {label} done", file=sys.stderr, flush=True)
    rep.table(rows, WIDTH_COLUMNS)
    rep.lines(["form used: the engine's choice (symjax.numeric.net.exact_form): scalar = unrolled "
               "scalar leaves, vector = fixed-order column loops (still exact), matmul = x @ W.T "
               f"(exact path falls back to it for very wide layers). max |p - p_engine| and "
               f"within tol: textbook vs engine on the first {min(check_seeds, n)} seeds after "
               f"{steps} steps (lr {ctx.lr:g} is tuned for 2-2-1; on deeper nets a few seeds "
               f"near a bifurcation amplify rounding differences)."])
    return rows


def section_big(rep: Report, ctx: Context, n: int, steps: int) -> dict:
    rep.heading(f"{n} seeds x {steps} steps: symjax.verify end to end (fresh process)")
    spec = {"method": "verify", "n": n, "steps": steps, "dtype": "float32",
            "ctx": _ctx_spec(ctx)}
    out = run_worker(spec)
    if "error" in out:
        rep.lines([out["error"]])
        return out
    out["peak_mib"] = out["hwm_kib"] / 1024
    out["growth_mib"] = (out["hwm_kib"] - out["rss_setup_kib"]) / 1024
    rep.lines([
        f"first call (compiles): {out['cold_total_s']:.2f} s total, of which compile "
        f"{out['cold_compile_s']:.2f} s and training calls {out['cold_run_s']:.2f} s",
        f"second call (compiled): {out['warm_total_s']:.2f} s total, training calls "
        f"{out['warm_run_s']:.2f} s ({n * steps / out['warm_run_s']:.3g} seed-steps/s)",
        f"peak memory (VmHWM of the process, both calls): {out['peak_mib']:.0f} MiB "
        f"(+{out['growth_mib']:.0f} MiB over the {out['rss_setup_kib'] / 1024:.0f} MiB after "
        f"importing JAX); form {out['form']}, init '{ctx.init}', optimizer sgd, chunk {ctx.chunk}",
    ])
    return out


BREAKDOWN_COLUMNS = [
    ("program", "label", str),
    ("kernels/step", "kernels", _opt("d")),
    ("seed-steps/s best", "rate", _rate_str),
    ("median", "rate_median", _rate_str),
    ("per CPU-s", "rate_cpu", _rate_str),
    ("x fastest", "ratio", _opt(".2f")),
    ("compile s", "compile_s", _opt(".2f")),
    ("flops/seed-step", "flops", _opt(".0f")),
    ("% of fp32 peak", "peak_pct", _opt(".1f")),
]


def section_breakdown(rep: Report, ctx: Context, n: int, steps: int, peak: float) -> list[dict]:
    """The engine's machinery added to the minimal prototype one piece at a time.

    Every program is timed in the same rounds (one call each per round, best of
    ``max(repeat, 5)`` rounds), so that load changes hit all of them alike.
    """
    import jax
    from _machine import kernels_per_step
    from _prototype import Variant

    from symjax.numeric.inits import pinned_numerics
    from symjax.numeric.sweep import BLOCK_TARGET, compiled_program, plan_batching

    rep.heading(f"Where the engine's time goes: {n} seeds x {steps} steps, float32")
    eng = engine_runner(ctx, n, steps, "float32")
    flat0 = eng.info["init"]
    dev, blk = ctx.devices, _block_for(n, ctx.devices)
    variants = [
        Variant(devices=1),
        Variant(devices=1, block=_block_for(n, 1)),
        Variant(devices=dev, block=blk),
        Variant(devices=dev, block=_block_for(n, dev, 512)),
        Variant(devices=dev, block=blk, grad="manual"),
        Variant(devices=dev, block=blk, constant_data=True),
        # blocks of 512 as the engine: with the barrier, blocks of 4096 ran 7x slower
        Variant(devices=dev, block=_block_for(n, dev, 512), barrier=True),
        Variant(carry="stacked", devices=dev, block=_block_for(n, dev, 512), barrier=True),
        Variant(carry="stacked", devices=dev, block=_block_for(n, dev, 512), checks=True,
                barrier=True),
    ]
    rows, timeds = [], {}
    for v in variants:
        t = prototype_runner(ctx, n, steps, "float32", flat0, v)
        same = "" if np.array_equal(t.final, eng.final) else " [not bitwise = engine]"
        label = f"prototype: {v.label}{same}"
        timeds[label] = t
        rows.append({"label": label, "compile_s": t.compile_s, "kernels": t.info["kernels"],
                     "flops": prototype_flops(ctx, "float32", v)[0]})
    # the engine's compiled program on all seeds in one call (no chunks, no init draws), as is,
    # with smaller blocks, and with no tied pairs to check (the non-finite check stays)
    plan = _engine_plan(ctx, n, steps, "float32")
    cfg = plan.train_configs()[0]
    x, y = plan.data.x.astype(np.float32), plan.data.y.astype(np.float32)
    eng_flops = engine_flops(ctx, "float32")[0]
    for name, c, block_target in (
        ("engine program alone", cfg, BLOCK_TARGET),
        ("engine program alone, block target 128", cfg, 128),
        ("engine program alone, no tied pairs (ties=())", dataclasses.replace(cfg, ties=()),
         BLOCK_TARGET),
    ):
        batching = plan_batching(n, len(jax.devices()), block_target)
        with pinned_numerics("float32"):
            program, _ = compiled_program(c, batching, x, y)
            args = [jax.device_put(a) for a in (
                _pad(flat0, batching.runs), _pad(np.arange(n, dtype=np.uint32), batching.runs),
                x, y)]
        label = f"{name}: one call, {batching.block} seeds x {batching.blocks} blocks per device"
        timeds[label] = Timed(lambda p=program, a=args: jax.block_until_ready(p(*a)), steps, n,
                              None, None, {})
        rows.append({"label": label, "kernels": kernels_per_step(program, steps),
                     "flops": eng_flops if c is cfg else None})
    kernels = rows[-3]["kernels"]
    if ctx.chunk < n:
        label = f"engine run_sweep, chunk {n} (one call)"
        timeds[label] = engine_runner(dataclasses.replace(ctx, chunk=n), n, steps, "float32")
        rows.append({"label": label, "compile_s": timeds[label].compile_s, "kernels": kernels,
                     "flops": eng_flops})
    label = (f"engine run_sweep, chunk {ctx.chunk} ({eng.info['seeds_per_call']} seeds per "
             f"call) = main table")
    timeds[label] = eng
    rows.append({"label": label, "compile_s": eng.compile_s, "kernels": kernels,
                 "flops": eng_flops})
    rates = time_rates(timeds, max(ctx.repeat, 5))
    for r in rows:
        r.update(rates[r["label"]])
    fastest = max(r["rate"] for r in rows)
    for r in rows:
        with_derived(r, fastest, peak)
    rep.table(rows, BREAKDOWN_COLUMNS)
    rep.lines(["kernels/step: operations in the compiled step loop (each a pass over the seeds "
               "of a block). leaves: nine (n,) arrays in the scan carry; stacked: one (9, n) "
               "array (the engine's layout); checks: the engine's per-step bit-pattern, ULP and "
               "non-finite checks; manual grad: hand-written backprop instead of jax.grad; delta "
               "barrier: each delta computed once per step (numeric.net.delta_barrier, as the "
               "engine); const data: XOR baked into the program. All rows timed in the same rounds "
               f"(best of {max(ctx.repeat, 5)})."])
    return rows


def section_targets(rep: Report, main_rows, big, sizes, steps: int,
                    peak_flops: float | None = None) -> list[dict]:
    """The issue's targets as written, and (with ``peak_flops``) its speed targets scaled to the
    same fractions of this machine's hardware limit (see :data:`ISSUE_PEAK_FLOPS`)."""
    rep.heading("Speed targets")

    def engine(dtype, n_min=0):
        return [r for r in main_rows if r["method"] == "engine" and r["dtype"] == dtype
                and r["n"] >= n_min]

    out = []

    def target(name, value, ok, detail):
        out.append({"target": name, "value": value, "met": ok})
        verdict = "n/a" if ok is None else "MET" if ok else "MISSED"
        rep.lines([f"- {name}: {detail} -> {verdict}"])

    f32 = engine("float32", 10_000)
    worst = min((r["rate"] for r in f32), default=None)
    target(">= 4e8 seed-steps/s float32 from 1e4 seeds up (aim 5e8)", worst,
           None if worst is None or steps < 1000 else worst >= TARGETS["float32"],
           "not measured" if worst is None else
           f"worst best-of-repeats {worst:.3g} over {len(f32)} sizes")
    f64 = engine("float64")
    v = f64[0]["rate"] if f64 else None
    target(">= 1.5e8 seed-steps/s float64", v,
           None if v is None or steps < 1000 else v >= TARGETS["float64"],
           "not measured" if v is None else f"{v:.3g} at {f64[0]['n']} seeds")
    comp = max((r["compile_s"] for r in engine("float32") + f64), default=None)
    target("compile < 2 s", comp, None if comp is None else comp < TARGETS["compile_s"],
           "not measured" if comp is None else f"slowest engine compile {comp:.2f} s")
    if big and "warm_run_s" in big:
        full = big["n"] >= 1_000_000 and big["steps"] >= 1000
        target("1e6 seeds x 1000 steps under 5 s", big["warm_run_s"],
               big["warm_total_s"] < TARGETS["big_seconds"] if full else None,
               f"{big['n']} x {big['steps']}: {big['warm_total_s']:.2f} s compiled, "
               f"{big['cold_total_s']:.2f} s with compile")
        target("... and under 1 GiB peak memory", big["peak_mib"],
               big["peak_mib"] < 1024 * TARGETS["big_peak_gib"] if full else None,
               f"{big['peak_mib']:.0f} MiB VmHWM")
    if not peak_flops:
        return out
    scale = peak_flops / ISSUE_PEAK_FLOPS
    rep.lines([
        "",
        f"The absolute targets assume a fp32 peak of {ISSUE_PEAK_FLOPS / 1e9:.0f} GFLOP/s; the "
        f"peak measured here is {peak_flops / 1e9:.0f} GFLOP/s. The same fractions of this "
        f"machine's hardware limit (x {scale:.2f}):",
    ])
    t32, aim, t64 = (TARGETS[k] * scale for k in ("float32", "float32_aim", "float64"))
    target(f">= {t32:.3g} seed-steps/s float32 from 1e4 seeds up (40% of the limit here; "
           f"aim {aim:.3g})", worst,
           None if worst is None or steps < 1000 else worst >= t32,
           "not measured" if worst is None else
           f"worst best-of-repeats {worst:.3g} over {len(f32)} sizes")
    target(f">= {t64:.3g} seed-steps/s float64", v,
           None if v is None or steps < 1000 else v >= t64,
           "not measured" if v is None else f"{v:.3g} at {f64[0]['n']} seeds")
    if big and "warm_run_s" in big:
        limit = TARGETS["big_seconds"] / scale
        target(f"1e6 seeds x 1000 steps under {limit:.1f} s", big["warm_run_s"],
               big["warm_total_s"] < limit if full else None,
               f"{big['n']} x {big['steps']}: {big['warm_total_s']:.2f} s compiled")
    return out


# -- main --------------------------------------------------------------------------------------
ORIGINAL_XLA_FLAGS = os.environ.get("XLA_FLAGS", "")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="small run: sizes 1e3,1e4, 200 steps, 2 repeats, smaller sections")
    p.add_argument("--sizes", type=_nums, help="seed counts (default 1e3,1e4,1e5,1e6)")
    p.add_argument("--steps", type=_num, help="training steps (default 1000)")
    p.add_argument("--repeat", type=_num, help="timed calls per measurement (default 3)")
    p.add_argument("--init", default="normal", help="engine init scheme (default normal)")
    p.add_argument("--chunk", type=_num, help="engine seeds per call (default: verify's)")
    p.add_argument("--check-seeds", type=_num, default=1000, help="seeds of the result check")
    p.add_argument("--f64-size", type=int, help="seeds of the float64 rows (0: skip)")
    p.add_argument("--widths", default=None,
                   help="hidden widths h of 2-h-1 (default 2,4,8,16,32; '' to skip)")
    p.add_argument("--depths", default=None,
                   help="hidden widths h of 2-h-h-1 (default 2,4,8; '' to skip)")
    p.add_argument("--width-seeds", type=_num, help="seeds of the width rows (default 1e4)")
    p.add_argument("--big-seeds", type=int, help="seeds of the verify run (default 1e6; 0 skip)")
    p.add_argument("--breakdown-seeds", type=int,
                   help="seeds of the cost breakdown (default 131072; 0: skip)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--no-flags-row", action="store_true",
                   help="skip the engine row without XLA flags")
    p.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    p.add_argument("--json", type=Path, help="also write everything as JSON here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "sizes": [1000, 10_000] if quick else [1000, 10_000, 100_000, 1_000_000],
        "steps": 200 if quick else 1000, "repeat": 2 if quick else 3,
        "f64_size": 10_000 if quick else 100_000,
        "widths": "2,4" if quick else "2,4,8,16,32", "depths": "2" if quick else "2,4,8",
        "width_seeds": 1000 if quick else 10_000, "big_seeds": 100_000 if quick else 1_000_000,
        "breakdown_seeds": 16384 if quick else 131072,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker_main(json.loads(args.worker)), default=float))
        return 0
    xla = symjax.configure_xla()  # before anything imports JAX
    import jax
    from _machine import machine_info, measure_peak_flops

    from symjax.numeric.datasets import make_dataset
    from symjax.numeric.optimizers import default_lr
    from symjax.results.config import DEFAULTS

    rep = Report()
    machine = machine_info()
    peak = measure_peak_flops(quick=args.quick)
    cpeak = c_peak(args.quick)
    peak_flops, peak_source = max((peak["peak_flops"], "JAX"),
                                  (cpeak.get("fp32_gflops", 0.0) * 1e9, "C"))
    ghz = (machine["mhz"] or 0) / 1000
    nominal = machine["cores"] * ghz * 1e9 * 32
    data = make_dataset("xor", WIDTHS)  # the engine's XOR, handed to every baseline
    ctx = Context(x=data.x, y=data.y, lr=default_lr("sgd"), init=args.init,
                  chunk=args.chunk or DEFAULTS["chunk"], repeat=args.repeat, quick=args.quick,
                  devices=len(jax.devices()))
    machine_line = (f"{machine['cpu']}, {machine['cores']} cores at {ghz:.2f} GHz "
                    f"({machine['simd']}), {machine['devices']} JAX CPU devices, Python "
                    f"{machine['python']}, jax {machine['jax']}, jaxlib {machine['jaxlib']}, "
                    f"{machine['date']}, load average {machine['load_average'][0]:.2f}")
    rep.heading("symjax throughput benchmark")
    rep.lines([
        f"machine: {machine_line}",
        f"XLA_FLAGS (set by symjax.configure_xla before JAX was imported; every JAX method "
        f"below runs in this process under them): {machine['xla_flags']}",
        f"fp32 peak, measured in JAX: {peak['peak_flops'] / 1e9:.0f} GFLOP/s = {machine['cores']} "
        f"cores x the best per-CPU-second rate of a jitted FMA loop "
        f"({peak['fma_flops_per_cpu_s'] / 1e9:.0f} GFLOP/s per core; matmul "
        f"{peak['matmul_flops_per_cpu_s'] / 1e9:.0f}; best wall rate on both devices "
        f"{peak['peak_flops_wall'] / 1e9:.0f} GFLOP/s under the current load). For "
        f"reference, {machine['cores']} cores x {ghz:.2f} GHz (/proc/cpuinfo; lscpu gives no "
        f"boost clock) x 32 flop/cycle (two 256-bit FMA pipes) = {nominal / 1e9:.0f} GFLOP/s: "
        f"the measured loop is faster, so the cores run above {ghz:.2f} GHz.",
        c_peak_line(cpeak),
        f"'% of fp32 peak' uses the larger measured fp32 peak, {peak_flops / 1e9:.0f} GFLOP/s "
        f"({peak_source}), and XLA's flop count (transcendentals not counted).",
        f"workload: 2-2-1 tanh/sigmoid, squared error mean over the 4 XOR samples, sgd lr "
        f"{ctx.lr:g} (the engine's default), init '{ctx.init}' drawn by the engine; torch: "
        f"{'importable' if torch_available() else 'not importable, torch rows skipped'}; "
        f"C (OpenMP): {c_status()}",
    ])
    doc: dict[str, Any] = {"machine": machine, "configure_xla": xla, "peak": peak,
                           "c_peak": cpeak, "peak_flops_used": peak_flops,
                           "peak_flops_source": peak_source, "c_baseline": c_status(),
                           "nominal_peak_flops": nominal, "args": {
                               k: (str(v) if isinstance(v, Path) else v)
                               for k, v in vars(args).items()}}

    doc["check"] = section_check(rep, ctx, min(args.check_seeds, max(args.sizes)), args.steps,
                                 ("float32", "float64") if args.f64_size else ("float32",))
    flops = {("engine", "float32"): engine_flops(ctx, "float32"),
             ("prototype", "float32"): prototype_flops(ctx, "float32"),
             ("textbook JAX", "float32"): textbook_flops(ctx, "float32")}
    if args.f64_size:
        flops[("engine", "float64")] = engine_flops(ctx, "float64")
        flops[("prototype", "float64")] = prototype_flops(ctx, "float64")
        flops[("textbook JAX", "float64")] = textbook_flops(ctx, "float64")
    main_rows = section_main(rep, ctx, args.sizes, args.steps, peak_flops, flops,
                             not args.no_memory, args.f64_size)
    rep.lines(["", NOTES_MAIN])
    doc["main"] = main_rows
    engine_f32 = [r for r in main_rows if r["method"] == "engine" and r["dtype"] == "float32"]
    if not args.no_flags_row:
        n = args.f64_size or max(args.sizes)
        ref = next((r for r in engine_f32 if r["n"] == n), None)
        doc["no_flags"] = section_no_flags(rep, ctx, n, args.steps, ctx.repeat, ref)
    series = [(2, h, 1) for h in _nums(args.widths)] if args.widths else []
    series += [(2, h, h, 1) for h in _nums(args.depths)] if args.depths else []
    if series:
        doc["widths"] = section_widths(rep, ctx, series, args.width_seeds, args.steps,
                                       peak_flops, not args.no_memory, 256)
    big = None
    if args.big_seeds:
        big = section_big(rep, ctx, args.big_seeds, args.steps)
        big.update(n=args.big_seeds, steps=args.steps)
        doc["big"] = big
    if args.breakdown_seeds:
        doc["breakdown"] = section_breakdown(rep, ctx, args.breakdown_seeds, args.steps,
                                             peak_flops)
    doc["targets"] = section_targets(rep, main_rows, big, args.sizes, args.steps, peak_flops)
    machine["load_average_end"] = list(os.getloadavg())
    if args.markdown:
        args.markdown.write_text("\n".join(rep.md).lstrip() + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(_jsonable(doc), indent=1) + "\n", encoding="utf-8")
    return 0 if doc["check"]["ok"] else 1


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


if __name__ == "__main__":
    sys.exit(main())
