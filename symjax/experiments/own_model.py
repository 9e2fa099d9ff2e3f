"""Your own model, numerically: is a symmetry one, and do tied parameters stay tied in training?

For a plain-JAX ``loss(params, *data)`` over a parameter pytree and a symmetry given as disjoint
(signed) pairs of parameter elements, named as :mod:`symjax.symbolic.jaxpr` names them
(``"W1[0,1]"``, ``"-b1[1]"``; the helpers there build the common ones),
:func:`check_symmetry` refuses pairs that change the loss (naming the leaf whose pairs break
it), and :func:`verify_model` trains many seeds from inits on the fixed set of the symmetry and
records, per seed and pair, whether the tie held bit for bit at every step. Kernels that round
tied rows differently (a matrix product on CPU) show as small ULP distances: that is a
measurement, not a failure of the theorem. With ``out=DIR`` the run is written like
``symjax verify --out``'s, resumable, and ``symjax report DIR`` writes its table
(:mod:`symjax.report.model`).

A model of Equinox (or another JAX library) goes in through its pure-function form: the
parameter pytree (``eqx.partition(model, eqx.is_array)``) and a loss that rebuilds the model
from it (``eqx.combine``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import InputError
from ..results.rundir import PER_SEED_FILE, arrays_digest

_ELEMENT = re.compile(r"^(-?)([A-Za-z_][A-Za-z0-9_]*)\[([0-9,]*)\]$")


def _parse(name: str, shapes: dict[str, tuple[int, ...]]) -> tuple[int, str, tuple[int, ...]]:
    match = _ELEMENT.match(name.strip())
    if not match:
        raise InputError(f"parameter element {name!r} must look like W1[0,1] (or -W1[0,1])")
    sign, leaf, index = match.groups()
    idx = tuple(int(i) for i in index.split(",") if i != "")
    if leaf not in shapes:
        raise InputError(f"unknown parameter leaf {leaf!r} in {name!r}; leaves: "
                         f"{', '.join(shapes)}")
    if len(idx) != len(shapes[leaf]) or any(not 0 <= i < n for i, n in zip(idx, shapes[leaf])):
        raise InputError(f"{name!r} is outside {leaf} of shape {shapes[leaf]}")
    return (-1 if sign else 1), leaf, idx


#: The symmetry as index pairs: ``(leaf_p, idx_p, leaf_q, idx_q, sign)`` per pair.
_Pairs = tuple[tuple[str, tuple[int, ...], str, tuple[int, ...], int], ...]


def _pairs(params: Any, pairs: Sequence[tuple[str, str]]) -> tuple[_Pairs, list[str]]:
    from ..symbolic.jaxpr import parameter_names

    shapes = parameter_names(params)
    order = list(shapes)
    seen: set = set()
    items = []
    for p, q in pairs:
        sp_, lp, ip = _parse(p, shapes)
        sq, lq, iq = _parse(q, shapes)
        if sp_ < 0:
            raise InputError(f"put the sign on the second element of the pair ({p}={q})")
        for key in ((lp, ip), (lq, iq)):
            if key in seen:
                raise InputError(
                    f"{key[0]}{list(key[1])} appears in two pairs; give the symmetry as disjoint "
                    "pairs (each swapped with its partner)"
                )
            seen.add(key)
        items.append((lp, ip, lq, iq, sq))
    return tuple(items), order


def _apply_g(tree: dict, pairs: _Pairs) -> dict:
    """The image of a parameter dict (leaf name -> JAX array) under the symmetry."""
    out = dict(tree)
    for lp, ip, lq, iq, s in pairs:
        vp, vq = tree[lp][ip], tree[lq][iq]
        out[lp] = out[lp].at[ip].set(s * vq)
        out[lq] = out[lq].at[iq].set(s * vp)
    return out


def _project(tree: dict, pairs: _Pairs) -> dict:
    """The fixed set of the symmetry: ``q = s p`` for each pair."""
    out = dict(tree)
    for lp, ip, lq, iq, s in pairs:
        out[lq] = out[lq].at[iq].set(s * out[lp][ip])
    return out


def _as_dict(params, order):
    import jax

    return dict(zip(order, jax.tree_util.tree_leaves(params)))


def _as_tree(values: dict, params, order):
    import jax

    treedef = jax.tree_util.tree_structure(params)
    return jax.tree_util.tree_unflatten(treedef, [values[k] for k in order])


def check_symmetry(loss: Callable, params, pairs, *data, points: int = 8, seed: int = 0
                   ) -> float:
    """Check that swapping each pair (with its sign) leaves the loss unchanged, in float64.

    Returns:
      The largest relative change of the loss over ``points`` random parameter points (with
      random data of the given shapes).

    Raises:
      InputError: when the loss changes by more than rounding; the message names the leaves
        of the pairs whose swap alone changes it.
    """
    import jax
    import jax.numpy as jnp

    sym, order = _pairs(params, pairs)
    rng = np.random.default_rng(seed)
    worst = 0.0
    with jax.enable_x64(True):
        def value(tree, args):
            return float(loss(_as_tree(tree, params, order), *args))

        for _ in range(points):
            tree = {k: jnp.asarray(rng.uniform(-1, 1, np.shape(v)))
                    for k, v in _as_dict(params, order).items()}
            args = [jax.tree_util.tree_map(lambda a: jnp.asarray(rng.uniform(-1, 1, np.shape(a))),
                                           d) for d in data]
            change = _relative_change(value(tree, args), value(_apply_g(tree, sym), args))
            worst = max(worst, change)
            if change > 1e-9:
                culprits = sorted({lp for lp, _, _, _, _ in sym
                                   if _single_changes(value, tree, args, sym, lp)})
                raise InputError(
                    f"the pairs are not a symmetry of the loss: swapping them changes it by "
                    f"{change:.3g} (relative) at a random point"
                    + (f"; the pairs in leaf {', '.join(culprits)} break it" if culprits else "")
                )
    return worst


def _relative_change(a: float, b: float) -> float:
    return abs(a - b) / (abs(a) + abs(b) + 1e-300)


def _single_changes(value, tree, args, sym: _Pairs, leaf: str) -> bool:
    """Whether the pairs in ``leaf`` alone change the loss (the others swapped either way)."""
    rest = tuple(t for t in sym if leaf not in (t[0], t[2]))
    return _relative_change(value(_apply_g(tree, rest), args),
                            value(_apply_g(tree, sym), args)) > 1e-9


@dataclass(frozen=True)
class ModelVerification:
    """Per seed and pair: held bit for bit at every step, first break step, largest ULPs.

    Attributes:
      pairs: the pairs as given.
      held: ``(seeds, pairs)`` bool.
      first_break: ``(seeds, pairs)`` int, -1 where the pair never broke.
      max_ulp: ``(seeds, pairs)`` largest ULP distance of ``q`` from ``s p`` over the steps.
      steps: training steps.
      run_id: the run ID of ``results.json`` when the run was written (``out=DIR``).
      directory: that directory.
    """

    pairs: tuple[tuple[str, str], ...]
    held: np.ndarray
    first_break: np.ndarray
    max_ulp: np.ndarray
    steps: int
    run_id: str | None = None
    directory: Path | None = None

    @property
    def seeds(self) -> int:
        return self.held.shape[0]

    def table(self) -> str:
        """One line per pair: seeds held, first break (median over broken seeds), max ULP."""
        return pair_table(pair_summaries(self.pairs, self.first_break, self.max_ulp),
                          self.seeds)


def pair_summaries(pairs, first_break: np.ndarray, max_ulp: np.ndarray) -> list[dict]:
    """Per pair: seeds held, seeds broken, first break median, min and max over the broken
    seeds (``None`` when none broke), largest ULP distance."""
    out = []
    for k, (p, q) in enumerate(pairs):
        broken = first_break[:, k][first_break[:, k] >= 0]
        out.append({"pair": [p, q], "held": int(first_break.shape[0] - broken.size),
                    "broken": int(broken.size),
                    "first_break_median": int(np.median(broken)) if broken.size else None,
                    "first_break_min": int(broken.min()) if broken.size else None,
                    "first_break_max": int(broken.max()) if broken.size else None,
                    "max_ulp": float(max_ulp[:, k].max()) if max_ulp.shape[0] else 0.0})
    return out


def pair_table(summaries: Sequence[dict], seeds: int) -> str:
    """The table of :meth:`ModelVerification.table` from :func:`pair_summaries`."""
    width = max([28, *(len("=".join(s["pair"])) for s in summaries)])
    n = max(5, len(str(seeds)))
    lines = [f"{'pair':<{width}} {'held':>{2 * n + 2}}  {'first break med':>15}  {'max ulp':>8}"]
    for s in summaries:
        med = "never" if s["first_break_median"] is None else str(s["first_break_median"])
        lines.append(f"{'='.join(s['pair']):<{width}} {s['held']:>{n + 1}}/{seeds:<{n}}  "
                     f"{med:>15}  {int(s['max_ulp']):>8}")
    return "\n".join(lines)


#: Seeds per compiled call at most (``chunk=None`` also keeps a call's training state, about
#: eight copies of the parameters per seed, under :data:`_CALL_BYTES`).
DEFAULT_CHUNK = 16384
_CALL_BYTES = 1 << 30
_CSV_SLICE = 1 << 16


def verify_model(loss: Callable, params, pairs, *data, optimizer: str = "adam",
                 lr: float | None = None, seeds: int = 1000, steps: int = 100, seed: int = 0,
                 dtype: str = "float32", chunk: int | None = None, out=None,
                 progress: bool | None = None, force: bool = False) -> ModelVerification:
    """Train ``seeds`` random inits projected onto the fixed set of the pairs and check the ties.

    Each seed's parameters are drawn uniform in [-1, 1] (``jax.random.fold_in(key, seed)``),
    then ``q = s p`` is imposed for every pair. Training: the given data (one fixed batch),
    ``steps`` updates of an optax optimizer by name (as ``symjax verify`` names them), the
    seeds in equal calls of at most ``chunk`` seeds under ``jit(vmap(scan))`` (memory is
    bounded by one call; a run of ``chunk`` seeds or fewer is one call). After every update
    each pair is compared bit for bit (``q == s p``) and its ULP distance recorded.

    With ``out=DIR`` the run is written like a ``symjax verify`` run: ``DIR/results.json``
    (kind ``model``: the model named by the SHA-256 of its jaxpr, the data by theirs, the
    options, the layout, per-pair summaries, the SHA-256 of the per-seed file, provenance;
    a run ID), ``DIR/per_seed.csv`` (per seed: ``held``, first break step, largest ULP
    distance, and per pair its first break, -1 = held, and largest ULP distance) and every
    finished call in ``DIR/chunks/`` at once. Calling again with the same arguments and
    ``out`` resumes an interrupted run (intact chunk files are kept). ``symjax report DIR``
    writes its table. Only a new or empty directory, or one holding a model run, is written
    into (``force=True``: any directory; files with symjax's names are replaced).

    Args:
      chunk: seeds per compiled call; ``None``: :data:`DEFAULT_CHUNK`, fewer for large models.
      out: directory to write the run into (see above); ``None``: nothing is written.
      progress: ``True`` show a progress bar over the calls on stderr, ``False`` never,
        ``None`` only on a terminal.
      force: write into ``out`` even when it holds other files.

    Raises:
      InputError: bad pairs, optimizer, counts, dtype or output directory.
      RunInterrupted: SIGINT or SIGTERM stopped the run (the message says what was kept).
    """
    import jax
    import jax.numpy as jnp

    from ..numeric.optimizers import parse_optimizers
    from ..numeric.train import ulp_distance

    for name, v in (("seeds", seeds), ("steps", steps), ("chunk", 1 if chunk is None else chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**7:
            raise InputError(f"{name} must be an integer from 1 to 10000000, got {v!r}")
    if dtype not in ("float32", "float64"):
        raise InputError(f"unknown dtype {dtype!r}; allowed: float32, float64")
    sym, order = _pairs(params, pairs)
    spec = parse_optimizers(optimizer, lr)[0]
    if spec.perturbed:
        raise InputError(f"optimizer {optimizer!r}: dropout and gradient noise are not "
                         f"modelled here")
    opt = spec.transformation()
    base = _as_dict(params, order)
    if chunk is None:
        n_params = sum(int(np.prod(np.shape(v))) for v in base.values())
        chunk = max(1, min(DEFAULT_CHUNK, _CALL_BYTES // (8 * n_params * np.dtype(dtype).itemsize)))
    calls = math.ceil(seeds / min(chunk, seeds))
    devices = jax.local_devices()
    # every call's seeds are split evenly over the local devices (one shard each)
    per_call = len(devices) * math.ceil(seeds / calls / len(devices))
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        args = [jax.tree_util.tree_map(lambda a: jnp.asarray(a, dt), d) for d in data]

        def checks(tree):  # the engine's bit and ULP comparison (+0 and -0: 0 ULP apart)
            eq, dist = [], []
            for lp, ip, lq, iq, s in sym:
                a, b = s * tree[lp][ip], tree[lq][iq]
                nan = jnp.isnan(a) & jnp.isnan(b)  # a diverged seed: -NaN is NaN too
                differ, ulps = ulp_distance(a, b)
                eq.append(nan | ~differ)
                dist.append(jnp.where(nan, jnp.zeros_like(ulps), ulps))
            return jnp.stack(eq), jnp.stack(dist)

        def one(index):
            key = jax.random.fold_in(jax.random.key(seed), index)
            tree = {k: jax.random.uniform(jax.random.fold_in(key, i), np.shape(v), dt, -1, 1)
                    for i, (k, v) in enumerate(base.items())}
            tree = _project(tree, sym)

            def objective(t):
                return loss(_as_tree(t, params, order), *args)

            state = opt.init(tree)
            eq0, d0 = checks(tree)
            first = jnp.where(eq0, -1, 0)
            carry0 = (tree, state, first, d0.astype(dt), jnp.asarray(1, jnp.int32))

            def step(carry, _):
                t, s_, first_, worst, k = carry
                grads = jax.grad(objective)(t)
                updates, s_ = opt.update(grads, s_, t)
                t = jax.tree_util.tree_map(lambda a, u: a + u, t, updates)
                eq, dist = checks(t)
                first_ = jnp.where((first_ < 0) & ~eq, k, first_)
                worst = jnp.maximum(worst, dist.astype(worst.dtype))
                return (t, s_, first_, worst, k + 1), None

            (_, _, first, worst, _), _ = jax.lax.scan(step, carry0, None, length=steps)
            return first, worst

        data_key = "sha256:" + arrays_digest(
            {f"{i}.{j}": np.asarray(a) for i, d in enumerate(args)
             for j, a in enumerate(jax.tree_util.tree_leaves(d))})
        program = _cached(
            (loss, jax.tree_util.tree_structure(params), tuple((k, np.shape(v)) for k, v in
                                                         base.items()),
             sym, spec, steps, seed, dtype, tuple(jax.tree_util.tree_structure(d) for d in args),
             data_key), lambda: jax.jit(jax.vmap(one)))
        run = None
        if out is not None:
            run = _ModelRun.open(out, force, {
                "loss": f"{getattr(loss, '__module__', '')}."
                        f"{getattr(loss, '__qualname__', type(loss).__name__)}",
                "model_jaxpr_sha256": _jaxpr_digest(loss, params, dt, args),
                "parameters": {k: list(np.shape(v)) for k, v in base.items()},
                "data": [[list(np.shape(a)) for a in jax.tree_util.tree_leaves(d)]
                         for d in args],
                "data_sha256": data_key,
                "pairs": [list(pq) for pq in pairs], "optimizer": spec.spec, "lr": spec.lr,
                "seeds": seeds, "steps": steps, "seed": seed, "dtype": dtype,
                "init": "uniform(-1, 1), projected onto the fixed set of the pairs",
            }, {"seeds_per_call": per_call, "calls": calls, "devices": len(devices),
                "platform": jax.devices()[0].platform,
                "device_kind": jax.devices()[0].device_kind, "vmap": True})
        try:
            first, worst = _run_calls(program, seeds, per_call, calls, run, progress, devices)
            first = first.astype(np.int32, copy=False)
            result = ModelVerification(tuple((p, q) for p, q in pairs), first < 0, first,
                                       worst.astype(np.float64), steps)
            if run is not None:  # its files are written under the lock
                result = run.finish(result)
        finally:
            if run is not None:
                run.lock.release()
    return result


#: Compiled programs of the latest runs (a second run of the same model, pairs, data and
#: options, e.g. a resume, neither retraces nor recompiles; like ``jax.jit``, it assumes the
#: loss function computes the same as long as it is the same object).
_PROGRAMS: dict = {}
_PROGRAMS_KEPT = 4


def _cached(key, build):
    try:
        known = key in _PROGRAMS
    except (TypeError, ValueError):  # e.g. a loss that is a callable holding arrays: no cache
        return build()
    if not known:
        while len(_PROGRAMS) >= _PROGRAMS_KEPT:
            del _PROGRAMS[next(iter(_PROGRAMS))]
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


def _run_calls(program, seeds: int, per_call: int, calls: int, run: _ModelRun | None,
               progress: bool | None, devices) -> tuple[np.ndarray, np.ndarray]:
    """Every call of ``program`` over seed indices (the last one padded), sharded over
    ``devices``, one dispatched ahead while the previous one is fetched; finished calls go to
    the run's chunk store."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    from tqdm.auto import tqdm

    from ..base import signals as _signals

    shards = NamedSharding(Mesh(np.asarray(devices), ("seeds",)), PartitionSpec("seeds"))
    parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if run is not None:
        for c in range(calls):
            arrays = run.read_chunk(c, per_call, seeds)
            if arrays is not None:
                parts[c] = arrays
        run.reused = len(parts)
    todo = [c for c in range(calls) if c not in parts]

    def saved() -> str:
        if run is None:
            return "nothing was saved (pass out=DIR to keep finished calls and resume)"
        return (f"{len(parts)} of {calls} calls are saved in {run.store.chunk_dir}; resume by "
                f"calling verify_model again with the same arguments and out={run.directory}")

    bar = tqdm(total=len(todo), desc="verify_model", unit="call", file=sys.stderr,
               disable=(None if progress is None else not progress), leave=False)

    def finish(c, pending) -> None:
        _signals.wait(pending)
        first, worst = (np.asarray(a)[: min(per_call, seeds - c * per_call)]
                        for a in jax.device_get(pending))
        parts[c] = (first, worst)
        if run is not None:
            run.write_chunk(c, per_call, seeds, first, worst)
        bar.update(1)

    try:
        with _signals.guard(), _signals.hint(saved):
            in_flight: list = []
            for c in todo:
                _signals.check()
                index = np.arange(c * per_call, (c + 1) * per_call).clip(max=seeds - 1)
                in_flight.append((c, program(jax.device_put(index.astype(np.int32), shards))))
                if len(in_flight) > 1:
                    finish(*in_flight.pop(0))
            while in_flight:
                finish(*in_flight.pop(0))
    finally:
        bar.close()
    first, worst = zip(*(parts[c] for c in range(calls)))
    return np.concatenate(first), np.concatenate(worst)


def _jaxpr_digest(loss, params, dt, args) -> str:
    """``sha256:`` of the model's jaxpr text (function addresses removed): what the run trains."""
    import jax

    cast = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, dt), params)
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(jax.make_jaxpr(loss)(cast, *args)))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _ModelRun:
    """The output directory of :func:`verify_model`: claimed, locked, a chunk store."""

    FIELDS = ("first_break", "max_ulp")

    def __init__(self, directory: Path, store, lock, config: dict, layout: dict):
        self.directory, self.store, self.lock = directory, store, lock
        self.config, self.layout, self.reused = config, layout, 0
        from ..results.document import collect_provenance

        self.provenance = collect_provenance()

    @classmethod
    def open(cls, out, force: bool, config: dict, layout: dict) -> _ModelRun:
        """Claim and lock ``out``; a run with other settings that did not finish is refused."""
        from ..results.rundir import (
            MODEL_FORMAT,
            claim_directory,
            holds_model_run,
            locked_store,
            read_text_nofollow,
            remove_report,
        )

        directory = claim_directory(out, option="out", ours=holds_model_run, what="model run",
                                    force=force, force_option="force=True")
        store, lock = locked_store(directory, {"config": config, "layout": layout},
                                   ("results.json", PER_SEED_FILE), "out")
        store.manifest["format"] = MODEL_FORMAT
        key = store.manifest["run_key"]
        try:
            try:  # a damaged manifest, or none, holds no run to protect
                existing = json.loads(read_text_nofollow(store.manifest_path))
            except (OSError, UnicodeDecodeError, ValueError, RecursionError):
                existing = None
            if not isinstance(existing, dict) or existing.get("run_key") != key:
                if (isinstance(existing, dict) and existing.get("format") == MODEL_FORMAT
                        and not existing.get("finished", False)):
                    raise InputError(
                        f"{directory} holds an unfinished model run with other settings; "
                        f"resume it with its own arguments, or remove it, or choose another out")
                store.clear_chunks()  # a new run replaces a finished one's chunk files
                remove_report(directory)  # and its report
            store.remove_temporaries()
            store.write_manifest(finished=False)
        except BaseException:
            lock.release()
            raise
        return cls(directory, store, lock, config, layout)

    def _meta(self, c: int, per_call: int, seeds: int) -> dict:
        return {"first_seed_index": c * per_call, "seeds": min(per_call, seeds - c * per_call),
                "fields": list(self.FIELDS), "run": self.store.manifest["run_key"]}

    def read_chunk(self, c: int, per_call: int, seeds: int):
        arrays, why = self.store.read_chunk(c, 0, self._meta(c, per_call, seeds))
        if why and why != "missing":
            print(f"symjax: {self.store.chunk_path(c, 0)} is {why}; recomputing it",
                  file=sys.stderr)
        return None if arrays is None else (arrays["first_break"], arrays["max_ulp"])

    def write_chunk(self, c: int, per_call: int, seeds: int, first, worst) -> None:
        self.store.write_chunk(c, 0, self._meta(c, per_call, seeds),
                               {"first_break": first, "max_ulp": worst})

    def finish(self, result: ModelVerification) -> ModelVerification:
        """Write ``per_seed.csv`` and ``results.json`` (last), mark the run finished."""
        import dataclasses

        from ..results.document import write_results
        from ..results.rundir import file_sha256

        csv_path = self.directory / PER_SEED_FILE
        _write_csv(csv_path, result)
        summaries = pair_summaries(result.pairs, result.first_break, result.max_ulp)
        results = {"seeds": result.seeds, "seeds_held": int(result.held.all(axis=1).sum()),
                   "pairs": summaries, "files": {PER_SEED_FILE: file_sha256(csv_path)}}
        provenance = {**self.provenance, "calls_reused": self.reused}
        doc = write_results(self.directory, kind="model", config=self.config,
                            layout=self.layout, results=results, provenance=provenance)
        self.store.write_manifest(finished=True)
        return dataclasses.replace(result, run_id=doc["run_id"], directory=self.directory)


def _write_csv(path: Path, result: ModelVerification) -> None:
    """Per seed: ``seed`` (index), ``held`` (every pair), ``first_break_step`` (first over
    the pairs, -1 = never), ``max_ulp`` (over the pairs), then per pair ``first_break P=Q``
    and ``max_ulp P=Q``; written atomically, in slices."""
    import csv

    from ..base import signals as _signals
    from ..base.files import atomic_open

    names = ["=".join(pq) for pq in result.pairs]
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["seed", "held", "first_break_step", "max_ulp",
                         *(f"first_break {n}" for n in names), *(f"max_ulp {n}" for n in names)])
        for lo in range(0, result.seeds, _CSV_SLICE):
            _signals.check()
            fb = result.first_break[lo:lo + _CSV_SLICE].astype(np.int64)
            ulp = result.max_ulp[lo:lo + _CSV_SLICE]
            never = np.iinfo(np.int64).max
            first = np.where(fb >= 0, fb, never).min(axis=1, initial=never)
            cols = [range(lo, lo + len(fb)), (fb < 0).all(axis=1).astype(int).tolist(),
                    np.where(first == never, -1, first).tolist(),
                    _whole(ulp.max(axis=1, initial=0)),
                    *(fb[:, k].tolist() for k in range(fb.shape[1])),
                    *(_whole(ulp[:, k]) for k in range(fb.shape[1]))]
            writer.writerows(zip(*cols))


def _whole(values: np.ndarray) -> list[str]:
    """ULP distances (stored as floats) as exact decimal integers."""
    return [f"{v:.0f}" for v in values.tolist()]
