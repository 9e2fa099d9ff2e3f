"""``symjax report``: tables, figures and a methods paragraph from a ``symjax verify`` directory.

Everything a report states is read from the run's files, never typed by hand:

* ``results.json`` (read with :func:`symjax._provenance.read_results`, so a missing, truncated,
  other-schema or edited file is refused): config, layout, summaries, provenance, run ID.
* ``per_seed.csv``: one row per init x optimizer x seed. It is not hashed, so it is checked
  against ``results.json`` before use: its columns, its runs and seeds, and every summary that
  can be derived from it (counts, first-break medians and ranges, loss and distance medians)
  must equal the hashed ones exactly. The fraction-broken and first-break figures come from it.
* ``trajectories.npz`` (only when the run used ``--trajectory-every K``): parameters and loss
  every K steps; the smallest hidden-unit distance and loss figures come from it. Without it the
  report says how to re-run with trajectories.
* ``proof.json`` (optional, from ``symjax prove --json DIR/proof.json``): its LaTeX derivation
  becomes ``appendix_proof.tex``.

Files written (into ``DIR/report/`` unless another directory is given): ``report.md`` (methods,
table, figures, notes, provenance), ``table.tex`` (booktabs ``tabular``, ready to ``\\input``),
``summary.csv`` (every summary field at full precision), ``methods.txt``, ``methods.tex``, the
figures as PDF and PNG (:mod:`symjax._plots`, needs the ``plots`` extra) and
``appendix_proof.tex``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._errors import InputError
from ._layout import Layout
from ._provenance import SCHEMA, package_version, read_results, results_path

#: Files of a ``symjax verify`` directory (the names :class:`symjax._verifier.VerifyResults`
#: writes; kept here so that reading them does not import JAX).
PER_SEED_FILE = "per_seed.csv"
PARAMS_FILE = "params.npz"
TRAJECTORIES_FILE = "trajectories.npz"
#: Written by ``verify --out`` when the run records no trajectories: its first seeds re-run
#: with trajectories at log-spaced steps, for the figures.
SAMPLE_FILE = "trajectory_sample.npz"
#: Optional proof written by ``symjax prove --json DIR/proof.json``.
PROOF_FILE = "proof.json"
#: Default output directory, inside the results directory.
REPORT_DIR = "report"

#: Columns of ``per_seed.csv`` holding labels, and holding floats in the run's dtype; every
#: other column holds integers.
LABEL_COLUMNS = ("init", "optimizer")
FLOAT_COLUMNS = ("final_loss", "min_unit_distance", "min_unit_distance_init")
_FIXED_COLUMNS = ("seed", "first_break_step", "max_ulp", "solved", "nonfinite", "nonfinite_step")

_PRETTY = {
    "xor": "XOR", "and": "AND", "or": "OR", "identity": "linear", "relu": "ReLU",
    "leaky_relu": "leaky ReLU", "squared_error": "squared-error", "bce": "binary cross-entropy",
    "sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "NAdam", "nadamw": "NAdamW",
    "amsgrad": "AMSGrad", "adamax": "Adamax", "adamaxw": "AdamaxW", "adabelief": "AdaBelief",
    "adan": "Adan", "radam": "RAdam", "yogi": "Yogi", "rmsprop": "RMSProp", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "lion": "Lion", "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum", "sign_sgd": "signSGD", "signum": "Signum",
    "rprop": "Rprop", "optimistic_gradient_descent": "optimistic gradient descent",
}


# -- reading a run -----------------------------------------------------------------------------
@dataclass
class RunData:
    """A ``symjax verify`` results directory, read and cross-checked.

    Attributes:
      directory: the directory holding ``results.json``.
      document: the results document (:func:`symjax._provenance.read_results`).
      columns: the columns of ``per_seed.csv``, in file order.
      per_seed: ``(init, optimizer) -> {column: (seeds,) array}`` in summary order; floats in
        the run's dtype, ``max_ulp`` as uint64, other numbers as int64, labels as str.
    """

    directory: Path
    document: dict[str, Any]
    columns: tuple[str, ...]
    per_seed: dict[tuple[str, str], dict[str, np.ndarray]] = field(repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """What was run (``verify(**config)`` re-runs it)."""
        return self.document["config"]

    @property
    def layout(self) -> dict[str, Any]:
        """How the run was batched (seeds per call, devices, path used)."""
        return self.document["layout"]

    @property
    def results(self) -> dict[str, Any]:
        """What the run found."""
        return self.document["results"]

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """One summary per init x optimizer, in table order."""
        return self.results["summaries"]

    @property
    def run_id(self) -> str:
        """``sha256:<16 hex>`` of config, layout and results."""
        return self.document["run_id"]

    @property
    def runs(self) -> list[tuple[str, str]]:
        """``(init, optimizer)`` labels in table order."""
        return [(s["init"], s["optimizer"]) for s in self.summaries]

    @property
    def seeds(self) -> np.ndarray:
        """``(n,)`` int64 seed numbers."""
        first = self.config["first_seed"]
        return np.arange(first, first + self.config["seeds"], dtype=np.int64)

    @property
    def pair_columns(self) -> list[str]:
        """The per-pair first-break columns of ``per_seed.csv``."""
        return [f"first_break_{a}_{b}" for a, b in self.results["tie_pairs"]]

    def file(self, name: str) -> Path:
        """A file of the results directory."""
        return self.directory / name


#: Keys every ``verify`` document must hold (older or foreign writers are refused clearly).
_REQUIRED = {
    "config": ("widths", "activation", "output_activation", "loss", "reduction", "dataset",
               "init", "optimizer", "lr", "seeds", "first_seed", "steps", "dtype", "path",
               "ties", "dropout", "grad_noise", "trajectory_every"),
    "layout": ("devices", "platform", "path_used"),
    "results": ("ok", "path_used", "tie_pairs", "param_names", "dataset", "summaries"),
}
_SUMMARY_KEYS = ("init", "optimizer", "lr", "seeds", "pairs", "pairs_preserved", "pairs_total",
                 "seeds_all_pairs_preserved", "seeds_broken", "broken_at_step_0",
                 "first_break_median", "first_break_min", "first_break_max", "max_ulp", "solved",
                 "final_loss_median", "min_unit_distance_median",
                 "min_unit_distance_init_median", "nonfinite", "expected_preserved",
                 "invariant_holds")


_INT = {"type": "integer", "minimum": 0}
_NUMBER_OR_NONE = {"type": ["number", "string", "null"], "pattern": "^(nan|inf|-inf)$"}
_SUMMARY_TYPES = {
    "init": {"type": "string"}, "optimizer": {"type": "string"},
    "lr": {"type": "number", "exclusiveMinimum": 0},
    **{k: _INT for k in ("seeds", "pairs", "pairs_preserved", "pairs_total",
                         "seeds_all_pairs_preserved", "seeds_broken", "broken_at_step_0",
                         "max_ulp", "solved", "nonfinite")},
    "first_break_median": _NUMBER_OR_NONE,
    "first_break_min": {"type": ["integer", "null"], "minimum": 0},
    "first_break_max": {"type": ["integer", "null"], "minimum": 0},
    "final_loss_median": _NUMBER_OR_NONE, "min_unit_distance_median": _NUMBER_OR_NONE,
    "min_unit_distance_init_median": _NUMBER_OR_NONE,
    "expected_preserved": {"type": "boolean"}, "invariant_holds": {"type": ["boolean", "null"]},
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
#: What this module reads from a ``verify`` document, with types and ranges (the results schema
#: leaves config, layout and results to each command). A document edited and re-hashed by hand
#: fails here with the path of the bad value, not with a traceback further on.
_VERIFY_SCHEMA = {
    "type": "object",
    "properties": {
        "config": {"type": "object", "required": list(_REQUIRED["config"]), "properties": {
            "widths": {"type": "array", "minItems": 2,
                       "items": {"type": "integer", "minimum": 1}},
            **{k: {"type": "string"} for k in ("activation", "output_activation", "loss",
                                                "reduction", "dataset", "path", "ties")},
            "dtype": {"enum": ["float32", "float64"]},
            "init": {**_STRINGS, "minItems": 1}, "optimizer": {**_STRINGS, "minItems": 1},
            "lr": {"type": "array", "minItems": 1,
                   "items": {"type": "number", "exclusiveMinimum": 0}},
            "seeds": {"type": "integer", "minimum": 1}, "first_seed": _INT, "steps": _INT,
            "chunk": {"type": "integer", "minimum": 1}, "trajectory_every": _INT,
            **{k: {"type": "number", "minimum": 0} for k in ("eps", "dropout", "grad_noise")},
        }},
        "layout": {"type": "object", "required": list(_REQUIRED["layout"]), "properties": {
            "devices": {"type": "integer", "minimum": 1}, "platform": {"type": "string"},
            "device_kind": {"type": "string"}, "path_used": {"enum": ["exact", "matmul"]},
            "process_count": {"type": "integer", "minimum": 1},
            "seeds_per_call": {"type": "integer", "minimum": 1},
        }},
        "results": {"type": "object", "required": [*_REQUIRED["results"], "ties"], "properties": {
            "ok": {"type": "boolean"}, "path_used": {"enum": ["exact", "matmul"]},
            "ties": {"type": "string"},
            "tie_pairs": {"type": "array", "items": {**_STRINGS, "minItems": 2, "maxItems": 2}},
            "param_names": _STRINGS, "warnings": _STRINGS,
            "dataset": {"type": "object", "required": ["spec", "task", "samples"], "properties": {
                "spec": {"type": "string"}, "task": {"enum": ["classification", "regression"]},
                "samples": {"type": "integer", "minimum": 1}}},
            "summaries": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": list(_SUMMARY_KEYS),
                "properties": _SUMMARY_TYPES}},
        }},
    },
}


def _check_verify_document(target: Path, document: dict[str, Any]) -> None:
    """Types, ranges and cross-references of the parts of a verify document read here."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_VERIFY_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        message = " ".join(error.message.split())
        message = message if len(message) <= 160 else message[:157] + "..."
        raise InputError(f"{target}: not a valid symjax verify results file at "
                         f"{error.json_path}: {message}")
    config, results = document["config"], document["results"]

    def bad(problem: str) -> InputError:
        return InputError(f"{target}: inconsistent verify results: {problem}")

    if len(config["lr"]) != len(config["optimizer"]):
        raise bad(f"config has {len(config['lr'])} learning rates for "
                  f"{len(config['optimizer'])} optimizers")
    try:
        names = Layout(config["widths"]).names
    except InputError as err:
        raise bad(f"config.widths: {err}") from None
    if results["param_names"] != list(names):
        raise bad(f"results.param_names do not name the parameters of widths "
                  f"{config['widths']}")
    unknown = sorted({n for pair in results["tie_pairs"] for n in pair} - set(names))
    if unknown:
        raise bad(f"results.tie_pairs name {unknown[0]!r}, which is not a parameter")
    runs = [(s["init"], s["optimizer"]) for s in results["summaries"]]
    if len(set(runs)) != len(runs) or {i for i, _ in runs} != set(config["init"]):
        raise bad("results.summaries do not list each init x optimizer run once")


def load_run(path: str | os.PathLike, document: dict | None = None) -> RunData:
    """Read ``results.json`` of a ``symjax verify`` run and its ``per_seed.csv``, cross-checked.

    Args:
      path: a results directory, or its ``results.json``.
      document: its contents, when the caller has already read them with
        :func:`symjax._provenance.read_results`.

    Returns:
      A :class:`RunData`.

    Raises:
      InputError: one line: results file missing, truncated, of another schema version, edited
        (hash mismatch) or not from ``verify``; ``per_seed.csv`` missing, truncated, malformed
        or inconsistent with ``results.json``.
    """
    document = read_results(path) if document is None else document
    target = results_path(path)
    if document["kind"] != "verify":
        raise InputError(f"{target} holds {document['kind']} results; this command needs the "
                         f"results of symjax verify")
    for part, keys in _REQUIRED.items():
        missing = [k for k in keys if k not in document[part]]
        if missing:
            raise InputError(f"{target}: {part} lacks {', '.join(missing)}; written by a symjax "
                             f"version this one ({package_version()}) cannot read")
    summaries = document["results"]["summaries"]
    if not summaries or not all(isinstance(s, dict) and set(_SUMMARY_KEYS) <= set(s)
                                for s in summaries):
        raise InputError(f"{target}: results.summaries is empty or lacks summary fields")
    _check_verify_document(target, document)
    run = RunData(target.parent, document, (), {})
    run.columns, run.per_seed = _read_per_seed(run)
    return run


def _read_per_seed(run: RunData) -> tuple[tuple[str, ...], dict]:
    path = run.file(PER_SEED_FILE)
    where = f"{path} (run {run.run_id})"
    if not path.is_file():
        raise InputError(f"{path} is missing; symjax verify --out DIR writes it next to "
                         f"results.json")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{where}: cannot read: {' '.join(str(err).split())}") from None
    if not rows:
        raise InputError(f"{where}: the file is empty")
    header = tuple(rows[0])
    expected = (*LABEL_COLUMNS, *_FIXED_COLUMNS, *run.pair_columns, *FLOAT_COLUMNS)
    missing = [c for c in expected if c not in header]
    if missing:
        raise InputError(f"{where}: header lacks column(s) {', '.join(missing)}; not the "
                         f"per-seed file of this run")
    if len(set(header)) != len(header):
        raise InputError(f"{where}: header names a column twice")
    body = rows[1:]
    n_seeds, runs = run.config["seeds"], run.runs
    if len(body) != n_seeds * len(runs):
        raise InputError(
            f"{where}: {len(body)} rows, results.json expects {n_seeds * len(runs)} "
            f"({n_seeds} seeds x {len(runs)} init x optimizer runs); the file is truncated or "
            f"from another run")
    grouped: dict[tuple[str, str], list[list[str]]] = {r: [] for r in runs}
    i_init, i_opt = header.index("init"), header.index("optimizer")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(f"{where}: line {line} has {len(row)} fields, the header "
                             f"{len(header)}; the file is truncated or corrupted")
        key = (row[i_init], row[i_opt])
        if key not in grouped:
            raise InputError(f"{where}: line {line} names run {key[0]}/{key[1]}, which is not "
                             f"in results.json")
        grouped[key].append(row)
    dtype = np.dtype(run.config["dtype"])
    per_seed = {}
    for key, group in grouped.items():
        cols = {}
        for j, name in enumerate(header):
            cells = [r[j] for r in group]
            cols[name] = _parse_column(where, name, cells, dtype)
        if not np.array_equal(cols["seed"], run.seeds):
            raise InputError(f"{where}: run {key[0]}/{key[1]} does not list seeds "
                             f"{run.seeds[0]}..{run.seeds[-1]} once each, in order")
        per_seed[key] = cols
    _check_against_summaries(where, run, per_seed)
    check_file_digests(run.directory, run.document, names=(PER_SEED_FILE,))
    return header, per_seed


def check_file_digests(directory: Path, document: dict, *, names: Sequence[str] | None = None,
                       ) -> None:
    """Refuse files of a results directory whose SHA-256 differs from the one ``results.json``
    records under ``results.files`` (only files present: a copied ``results.json`` alone can
    still be cited).

    Raises:
      InputError: one line naming the file and both digests.
    """
    recorded = document.get("results", {}).get("files")
    if not isinstance(recorded, dict):
        return
    for name, digest in recorded.items():
        if names is not None and name not in names:
            continue
        path = Path(directory) / str(name)
        if path.parent != Path(directory) or not path.is_file():
            continue
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        if f"sha256:{sha.hexdigest()}" != digest:
            raise InputError(f"{path}: SHA-256 sha256:{sha.hexdigest()[:16]}... differs from "
                             f"the {str(digest)[:23]}... that results.json of run "
                             f"{document.get('run_id')} records: the file was changed after "
                             f"the run")


def _parse_column(where: str, name: str, cells: list[str], dtype: np.dtype) -> np.ndarray:
    """One column as an array: labels as str, floats in the run's dtype, ``max_ulp`` uint64,
    other integers int64."""
    if name in LABEL_COLUMNS:
        return np.asarray(cells, dtype=str)
    as_float = name in FLOAT_COLUMNS
    values = np.empty(len(cells), np.float64 if as_float else
                      np.uint64 if name == "max_ulp" else np.int64)
    for i, cell in enumerate(cells):
        try:
            values[i] = float(cell) if as_float else int(cell)
        except (ValueError, OverflowError):
            raise InputError(f"{where}: column {name} holds {cell!r}, not "
                             f"{'a number' if as_float else 'an integer in range'}") from None
    return values.astype(dtype) if as_float else values


def _median(values: np.ndarray) -> float | None:
    """Median over finite values as the engine computes it (``None`` when there are none)."""
    values = values.astype(np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def summarize_per_seed(cols: dict[str, np.ndarray], pair_columns: Sequence[str]) -> dict:
    """The summary fields of one run that follow from its per-seed columns."""
    first = cols["first_break_step"]
    broken = first >= 0
    pairs = np.stack([cols[c] for c in pair_columns]) if pair_columns else np.zeros((0, 1))
    return {
        "seeds": int(first.size),
        "pairs": len(pair_columns),
        "pairs_preserved": int((pairs < 0).sum()),
        "pairs_total": int(first.size * len(pair_columns)),
        "seeds_all_pairs_preserved": int((~broken).sum()),
        "seeds_broken": int(broken.sum()),
        "broken_at_step_0": int((first == 0).sum()),
        "first_break_median": _median(first[broken]),
        "first_break_min": int(first[broken].min()) if broken.any() else None,
        "first_break_max": int(first[broken].max()) if broken.any() else None,
        "max_ulp": int(cols["max_ulp"].max()) if pair_columns else 0,
        "solved": int(cols["solved"].sum()),
        "final_loss_median": _median(cols["final_loss"]),
        "min_unit_distance_median": _median(cols["min_unit_distance"]),
        "min_unit_distance_init_median": _median(cols["min_unit_distance_init"]),
        "nonfinite": int(cols["nonfinite"].sum()),
    }


def _check_against_summaries(where: str, run: RunData, per_seed: dict) -> None:
    pair_cols = run.pair_columns
    for summary in run.summaries:
        key = (summary["init"], summary["optimizer"])
        cols = per_seed[key]
        if pair_cols:
            pairs = np.stack([cols[c] for c in pair_cols])
            masked = np.where(pairs >= 0, pairs, np.iinfo(np.int64).max).min(axis=0)
            first = np.where(masked == np.iinfo(np.int64).max, -1, masked)
        else:
            first = np.full(cols["seed"].shape, -1)
        consistent = ((first == cols["first_break_step"])
                      & (cols["nonfinite"] == (cols["nonfinite_step"] >= 0)))
        bad = np.flatnonzero(~consistent)
        if bad.size:
            seed = run.seeds[bad[0]]
            raise InputError(f"{where}: run {key[0]}/{key[1]} seed {seed} contradicts itself "
                             f"(first_break_step vs its pairs, or nonfinite vs nonfinite_step)")
        derived = summarize_per_seed(cols, pair_cols)
        for name, value in derived.items():
            if summary[name] != value:
                raise InputError(
                    f"{where}: run {key[0]}/{key[1]} {name} is {value} in {PER_SEED_FILE} but "
                    f"{summary[name]} in results.json; the per-seed file was changed or belongs "
                    f"to another run")


class NpzArrays(Mapping):
    """The arrays of an ``.npz`` file, each read when accessed (one at a time in memory).

    A context manager; every reading error (truncated or corrupted file, not an npz archive)
    raises :class:`InputError` naming the file.
    """

    def __init__(self, path: Path, run_id: str):
        self._where = f"{path} (run {run_id})"
        self._file = self._data = None
        try:
            self._file = open(path, "rb")
            self._data = np.load(self._file, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            self.close()
            raise self._error(err) from None
        if not isinstance(self._data, np.lib.npyio.NpzFile):
            self.close()
            raise InputError(f"{self._where}: not an npz archive")

    def _error(self, err: Exception) -> InputError:
        return InputError(f"{self._where}: cannot read: {' '.join(str(err).split())}; the file "
                          f"is truncated or corrupted")

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._data.files:
            raise KeyError(key)
        try:
            return self._data[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self._error(err) from None

    def __iter__(self):
        return iter(self._data.files)

    def __len__(self) -> int:
        return len(self._data.files)

    def check(self) -> None:
        """Read every array once, so that a damaged file shows now."""
        for key in self:
            self[key]

    def close(self) -> None:
        """Close the archive and the file."""
        for thing in (self._data, self._file):
            if thing is not None:
                thing.close()

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- trajectories ------------------------------------------------------------------------------
class Band(NamedTuple):
    """Quantiles over seeds at each recorded step: ``(records,)`` arrays."""

    q25: np.ndarray
    median: np.ndarray
    q75: np.ndarray


class Outcome(NamedTuple):
    """Quantile bands over the seeds of one outcome (solved or stuck) of one run."""

    seeds: int
    distance: Band
    loss: Band


@dataclass
class TrajectoryStats:
    """What the trajectory figures show, per run: quantiles over seeds at each recorded step.

    Attributes:
      steps: ``(records,)`` recorded steps.
      distance: ``(init, optimizer) -> Band`` of the smallest hidden-unit distance.
      loss: ``(init, optimizer) -> Band`` of the training loss.
      tied: ``(init, optimizer) -> bool``: the distance is exactly 0 for every seed at every
        recorded step (the units never separated).
      outcomes: ``(init, optimizer) -> {"solved": Outcome | None, "stuck": Outcome | None}``:
        the same bands over the seeds that solved the task and over those that did not (by the
        run's own ``solved`` column).
      source: the file read: ``trajectories.npz`` (every seed, every K steps) or
        ``trajectory_sample.npz`` (the first seeds re-run at log-spaced steps).
      seeds: seeds per run in that file.
    """

    steps: np.ndarray
    distance: dict[tuple[str, str], Band]
    loss: dict[tuple[str, str], Band]
    tied: dict[tuple[str, str], bool]
    outcomes: dict[tuple[str, str], dict[str, Outcome | None]] = field(default_factory=dict)
    source: str = TRAJECTORIES_FILE
    seeds: int = 0


def trajectory_stats(run: RunData) -> TrajectoryStats | None:
    """Quantiles of the smallest hidden-unit distance and of the loss over training, from
    ``trajectories.npz`` or, without it, from ``trajectory_sample.npz``.

    Returns:
      ``None`` when the run has neither file.

    Raises:
      InputError: the file is unreadable or does not match ``results.json``.
    """
    path = run.file(TRAJECTORIES_FILE)
    every, steps = run.config["trajectory_every"], run.config["steps"]
    sample = not path.is_file()
    if sample:
        path = run.file(SAMPLE_FILE)
        if not path.is_file():
            return None
    where = f"{path} (run {run.run_id})"
    if not sample and every == 0:
        raise InputError(f"{where}: results.json records no trajectories (trajectory_every 0); "
                         f"the file belongs to another run")
    names = tuple(run.results["param_names"])
    units = _unit_indices(Layout(run.config["widths"]))
    distance, loss, tied, outcomes = {}, {}, {}, {}

    def mismatch(problem: str) -> InputError:
        return InputError(f"{where}: does not match results.json: {problem}")

    with NpzArrays(path, run.run_id) as data:
        if tuple(data.get("names", ())) != names:
            raise mismatch("parameter names differ")
        recorded = data.get("steps")
        if sample:
            seeds = data.get("seeds")
            if str(data.get("run_id", "")) != run.run_id:
                raise mismatch(f"it belongs to run {str(data.get('run_id', 'unknown'))[:40]}")
            if (seeds is None or seeds.ndim != 1 or not np.isin(seeds, run.seeds).all()
                    or recorded is None or recorded.ndim != 1 or recorded.size == 0
                    or np.any(np.diff(recorded) <= 0) or recorded[0] < 0
                    or recorded[-1] > steps):
                raise mismatch("its seeds or steps are not those of the run")
            index = (seeds - run.config["first_seed"]).astype(np.int64)
        else:
            expected = every * np.arange(steps // every + 1)
            if not np.array_equal(recorded, expected):
                raise mismatch(f"recorded steps are not 0, {every}, ..., {expected[-1]}")
            index = np.arange(run.config["seeds"])
        shape = (index.size, recorded.size, len(names))
        for init, opt in run.runs:
            p, lo = data.get(f"{init}__{opt}__params"), data.get(f"{init}__{opt}__loss")
            if p is None or lo is None or p.shape != shape or lo.shape != shape[:2]:
                raise mismatch(f"arrays of run {init}/{opt} are missing or of the wrong shape")
            d, lo = _min_unit_distance(p, units), lo.astype(np.float64)
            distance[(init, opt)], loss[(init, opt)] = _band(d), _band(lo)
            tied[(init, opt)] = bool(np.all(d == 0))
            solved = run.per_seed[(init, opt)]["solved"][index].astype(bool)
            outcomes[(init, opt)] = {
                name: Outcome(int(m.sum()), _band(d[m]), _band(lo[m])) if m.any() else None
                for name, m in (("solved", solved), ("stuck", ~solved))}
    return TrajectoryStats(np.asarray(recorded), distance, loss, tied, outcomes, path.name,
                           index.size)


def _unit_indices(layout: Layout) -> list[np.ndarray]:
    """Per hidden layer with two or more units: ``(units, D)`` indices of each unit's
    (incoming weights, bias, outgoing weights)."""
    out = []
    for layer in layout.hidden_layers:
        rows = []
        for unit in range(1, layout.widths[layer] + 1):
            p = layout.unit_params(layer, unit)
            rows.append([layout.info(n).index for n in (*p["in"], *p["bias"], *p["out"])])
        if len(rows) >= 2:
            out.append(np.asarray(rows))
    return out


def _min_unit_distance(params: np.ndarray, units: list[np.ndarray]) -> np.ndarray:
    """``(seeds, records)`` smallest distance between two units of one hidden layer (float64;
    NaN when no hidden layer has two units)."""
    best = np.full(params.shape[:2], np.inf if units else np.nan)
    p = params.astype(np.float64)
    for rows in units:
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                diff = p[..., rows[i]] - p[..., rows[j]]
                best = np.minimum(best, np.sqrt(np.sum(diff * diff, axis=-1)))
    return best


def _band(values: np.ndarray) -> Band:
    """Quantiles over the seed axis (axis 0), ignoring non-finite values."""
    finite = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"):
        if np.isnan(finite).all(axis=0).any():
            q = np.full((3, values.shape[1]), np.nan)
            ok = ~np.isnan(finite).all(axis=0)
            q[:, ok] = np.nanpercentile(finite[:, ok], [25, 50, 75], axis=0)
        else:
            q = np.nanpercentile(finite, [25, 50, 75], axis=0)
    return Band(*q)


# -- words and numbers -------------------------------------------------------------------------
def pretty(name: str) -> str:
    """A name as a paper would write it (``sgd`` -> ``SGD``); unknown names unchanged."""
    return _PRETTY.get(name, name)


#: Optimizer hyperparameters (optax keyword names) as a paper writes them in LaTeX. Greek
#: letters, so that Adam's ``b1``/``b2`` never read like the network's biases ``b1``/``b2``.
_HYPER_TEX = {"b1": r"\beta_1", "b2": r"\beta_2", "eps": r"\epsilon",
              "eps_root": r"\epsilon_{\mathrm{root}}", "learning_rate": r"\eta", "lr": r"\eta",
              "momentum": r"\mu", "weight_decay": r"\lambda", "decay": r"\rho",
              "initial_accumulator_value": r"G_0", "dropout": "p", "grad_noise": r"\sigma"}


def spec_words(spec: str, markup: Markup | None = None, extra: Sequence[str] = ()) -> str:
    r"""``adam:b1=0.8`` -> ``Adam (b1=0.8)``; in LaTeX ``Adam ($\beta_1 = 0.8$)``; ``extra``
    (already in ``markup``) is appended inside the parentheses."""
    name, *options = spec.split(":")
    if markup is None or markup is PLAIN:
        parts = [*options, *extra]
        return pretty(name) + (f" ({', '.join(parts)})" if parts else "")
    parts = []
    for option in options:
        key, _, value = option.partition("=")
        symbol = _HYPER_TEX.get(key, rf"\texttt{{{tex_escape(key)}}}")
        try:
            number = _tex_number(fmt_number(float(value))).strip("$")
        except ValueError:
            number = rf"\texttt{{{tex_escape(value)}}}"
        parts.append(f"${symbol} = {number}$")
    parts += extra
    return tex_escape(pretty(name)) + (" (" + ", ".join(parts) + ")" if parts else "")


def fmt_number(value: Any) -> str:
    """A table number: integers as they are, floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _and(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


class Markup(NamedTuple):
    """How the methods paragraph and the tables write text, code and numbers in one format."""

    text: Callable[[str], str]  # plain words
    code: Callable[[str], str]  # a name from the command line (init scheme, run ID)
    number: Callable[[str], str]  # a formatted number
    dash: str  # a range of seeds
    math: Callable[[str, str], str]  # (plain words, LaTeX math) -> one of them


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                "–": "--", "×": r"$\times$", "≥": r"$\geq$", "²": r"$^2$"}


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in str(text))


def _tex_number(text: str) -> str:
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    return f"${mantissa}\\times 10^{{{int(exponent)}}}$"


PLAIN = Markup(text=str, code=str, number=str, dash="–", math=lambda plain, tex: plain)
LATEX = Markup(text=tex_escape, code=lambda s: rf"\texttt{{{tex_escape(s)}}}",
               number=_tex_number, dash="--", math=lambda plain, tex: f"${tex}$")

#: z of a two-sided 95% interval.
_Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k/n`` (95% by default); ``(nan, nan)`` for
    ``n == 0``."""
    if n <= 0:
        return math.nan, math.nan
    p, zz = k / n, z * z
    centre = (p + zz / (2 * n)) / (1 + zz / n)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n * n)) / (1 + zz / n)
    return (0.0 if k <= 0 else max(0.0, centre - half)), (1.0 if k >= n else min(1.0, centre + half))


def _percent(x: float) -> str:
    """A fraction in percent: one decimal, two below 1%."""
    return f"{100 * x:.2f}" if 0 < 100 * x < 1 else f"{100 * x:.1f}"


def proportion(k: int, n: int, markup: Markup = PLAIN) -> str:
    """``k of n (p%, 95% CI lo–hi%)``."""
    lo, hi = wilson_interval(k, n)
    t, pct = markup.text, markup.text("%")
    return (t(f"{k} of {n} (") + _percent(k / n) + pct + t(", 95") + pct + t(" CI ")
            + _percent(lo) + markup.dash + _percent(hi) + pct + t(")"))


def _task(run: RunData) -> str:
    spec = run.results["dataset"]["spec"]
    return pretty(spec) if spec in ("xor", "and", "or") else "the task"


def definitions(run: RunData, markup: Markup = PLAIN) -> str:
    """The definitions of every measured quantity, as one paragraph."""
    t, m = markup.text, markup.math
    solved = (t("A network solved the task when, after training, every output was on the "
                "correct side of 0.5 for every sample.")
              if run.results["dataset"]["task"] == "classification" else
              t("A network solved the task when, after training, ") + m("R^2 >= 0.99", r"R^2 \geq 0.99")
              + t(" on the training data."))
    return " ".join([
        t("Definitions. The symmetry of a seed is broken when the two parameters of some tied "
          "pair differ in their bit patterns at some step, step 0 (the initialization) "
          "included; its first break is the first such step."),
        t("The ULP distance of a pair is the number of representable floating-point numbers "
          "between its two values; max ULP is its largest value over pairs, steps and seeds."),
        solved,
        t("The unit distance is the Euclidean distance between the vectors (incoming weights, "
          "bias, outgoing weights) of two hidden units of one layer, minimized over the pairs "
          "of units; medians are over seeds."),
        t("Every proportion is given with its 95% Wilson score interval (CI)."),
    ])


def _group_sentence(run: RunData, s: dict, markup: Markup) -> str:
    """One sentence about one init x optimizer run: ties, outcome, all with intervals."""
    t, c = markup.text, markup.code
    n = s["seeds"]
    lr = markup.math(f"learning rate {fmt_number(float(s['lr']))}",
                     r"\eta = " + _tex_number(fmt_number(float(s["lr"]))).strip("$"))
    opt_spec = next((o for o in run.config["optimizer"] if o.split(":")[0] == s["optimizer"]
                     or o == s["optimizer"]), s["optimizer"])
    head = c(s["init"]) + t(" with ") + spec_words(opt_spec, markup, [lr])
    if s["expected_preserved"]:
        ties = (t("covered by the invariance theorem, the tied pairs stayed bitwise equal in ")
                + t(f"{s['seeds_all_pairs_preserved']} of {n} seeds"))
        if s["seeds_broken"]:
            ties += t(f" (the invariance was violated in {s['seeds_broken']})")
    else:
        ties = t("symmetry was broken in ") + proportion(s["seeds_broken"], n, markup)
        if s["seeds_broken"]:
            at0, later = s["broken_at_step_0"], s["seeds_broken"] - s["broken_at_step_0"]
            if not later:
                ties += t(", every one at step 0 (by the initialization)")
            else:
                col = run.per_seed[(s["init"], s["optimizer"])]["first_break_step"]
                col = col[col > 0]
                ties += t(f", {at0} at step 0 and {later} later (median step "
                          f"{np.median(col):g}, range {col.min()}") + markup.dash + t(
                    f"{col.max()})")
    solved = t(f"; {_task(run)} was solved in ") + proportion(s["solved"], n, markup)
    loss = ("" if s["final_loss_median"] is None else
            t("; median final loss ") + markup.number(fmt_number(float(s["final_loss_median"]))))
    nonfinite = t(f"; {s['nonfinite']} seeds reached a non-finite value") if s["nonfinite"] else ""
    return head + t(": ") + ties + solved + loss + nonfinite + t(".")


def methods_paragraph(run: RunData, markup: Markup = PLAIN) -> str:
    """What was run and what was found, every number from the results: the setup, one sentence
    per init x optimizer run (never a number pooled over runs that test different hypotheses),
    then the definitions, as paragraphs separated by a blank line.

    Args:
      run: the run.
      markup: :data:`PLAIN` (for ``methods.txt`` and ``report.md``) or :data:`LATEX`.
    """
    cfg, layout, res, doc = run.config, run.layout, run.results, run.document
    t, c, num = markup.text, markup.code, markup.number
    prov = doc["provenance"]
    n_seeds, steps = cfg["seeds"], cfg["steps"]
    widths = "-".join(map(str, cfg["widths"]))
    data = res["dataset"]
    dataset = (t(pretty(data["spec"])) if data["spec"] in _PRETTY else
               t("the data set ") + c(data["spec"]))
    opts = [spec_words(o, markup) if markup is not PLAIN else spec_words(o)
            for o in cfg["optimizer"]]
    inits = [c(i) for i in cfg["init"]]
    size = fmt_number(float(cfg["eps"]))
    eps = (t(", with perturbation size ") + markup.math(size, r"\delta = "
                                                       + _tex_number(size).strip("$"))
           + t(" for ") + c("tied_eps") + t(",") if "tied_eps" in cfg["init"] else "")
    path_used = layout["path_used"]
    path = (t("on the exact fixed-order path (elementwise arithmetic with a fixed order of "
              "sums)") if path_used == "exact" else
            t("on the matrix-product path (x @ W.T)"))
    if cfg["path"] != path_used:
        path += t(f" (the {cfg['path']} path was requested; the run fell back to {path_used})")
    perturb = []
    if cfg["dropout"]:
        perturb.append(t("dropout of rate ") + num(fmt_number(float(cfg["dropout"]))) +
                       t(" on the hidden units"))
    if cfg["grad_noise"]:
        perturb.append(t("Gaussian gradient noise of scale ") +
                       num(fmt_number(float(cfg["grad_noise"]))))
    devices = f"{layout['devices']} {layout['platform'].upper()} device" + (
        "s" if layout["devices"] != 1 else "")
    first = cfg["first_seed"]
    setup = [
        t(f"{n_seeds} seeds (seed numbers {first}") + markup.dash + t(f"{first + n_seeds - 1}) "
          f"of a {widths} network with {pretty(cfg['activation'])} hidden units and a "
          f"{pretty(cfg['output_activation'])} output, {pretty(cfg['loss'])} loss "
          f"({cfg['reduction']} over the {data['samples']} samples) on ") + dataset +
        t(f", were trained for {steps} full-batch steps with ") + _and(opts) +
        (t(", with ") + _and(perturb) if perturb else "") +
        t(f", from each of {len(inits)} initialization scheme{'s' if len(inits) > 1 else ''} (")
        + t(", ").join(inits) + t(")") + eps + t(" ") + path +
        t(f" in {cfg['dtype']}, on {devices}."),
        t("The tied parameter pairs ") + c(res["ties"].replace(",", ", ") or "none") +
        t(f" were compared bit for bit at every step from 0 to {steps}."),
        t("The invariance theorem covers a run when its initialization is symmetric, its "
          "optimizer permutation-equivariant and its path exact."),
    ]
    groups = [_group_sentence(run, s, markup) for s in run.summaries]
    versions = prov.get("versions", {})
    stack = ", ".join(f"{p} {versions[p]}" for p in ("jax", "jaxlib", "optax") if p in versions)
    closing = (t(f"Computed with symjax {prov['version']}" + (f" ({stack})" if stack else "")
                 + "; run ID ") + c(run.run_id) + t("."))
    return "\n\n".join([" ".join(setup), " ".join([*groups, closing]),
                        definitions(run, markup)])


# -- tables ------------------------------------------------------------------------------------
def _first_break_cell(s: dict) -> str:
    if s["first_break_median"] is None:
        return "never"
    return f"{s['first_break_median']:g} [{s['first_break_min']}, {s['first_break_max']}]"


def _theorem_cell(s: dict) -> str:
    if not s["expected_preserved"]:
        return "not covered"
    return "holds" if s["invariant_holds"] else "VIOLATED"


def _opt_float(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}g}"


def _ci_cell(s: dict) -> str:
    lo, hi = wilson_interval(s["solved"], s["seeds"])
    return f"{_percent(lo)}–{_percent(hi)}"


def _ulp_cell(s: dict) -> str:
    return str(s["max_ulp"]) if s["max_ulp"] < 10**6 else f"{float(s['max_ulp']):.1e}"


#: key -> (Markdown header, LaTeX header, LaTeX alignment, cell of a summary).
TABLE_COLUMNS: dict[str, tuple[str, str, str, Callable[[dict], str]]] = {
    "init": ("init", "Init", "l", lambda s: s["init"]),
    "optimizer": ("optimizer", "Opt.", "l", lambda s: s["optimizer"]),
    "lr": ("lr", r"$\eta$", "r", lambda s: fmt_number(float(s["lr"]))),
    "seeds": ("seeds", "Seeds", "r", lambda s: str(s["seeds"])),
    "broken": ("broken", "Broken", "r", lambda s: str(s["seeds_broken"])),
    "at0": ("broken at step 0", "At step 0", "r", lambda s: str(s["broken_at_step_0"])),
    "first": ("first break: median [min, max]", "First break", "l", _first_break_cell),
    "pairs": ("tied pairs kept", "Pairs kept", "r",
              lambda s: f"{s['pairs_preserved']}/{s['pairs_total']}"),
    "ulp": ("max ULP", "Max ULP", "r", lambda s: str(s["max_ulp"])),
    "ulp3": ("max ULP", "Max ULP", "r", _ulp_cell),
    "solved": ("solved", "Solved", "r", lambda s: str(s["solved"])),
    "solved_of": ("solved of seeds", "Solved", "r", lambda s: f"{s['solved']}/{s['seeds']}"),
    "ci": ("solved, 95% CI (%)", r"95\,\% CI", "r", _ci_cell),
    "loss": ("median final loss", "Loss", "r", lambda s: _opt_float(s["final_loss_median"])),
    "dist": ("median min unit distance", "Unit dist.", "r",
             lambda s: _opt_float(s["min_unit_distance_median"])),
    "nonfinite": ("nonfinite", "Non-fin.", "r", lambda s: str(s["nonfinite"])),
    "theorem": ("theorem", "Theorem", "l", _theorem_cell),
    # short forms for the LaTeX tables (3 significant digits; "n/a": not covered)
    "loss3": ("median final loss", "Loss", "r", lambda s: _opt_float(s["final_loss_median"], 3)),
    "dist3": ("median min unit distance", "Unit dist.", "r",
              lambda s: _opt_float(s["min_unit_distance_median"], 3)),
    "thm": ("theorem", "Thm.", "l",
            lambda s: "n/a" if not s["expected_preserved"] else _theorem_cell(s)),
}
#: The LaTeX tables (one file each, each narrow enough for one column of a two-column paper):
#: file stem -> (columns, what the table shows).
LATEX_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "table_symmetry": (("init", "optimizer", "broken", "first", "ulp3", "thm"),
                       "Symmetry: seeds broken (some tied pair differs at some step, step 0 "
                       "included), first-break step median [min, max] over broken seeds, "
                       "largest ULP distance within a tied pair, and whether the invariance "
                       "theorem held in the runs it covers (n/a: not covered)."),
    "table_training": (("init", "optimizer", "solved_of", "ci", "loss3", "dist3"),
                       "Training: seeds that solved the task, with the 95% Wilson interval of "
                       "the solved fraction (in percent), median final loss and median "
                       "smallest hidden-unit distance after training."),
}


#: The columns of the Markdown table (``report.md``): every quantity once.
MARKDOWN_COLUMNS = ("init", "optimizer", "lr", "seeds", "broken", "at0", "first", "pairs", "ulp",
                    "solved", "ci", "loss", "dist", "nonfinite", "theorem")


def table_rows(run: RunData, keys: Sequence[str] = MARKDOWN_COLUMNS) -> list[list[str]]:
    """The table's cells, one row per init x optimizer, as plain text."""
    return [[TABLE_COLUMNS[k][3](s) for k in keys] for s in run.summaries]


def markdown_table(run: RunData) -> str:
    """The summary table in Markdown (GitHub pipe table), every quantity."""
    cols = [TABLE_COLUMNS[k] for k in MARKDOWN_COLUMNS]
    head = [h for h, *_ in cols]
    align = ["---:" if a == "r" else ":---" for _, _, a, _ in cols]
    lines = [head, align, *table_rows(run)]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n"


def latex_table(run: RunData, name: str = "table_symmetry") -> str:
    r"""One of :data:`LATEX_TABLES` as a booktabs ``tabular`` (in ``\footnotesize``), to
    ``\input`` inside a ``table`` environment. Each init scheme is a heading row with its
    optimizers below it, so that the table fits one column of a two-column paper."""
    keys, about = LATEX_TABLES[name]
    cols = [TABLE_COLUMNS[k] for k in keys[1:]]  # the init column becomes heading rows
    align = "".join(a for _, _, a, _ in cols)
    head = " & ".join(["Init / opt.", *(h for _, h, _, _ in cols[1:])])
    body, previous = [], None
    for row in table_rows(run, keys):
        init = row[0]
        if init != previous:
            if previous is not None:
                body.append(r"\addlinespace")
            body.append(rf"\multicolumn{{{len(cols)}}}{{@{{}}l}}{{{LATEX.code(init)}}} \\")
        cells = [r"\quad " + tex_escape(pretty(row[1])), *(_tex_cell(v) for v in row[2:])]
        body.append(" & ".join(cells) + r" \\")
        previous = init
    return "\n".join([
        f"% symjax report: run {run.run_id}, symjax {run.document['provenance']['version']}.",
        r"% Needs \usepackage{booktabs}; \input inside a table environment.",
        *(f"% {line}" for line in _wrap(about, 95)),
        r"\footnotesize\setlength{\tabcolsep}{4pt}",
        rf"\begin{{tabular}}{{@{{}}{align}@{{}}}}",
        r"\toprule",
        head + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        "",
    ])


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def _tex_cell(value: str) -> str:
    if value.startswith("never") or not any(ch.isdigit() for ch in value):
        return tex_escape(value)
    return " ".join(_tex_number(part) if re.fullmatch(r"-?[0-9.]+e[-+]?[0-9]+", part)
                    else tex_escape(part) for part in value.split(" "))


def summary_csv(run: RunData) -> str:
    """Every summary field of every run, at full precision (floats as Python ``repr``, which
    reads back exactly; ``None`` empty; booleans ``true``/``false``)."""
    keys = list(run.summaries[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run_id", *keys])
    for s in run.summaries:
        writer.writerow([run.run_id, *(_csv_cell(s.get(k)) for k in keys)])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# -- re-running with trajectories --------------------------------------------------------------
def verify_command(run: RunData, *, trajectory_every: int, out: str = "DIR") -> str:
    """The ``symjax verify`` command line that re-runs ``run`` with trajectories recorded."""
    from ._verify_options import DEFAULTS

    parts = ["symjax verify"]
    for name, default in DEFAULTS.items():
        value = run.config[name]
        if name == "trajectory_every":
            value = trajectory_every
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if default is None or text != str(default):
            parts.append(f"--{name.replace('_', '-')} {_shell_word(text)}")
    parts.append(f"--out {out}")
    return " ".join(parts)


def _shell_word(text: str) -> str:
    safe = all(ch.isalnum() or ch in ",.:=_-+@/" for ch in text)
    return text if safe and text else "'" + text.replace("'", "'\\''") + "'"


# -- proof appendix ----------------------------------------------------------------------------
#: Keys of ``symjax prove --json`` that are not part of the theorem itself.
_PROOF_EXTRA = ("versions", "latex", "run_id", "content_hash", "config", "provenance")
#: Names ``symjax prove`` uses for "any hidden activation", "any output activation", "any loss".
_ANY = {"activation": "sigma", "output_activation": "phi", "loss": "l"}


def proof_appendix(path: Path, run: RunData) -> tuple[str, str]:
    """The proof appendix of ``run``: the derivation and theorem of a ``symjax prove --json``
    file, regenerated by symjax from the options the file records, never copied from it.

    The file is refused unless the theorem symjax derives from its options equals the one it
    holds (so an edited claim, verdict, step or lemma is refused), the verdict is ``proven``,
    and the proof is about this run: the same widths, activation, output activation and loss
    (or SymPy's undefined ``sigma``, ``phi``, ``l``, which cover every one) and the same ties.

    Returns:
      ``(LaTeX fragment, note for the report)``.

    Raises:
      InputError: one line: unreadable, not a proof, edited, refuted, or of another network.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path}: cannot read the proof: {' '.join(str(err).split())}") from None
    if isinstance(raw, dict) and raw.get("schema") == SCHEMA:
        doc = read_results(path)
        if doc["kind"] != "prove":
            raise InputError(f"{path} holds {doc['kind']} results, not a proof")
        raw = {**doc["results"], "config": doc["config"]}
    if (not isinstance(raw, dict) or not isinstance(raw.get("config"), dict)
            or not isinstance(raw.get("verdict"), str) or not isinstance(raw.get("claim"), str)):
        raise InputError(f"{path}: not a proof written by symjax prove --json (needs claim, "
                         f"verdict and config)")
    options = raw["config"]
    stored = {k: v for k, v in raw.items() if k not in _PROOF_EXTRA}
    # cheap refusals first (deriving the proof again takes SymPy seconds)
    if raw["verdict"] != "proven":
        raise InputError(f"{path}: the proof's verdict is {str(raw['verdict'])[:40]}; only a "
                         f"proven theorem can be the appendix of a run")
    run_widths = ",".join(map(str, run.config["widths"]))
    if str(options.get("widths", "")).replace(" ", "") != run_widths:
        raise InputError(f"{path}: the proof is about widths {str(options.get('widths'))[:40]}, "
                         f"run {run.run_id} trained {run_widths.replace(',', '-')}")
    theorem, steps, widths, pairs = _derive_proof(path, options)
    if theorem.to_dict() != stored:
        diff = sorted(k for k in set(stored) | set(theorem.to_dict())
                      if stored.get(k) != theorem.to_dict().get(k))
        raise InputError(f"{path}: the theorem it holds differs ({', '.join(diff)}) from the one "
                         f"symjax derives from its options; the file was edited or written by "
                         f"another symjax version: run symjax prove --json again")
    _check_proof_matches(path, theorem, widths, pairs, options, run)
    label = path.name + (f", proof ID {raw['run_id']}" if isinstance(raw.get("run_id"), str)
                         and len(raw["run_id"]) < 80 else "")
    header = (f"% Proof appendix of run {run.run_id}, regenerated by symjax report from the "
              f"options of {tex_escape(label)}.\n")
    return (header + steps.latex() + "\n" + theorem.to_latex(),
            f"Proof appendix: `appendix_proof.tex` (from {label}, regenerated)")


def _derive_proof(path: Path, options: dict):
    """``(theorem, derivation, widths, tied pairs)`` as ``symjax prove`` computes them."""
    try:
        key = json.dumps(options, sort_keys=True)
    except (TypeError, ValueError):
        raise InputError(f"{path}: bad proof options") from None
    found = _PROOFS.get(key)
    if found is None:
        found = _PROOFS[key] = _derive(path, options)
    return found


#: Proofs derived in this process, by their options (``symjax prove`` is deterministic).
_PROOFS: dict[str, tuple] = {}


def _derive(path: Path, options: dict):
    from ._cli_prove import _optimizer_theorem, parse_permutation
    from .symbolic import _ties
    from .symbolic._chain import derivation

    try:
        net_options = {k: options[k] for k in ("activation", "output_activation", "loss",
                                               "samples", "reduction", "dropout")}
        net = _ties.network(options["widths"], **net_options)
        if options.get("permutation") is not None:
            pairs = net.layout.permutation_pairs(*parse_permutation(options["permutation"]))
        else:
            pairs = _ties.resolve_ties(net.layout, options.get("ties"))
        timeout = options.get("timeout", 120.0)
        if options.get("optimizer") is not None:
            theorem = _optimizer_theorem(net.widths, pairs, options["optimizer"], net_options)
        elif options.get("lattice"):
            theorem = _ties.tie_lattice(net.widths, pairs, **net_options, timeout=timeout)
        else:
            theorem = _ties.prove_tie_invariance(net.widths, pairs, **net_options,
                                                 timeout=timeout)
        return theorem, derivation(net, pairs), list(net.widths), pairs
    except InputError as err:
        raise InputError(f"{path}: bad proof options: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputError(f"{path}: bad proof options ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:120]})") from None


def _check_proof_matches(path: Path, theorem, widths: list[int], pairs, options: dict,
                         run: RunData) -> None:
    """Refuse a proof that is not proven or not about ``run``'s network and ties."""
    if theorem.verdict != "proven":
        raise InputError(f"{path}: the proof's verdict is {theorem.verdict}; only a proven "
                         f"theorem can be the appendix of a run")
    cfg = run.config
    if widths != list(cfg["widths"]):
        raise InputError(f"{path}: the proof is about a {'-'.join(map(str, widths))} network, "
                         f"run {run.run_id} trained a {'-'.join(map(str, cfg['widths']))} one")
    for key, generic in _ANY.items():
        if options.get(key) not in (generic, cfg[key]):
            raise InputError(f"{path}: the proof assumes {key} {options.get(key)}, run "
                             f"{run.run_id} used {cfg[key]} (allowed: {generic}, which covers "
                             f"every one, or {cfg[key]})")
    if {frozenset(p) for p in pairs} != {frozenset(p) for p in run.results["tie_pairs"]}:
        raise InputError(f"{path}: the proof is about the ties "
                         f"{','.join('='.join(p) for p in pairs)}, run {run.run_id} checked "
                         f"{run.results['ties']}")


# -- the report --------------------------------------------------------------------------------
@dataclass
class Report:
    """What :func:`write_report` wrote.

    Attributes:
      out: the output directory.
      files: paths written, in order.
      notes: what is missing and how to get it (figures, trajectories, proof).
    """

    out: Path
    files: list[Path]
    notes: list[str]


#: Written into every report directory: the run ID the report belongs to.
REPORT_STAMP = "report_of_run.txt"


class ReportWriter:
    """Writes the files of one report into one directory, never through a symbolic link.

    The directory must not be a symbolic link, and no file is written through one (``lstat``
    before, ``O_NOFOLLOW`` when opening). A directory that holds the report of another run
    (:data:`REPORT_STAMP`) is refused: a report belongs to one run.
    """

    def __init__(self, out: Path, run_id: str):
        self.out, self.files = out, []
        if out.is_symlink():
            raise InputError(f"report directory {out} is a symbolic link; symjax report does "
                             f"not write through links (remove it, or choose another --out)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create report directory {out}: "
                             f"{err.strerror or err}") from None
        if out.is_symlink() or not out.is_dir():
            raise InputError(f"report directory {out} is not a directory")
        stamp = out / REPORT_STAMP
        if stamp.is_symlink():
            raise InputError(f"{stamp} is a symbolic link; remove it")
        if stamp.is_file():
            other = stamp.read_text(encoding="utf-8", errors="replace").strip()
            if other != run_id:
                raise InputError(f"{out} holds the report of run {other[:40]}, not of run "
                                 f"{run_id}; remove it or choose another --out (a report "
                                 f"belongs to one run)")
        self.write(REPORT_STAMP, run_id + "\n")

    def write(self, name: str, data: str | bytes) -> Path:
        """Write ``data`` (text as UTF-8) to ``out/name``, never through a symbolic link."""
        target = self.out / name
        if target.is_symlink():
            raise InputError(f"{target} is a symbolic link; symjax report does not write "
                             f"through links (remove it)")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o666)
        except OSError as err:
            raise InputError(f"cannot write {target}: {err.strerror or err}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        if name != REPORT_STAMP:
            self.files.append(target)
        return target


def write_report(path: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 proof: str | os.PathLike | None = None, figures: bool = True,
                 width: str = "page") -> Report:
    """Write the report of a ``symjax verify`` results directory.

    Args:
      path: the results directory (or its ``results.json``).
      out: output directory; default ``DIR/report``.
      proof: a ``symjax prove --json`` file for the appendix; default ``DIR/proof.json`` when
        it exists. It is checked against the run and its LaTeX regenerated
        (:func:`proof_appendix`).
      figures: draw the figures (when matplotlib is installed); ``False``: text files only.
      width: ``"page"`` (figures 7 in wide, for the text width) or ``"column"`` (3.4 in, one
        column of a two-column paper).

    Returns:
      A :class:`Report`.

    Raises:
      InputError: bad input files (see :func:`load_run`, :func:`trajectory_stats`,
        :func:`proof_appendix`), a proof of another network or not proven, or an output
        directory that is a symbolic link or holds the report of another run.
    """
    from . import _plots

    document = read_results(path)
    if document["kind"] == "dynamics":
        return _dynamics_report(path, document, out, figures, width)
    run = load_run(path, document)
    out_dir = Path(out) if out is not None else run.directory / REPORT_DIR
    stats = trajectory_stats(run)
    proof_path = Path(proof) if proof is not None else run.file(PROOF_FILE)
    if proof is not None and not proof_path.is_file():
        raise InputError(f"proof file {proof_path} does not exist")
    appendix = proof_appendix(proof_path, run) if proof_path.is_file() else None
    writer = ReportWriter(out_dir, run.run_id)
    report = Report(out_dir, writer.files, [])
    if stats is None:
        every = run.config["trajectory_every"]
        why = (f"{TRAJECTORIES_FILE} is missing although the run recorded them every {every} "
               f"steps: copy it next to results.json, or re-run" if every else
               f"this run has neither {TRAJECTORIES_FILE} nor {SAMPLE_FILE}. Re-run with the "
               f"trajectory option")
        command = verify_command(run, trajectory_every=every or max(1, run.config["steps"] // 100))
        report.notes.append(
            f"The smallest hidden-unit distance and the loss over training need trajectories; "
            f"{why} and report again: `{command}` then `symjax report DIR`.")
    drawn: list[str] = []
    if not figures:
        report.notes.append("Figures were not drawn (--no-figures).")
    elif _plots.available():
        drawn = _plots.write_figures(run, stats, writer.write, width=width)
    else:
        report.notes.append("Figures need matplotlib: `pip install symjax-proofs[plots]`, then "
                            "run symjax report again.")
    if figures and not any(s["seeds_broken"] > s["broken_at_step_0"] for s in run.summaries):
        report.notes.append("No seed broke symmetry after step 0 (every break was the "
                            "initialization's), so there is no break-step figure.")
    if appendix is not None:
        writer.write("appendix_proof.tex", appendix[0])
        report.notes.append(appendix[1] + ".")
    report.notes += [f"Warning recorded by the run: {w}" for w in run.results.get("warnings", ())]
    writer.write("methods.txt", methods_paragraph(run) + "\n")
    writer.write("methods.tex", f"% symjax report: run {run.run_id}.\n"
                                + methods_paragraph(run, LATEX) + "\n")
    for name in LATEX_TABLES:
        writer.write(f"{name}.tex", latex_table(run, name))
    if drawn:
        from ._plots import caption

        for name in drawn:
            writer.write(f"{name}.tex", figure_tex(name, caption(name, run, stats), run.run_id,
                                                   wide=width == "page"))
    writer.write("summary.csv", summary_csv(run))
    writer.write("report.md", _markdown(run, drawn, report.notes, stats))
    return report


def figure_tex(name: str, caption_text: str, run_id: str, *, wide: bool = True) -> str:
    r"""A ``figure`` environment for ``NAME.pdf`` (needs ``graphicx``), to ``\input``:
    ``figure*`` (across both columns of a two-column paper) for a page-wide figure."""
    env = "figure*" if wide else "figure"
    return "\n".join([
        f"% symjax report: run {run_id}. Needs \\usepackage{{graphicx}}; {name}.pdf must be "
        f"on the graphics path.",
        rf"\begin{{{env}}}[t]", r"\centering",
        rf"\includegraphics[width=\linewidth]{{{name}.pdf}}",
        rf"\caption{{{tex_escape(caption_text)}}}",
        rf"\label{{fig:symjax-{name.replace('_', '-')}}}", rf"\end{{{env}}}", ""])


def _dynamics_report(path, document: dict, out, figures: bool, width: str = "page") -> Report:
    """Report of a ``symjax dynamics`` results document: the measured-vs-predicted summary
    (``report.md``, ``summary.txt``) and its figures."""
    from . import _dynamics, _plots

    target = results_path(path)
    config, stored = document["config"], document["results"]
    parts = config.get("parts") if isinstance(config, dict) else None
    if (not isinstance(parts, list) or not parts
            or not all(p in _dynamics.PARTS and isinstance(config.get(p), dict)
                       and isinstance(stored.get(p), dict) for p in parts)):
        raise InputError(f"{target}: a dynamics results document needs config.parts (from "
                         f"{', '.join(_dynamics.PARTS)}) with config and results for each part")
    results = {p: {**stored[p], "config": config[p]} for p in parts}
    try:
        text = _dynamics.render(results)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise InputError(f"{target}: the dynamics results lack what the summary needs "
                         f"({type(err).__name__}: {err})") from None
    out_dir = Path(out) if out is not None else target.parent / REPORT_DIR
    writer = ReportWriter(out_dir, document["run_id"])
    report = Report(out_dir, writer.files, [])
    drawn: list[str] = []
    if not figures:
        report.notes.append("Figures were not drawn (--no-figures).")
    elif _plots.available():
        from ._dynamics_plots import CAPTIONS, write_dynamics_figures

        drawn = write_dynamics_figures(results, writer.write, width=width)
        for name in drawn:
            writer.write(f"{name}.tex", figure_tex(name, CAPTIONS[name], document["run_id"],
                                                   wide=width == "page"))
    else:
        report.notes.append("Figures need matplotlib: `pip install symjax-proofs[plots]`, then "
                            "run symjax report again.")
    prov = document["provenance"]
    lines = [f"# symjax dynamics report: run `{document['run_id']}`", "",
             "Measured over many seeds next to the predictions of the symbolic analysis "
             "(conservation laws, stability of the tied subspace, rounding). Every number is "
             f"read from `{target.name}`.", "", "```text", text, "```", ""]
    lines += [line for i, name in enumerate(drawn, 1)
              for line in (f"![Figure {i}]({name}.png)", "", f"*Figure {i}.* `{name}` "
                           f"([PDF]({name}.pdf))", "")]
    if report.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    lines += ["## Provenance", "", f"- run ID `{document['run_id']}`, content hash "
              f"`{document['content_hash']}`", f"- symjax {prov.get('version')}",
              "- " + ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()), ""]
    tex = "\n".join([f"% symjax dynamics report: run {document['run_id']}. The measured-vs-"
                     f"predicted summary as printed (fixed-width), a page-wide float to \\input.",
                     r"\begin{figure*}[p]", r"\tiny", r"\begin{verbatim}",
                     *_verbatim_lines(text), r"\end{verbatim}",
                     r"\caption{Measured next to predicted: conservation laws, stability of the "
                     r"tied subspace and rounding (symjax dynamics, run "
                     + tex_escape(document["run_id"]) + ").}", r"\end{figure*}", ""])
    for name, body in (("summary.txt", text + "\n"), ("summary.tex", tex),
                       ("report.md", "\n".join(lines))):
        writer.write(name, body)
    return report


def _verbatim_lines(text: str) -> list[str]:
    """Lines safe inside ``verbatim``: ASCII, and no line that could end the environment."""
    out = []
    for line in text.splitlines():
        line = line.encode("ascii", "replace").decode().replace("\\end{verbatim}", "end{verbatim}")
        out.append(line)
    return out


def _markdown(run: RunData, figures: list[str], notes: list[str],
              stats: TrajectoryStats | None = None) -> str:
    prov = run.document["provenance"]
    lines = [f"# symjax verify report: run `{run.run_id}`", "", "## Methods", "",
             methods_paragraph(run), "", "## Results", "", markdown_table(run),
             "Broken: seeds where some tied pair differs in its bits at some step (step 0 "
             "included: a random initialization breaks the symmetry before training). First "
             "break: median and range over broken seeds. Tied pairs kept: seed x pair counts of "
             "bitwise equality at every step. Medians over seeds. Theorem: whether the "
             "invariance theorem covers the run (symmetric initialization, equivariant "
             "optimizer, exact path) and, if so, whether every tie held. Solved, 95% CI: the "
             "Wilson score interval of the solved fraction, in percent.", "",
             f"Files for a paper: `methods.tex`, {', '.join(f'`{n}.tex`' for n in LATEX_TABLES)}"
             + "".join(f", `{n}.tex`" for n in figures)
             + " (each to `\\input`; they need `booktabs` and `graphicx`).", ""]
    if figures:
        from ._plots import caption

        lines += ["## Figures", ""]
        for i, name in enumerate(figures, 1):
            lines += [f"![Figure {i}]({name}.png)", "",
                      f"*Figure {i}.* {caption(name, run, stats)} ([PDF]({name}.pdf))", ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    git = prov.get("git")
    jax_info = prov.get("jax") or {}
    lines += ["## Provenance", "",
              f"- run ID `{run.run_id}`, content hash `{run.document['content_hash']}`",
              f"- symjax {prov['version']}" + (
                  f", git commit {git['commit'][:12]}" + (" (uncommitted changes)"
                                                          if git["dirty"] else "")
                  if git else ""),
              "- " + ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()),
              f"- devices: {run.layout['devices']} x {run.layout['platform']}"
              + (f" ({', '.join(jax_info['device_kinds'])})" if jax_info.get("device_kinds")
                 else "")
              + f"; Python {prov['python']}, {prov['platform']}",
              f"- started {prov['start_time']}, wall time "
              + (f"{prov['wall_time_s']:.1f} s" if prov.get("wall_time_s") is not None
                 else "unknown"),
              ""]
    return "\n".join(lines)
