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
import io
import json
import os
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
    return header, per_seed


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


@dataclass
class TrajectoryStats:
    """What the trajectory figures show, per run: quantiles over seeds at each recorded step.

    Attributes:
      steps: ``(records,)`` recorded steps (0, K, 2K, ...).
      distance: ``(init, optimizer) -> Band`` of the smallest hidden-unit distance.
      loss: ``(init, optimizer) -> Band`` of the training loss.
      tied: ``(init, optimizer) -> bool``: the distance is exactly 0 for every seed at every
        recorded step (the units never separated).
    """

    steps: np.ndarray
    distance: dict[tuple[str, str], Band]
    loss: dict[tuple[str, str], Band]
    tied: dict[tuple[str, str], bool]


def trajectory_stats(run: RunData) -> TrajectoryStats | None:
    """Quantiles of the smallest hidden-unit distance and of the loss over training.

    Returns:
      ``None`` when the run has no ``trajectories.npz``.

    Raises:
      InputError: the file is unreadable or does not match ``results.json``.
    """
    path = run.file(TRAJECTORIES_FILE)
    if not path.is_file():
        return None
    every, steps = run.config["trajectory_every"], run.config["steps"]
    where = f"{path} (run {run.run_id})"
    if every == 0:
        raise InputError(f"{where}: results.json records no trajectories (trajectory_every 0); "
                         f"the file belongs to another run")
    expected_steps = every * np.arange(steps // every + 1)
    names = tuple(run.results["param_names"])
    shape = (run.config["seeds"], expected_steps.size, len(names))
    units = _unit_indices(Layout(run.config["widths"]))
    distance, loss, tied = {}, {}, {}
    def mismatch(problem: str) -> InputError:
        return InputError(f"{where}: does not match results.json: {problem}")

    with NpzArrays(path, run.run_id) as data:
        if tuple(data.get("names", ())) != names:
            raise mismatch("parameter names differ")
        if not np.array_equal(data.get("steps"), expected_steps):
            raise mismatch(f"recorded steps are not 0, {every}, ..., {expected_steps[-1]}")
        for init, opt in run.runs:
            p, lo = data.get(f"{init}__{opt}__params"), data.get(f"{init}__{opt}__loss")
            if p is None or lo is None or p.shape != shape or lo.shape != shape[:2]:
                raise mismatch(f"arrays of run {init}/{opt} are missing or of the wrong shape")
            d = _min_unit_distance(p, units)
            distance[(init, opt)] = _band(d)
            loss[(init, opt)] = _band(lo.astype(np.float64))
            tied[(init, opt)] = bool(np.all(d == 0))
    return TrajectoryStats(expected_steps, distance, loss, tied)


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


def spec_words(spec: str) -> str:
    """``adam:b1=0.8`` -> ``Adam (b1=0.8)``."""
    name, *options = spec.split(":")
    return pretty(name) + (f" ({', '.join(options)})" if options else "")


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


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                "–": "--", "×": r"$\times$"}


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in str(text))


def _tex_number(text: str) -> str:
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    return f"${mantissa}\\times 10^{{{int(exponent)}}}$"


PLAIN = Markup(text=str, code=str, number=str, dash="–")
LATEX = Markup(text=tex_escape, code=lambda s: rf"\texttt{{{tex_escape(s)}}}",
               number=_tex_number, dash="--")


def methods_paragraph(run: RunData, markup: Markup = PLAIN) -> str:
    """What was run and what was found, as one paragraph; every number from the results.

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
    opts = [t(spec_words(o)) for o in cfg["optimizer"]]
    lrs = [num(fmt_number(float(lr))) for lr in cfg["lr"]]
    lr_words = t("learning rate " if len(lrs) == 1 else "learning rates ") + _and(lrs)
    inits = [c(i) for i in cfg["init"]]
    eps = (t(", with eps = ") + num(fmt_number(float(cfg["eps"]))) + t(" for ") + c("tied_eps")
           + t(",") if "tied_eps" in cfg["init"] else "")
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
    per_call = layout.get("seeds_per_call")
    first = cfg["first_seed"]
    sentences = [
        t(f"{n_seeds} seeds (seed numbers {first}") + markup.dash + t(f"{first + n_seeds - 1}) "
          f"of a {widths} network with {pretty(cfg['activation'])} hidden units and a "
          f"{pretty(cfg['output_activation'])} output, {pretty(cfg['loss'])} loss "
          f"({cfg['reduction']} over the {data['samples']} samples) on ") + dataset +
        t(f", were trained for {steps} full-batch steps with ") + _and(opts) +
        t(" (") + lr_words + t(")") +
        (t(", with ") + _and(perturb) if perturb else "") +
        t(f", from each of {len(inits)} initialization scheme{'s' if len(inits) > 1 else ''} (")
        + t(", ").join(inits) + t(")") + eps + t(" ") + path +
        t(f" in {cfg['dtype']}, on {devices}") +
        (t(f" with {per_call} seeds per compiled call") if per_call else "") + t("."),
        t("The tied parameter pairs ") + c(res["ties"].replace(",", ", ") or "none") +
        t(f" were compared bit for bit at every step from 0 to {steps}."),
    ]
    covered = [s for s in run.summaries if s["expected_preserved"]]
    others = [s for s in run.summaries if not s["expected_preserved"]]
    if covered:
        kept = sum(s["seeds_all_pairs_preserved"] for s in covered)
        total = sum(s["seeds"] for s in covered)
        names = _and([f"{s['init']}/{s['optimizer']}" for s in covered])
        sentence = (t(f"In the {len(covered)} init × optimizer combination"
                      f"{'s' if len(covered) > 1 else ''} covered by the invariance theorem "
                      f"(symmetric initialization, permutation-equivariant optimizer, exact "
                      f"path: ") + c(names) +
                    t(f"), tied parameters remained bitwise equal in {kept} of {total} seeds"))
        violated = [c(f"{s['init']}/{s['optimizer']}") + t(f" ({s['seeds_broken']} seeds)")
                    for s in covered if s["seeds_broken"]]
        if violated:
            sentence += t("; the invariance was violated in ") + _and(violated)
        sentences.append(sentence + t("."))
    else:
        sentences.append(t("No init × optimizer combination was covered by the invariance "
                           "theorem (symmetric initialization, permutation-equivariant "
                           "optimizer, exact path)."))
    if others:
        broken = sum(s["seeds_broken"] for s in others)
        total = sum(s["seeds"] for s in others)
        at0 = sum(s["broken_at_step_0"] for s in others)
        later = np.concatenate([
            run.per_seed[(s["init"], s["optimizer"])]["first_break_step"] for s in others])
        later = later[later > 0]
        sentence = t(f"In {'the other' if covered else 'all'} {len(others)} combination"
                     f"{'s' if len(others) > 1 else ''}, symmetry was broken in {broken} of "
                     f"{total} seeds")
        if broken:
            sentence += t(f", {at0} of them at step 0 (by the initialization itself)")
        if later.size:
            sentence += t(f"; the remaining {later.size} first broke at a median step of "
                          f"{np.median(later):g} (range {later.min()} to {later.max()})")
        sentences.append(sentence + t("."))
    solved = sum(s["solved"] for s in run.summaries)
    runs_total = sum(s["seeds"] for s in run.summaries)
    nonfinite = sum(s["nonfinite"] for s in run.summaries)
    task = pretty(data["spec"]) if data["spec"] in ("xor", "and", "or") else "the task"
    sentences.append(
        t(f"{solved} of {runs_total} trained networks solved {task}") +
        (t(f"; {nonfinite} produced a non-finite parameter") if nonfinite else "") + t("."))
    versions = prov.get("versions", {})
    stack = ", ".join(f"{p} {versions[p]}" for p in ("jax", "jaxlib", "optax") if p in versions)
    sentences.append(t(f"Computed with symjax {prov['version']}" +
                       (f" ({stack})" if stack else "") + "; run ID ") + c(run.run_id) + t("."))
    return " ".join(sentences)


# -- tables ------------------------------------------------------------------------------------
def _first_break_cell(s: dict) -> str:
    if s["first_break_median"] is None:
        return "never"
    return f"{s['first_break_median']:g} [{s['first_break_min']}, {s['first_break_max']}]"


def _theorem_cell(s: dict) -> str:
    if not s["expected_preserved"]:
        return "not covered"
    return "holds" if s["invariant_holds"] else "VIOLATED"


def _opt_float(value: Any) -> str:
    return "n/a" if value is None else fmt_number(float(value))


#: (Markdown header, LaTeX header, LaTeX alignment, cell of a summary).
TABLE_COLUMNS: tuple[tuple[str, str, str, Callable[[dict], str]], ...] = (
    ("init", "Init", "l", lambda s: s["init"]),
    ("optimizer", "Optimizer", "l", lambda s: s["optimizer"]),
    ("lr", r"$\eta$", "r", lambda s: fmt_number(float(s["lr"]))),
    ("seeds", "Seeds", "r", lambda s: str(s["seeds"])),
    ("broken", "Broken", "r", lambda s: str(s["seeds_broken"])),
    ("broken at step 0", "At step 0", "r", lambda s: str(s["broken_at_step_0"])),
    ("first break: median [min, max]", "First break", "l", _first_break_cell),
    ("tied pairs kept", "Pairs kept", "r", lambda s: f"{s['pairs_preserved']}/{s['pairs_total']}"),
    ("max ULP", "Max ULP", "r", lambda s: str(s["max_ulp"])),
    ("solved", "Solved", "r", lambda s: str(s["solved"])),
    ("median final loss", "Loss", "r", lambda s: _opt_float(s["final_loss_median"])),
    ("median min unit distance", "Unit dist.", "r",
     lambda s: _opt_float(s["min_unit_distance_median"])),
    ("nonfinite", "Non-finite", "r", lambda s: str(s["nonfinite"])),
    ("theorem", "Theorem", "l", _theorem_cell),
)


def table_rows(run: RunData) -> list[list[str]]:
    """The table's cells, one row per init x optimizer, as plain text."""
    return [[cell(s) for *_, cell in TABLE_COLUMNS] for s in run.summaries]


def markdown_table(run: RunData) -> str:
    """The summary table in Markdown (GitHub pipe table)."""
    head = [h for h, *_ in TABLE_COLUMNS]
    align = ["---:" if a == "r" else ":---" for _, _, a, _ in TABLE_COLUMNS]
    lines = [head, align, *table_rows(run)]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n"


def latex_table(run: RunData) -> str:
    """The summary table as a booktabs ``tabular``, to ``\\input`` inside a table environment."""
    align = "".join(a for _, _, a, _ in TABLE_COLUMNS)
    head = " & ".join(h for _, h, _, _ in TABLE_COLUMNS)
    body, previous = [], None
    for row in table_rows(run):
        init = row[0]
        if previous is not None and init != previous:
            body.append(r"\addlinespace")
        cells = ["" if init == previous else LATEX.code(init), LATEX.code(row[1]),
                 *(_tex_cell(v) for v in row[2:])]
        body.append(" & ".join(cells) + r" \\")
        previous = init
    return "\n".join([
        f"% symjax report: run {run.run_id}, symjax {run.document['provenance']['version']}.",
        r"% Needs \usepackage{booktabs}. Columns: seeds broken (some tied pair differs at some",
        r"% step, step 0 included), first break median [min, max] over broken seeds, tied pairs",
        r"% kept bitwise over seeds x pairs, medians over seeds; theorem: symmetric init,",
        r"% equivariant optimizer, exact path. Wide: e.g. \resizebox{\linewidth}{!}{\input{...}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        head + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        "",
    ])


def _tex_cell(value: str) -> str:
    if value.startswith("never") or not any(ch.isdigit() for ch in value):
        return tex_escape(value)
    return " ".join(_tex_number(part) for part in value.split(" "))


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
def proof_appendix(path: Path) -> tuple[str | None, str]:
    """The LaTeX derivation of a proof JSON, as an appendix fragment.

    ``path`` may hold a results document of kind ``prove`` (read with
    :func:`symjax._provenance.read_results`, so an edited file is refused) or a theorem as
    :meth:`symjax.symbolic._theorem.Theorem.to_dict` writes it. A ``"latex"`` string is used as
    it is; otherwise the LaTeX is regenerated from the theorem (claim, hypotheses, steps,
    verdict, lemmas).

    Returns:
      ``(fragment or None, note for the report)``: ``None`` when the file holds neither LaTeX
      nor a theorem.

    Raises:
      InputError: the file is unreadable, not JSON, or a results document that fails its checks.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path}: cannot read the proof: {' '.join(str(err).split())}") from None
    source = path.name
    body = raw
    if isinstance(raw, dict) and raw.get("schema") == SCHEMA:
        doc = read_results(path)
        if doc["kind"] != "prove":
            raise InputError(f"{path} holds {doc['kind']} results, not a proof")
        body, source = doc["results"], f"{path.name}, run ID {doc['run_id']}"
    try:
        latex = _find_latex(body)
    except (TypeError, ValueError, KeyError) as err:
        raise InputError(f"{path}: malformed theorem: {' '.join(str(err).split())}") from None
    if latex is None:
        return None, (f"{path.name} holds neither a LaTeX fragment nor a theorem (claim, "
                      f"verdict); no proof appendix was written")
    header = f"% Proof appendix generated by symjax report from {source}.\n"
    return (header + latex.rstrip("\n") + "\n",
            f"Proof appendix: `appendix_proof.tex` (from {source})")


def _find_latex(body: Any) -> str | None:
    if isinstance(body, list):
        parts = [p for p in map(_find_latex, body) if p]
        return "\n".join(parts) if parts else None
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("latex"), str):
        return body["latex"]
    if "claim" in body and "verdict" in body:
        return _theorem_from_dict(body).to_latex()
    for key in ("theorem", "theorems", "proof", "proofs"):
        if key in body:
            found = _find_latex(body[key])
            if found:
                return found
    return None


def _theorem_from_dict(d: dict):
    from .symbolic._theorem import ProofStep, Theorem

    steps = [ProofStep(s["text"], s.get("latex")) if isinstance(s, dict) else ProofStep(str(s))
             for s in d.get("steps") or ()]
    return Theorem(claim=str(d["claim"]), hypotheses=[str(h) for h in d.get("hypotheses") or ()],
                   verdict=d["verdict"], steps=steps, witness=d.get("witness"),
                   reason=d.get("reason"), context=d.get("context") or {},
                   lemmas=[_theorem_from_dict(x) for x in d.get("lemmas") or ()])


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


def write_report(path: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 proof: str | os.PathLike | None = None, figures: bool = True) -> Report:
    """Write the report of a ``symjax verify`` results directory.

    Args:
      path: the results directory (or its ``results.json``).
      out: output directory; default ``DIR/report``.
      proof: a proof JSON for the appendix; default ``DIR/proof.json`` when it exists.
      figures: draw the figures (when matplotlib is installed); ``False``: text files only.

    Returns:
      A :class:`Report`.

    Raises:
      InputError: bad input files (see :func:`load_run`, :func:`trajectory_stats`,
        :func:`proof_appendix`).
    """
    from . import _plots

    document = read_results(path)
    if document["kind"] == "dynamics":
        return _dynamics_report(path, document, out, figures)
    run = load_run(path, document)
    out_dir = Path(out) if out is not None else run.directory / REPORT_DIR
    stats = trajectory_stats(run)
    proof_path = Path(proof) if proof is not None else run.file(PROOF_FILE)
    if proof is not None and not proof_path.is_file():
        raise InputError(f"proof file {proof_path} does not exist")
    appendix, proof_note = (proof_appendix(proof_path) if proof_path.is_file()
                            else (None, None))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir, [], [])

    def write(name: str, text: str) -> None:
        target = out_dir / name
        target.write_text(text, encoding="utf-8")
        report.files.append(target)

    if stats is None:
        every = run.config["trajectory_every"]
        why = (f"{TRAJECTORIES_FILE} is missing although the run recorded them every {every} "
               f"steps: copy it next to results.json, or re-run" if every else
               "this run did not record them. Re-run with the trajectory option")
        command = verify_command(run, trajectory_every=every or max(1, run.config["steps"] // 100))
        report.notes.append(
            f"The smallest hidden-unit distance and the loss over training need trajectories; "
            f"{why} and report again: `{command}` then `symjax report DIR`.")
    drawn: list[str] = []
    if not figures:
        report.notes.append("Figures were not drawn (--no-figures).")
    elif _plots.available():
        drawn = _plots.write_figures(run, stats, out_dir)
        report.files += [out_dir / f"{name}.{ext}" for name in drawn for ext in ("pdf", "png")]
    else:
        report.notes.append("Figures need matplotlib: `pip install symjax-proofs[plots]`, then "
                            "run symjax report again.")
    if appendix is not None:
        write("appendix_proof.tex", appendix)
    if proof_note is not None:
        report.notes.append(proof_note + ".")
    report.notes += [f"Warning recorded by the run: {w}" for w in run.results.get("warnings", ())]
    write("methods.txt", methods_paragraph(run) + "\n")
    write("methods.tex", f"% symjax report: run {run.run_id}.\n"
                         + methods_paragraph(run, LATEX) + "\n")
    write("table.tex", latex_table(run))
    write("summary.csv", summary_csv(run))
    write("report.md", _markdown(run, drawn, report.notes))
    return report


def _dynamics_report(path, document: dict, out, figures: bool) -> Report:
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
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir, [], [])
    drawn: list[str] = []
    if not figures:
        report.notes.append("Figures were not drawn (--no-figures).")
    elif _plots.available():
        from ._dynamics_plots import write_dynamics_figures

        drawn = write_dynamics_figures(results, out_dir)
        report.files += [out_dir / f"{name}.{ext}" for name in drawn for ext in ("pdf", "png")]
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
    for name, body in (("summary.txt", text + "\n"), ("report.md", "\n".join(lines))):
        (out_dir / name).write_text(body, encoding="utf-8")
        report.files.append(out_dir / name)
    return report


def _markdown(run: RunData, figures: list[str], notes: list[str]) -> str:
    prov = run.document["provenance"]
    lines = [f"# symjax verify report: run `{run.run_id}`", "", "## Methods", "",
             methods_paragraph(run), "", "## Results", "", markdown_table(run),
             "Broken: seeds where some tied pair differs in its bits at some step (step 0 "
             "included: a random initialization breaks the symmetry before training). First "
             "break: median and range over broken seeds. Tied pairs kept: seed x pair counts of "
             "bitwise equality at every step. Medians over seeds. Theorem: whether the "
             "invariance theorem covers the run (symmetric initialization, equivariant "
             "optimizer, exact path) and, if so, whether every tie held.", ""]
    if figures:
        from ._plots import caption

        lines += ["## Figures", ""]
        for i, name in enumerate(figures, 1):
            lines += [f"![Figure {i}]({name}.png)", "",
                      f"*Figure {i}.* {caption(name, run)} ([PDF]({name}.pdf))", ""]
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
