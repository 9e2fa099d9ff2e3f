"""Seeds x init schemes x optimizers: chunks of bounded memory, sharded over every device.

How one command runs (the layout that decides per-seed rounding is recorded in results):

1. Seeds are taken in host chunks of ``chunk`` seeds (the last chunk is padded with repeats of
   its last seed, so every call has the same shapes and nothing recompiles). The progress bar
   counts calls.
2. For each chunk, every init scheme draws its parameters (one small compiled program for all
   schemes); the runs of all schemes are concatenated, so one compiled training program per
   optimizer serves every scheme.
3. The training program is ``jit(shard_map(...))`` over a 1-D mesh of all devices (axis
   ``"seeds"``, ``AxisType.Auto``). On each CPU device, its runs are reshaped into blocks of
   :data:`BLOCK_TARGET` runs and ``lax.map`` runs one ``vmap``-ed block at a time, so a block's
   scan carry stays in cache (on GPU and TPU, one block of all the device's runs). Runs are
   padded to a multiple of ``devices x block``.

Compiled programs are cached per configuration and shapes: a second call with the same settings
neither retraces nor recompiles (:data:`TRACE_COUNTS` counts traces, for tests).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jax
import numpy as np
from jax import lax
from jax.sharding import AxisType, PartitionSpec

from ..base import signals as _signals
from ..base.errors import InputError
from ..base.signals import RunInterrupted as RunInterrupted  # raised here; its home is _signals
from ..results.rundir import ChunkStore
from .inits import InitSpec, init_program
from .train import TrainConfig, run_block
from .xla import available_memory

#: Runs per ``lax.map`` block on one CPU device, so that a block's carry stays in cache
#: (benchmarks/README.md). A multiple of 16, whole AVX-512 vectors of float32, so every
#: parameter row of a block takes the same vectorized code path.
BLOCK_TARGET = 512
#: On GPU and TPU a device's runs form one block, padded to a multiple of this.
_GPU_ALIGN = 128
#: Largest number of bytes of per-call outputs (final parameters, trajectories).
MAX_CALL_BYTES = 1 << 30
#: Largest number of bytes of trajectories kept for a whole command.
MAX_TRAJECTORY_BYTES = 4 << 30

#: Number of times the training program of each configuration was traced (for tests).
TRACE_COUNTS: Counter = Counter()
_COMPILED: dict = {}


@dataclass(frozen=True)
class Batching:
    """How the runs of one call are laid out: ``devices`` (the mesh size) x ``blocks`` per
    device x ``block`` runs per ``lax.map`` block."""

    devices: int
    block: int
    blocks: int

    @property
    def runs(self) -> int:
        """Runs per call after padding."""
        return self.devices * self.blocks * self.block


def plan_batching(n_runs: int, devices: int, block_target: int = BLOCK_TARGET) -> Batching:
    """``n_runs`` padded to ``devices`` x blocks of exactly ``block_target`` runs.

    Every program has the same block size, whatever the number of runs: XLA's CPU compiler
    needs far more memory for some smaller blocks (benchmarks/README.md). Small runs pay for
    padding (at most ``devices x block_target`` runs in all, milliseconds).
    """
    per_device = math.ceil(n_runs / devices)
    blocks = math.ceil(per_device / block_target)
    return Batching(devices, block_target, blocks)


def _mesh() -> jax.sharding.Mesh:
    # This process's devices only: in a multi-process run every process trains its own chunks.
    return jax.sharding.Mesh(np.asarray(jax.local_devices()), ("seeds",),
                             axis_types=(AxisType.Auto,))


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


#: Per-seed fields of every run, in :class:`RunArrays` order.
FIELDS = ("first_break", "max_ulp", "nonfinite_step", "final_loss", "solved",
          "min_unit_distance", "min_unit_distance_init")
#: Fields kept with ``keep_params``; fields of trajectories (when recorded).
PARAM_FIELDS = ("init_params", "final_params")
TRAJECTORY_FIELDS = ("trajectory_params", "trajectory_loss")


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

    @classmethod
    def concatenate(cls, parts: Sequence[dict[str, np.ndarray]]) -> RunArrays:
        """One :class:`RunArrays` from per-chunk field dicts (in seed order)."""
        names = [f for f in (*FIELDS, *PARAM_FIELDS, *TRAJECTORY_FIELDS) if f in parts[0]]
        return cls(**{f: np.concatenate([p[f] for p in parts]) for f in names})


@dataclass(frozen=True)
class SweepPlan:
    """How ``n`` seeds x ``inits`` schemes are cut into calls (chunks) on this process."""

    seeds_per_call: int
    calls: int
    batching: Batching


def plan_sweep(n_seeds: int, n_inits: int, chunk: int) -> SweepPlan:
    """``ceil(n_seeds / chunk)`` calls of equal size (at most ``chunk`` seeds each, so the last
    call is not mostly padding); the runs of all schemes of a chunk in one call, batched over
    this process's devices."""
    calls = math.ceil(n_seeds / min(chunk, n_seeds))
    per_call = math.ceil(n_seeds / calls)
    local = jax.local_devices()
    devices = len(local)
    block = BLOCK_TARGET
    if local[0].platform != "cpu":  # accelerators want one wide block, not cache-sized ones
        block = _GPU_ALIGN * math.ceil(per_call * n_inits / devices / _GPU_ALIGN)
    return SweepPlan(per_call, calls, plan_batching(per_call * n_inits, devices, block))


class StoredRuns(Mapping):
    """``(init label, optimizer label) -> RunArrays`` read from a run's chunk files on access.

    Keeps per-seed results on disk, so that memory stays bounded by one run's arrays however
    many seeds and schemes a run has.
    """

    def __init__(self, store: ChunkStore, keys: Sequence[tuple[str, str]], calls: int,
                 fields: Sequence[str]):
        self._store, self._keys, self._calls, self._fields = store, list(keys), calls, fields
        self._inits = list(dict.fromkeys(k[0] for k in self._keys))
        self._opts = list(dict.fromkeys(k[1] for k in self._keys))

    def __getitem__(self, key: tuple[str, str]) -> RunArrays:
        if key not in self._keys:
            raise KeyError(key)
        i, o = self._inits.index(key[0]), self._opts.index(key[1])
        parts = []
        names = [f"{i}.{f}" for f in self._fields]
        for c in range(self._calls):  # each file checked again: it may have changed since
            _signals.check()
            arrays = self._store.load_chunk(c, o, names)
            parts.append({f: arrays[f"{i}.{f}"] for f in self._fields})
        return RunArrays.concatenate(parts)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class SweepOutput:
    """Everything a sweep produced."""

    runs: Mapping[tuple[str, str], RunArrays]  # (init label, optimizer label) -> arrays
    batching: Batching
    seeds_per_call: int
    compile_seconds: dict[str, float] = field(default_factory=dict)  # per optimizer label
    run_seconds: dict[str, float] = field(default_factory=dict)  # per optimizer label
    units_computed: int = 0  # (chunk, optimizer) units computed by this call
    units_reused: int = 0  # units found complete in the store (resume)
    seed_steps: dict[str, int] = field(default_factory=dict)  # computed here, per optimizer


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
    store: ChunkStore | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> SweepOutput:
    """Run every init scheme under every training configuration for every seed.

    Call under :func:`symjax.numeric.inits.pinned_numerics` for the configurations' dtype.

    The work is cut into units: seed chunk ``c`` x optimizer ``o``. Process ``p`` of
    ``process_count`` takes the chunks with ``c % process_count == p``. With a ``store``, every
    unit is written to its chunk file as soon as it finishes, units already complete and intact
    in the store are not recomputed (resume), and the returned runs are read from the store on
    access (:class:`StoredRuns`); without one, everything is kept in memory. One call is
    dispatched ahead while the previous one's results are written.

    ``configs``: one :class:`TrainConfig` per optimizer (same net, dtype, path, steps, ties);
    ``seeds``: ``(n,)`` uint32; ``x``, ``y`` in the run's dtype; ``chunk``: seeds per call;
    ``keep_params``: keep initial and final parameters of every run; ``progress``: a progress
    bar on stderr (``None``: only on a TTY). Raises InputError when a call or the results
    would exceed the memory bounds, RunInterrupted on SIGINT or SIGTERM (completed units are in
    the store).
    """
    from tqdm.auto import tqdm

    cfg0 = configs[0]
    n, n_inits = len(seeds), len(inits)
    lay = plan_sweep(n, n_inits, chunk)
    per_call, batching = lay.seeds_per_call, lay.batching
    check_memory(cfg0, batching, n * n_inits * len(configs), keep_params, store is not None, n)
    fields = _fields(cfg0, keep_params)
    labels = [c.optimizer.label for c in configs]
    mine = [c for c in range(lay.calls) if c % process_count == process_index]
    compile_s = dict.fromkeys(labels, 0.0)
    run_s = dict.fromkeys(labels, 0.0)
    work = dict.fromkeys(labels, 0)
    memory: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    reused = computed = 0

    def expect(c: int, o: int) -> dict:
        return _unit_meta(store, lay, n, c, labels[o], inits, fields)

    todo: list[tuple[int, list[int]]] = []
    for c in mine:
        missing = list(range(len(configs)))
        if store is not None:
            found = {o: store.read_chunk(c, o, expect(c, o))[1] for o in missing}
            for o, why in found.items():
                if why and why != "missing":  # damaged: say so, recompute, never merge
                    print(f"symjax: {store.chunk_path(c, o)} is {why}; recomputing it",
                          file=sys.stderr)
            missing = [o for o, why in found.items() if why]
            reused += len(configs) - len(missing)
        if missing:
            todo.append((c, missing))
    total_units = sum(len(m) for _, m in todo)
    bar = tqdm(total=total_units, desc="verify", unit="call", file=sys.stderr,
               disable=(None if progress is None else not progress), leave=False)

    def finish(item) -> None:
        nonlocal computed
        c, o, valid, kept_init, pending, t_dispatch = item
        _signals.wait(pending)  # not jax.device_get alone: a signal must not wait for the call
        result = jax.device_get(pending)
        t_done = time.perf_counter()
        run_s[labels[o]] += t_done - max(t_dispatch, finish.last_done)
        work[labels[o]] += valid * n_inits * cfg0.steps
        finish.last_done = t_done
        arrays = {}
        for i in range(n_inits):
            part = {f: getattr(result, f)[i * per_call : i * per_call + valid]
                    for f in fields if f != "init_params"}
            if keep_params:
                part["init_params"] = kept_init[i]
            arrays.update({f"{i}.{f}": v for f, v in part.items()})
        if store is not None:
            store.write_chunk(c, o, expect(c, o), arrays)
        else:
            memory[(c, o)] = arrays
        computed += 1
        bar.update(1)

    finish.last_done = 0.0
    in_flight: list = []
    programs = {}

    def saved() -> str:
        if store is None:
            return "nothing was saved (run with --out DIR to keep finished chunks and resume)"
        return (f"{reused + computed} of {len(mine) * len(configs)} units (seed chunk x "
                f"optimizer) are saved in {store.chunk_dir}; resume with: symjax verify "
                f"--resume {store.directory}")

    try:
        with _signals.guard(), _signals.hint(saved):
            _signals.check()
            for o in sorted({o for _, m in todo for o in m}):  # compile before timing calls
                programs[o], compile_s[labels[o]] = compiled_program(configs[o], batching, x, y)
                _signals.check()
            for c, missing in todo:
                _signals.check()
                start = c * per_call
                valid = min(per_call, n - start)
                chunk_seeds = seeds[start : start + per_call]
                chunk_seeds = np.concatenate(
                    [chunk_seeds, np.full(per_call - valid, chunk_seeds[-1], np.uint32)])
                draw = init_program(inits, cfg0.net.widths, cfg0.dtype, per_call)
                flat0 = [np.asarray(f) for f in draw(chunk_seeds)]
                kept_init = [f[:valid] for f in flat0] if keep_params else None
                all_flat = _pad(np.concatenate(flat0), batching.runs)
                all_seeds = _pad(np.tile(chunk_seeds, n_inits), batching.runs)
                for o in missing:
                    bar.set_postfix_str(labels[o])
                    t0 = time.perf_counter()
                    in_flight.append((c, o, valid, kept_init,
                                      programs[o](all_flat, all_seeds, x, y), t0))
                    if len(in_flight) > 1:
                        finish(in_flight.pop(0))
            while in_flight:
                finish(in_flight.pop(0))
    finally:
        bar.close()
    keys = [(s.spec, label) for s in inits for label in labels]
    if store is not None:
        runs: Mapping = StoredRuns(store, keys, lay.calls, fields)
    else:
        runs = {(s.spec, labels[o]): RunArrays.concatenate(
                    [{f: memory[(c, o)][f"{i}.{f}"] for f in fields} for c in range(lay.calls)])
                for i, s in enumerate(inits) for o in range(len(configs))}
    return SweepOutput(runs, batching, per_call, compile_s, run_s, computed, reused, work)


def _fields(cfg: TrainConfig, keep_params: bool) -> tuple[str, ...]:
    return (FIELDS + (PARAM_FIELDS if keep_params else ())
            + (TRAJECTORY_FIELDS if cfg.trajectory_every else ()))


def _unit_meta(store: ChunkStore | None, lay: SweepPlan, n_seeds: int, chunk: int,
               label: str, inits: Sequence[InitSpec], fields: Sequence[str]) -> dict:
    """What the chunk file of unit (seed chunk ``chunk``, optimizer ``label``) must say it holds."""
    start = chunk * lay.seeds_per_call
    return {"first_seed_index": start, "seeds": min(lay.seeds_per_call, n_seeds - start),
            "optimizer_label": label, "inits": [s.spec for s in inits], "fields": list(fields),
            "run": store.manifest.get("run_key") if store else None}


def missing_units(store: ChunkStore, configs: Sequence[TrainConfig], inits: Sequence[InitSpec],
                  n_seeds: int, chunk: int, keep_params: bool) -> list[tuple[int, int, str]]:
    """``(chunk, optimizer, why)`` of every unit not complete and intact in ``store``."""
    lay = plan_sweep(n_seeds, len(inits), chunk)
    fields = _fields(configs[0], keep_params)
    out = []
    for c in range(lay.calls):
        for o, cfg in enumerate(configs):
            meta = _unit_meta(store, lay, n_seeds, c, cfg.optimizer.label, inits, fields)
            arrays, why = store.read_chunk(c, o, meta)
            if arrays is None:
                out.append((c, o, why))
    return out


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` with copies of the first row (results are dropped)."""
    extra = size - a.shape[0]
    return a if extra == 0 else np.concatenate([a, np.repeat(a[:1], extra, axis=0)])


def estimate_memory(cfg: TrainConfig, batching: Batching, total_runs: int, keep_params: bool,
                    on_disk: bool, seeds: int | None = None) -> dict[str, int]:
    """Bytes a sweep needs: ``per_call`` (outputs of the calls in flight: two), ``kept``
    (per-seed results held in memory to the end: everything, and its concatenation, without a
    store; with one, only the trajectories and saved parameters) and ``merge`` (one init x
    optimizer loaded at a time from the store, its concatenation, the summaries' temporaries
    and the seed numbers: per seed, for ``seeds`` seeds, default ``total_runs``); also
    ``trajectories`` (trajectories and saved parameters, part of ``kept``)."""
    item = np.dtype(cfg.dtype).itemsize
    pairs = len(cfg.ties)
    summary = pairs * (4 + item) + 4 + item + 1 + 2 * item
    heavy = (cfg.net.n_params + 1) * cfg.n_records + (2 * cfg.net.n_params if keep_params else 0)
    per_run_out = summary + (cfg.net.n_params * (1 + cfg.n_records) + cfg.n_records) * item
    trajectories = total_runs * heavy * item
    kept = trajectories + total_runs * (0 if on_disk else 2 * summary)
    seeds = total_runs if seeds is None else seeds
    merge = seeds * ((2 * summary if on_disk else 0) + 5 * pairs + 60)
    return {"per_call": 2 * batching.runs * per_run_out, "kept": kept, "merge": merge,
            "trajectories": trajectories}


def check_memory(cfg: TrainConfig, batching: Batching, total_runs: int,
                  keep_params: bool, on_disk: bool = False, seeds: int | None = None) -> None:
    """Refuse, with the estimate, a run that would not fit (see :func:`estimate_memory`)."""
    est = estimate_memory(cfg, batching, total_runs, keep_params, on_disk, seeds)
    if est["per_call"] > MAX_CALL_BYTES:
        raise InputError(
            f"one call would return {est['per_call'] / 2**20:.0f} MiB "
            f"(limit {MAX_CALL_BYTES >> 20} MiB); use a smaller --chunk"
            + (" or a larger --trajectory-every" if cfg.n_records else "")
        )
    if est["trajectories"] > MAX_TRAJECTORY_BYTES:
        raise InputError(
            f"trajectories and saved parameters would take {est['trajectories'] / 2**30:.1f} "
            f"GiB (limit {MAX_TRAJECTORY_BYTES >> 30} GiB); use fewer seeds, a larger "
            f"--trajectory-every or no --save-params"
        )
    avail = available_memory()
    need = est["kept"] + est["per_call"] + est["merge"]
    if avail is not None and need > avail // 2:
        raise InputError(
            f"this run would hold about {need / 2**30:.1f} GiB of results in memory (merge "
            f"included), more than half of the {avail / 2**30:.1f} GiB available; "
            + ("use fewer seeds (the merge reads one init x optimizer's per-seed results at "
               "a time)" if on_disk else
               "write results to disk with --out DIR (memory then stays bounded by one init x "
               "optimizer) or use fewer seeds")
        )
