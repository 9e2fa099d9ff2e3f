"""``symjax.verify``: train many seeds under every init x optimizer and check the ties bitwise.

What a run counts (tied pairs, steps, pairs preserved, first break, max ULP, solved, min unit
distance, non-finite, expected preserved) is defined once in :data:`DEFINITIONS`, which
``results.json`` stores under ``results.definitions``. Facts those one-liners leave out: the
default pairs come from :func:`symjax.base.layout.tied_subspace_pairs`; "solved" and ``R^2`` are
those of :mod:`symjax.numeric.datasets`; a non-finite seed is recorded, never raised. Only runs
where the invariance theorem applies are *expected* to keep every pair (``ok`` is ``False``
when one does not): the ``matmul`` path is only measured; mini-batches, input noise, weight
decay and learning-rate schedules keep an optimizer equivariant; sign-flip ties (``w1=-w3``)
are expected to hold for the ``tied_flip`` init, an odd hidden activation (``tanh``,
``identity``) and an optimizer whose update is odd
(:data:`symjax.numeric.optimizers.SIGN_EQUIVARIANT`), with every pair on the sign-flip subspace.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from ..base import signals as _signals
from ..base.choices import ODD_ACTIVATIONS
from ..base.errors import InputError
from ..base.files import atomic_open, atomic_savez
from ..base.layout import (
    Layout,
    format_ties,
    has_sign_flip,
    split_signed,
    tied_subspace_pairs,
)
from ..base.specs import split_list
from ..base.text import text_table
from ..numeric.datasets import Dataset, make_dataset
from ..numeric.inits import (
    PRNG_IMPL,
    SIGN_FLIP_INITS,
    THREEFRY_PARTITIONABLE,
    InitSpec,
    flip_signs,
    get_init,
    init_schemes,
    parse_init,
    pinned_numerics,
)
from ..numeric.net import VECTOR_MAX_WIDTH, Net, exact_form
from ..numeric.optimizers import (
    SIGN_EQUIVARIANT,
    OptimizerSpec,
    parse_optimizers,
    parse_schedule,
)
from ..numeric.sweep import (
    RunArrays,
    SweepOutput,
    SweepPlan,
    check_memory,
    missing_units,
    plan_sweep,
    run_sweep,
)
from ..numeric.train import TrainConfig
from ..numeric.xla import configured
from ..results.config import MAX_SEEDS, VerifyConfig, parse_int
from ..results.rundir import (
    PARAMS_FILE,
    PER_SEED_FILE,
    SAMPLE_FILE,
    TRAJECTORIES_FILE,
    ChunkStore,
    DirectoryLock,
    claim_directory,
    existing_directory,
    holds_verify_run,
    locked_store,
    manifest_finished,
    read_manifest,
    remove_report,
)
from ..results.summary import seed_first_break, summarize

#: Keywords of :func:`verify` that choose where and how results are written, not what they are.
_OUTPUT_OPTIONS = ("out", "save_params", "quiet", "resume", "progress", "force")
#: Rows formatted at a time when writing the per-seed CSV.
_CSV_SLICE = 1 << 16


class SymjaxWarning(UserWarning):
    """A note about a run that did not go exactly as asked (e.g. a fallback to matmul)."""


DEFINITIONS = {
    "ties": "default: pairs of the fully tied subspace of every hidden layer (cycle of all its "
            "units); for 2-2-1 w1=w3, w2=w4, w5=w6, b1=b2",
    "step": "0 = initial parameters, t = after t updates; checks run at every step 0..steps",
    "pairs_preserved": "over seeds x pairs: pairs with equal bit patterns at every step",
    "seeds_broken": "seeds where some tied pair differs at some step, step 0 included "
                    "(random inits break at step 0)",
    "first_break": "first step at which any tied pair of a seed differs; -1 = never; summary "
                   "median and range over broken seeds",
    "max_ulp": "largest distance in units in the last place within a tied pair over all steps",
    "solved": "classification: every output on the right side of 0.5 for every sample; "
              "regression: R^2 >= 0.99",
    "min_unit_distance": "smallest Euclidean distance between (incoming weights, bias, outgoing "
                         "weights) of two units of one hidden layer, after training (and _init: "
                         "at step 0)",
    "nonfinite": "seeds with a NaN or infinite parameter at some step (recorded, not raised)",
    "expected_preserved": "symmetric init, equivariant optimizer (no perturbation), exact path "
                          "used, ties inside the fully tied subspace: the theorem says every "
                          "pair stays bitwise equal",
}
#: What a definition adds for runs that use a feature (only those runs record it, so the
#: documents, and run IDs, of other runs are unchanged).
_SIGNED_DEFINITIONS = {
    "pairs_preserved": " (a sign-flip pair b=-a: a and -b, zeros of either sign counting as "
                       "equal)",
    "expected_preserved": " (sign-flip ties: tied_flip init, odd hidden activation, odd "
                          "optimizer update)",
}
_ONE_HOT_DEFINITIONS = {
    "solved": "; one-hot classes (several outputs): argmax of the outputs right on at least 95% "
              "of the samples",
}


def definitions(ties, n_outputs: int, task: str) -> dict[str, str]:
    """The definitions a run's results record: :data:`DEFINITIONS`, with what sign-flip ties
    and one-hot classes add where the run has them."""
    out = dict(DEFINITIONS)
    for applies, extra in ((has_sign_flip(ties), _SIGNED_DEFINITIONS),
                           (n_outputs > 1 and task == "classification", _ONE_HOT_DEFINITIONS)):
        for key, text in extra.items() if applies else ():
            out[key] += text
    return out


@dataclass
class VerifyResults:
    """What :func:`verify` found.

    Attributes:
      config: every option that determines the results, resolved (``verify(**config)`` re-runs).
      batching: how the runs were batched and on what devices (``layout`` in ``results.json``;
        per-seed rounding can depend on it).
      ties: the checked pairs of parameter names.
      seeds: ``(n,)`` seed numbers.
      runs: ``(init label, optimizer label) -> RunArrays`` per-seed arrays.
      summaries: one dict per init x optimizer (keys as :data:`DEFINITIONS` defines them).
      warnings: messages about the run (e.g. a fallback to the matmul path).
      timing: compile and run seconds per optimizer and seed-steps per second (not hashed).
      provenance: versions, devices, flags (from
        :func:`symjax.results.document.collect_provenance`).
    """

    config: dict[str, Any]
    batching: dict[str, Any]
    ties: tuple[tuple[str, str], ...]
    param_names: tuple[str, ...]
    seeds: np.ndarray
    runs: Mapping[tuple[str, str], RunArrays]
    summaries: list[dict[str, Any]]
    dataset: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No run where the theorem applies lost a tie."""
        return all(s["invariant_holds"] is not False for s in self.summaries)

    @property
    def layout(self) -> dict[str, Any]:
        """The same as :attr:`batching`, under its key in ``results.json``."""
        return self.batching

    @property
    def path_used(self) -> str:
        return self.batching["path_used"]

    def results_dict(self) -> dict[str, Any]:
        """The ``results`` part of ``results.json``."""
        return {
            "ok": self.ok,
            "path_used": self.path_used,
            "ties": format_ties(self.ties),
            "tie_pairs": [list(p) for p in self.ties],
            "param_names": list(self.param_names),
            "dataset": self.dataset,
            "summaries": self.summaries,
            "warnings": list(self.warnings),
            "definitions": definitions(self.ties, self.config["widths"][-1],
                                       self.dataset["task"]),
        }

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "verify", "config", "layout", "results"}`` (JSON-ready except NumPy
        scalars)."""
        return {"kind": "verify", "config": self.config, "layout": self.batching,
                "results": self.results_dict()}

    def table(self) -> str:
        """The summary table, one row per init x optimizer."""
        head = ["init", "optimizer", "seeds", "pairs kept", "broken", "first break med [range]",
                "solved", "median loss", "nonfinite"]
        rows = []
        for s in self.summaries:
            n = s["seeds"]
            fb = ("never" if s["first_break_median"] is None else
                  f"{s['first_break_median']:g} [{s['first_break_min']}, {s['first_break_max']}]")
            loss = "nan" if s["final_loss_median"] is None else f"{s['final_loss_median']:.3g}"
            rows.append([s["init"], s["optimizer"], str(n),
                         f"{s['pairs_preserved']}/{s['pairs_total']}",
                         f"{s['seeds_broken']}/{n}", fb, f"{s['solved']}/{n}", loss,
                         str(s["nonfinite"])])
        checked = [s for s in self.summaries if s["expected_preserved"]]
        claim = ("sign-flipped inits stay bitwise sign-flipped under odd optimizers"
                 if has_sign_flip(self.ties) else
                 "tied inits stay bitwise tied under equivariant optimizers")
        verdict = (
            f"{claim}: "
            f"{'HOLDS' if self.ok else 'VIOLATED'} ({len(checked)} of {len(self.summaries)} "
            f"runs covered by the theorem)" if checked else
            "no run is covered by the invariance theorem (symmetric init, equivariant optimizer, "
            "exact path)"
        )
        return "\n".join([
            text_table([head, *rows]), "",
            f"pairs kept: seed x pair counts of bitwise equality at every step 0..steps "
            f"(ties {format_ties(self.ties) or 'none'}); broken: seeds with some pair differing "
            f"at some step (step 0 included); path used: {self.path_used}"
            + (f" ({self.batching['form']} layout)" if self.path_used == "exact" else ""),
            verdict,
            *(f"warning: {w}" for w in self.warnings),
        ])

    def __str__(self) -> str:
        return self.table()

    # -- files ---------------------------------------------------------------------------------
    def write(self, out, *, save_params: bool = False) -> Path:
        """Write ``results.json``, the per-seed CSV, and optionally ``params.npz`` and
        trajectories into directory ``out``; returns the path of ``results.json``.

        Every file is written atomically (temporary file, fsync, rename), ``results.json``
        last: a directory with a ``results.json`` holds the complete files it names. The
        report (``report/``) and trajectory sample of an earlier run in ``out`` are removed."""
        from ..results.document import write_results

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        # files of an earlier run that this one does not replace would be read as its own
        (out / SAMPLE_FILE).unlink(missing_ok=True)
        remove_report(out)
        digest = self.write_csv(out / PER_SEED_FILE)
        if save_params:
            self.save_params(out / PARAMS_FILE)
        if self.config["trajectory_every"]:
            self.save_trajectories(out / TRAJECTORIES_FILE)
        provenance = {**self.provenance, "timing": self.timing, "xla": configured()}
        # The digest puts every per-seed number under the run ID: the same run ID means the
        # same summaries *and* the same per-seed CSV, byte for byte.
        results = {**self.results_dict(), "files": {PER_SEED_FILE: f"sha256:{digest}"}}
        write_results(out, kind="verify", config=self.config, layout=self.batching,
                      results=results, provenance=provenance)
        return out / "results.json"

    def write_csv(self, path) -> str:
        """One row per init x optimizer x seed, written atomically and in slices (memory stays
        bounded); returns the file's SHA-256 (hex), computed while writing."""
        fmt = ".9g" if self.config["dtype"] == "float32" else ".17g"
        sha = hashlib.sha256()
        with atomic_open(path, "w", newline="", encoding="utf-8") as f:
            def write(text: str) -> None:
                sha.update(text.encode("utf-8"))
                f.write(text)

            write(_csv_row(["init", "optimizer", "seed", "first_break_step", "max_ulp",
                            *(f"first_break_{a}_{b}" for a, b in self.ties), "final_loss",
                            "solved", "min_unit_distance", "min_unit_distance_init",
                            "nonfinite", "nonfinite_step"]))
            for (init, opt), r in self.runs.items():
                prefix = _csv_row([init, opt])[:-2] + ","  # quoted as csv would
                for lo in range(0, len(self.seeds), _CSV_SLICE):
                    _signals.check()  # a signal stops here; the partial file is removed
                    sl = slice(lo, lo + _CSV_SLICE)
                    fbk = r.first_break[sl]
                    nf = r.nonfinite_step[sl]
                    cols = [
                        _ints(self.seeds[sl]), _ints(seed_first_break(fbk)),
                        _ints(_worst_ulp(r.max_ulp[sl])),
                        *(_ints(fbk[:, j]) for j in range(fbk.shape[1])),
                        _floats(r.final_loss[sl], fmt), _ints(r.solved[sl].astype(np.int8)),
                        _floats(r.min_unit_distance[sl], fmt),
                        _floats(r.min_unit_distance_init[sl], fmt),
                        _ints((nf >= 0).astype(np.int8)), _ints(nf),
                    ]
                    write("".join(prefix + ",".join(row) + "\r\n" for row in zip(*cols)))
        return sha.hexdigest()

    def save_params(self, path) -> None:
        """``params.npz``: ``names`` and ``<init>__<optimizer>__init`` / ``__final`` arrays of
        shape (seeds, parameters)."""
        arrays: dict[str, np.ndarray] = {"names": np.asarray(self.param_names)}
        for (init, opt), r in self.runs.items():
            if r.init_params is None:
                raise InputError("parameters were not kept; run verify(..., save_params=True)")
            arrays[f"{init}__{opt}__init"] = r.init_params
            arrays[f"{init}__{opt}__final"] = r.final_params
        atomic_savez(path, arrays)

    def save_trajectories(self, path) -> None:
        """``trajectories.npz`` (:func:`_trajectory_arrays`), every recorded step."""
        records = next(iter(self.runs.values())).trajectory_loss.shape[1]
        atomic_savez(path, _trajectory_arrays(
            self.param_names, self.config["trajectory_every"] * np.arange(records), self.runs))


def verify(
    config: VerifyConfig | Mapping[str, Any] | None = None,
    /,
    *,
    out=None,
    save_params: bool = False,
    quiet: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    force: bool = False,
    **options,
) -> VerifyResults:
    """Train ``seeds`` seeds under every init x optimizer and check every tied pair bitwise at
    every step.

    The options are the fields of :class:`symjax.VerifyConfig` (their help texts say what each
    does), the options of ``symjax verify`` (``--output-activation`` is ``output_activation``),
    given as keywords or as a ``VerifyConfig`` (or a mapping) first, which keywords override;
    lists may be given as comma-separated strings or lists. The returned
    :attr:`VerifyResults.config` holds every option resolved, so ``verify(**config)`` re-runs.
    ``path="exact"`` falls back to matmul when a layer is wider than
    :data:`symjax.numeric.net.VECTOR_MAX_WIDTH` units, with a warning and ``path_used`` recorded.
    Call :func:`symjax.configure_xla` before importing JAX for the fast path.

    Args:
      out: directory to write ``results.json``, ``per_seed.csv`` (and ``params.npz``) into.
      save_params: keep initial and final parameters (and write ``params.npz`` into ``out``).
      quiet: no progress bar (it is shown only on a terminal anyway).
      progress: ``True``: show the progress bar (with the time left) even when stderr is not a
        terminal, e.g. in the log of a batch job; ``quiet`` wins.
      resume: continue the unfinished run in ``out`` (its options must equal these; see
        :func:`resume_verify`, which reads them from ``out/run.json``).
      force: write into ``out`` even when it is a non-empty directory that holds no symjax
        run (files with symjax's names are replaced); by default only a new or empty directory
        or one holding a symjax verify run is written into.

    With ``out``, every finished call (seed chunk x optimizer) is written to ``out/chunks/``
    at once, a second run into ``out`` is refused while this one holds its lock, and an
    interrupted run can be resumed. In a multi-process run (``jax.distributed.initialize``
    called first), process ``p`` trains chunks ``c`` with ``c % process_count == p`` and
    process 0 writes the merged files.

    Returns:
      A :class:`VerifyResults`.

    Raises:
      InputError: any bad option, with the bad value and the allowed choices.
      RunInterrupted: SIGINT or SIGTERM stopped the run (the message says how to resume).

    Examples:
      >>> import symjax
      >>> res = symjax.verify(init="tied,normal", seeds=64, steps=50, quiet=True)
      >>> res.ok
      True
    """
    from ..results.document import collect_provenance

    if config is not None:
        given = (dataclasses.asdict(config) if isinstance(config, VerifyConfig)
                 else dict(config))
        options = {**given, **options}
    VerifyConfig.complete(options, extra=_OUTPUT_OPTIONS)  # unknown names: one line
    plan = resolve(**options)
    config, data = plan.config, plan.data
    pid, nproc = jax.process_index(), jax.process_count()
    if out is None and (resume or nproc > 1):
        raise InputError("resume and multi-process runs need out=DIR (--out DIR): the chunk "
                         "files live there")
    sweep_plan = plan_sweep(config["seeds"], len(plan.inits), config["chunk"])
    batching = _batching(sweep_plan, plan, config["dtype"])
    configs = plan.train_configs()
    check_memory(configs[0], sweep_plan.batching, config["seeds"] * len(plan.inits) * len(configs),
                 save_params, on_disk=out is not None, seeds=config["seeds"])  # before any file
    provenance = collect_provenance()
    for note in plan.notes:
        warnings.warn(note, SymjaxWarning, stacklevel=2)
    seed_numbers = np.arange(config["first_seed"], config["first_seed"] + config["seeds"],
                             dtype=np.uint64).astype(np.uint32)
    store = lock = None
    if out is not None:
        store, lock = _open_store(out, config, batching, save_params, resume, pid, nproc, force)
    try:
        start = time.perf_counter()
        with pinned_numerics(config["dtype"]):
            sweep = run_sweep(configs, plan.inits, seed_numbers,
                              data.x.astype(config["dtype"]), data.y.astype(config["dtype"]),
                              chunk=config["chunk"], keep_params=save_params,
                              progress=False if quiet else progress, store=store,
                              process_index=pid, process_count=nproc)
        if nproc > 1:
            _barrier("symjax-verify-trained")
            missing = missing_units(store, configs, plan.inits, config["seeds"],
                                    config["chunk"], save_params)
            if missing:
                c, o, why = missing[0]
                raise InputError(f"{len(missing)} units are missing from {store.chunk_dir} "
                                 f"after every process finished (first: chunk {c}, optimizer "
                                 f"{o}: {why}); resume with --resume {out}")
        total = time.perf_counter() - start
        res = VerifyResults(
            config=config, batching=batching, ties=plan.ties, param_names=plan.net.layout.names,
            seeds=seed_numbers, runs=sweep.runs, summaries=_summaries(sweep, plan),
            dataset={"spec": data.spec, "task": data.task, "samples": data.n_samples},
            warnings=plan.notes, timing=_timing(sweep, total), provenance=provenance)
        if out is not None and pid == 0:
            written = res.write(store.directory, save_params=save_params)
            if nproc == 1 and not config["trajectory_every"]:
                _write_trajectory_sample(store.directory, plan, configs, seed_numbers,
                                         json.loads(written.read_text())["run_id"])
            _finish_store(store, config, save_params)
        if nproc > 1:
            _barrier("symjax-verify-written")
    finally:
        if lock is not None:
            lock.release()
    return res


def resume_verify(out, *, quiet: bool = False, progress: bool | None = None) -> VerifyResults:
    """Finish the interrupted ``verify`` run in directory ``out`` (``symjax verify --resume``).

    The options come from ``out/run.json``; chunk files already complete and intact are kept,
    missing, truncated or corrupted ones are recomputed. The results are bitwise identical to
    an uninterrupted run with the same layout (device count, chunk). In a process where JAX has
    not run anything yet, the recorded CPU device count is adopted; otherwise a different
    layout is refused, with what to do.

    Raises:
      InputError: ``out`` holds no run, or its layout differs from this process's.
    """
    manifest = read_manifest(existing_directory(out, "--resume"))
    _adopt_device_count(out, manifest.get("layout") or {})
    return verify(**manifest["config"], out=out, save_params=manifest.get("save_params", False),
                  quiet=quiet, resume=True, progress=progress)


def _adopt_device_count(out, layout: dict) -> None:
    """Use the recorded number of CPU devices, if JAX's backend is not initialised yet."""
    want = layout.get("devices")
    if layout.get("platform") != "cpu" or not isinstance(want, int) or want < 1:
        return
    try:
        jax.config.update("jax_num_cpu_devices", want)
    except RuntimeError:  # the backend already runs: its device count is fixed
        have = jax.local_device_count()
        if have != want:
            raise InputError(
                f"{out} was run on {want} CPU devices and this process already uses {have}; "
                f"resume it in a fresh process (symjax verify --resume {out}, or call "
                f"symjax.resume_verify before anything else runs JAX)") from None


#: Files of a finished run that a new run into the same directory replaces (the report of
#: the old run included: a report belongs to one run).
_RESULT_FILES = ("results.json", PER_SEED_FILE, PARAMS_FILE, TRAJECTORIES_FILE, SAMPLE_FILE)
#: The first seeds of a run without trajectories are re-run with trajectories recorded at
#: about SAMPLE_RECORDS log-spaced steps (``trajectory_sample.npz``), so that ``symjax report``
#: can draw the loss and the hidden-unit distance over training without a re-run. The
#: per-seed results and ``results.json`` do not depend on it.
SAMPLE_SEEDS = 128
SAMPLE_RECORDS = 60


def _write_trajectory_sample(out: Path, plan: Plan, configs: list[TrainConfig],
                             seeds: np.ndarray, run_id: str) -> None:
    """Write ``trajectory_sample.npz`` (:func:`_trajectory_arrays` at log-spaced steps, with the
    ``seeds`` and the ``run_id``)."""
    steps, n = plan.config["steps"], min(len(seeds), SAMPLE_SEEDS)
    every = max(1, steps // 250)  # at most 251 records per seed while training
    traced = [dataclasses.replace(c, trajectory_every=every) for c in configs]
    recorded = every * np.arange(traced[0].n_records)
    wanted = np.geomspace(1, max(steps, 1), SAMPLE_RECORDS) if steps else np.zeros(1)
    keep = np.unique(np.concatenate([[0], np.searchsorted(recorded, wanted),
                                     [recorded.size - 1]]).clip(0, recorded.size - 1))
    dtype = plan.config["dtype"]
    with pinned_numerics(dtype):
        sweep = run_sweep(traced, plan.inits, seeds[:n], plan.data.x.astype(dtype),
                          plan.data.y.astype(dtype), chunk=n, progress=False)
    atomic_savez(out / SAMPLE_FILE, _trajectory_arrays(
        plan.net.layout.names, recorded[keep], sweep.runs, keep,
        seeds=seeds[:n].astype(np.int64), run_id=np.asarray(run_id)))


def _trajectory_arrays(names, steps: np.ndarray, runs: Mapping[tuple[str, str], RunArrays],
                       keep=slice(None), **extra: np.ndarray) -> dict[str, np.ndarray]:
    """``names``, ``steps``, ``extra`` and per run ``<init>__<optimizer>__params`` (seeds,
    records, parameters) and ``__loss`` (seeds, records), of the records ``keep``."""
    arrays = {"names": np.asarray(names), "steps": steps, **extra}
    for (init, opt), r in runs.items():
        arrays[f"{init}__{opt}__params"] = np.asarray(r.trajectory_params)[:, keep]
        arrays[f"{init}__{opt}__loss"] = np.asarray(r.trajectory_loss)[:, keep]
    return arrays


def _open_store(out: Path, config: dict, layout: dict, save_params: bool, resume: bool,
                pid: int, nproc: int, force: bool = False) -> tuple[ChunkStore, DirectoryLock]:
    """Claim and lock ``out`` and set up its chunk store: a new run, or the resumed one.

    Nothing is written into a directory symjax did not create or that holds no symjax verify
    run (unless ``force``), nor through a symbolic link. A new run refuses a directory holding
    an unfinished run (resume it, or remove it); the results files of a finished run stay until
    the new run writes its own over them. Resuming needs the same options and layout and
    deletes nothing.
    """
    if resume:
        out = existing_directory(out, "--resume")
    elif pid == 0:
        out = claim_directory(out, option="--out", ours=holds_verify_run, what="verify run",
                              force=force)
    else:
        out = Path(out)
    manifest = {"config": config, "layout": layout, "save_params": save_params}
    store, lock = locked_store(out, manifest, _RESULT_FILES, "--out", pid)
    try:
        if pid == 0:
            existing = store.read_manifest()
            if resume:
                if existing is None:
                    read_manifest(out)  # raises: nothing to resume
                _same_run(out, existing, store.manifest)
            elif existing is not None and not manifest_finished(existing, out):
                raise InputError(
                    f"{out} holds an unfinished run; continue it with symjax verify "
                    f"--resume {out}, or remove the directory, or choose another --out")
            else:
                store.clear_chunks()  # a new run replaces a finished one's chunk files
            store.remove_temporaries()
            store.write_manifest(finished=bool(resume and manifest_finished(existing, out)))
        if nproc > 1:
            _barrier("symjax-verify-manifest")
            if pid != 0:
                _same_run(out, store.read_manifest(), store.manifest)
    except BaseException:
        lock.release()
        raise
    return store, lock


def _finish_store(store: ChunkStore, config: dict, save_params: bool) -> None:
    """After the results files are written: remove those of a replaced run that this run does
    not write (after, never before), and mark the run finished."""
    stale = [n for n, kept in ((PARAMS_FILE, save_params),
                               (TRAJECTORIES_FILE, config["trajectory_every"])) if not kept]
    for name in stale:
        (store.directory / name).unlink(missing_ok=True)  # unlink never follows a link
    store.write_manifest(finished=True)


def _same_run(out: Path, existing: dict | None, ours: dict) -> None:
    """Refuse to resume (or join) a run whose recorded options or layout differ from ours."""
    if existing is None:
        raise InputError(f"{out} has no run manifest ({out}/run.json)")
    for part in ("config", "layout"):
        theirs, mine = existing.get(part, {}), ours[part]
        first = ("process_count", "devices", "platform", "device_kind")  # the usual causes
        diff = sorted((k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k)),
                      key=lambda k: (k not in first, first.index(k) if k in first else 0, k))
        if diff:
            k = diff[0]
            hint = (" (set the same device count, e.g. JAX_NUM_CPU_DEVICES)"
                    if k in ("devices", "runs_per_call", "block", "blocks_per_device") else "")
            raise InputError(
                f"{out} holds a run with {part} {k}={theirs.get(k)!r}, this run has "
                f"{mine.get(k)!r}{hint}; resuming needs the same options and layout")
    if bool(existing.get("save_params")) != bool(ours["save_params"]):
        raise InputError(f"{out} holds a run with save_params={existing.get('save_params')}; "
                         f"resume it with the same --save-params")


def _barrier(name: str) -> None:
    """Wait until every process of a multi-process run gets here."""
    from jax.experimental import multihost_utils

    # The CPU collectives (Gloo) print connection notes on stdout, where the table goes: send
    # the file descriptor to stderr while they run.
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        multihost_utils.sync_global_devices(name)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# -- resolution of options -----------------------------------------------------------------
def _representable(dtype: str, values) -> None:
    """Refuse finite numbers that the run's dtype cannot hold (they would become infinities and
    show up as diverged seeds, or zeros, instead of as the bad input they are)."""
    largest = float(np.finfo(dtype).max)
    for name, value in values:
        if abs(value) > largest:
            raise InputError(f"{name} {value!r} does not fit in {dtype} (largest "
                             f"{largest:.4g}); use a smaller value or dtype float64")
        if value != 0 and float(np.asarray(value, dtype)) == 0:  # would silently become 0
            raise InputError(f"{name} {value!r} rounds to 0 in {dtype} (smallest "
                             f"{float(np.finfo(dtype).smallest_subnormal):.4g}); use a larger "
                             f"value or dtype float64")


class Plan(NamedTuple):
    """Every option of a run, validated and resolved (no JAX computation yet)."""

    config: dict[str, Any]  # the resolved options under their CLI names
    net: Net
    data: Dataset
    inits: list[InitSpec]
    optimizers: tuple[OptimizerSpec, ...]
    ties: tuple[tuple[str, str], ...]  # checked pairs of parameter names
    form: str  # "scalar", "vector" (the exact path) or "matmul", after a possible fallback
    notes: list[str]  # warnings about the run

    @property
    def path_used(self) -> str:
        return "matmul" if self.form == "matmul" else "exact"

    def train_configs(self) -> list[TrainConfig]:
        """One :class:`TrainConfig` per optimizer."""
        index = {n: i for i, n in enumerate(self.net.layout.names)}
        signed = [split_signed(b) for _, b in self.ties]
        ties = tuple((index[a], index[b]) for (a, _), (_, b) in zip(self.ties, signed))
        signs = tuple(s for s, _ in signed) if has_sign_flip(self.ties) else ()
        c = VerifyConfig.with_defaults(self.config)
        return [TrainConfig(self.net, o, c["steps"], c["dtype"], self.form, ties,
                            self.data.task, c["trajectory_every"], c["batch_size"],
                            c["input_noise"], signs) for o in self.optimizers]


def resolve(**options) -> Plan:
    """Validate and canonicalize the options of :func:`verify` (missing ones get defaults).

    Raises:
      InputError: an unknown option name, or any bad value.
    """
    kw = VerifyConfig.check_plain(VerifyConfig.complete(options))
    widths = Layout(kw["widths"]).widths
    net = Net(widths, kw["activation"], kw["output_activation"], kw["loss"], kw["reduction"])
    data: Dataset = make_dataset(kw["dataset"], widths)
    seeds, dtype, eps = kw["seeds"], kw["dtype"], kw["eps"]
    kw["first_seed"] = parse_int("first_seed", kw["first_seed"], 0, MAX_SEEDS - seeds)
    init_texts = split_list(kw["init"], "init list")
    if init_texts == ["all"]:
        init_texts = list(init_schemes())
    if not init_texts:
        raise InputError(f"init list {kw['init']!r} is empty; allowed: "
                         f"{', '.join(init_schemes())}, all")
    inits = [parse_init(t, eps=eps) for t in init_texts]
    if len({i.spec for i in inits}) != len(inits):
        raise InputError(f"init list {kw['init']!r} names a scheme twice")
    opts = parse_optimizers(kw["optimizer"], kw["lr"], dropout=kw["dropout"],
                            grad_noise=kw["grad_noise"])
    kw["batch_size"] = parse_int("batch_size", 0 if kw["batch_size"] is None
                                 else kw["batch_size"], 0, data.n_samples)
    kw["schedule"] = parse_schedule(kw["schedule"])
    opts = tuple(dataclasses.replace(o, weight_decay=kw["weight_decay"],
                                     schedule=kw["schedule"], schedule_steps=kw["steps"])
                 for o in opts)
    _representable(dtype, [("eps", eps), ("grad_noise", kw["grad_noise"]),
                           ("input_noise", kw["input_noise"]),
                           ("weight_decay", kw["weight_decay"])]
                   + [(f"lr of {o.spec}", o.lr) for o in opts]
                   + [(f"{k} of {o.spec}", v) for o in opts for k, v in o.options
                      if isinstance(v, float)])
    layout = net.layout
    tie_pairs = (tied_subspace_pairs(layout) if kw["ties"] is None
                 else layout.parse_ties(kw["ties"], signed=True))
    if has_sign_flip(tie_pairs):
        net = dataclasses.replace(net, sign_exact=True)
    notes = []
    form = (exact_form(net, kw["batch_size"] or data.n_samples) if kw["path"] == "exact"
            else "matmul")
    if not form:
        form = "matmul"
        notes.append(f"widths {layout.widths_str} have a layer wider than {VECTOR_MAX_WIDTH} "
                     f"units, the limit of the exact path; the matmul path was used instead, so "
                     f"ties are measured but not expected to hold bitwise")
    config = VerifyConfig.record({
        **kw, "widths": list(widths), "activation": net.activation,
        "output_activation": net.output_activation, "loss": net.loss, "reduction": net.reduction,
        "dataset": data.spec, "init": [i.spec for i in inits],
        "optimizer": [o.spec for o in opts], "lr": [o.lr for o in opts],
        "ties": format_ties(tie_pairs)})
    return Plan(config, net, data, inits, opts, tie_pairs, form, notes)


def _csv_row(values) -> str:
    """One CSV row as ``csv.writer`` writes it (quoted where needed, ``\\r\\n`` at the end)."""
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue()


def _ints(a: np.ndarray) -> list[str]:
    return list(map(str, a.tolist()))


def _floats(a: np.ndarray, fmt: str) -> list[str]:
    return [format(v, fmt) for v in a.tolist()]


# -- summaries ---------------------------------------------------------------------------------
def _worst_ulp(max_ulp: np.ndarray) -> np.ndarray:
    """Per seed, the largest ULP distance over its pairs, from ``(seeds, pairs)``."""
    return max_ulp.max(axis=1) if max_ulp.shape[1] else np.zeros(len(max_ulp), np.uint64)


def _in_subspace(layout: Layout, pairs, signed: bool) -> bool:
    """Every pair ``a, b`` is tied in the fully tied subspace; with sign-flip ties (``signed``)
    also with the sign :func:`flip_signs` gives the pair, so it holds on the sign-flip subspace."""
    classes = {n: c for c in layout.tie_classes(tied_subspace_pairs(layout)) for n in c}
    flips = dict(zip(layout.names, flip_signs(layout).tolist())) if signed else {}

    def on_subspace(a: str, signed_b: str) -> bool:
        sign, b = split_signed(signed_b)
        return a in classes and b in classes[a] and (not signed or sign == flips[a] * flips[b])

    return all(on_subspace(a, b) for a, b in pairs)


def _summaries(sweep: SweepOutput, plan: Plan) -> list[dict[str, Any]]:
    """One summary per init x optimizer. The theorem applies (``expected_preserved``) to a
    symmetric init under an equivariant optimizer; for sign-flip ties to an init on the
    sign-flip subspace, an odd hidden activation and an odd (unperturbed) optimizer update;
    either way on the exact path with every pair in the subspace."""
    signed = has_sign_flip(plan.ties)
    in_subspace = _in_subspace(plan.net.layout, plan.ties, signed)
    out = []
    for i in plan.inits:
        for o in plan.optimizers:
            r = sweep.runs[(i.spec, o.label)]
            applies = ((i.name in SIGN_FLIP_INITS and plan.net.activation in ODD_ACTIVATIONS
                        and o.name in SIGN_EQUIVARIANT) if signed
                       else get_init(i.name).symmetric)
            expected = (applies and o.equivariant
                        and plan.path_used == "exact" and in_subspace)
            out.append({
                "init": i.spec,
                "optimizer": o.label,
                "lr": o.lr,
                **summarize(r.first_break, _worst_ulp(r.max_ulp), r.solved, r.final_loss,
                            r.min_unit_distance, r.min_unit_distance_init, r.nonfinite_step),
                "expected_preserved": bool(expected),
                "invariant_holds": bool((r.first_break < 0).all()) if expected else None,
            })
    return out


def _batching(lay: SweepPlan, plan: Plan, dtype: str) -> dict:
    devices = jax.local_devices()
    return {
        "seeds_per_call": lay.seeds_per_call,
        "runs_per_call": lay.batching.runs,
        "block": lay.batching.block,
        "blocks_per_device": lay.batching.blocks,
        "devices": len(devices),
        "global_devices": jax.device_count(),
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "process_count": jax.process_count(),
        "path_used": plan.path_used,
        "form": plan.form,
        "x64": dtype == "float64",
        "prng_impl": PRNG_IMPL,
        "threefry_partitionable": THREEFRY_PARTITIONABLE,
        "matmul_precision": "highest",
    }


def _timing(sweep: SweepOutput, total: float) -> dict:
    """Times of this process's share of the run (not part of what the run ID hashes)."""
    return {
        "total_seconds": total,
        "compile_seconds": sweep.compile_seconds,
        "run_seconds": sweep.run_seconds,
        "units_computed": sweep.units_computed,
        "units_reused": sweep.units_reused,
        "seed_steps_per_second": {
            k: (sweep.seed_steps[k] / v if v > 0 else None) for k, v in sweep.run_seconds.items()
        },
    }
