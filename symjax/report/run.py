"""A ``symjax verify`` directory read back for a report: the results document, the per-seed
CSV checked against it, and the recorded arrays."""

from __future__ import annotations

import contextlib
import csv
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import InputError
from ..base.layout import Layout
from ..results.config import VerifyConfig
from ..results.document import package_version, read_results, results_path, schema_problem
from ..results.rundir import PER_SEED_FILE, file_sha256
from ..results.summary import seed_first_break, summarize

#: Optional proof written by ``symjax prove --json DIR/proof.json``.
PROOF_FILE = "proof.json"

#: Columns of ``per_seed.csv`` holding labels, and holding floats in the run's dtype; every
#: other column holds integers.
LABEL_COLUMNS = ("init", "optimizer")
FLOAT_COLUMNS = ("final_loss", "min_unit_distance", "min_unit_distance_init")
_FIXED_COLUMNS = ("seed", "first_break_step", "max_ulp", "solved", "nonfinite", "nonfinite_step")

_PRETTY = {
    "xor": "XOR", "and": "AND", "or": "OR", "identity": "linear", "relu": "ReLU",
    "leaky_relu": "leaky ReLU", "squared_error": "squared-error", "bce": "binary cross-entropy",
    "softmax_cross_entropy": "softmax cross-entropy",
    "sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "NAdam", "nadamw": "NAdamW",
    "amsgrad": "AMSGrad", "adamax": "Adamax", "adamaxw": "AdamaxW", "adabelief": "AdaBelief",
    "adan": "Adan", "radam": "RAdam", "yogi": "Yogi", "rmsprop": "RMSProp", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "lion": "Lion", "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum", "sign_sgd": "signSGD", "signum": "Signum",
    "rprop": "Rprop", "optimistic_gradient_descent": "optimistic gradient descent",
}


@dataclass
class RunData:
    """A ``symjax verify`` results ``directory``, read and cross-checked: its results
    ``document``, the ``columns`` of ``per_seed.csv`` in file order and its values, ``per_seed``:
    ``(init, optimizer) -> {column: (seeds,) array}`` in summary order (floats in the run's
    dtype, ``max_ulp`` as uint64, other numbers as int64, labels as str)."""

    directory: Path
    document: dict[str, Any]
    columns: tuple[str, ...]
    per_seed: dict[tuple[str, str], dict[str, np.ndarray]] = field(repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """What was run, as recorded (``verify(**config)`` re-runs it)."""
        return self.document["config"]

    @property
    def options(self) -> dict[str, Any]:
        """:attr:`config` with the options it leaves out at their defaults filled in."""
        return VerifyConfig.with_defaults(self.config)

    @property
    def layout(self) -> dict[str, Any]:
        """How the run was batched (seeds per call, devices, path used)."""
        return self.document["layout"]

    @property
    def results(self) -> dict[str, Any]:
        return self.document["results"]

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """One summary per init x optimizer, in table order."""
        return self.results["summaries"]

    @property
    def run_id(self) -> str:
        """``sha256:<16 hex>`` of config and results (the layout left out)."""
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
        return self.directory / name


#: Keys every ``verify`` document must hold (older or foreign writers are refused clearly).
_REQUIRED = {
    "config": tuple(VerifyConfig.schema()["required"]),
    "layout": ("devices", "platform", "path_used"),
    "results": ("ok", "path_used", "tie_pairs", "param_names", "dataset", "summaries"),
}
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
_SUMMARY_KEYS = tuple(_SUMMARY_TYPES)
_STRINGS = {"type": "array", "items": {"type": "string"}}
#: What this module reads from a ``verify`` document, with types and ranges (the results schema
#: leaves config, layout and results to each command). A document edited and re-hashed by hand
#: fails here with the path of the bad value, not with a traceback further on.
_VERIFY_SCHEMA = {
    "type": "object",
    "properties": {
        "config": VerifyConfig.schema(),
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
    problem = schema_problem(document, _VERIFY_SCHEMA, limit=160)
    if problem is not None:
        raise InputError(f"{target}: not a valid symjax verify results file at {problem}")
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


def load_run(path: str | os.PathLike, document: dict | None = None, *,
             check_digests: bool = False) -> RunData:
    """Read ``results.json`` of a ``symjax verify`` run (at ``path``, a results directory or the
    file itself; ``document``: its contents, if already read) and its ``per_seed.csv``,
    cross-checked. ``check_digests``: also refuse a ``per_seed.csv`` whose SHA-256 differs from
    the one ``results.json`` records.

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
    if check_digests:
        check_file_digests(run.directory, run.document, names=(PER_SEED_FILE,))
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
        cols = {name: _parse_column(where, name, [r[j] for r in group], dtype)
                for j, name in enumerate(header)}
        if not np.array_equal(cols["seed"], run.seeds):
            raise InputError(f"{where}: run {key[0]}/{key[1]} does not list seeds "
                             f"{run.seeds[0]}..{run.seeds[-1]} once each, in order")
        per_seed[key] = cols
    _check_against_summaries(where, run, per_seed)
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
        found = file_sha256(path)  # never through a link
        if found != digest:
            raise InputError(f"{path}: SHA-256 {found[:23]}... differs from "
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


def _check_against_summaries(where: str, run: RunData, per_seed: dict) -> None:
    """Refuse per-seed columns that contradict themselves or the summaries of results.json."""
    for summary in run.summaries:
        key = (summary["init"], summary["optimizer"])
        cols = per_seed[key]
        pairs = (np.stack([cols[c] for c in run.pair_columns], axis=1) if run.pair_columns
                 else np.zeros((cols["seed"].size, 0), np.int64))
        first = seed_first_break(pairs)
        consistent = ((first == cols["first_break_step"])
                      & (cols["nonfinite"] == (cols["nonfinite_step"] >= 0)))
        bad = np.flatnonzero(~consistent)
        if bad.size:
            seed = run.seeds[bad[0]]
            raise InputError(f"{where}: run {key[0]}/{key[1]} seed {seed} contradicts itself "
                             f"(first_break_step vs its pairs, or nonfinite vs nonfinite_step)")
        derived = summarize(pairs, cols["max_ulp"], cols["solved"], cols["final_loss"],
                            cols["min_unit_distance"], cols["min_unit_distance_init"],
                            cols["nonfinite_step"])
        for name, value in derived.items():
            if summary[name] != value:
                raise InputError(
                    f"{where}: run {key[0]}/{key[1]} {name} is {value} in {PER_SEED_FILE} but "
                    f"{summary[name]} in results.json; the per-seed file was changed or belongs "
                    f"to another run")


class NpzArrays(Mapping, contextlib.AbstractContextManager):
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

    def __exit__(self, *exc) -> None:
        self.close()
