"""Seeds x init schemes x optimizers: chunks of bounded memory, sharded over every device.

How one command runs (the layout that decides per-seed rounding is recorded in results):

1. Seeds are taken in host chunks of ``chunk`` seeds (the last chunk is padded with repeats of
   its last seed, so every call has the same shapes and nothing recompiles). The progress bar
   counts calls.
2. For each chunk, every init scheme draws its parameters (one small compiled program for all
   schemes); the runs of all schemes are concatenated, so one compiled training program per
   optimizer serves every scheme.
3. The training program is ``jit(shard_map(...))`` over a 1-D mesh of all devices (axis
   ``"seeds"``, ``AxisType.Auto``). On each device, its runs are reshaped into blocks of about
   :data:`BLOCK_TARGET` runs and ``lax.map`` runs one ``vmap``-ed block at a time, so a block's
   scan carry stays in cache. Runs are padded to a multiple of ``devices x block``.

Compiled programs are cached per configuration and shapes: a second call with the same settings
neither retraces nor recompiles (:data:`TRACE_COUNTS` counts traces, for tests).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import numpy as np
from jax import lax
from jax.sharding import AxisType, PartitionSpec

from ._errors import InputError
from ._inits import InitSpec, init_program
from ._train import RunResult, TrainConfig, run_block

#: Runs per ``lax.map`` block on one device (so that a block's carry stays in L2 cache).
BLOCK_TARGET = 4096
#: Blocks are a multiple of this many runs: whole SIMD vectors (16 float32 lanes in AVX-512),
#: so every parameter row of a block takes the same vectorized code path.
_ALIGN = 16
#: Largest number of bytes of per-call outputs (final parameters, trajectories).
MAX_CALL_BYTES = 1 << 30
#: Largest number of bytes of trajectories kept for a whole command.
MAX_TRAJECTORY_BYTES = 4 << 30

#: Number of times the training program of each configuration was traced (for tests).
TRACE_COUNTS: Counter = Counter()
_COMPILED: dict = {}


@dataclass(frozen=True)
class Batching:
    """How the runs of one call are laid out over devices and blocks.

    Attributes:
      devices: number of devices (the mesh size).
      block: runs per ``lax.map`` block on one device.
      blocks: blocks per device.
    """

    devices: int
    block: int
    blocks: int

    @property
    def runs(self) -> int:
        """Runs per call after padding: ``devices * blocks * block``."""
        return self.devices * self.blocks * self.block


def plan_batching(n_runs: int, devices: int, block_target: int = BLOCK_TARGET) -> Batching:
    """The smallest padding of ``n_runs`` into ``devices`` x blocks of at most ~block_target."""
    per_device = math.ceil(n_runs / devices)
    blocks = math.ceil(per_device / block_target)
    block = _ALIGN * math.ceil(per_device / blocks / _ALIGN)
    return Batching(devices, block, blocks)


def _mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((len(jax.devices()),), ("seeds",), axis_types=(AxisType.Auto,))


def train_program(cfg: TrainConfig, batching: Batching):
    """``jit(shard_map(lax.map(run_block)))`` for one configuration (not yet compiled).

    Signature of the result: ``(flat0 (runs, n_params), seeds (runs,) uint32, x, y) ->
    RunResult`` with a leading ``runs`` axis on every field.
    """
    def per_device(flat0, seeds, x, y):
        TRACE_COUNTS[cfg] += 1
        nb, b = batching.blocks, batching.block
        out = lax.map(lambda args: run_block(cfg, *args, x, y),
                      (flat0.reshape(nb, b, flat0.shape[-1]), seeds.reshape(nb, b)))
        return jax.tree.map(lambda v: v.reshape((nb * b,) + v.shape[2:]), out)

    runs, rep = PartitionSpec("seeds"), PartitionSpec()
    return jax.jit(jax.shard_map(per_device, mesh=_mesh(), in_specs=(runs, runs, rep, rep),
                                 out_specs=runs, check_vma=False))


def compiled_program(cfg: TrainConfig, batching: Batching, x: np.ndarray, y: np.ndarray):
    """The compiled training program and its compile time in seconds (0 when cached)."""
    key = (cfg, batching, x.shape, y.shape)
    if key in _COMPILED:
        return _COMPILED[key], 0.0
    dt = np.dtype(cfg.dtype)
    args = (
        jax.ShapeDtypeStruct((batching.runs, cfg.net.n_params), dt),
        jax.ShapeDtypeStruct((batching.runs,), np.uint32),
        jax.ShapeDtypeStruct(x.shape, dt),
        jax.ShapeDtypeStruct(y.shape, dt),
    )
    start = time.perf_counter()
    compiled = train_program(cfg, batching).lower(*args).compile()
    _COMPILED[key] = compiled
    return compiled, time.perf_counter() - start


@dataclass
class RunArrays:
    """Per-seed results of one init x optimizer combination (NumPy, leading seed axis)."""

    first_break: np.ndarray  # (seeds, pairs) int32, -1 = never
    max_ulp: np.ndarray  # (seeds, pairs) uint32 / uint64
    nonfinite_step: np.ndarray  # (seeds,) int32, -1 = never
    final_loss: np.ndarray  # (seeds,)
    solved: np.ndarray  # (seeds,) bool
    min_unit_distance: np.ndarray  # (seeds,)
    min_unit_distance_init: np.ndarray  # (seeds,)
    init_params: np.ndarray | None = None  # (seeds, n_params) with save_params
    final_params: np.ndarray | None = None  # (seeds, n_params) with save_params
    trajectory_params: np.ndarray | None = None  # (seeds, records, n_params)
    trajectory_loss: np.ndarray | None = None  # (seeds, records)


@dataclass
class SweepOutput:
    """Everything a sweep produced."""

    runs: dict[tuple[str, str], RunArrays]  # (init label, optimizer label) -> arrays
    batching: Batching
    seeds_per_call: int
    compile_seconds: dict[str, float] = field(default_factory=dict)  # per optimizer label
    run_seconds: dict[str, float] = field(default_factory=dict)  # per optimizer label


def run_sweep(
    configs: Sequence[TrainConfig],
    inits: Sequence[InitSpec],
    seeds: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    chunk: int,
    keep_params: bool = False,
    progress: bool | None = None,
) -> SweepOutput:
    """Run every init scheme under every training configuration for every seed.

    Call under :func:`symjax._inits.pinned_numerics` for the configurations' dtype.

    Args:
      configs: one :class:`TrainConfig` per optimizer (same net, dtype, path, steps, ties).
      inits: the init schemes.
      seeds: ``(n,)`` uint32 seed numbers.
      x: ``(S, n_in)`` inputs and y: ``(S, n_out)`` targets, in the run's dtype.
      chunk: seeds per call.
      keep_params: keep initial and final parameters of every run.
      progress: ``True`` show a progress bar on stderr, ``False`` never, ``None`` only on a TTY.

    Raises:
      InputError: a call or the trajectories would exceed the memory bounds.
    """
    from tqdm.auto import tqdm

    cfg0 = configs[0]
    n, n_inits = len(seeds), len(inits)
    per_call = min(chunk, n)
    n_calls = math.ceil(n / per_call)
    batching = plan_batching(per_call * n_inits, len(jax.devices()))
    _check_memory(cfg0, batching, n * n_inits * len(configs), keep_params)
    out: dict[tuple[str, str], list[RunResult]] = {}
    inits_kept: dict[str, list[np.ndarray]] = {s.spec: [] for s in inits}
    compile_s = dict.fromkeys((c.optimizer.label for c in configs), 0.0)
    run_s = dict.fromkeys(compile_s, 0.0)
    bar = tqdm(total=n_calls * len(configs), desc="verify", unit="call", file=sys.stderr,
               disable=(None if progress is None else not progress), leave=False)
    try:
        for start in range(0, n, per_call):
            valid = min(per_call, n - start)
            chunk_seeds = seeds[start : start + per_call]
            chunk_seeds = np.concatenate(
                [chunk_seeds, np.full(per_call - valid, chunk_seeds[-1], np.uint32)])
            draw = init_program(inits, cfg0.net.widths, cfg0.dtype, per_call)
            flat0 = [np.asarray(f) for f in draw(chunk_seeds)]
            if keep_params:
                for s, f in zip(inits, flat0):
                    inits_kept[s.spec].append(f[:valid])
            all_flat = _pad(np.concatenate(flat0), batching.runs)
            all_seeds = _pad(np.tile(chunk_seeds, n_inits), batching.runs)
            for cfg in configs:
                label = cfg.optimizer.label
                bar.set_postfix_str(label)
                program, seconds = compiled_program(cfg, batching, x, y)
                compile_s[label] += seconds
                t0 = time.perf_counter()
                result = jax.device_get(program(all_flat, all_seeds, x, y))
                run_s[label] += time.perf_counter() - t0
                for i, s in enumerate(inits):
                    part = jax.tree.map(lambda v, i=i: v[i * per_call : i * per_call + valid],
                                        result)
                    out.setdefault((s.spec, label), []).append(part)
                bar.update(1)
    finally:
        bar.close()
    runs = {}
    for (init_label, opt_label), parts in out.items():
        res = jax.tree.map(lambda *vs: np.concatenate(vs), *parts)
        runs[(init_label, opt_label)] = RunArrays(
            first_break=res.first_break,
            max_ulp=res.max_ulp,
            nonfinite_step=res.nonfinite_step,
            final_loss=res.final_loss,
            solved=res.solved,
            min_unit_distance=res.min_unit_distance,
            min_unit_distance_init=res.min_unit_distance_init,
            init_params=np.concatenate(inits_kept[init_label]) if keep_params else None,
            final_params=res.final_params if keep_params else None,
            trajectory_params=res.trajectory_params,
            trajectory_loss=res.trajectory_loss,
        )
    return SweepOutput(runs, batching, per_call, compile_s, run_s)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` with copies of the first row (results are dropped)."""
    extra = size - a.shape[0]
    return a if extra == 0 else np.concatenate([a, np.repeat(a[:1], extra, axis=0)])


def _check_memory(cfg: TrainConfig, batching: Batching, total_runs: int,
                  keep_params: bool) -> None:
    item = np.dtype(cfg.dtype).itemsize
    per_run = (cfg.net.n_params * (2 + cfg.n_records) + cfg.n_records) * item
    if batching.runs * per_run > MAX_CALL_BYTES:
        raise InputError(
            f"one call would return {batching.runs * per_run / 2**20:.0f} MiB "
            f"(limit {MAX_CALL_BYTES >> 20} MiB); use a smaller --chunk"
            + (" or a larger --trajectory-every" if cfg.n_records else "")
        )
    kept = total_runs * ((cfg.net.n_params + 1) * cfg.n_records
                         + (2 * cfg.net.n_params if keep_params else 0)) * item
    if kept > MAX_TRAJECTORY_BYTES:
        raise InputError(
            f"trajectories and saved parameters would take {kept / 2**30:.1f} GiB "
            f"(limit {MAX_TRAJECTORY_BYTES >> 30} GiB); use fewer seeds, a larger "
            f"--trajectory-every or no --save-params"
        )
