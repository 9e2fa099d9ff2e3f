"""``symjax reproduce``: re-run a recorded ``symjax verify`` run and compare it bit for bit.

The recorded run is read and checked first (:func:`symjax.report.run.load_run`, and the SHA-256
of ``per_seed.csv``): any problem is bad input before anything runs. Per-seed floats depend on
the batch layout, so the XLA flags are set from the recorded layout before JAX is imported
(:func:`configure_like`); the recorded environment is only compared
(:func:`environment_differences`), never applied. Then every per-seed figure of the re-run is
compared with the record: floats by bit pattern in the run's dtype or, with a tolerance, within
it (integers and labels always exactly). Exit status (:class:`Outcome`): 0 all match, 1 some
differ, 2 the environment differs.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import InputError
from ..numeric.xla import DEVICE_COUNT_FLAG
from ..results.config import VerifyConfig
from ..results.document import installed_versions, package_version
from ..results.rundir import PARAMS_FILE, PER_SEED_FILE, TRAJECTORIES_FILE
from .run import LABEL_COLUMNS, NpzArrays, RunData, load_run

#: Packages whose version must match for a bitwise comparison (they do the arithmetic).
PINNED_PACKAGES = ("jax", "jaxlib", "optax")
#: Differences listed in full before the rest are counted.
MAX_LISTED = 20

EXIT_MATCH, EXIT_DIFFER, EXIT_ENVIRONMENT = 0, 1, 2


@dataclass
class Comparison:
    """The comparison of one file (``name``), or of the summaries, of the re-run with the
    record: how many ``values`` were compared, how many floats matched only within the
    tolerance (``not_bitwise``), how many differ (``n_differences``, and ``by_column``: per
    column or array), and the first :data:`MAX_LISTED` differences, one line each."""

    name: str
    values: int = 0
    not_bitwise: int = 0
    differences: list[str] = field(default_factory=list)
    n_differences: int = 0
    by_column: dict[str, int] = field(default_factory=dict)

    def compare(self, a: np.ndarray, b: np.ndarray, tolerance: float | None) -> np.ndarray:
        """Count the values of ``a`` compared with ``b`` (:func:`_mismatch`); returns the mask
        of those that differ."""
        differs, near = _mismatch(a, b, tolerance)
        self.values += a.size
        self.not_bitwise += near
        return differs

    def add(self, what: str, count: int, lines: list[str]) -> None:
        """Record ``count`` differing values of column ``what``, described by ``lines``."""
        if count:
            self.by_column[what] = self.by_column.get(what, 0) + count
            self.n_differences += count
            self.differences += lines[: max(0, MAX_LISTED - len(self.differences))]

    def lines(self, tolerance: float | None) -> list[str]:
        """What to print: one summary line, then the listed differences."""
        if not self.n_differences:
            how = ("bit for bit" if tolerance is None else
                   f"within relative tolerance {tolerance:g}"
                   + (f" ({self.not_bitwise} not bitwise equal)" if self.not_bitwise else
                      " (all bitwise equal)"))
            return [f"{self.name}: all {self.values} values match {how}"]
        cols = ", ".join(f"{k} ({v})" for k, v in self.by_column.items())
        out = [f"{self.name}: {self.n_differences} of {self.values} values DIFFER, in {cols}"]
        out += [f"  {line}" for line in self.differences]
        if self.n_differences > len(self.differences):
            out.append(f"  ... and {self.n_differences - len(self.differences)} more")
        return out


@dataclass
class Outcome:
    """What :func:`reproduce` found: the exit ``status``, the run IDs of the record and of the
    re-run (``None`` when it did not run), the ``environment`` differences, one
    :class:`Comparison` per compared file and the summaries, and ``notes`` that do not decide
    the status (recorded XLA flags not used here)."""

    status: int
    recorded_id: str
    environment: list[str]
    comparisons: list[Comparison] = field(default_factory=list)
    rerun_id: str | None = None
    notes: list[str] = field(default_factory=list)


def reproduce(path: str | os.PathLike, *, tolerance: float | None = None,
              out: str | os.PathLike | None = None, quiet: bool = False,
              log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Outcome:
    """Re-run the recorded ``verify`` run at ``path`` (a results directory or its
    ``results.json``) and compare every per-seed figure.

    Call it before JAX is imported (as ``symjax reproduce`` does), so that the device count can
    be set like the recorded run's; otherwise a different device count shows as an environment
    difference. ``tolerance``: ``None`` for a bitwise comparison, else the relative tolerance
    for floats, which also allows comparing across environments. ``out``: keep the re-run's
    files there (default: a temporary directory). ``log`` gets the progress messages.

    Raises:
      InputError: bad input (see :func:`symjax.report.run.load_run`), a config that does not
        map onto :func:`symjax.verify`, an unreadable ``params.npz`` or ``trajectories.npz``,
        or a negative or non-finite tolerance.
    """
    if tolerance is not None and not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance {tolerance!r} must be a finite number >= 0")
    if out is not None and (not os.fspath(out).strip() or Path(out).exists()):
        from ..results.rundir import claim_directory, holds_verify_run

        # now, not after the first lines are printed (verify creates a new one, as ever)
        claim_directory(out, option="--out", ours=holds_verify_run, what="verify run",
                        force_option=None)
    recorded = load_run(path, check_digests=True)
    where = recorded.file("results.json")
    if out is not None and Path(out).resolve() == recorded.directory.resolve():
        raise InputError(f"--out {out} is the recorded run's directory; the re-run would "
                         f"overwrite the files it is compared with")
    options = VerifyConfig.from_record(recorded.config, f"{where} (symjax {package_version()})")
    npz_files = [n for n in (PARAMS_FILE, TRAJECTORIES_FILE) if recorded.file(n).is_file()]
    for name in npz_files:  # a damaged file shows now, not after a long re-run
        with NpzArrays(recorded.file(name), recorded.run_id) as arrays:
            arrays.check()
    if TRAJECTORIES_FILE in npz_files and not recorded.config["trajectory_every"]:
        raise InputError(f"{recorded.file(TRAJECTORIES_FILE)}: results.json records no "
                         f"trajectories (trajectory_every 0); the file belongs to another run")
    configure_like(recorded.document)
    from ..experiments.verify import SymjaxWarning, resolve, verify  # imports JAX

    try:  # refused now, in one line, rather than by the re-run
        resolve(**options)
    except InputError as err:
        raise InputError(f"{where}: the recorded config is not valid: {err}") from None
    environment = environment_differences(recorded.document)
    notes = xla_flag_notes(recorded.document)
    if environment and tolerance is None:
        return Outcome(EXIT_ENVIRONMENT, recorded.run_id, environment, notes=notes)
    cfg, wall = recorded.config, recorded.document["provenance"].get("wall_time_s")
    log(f"re-running run {recorded.run_id}: {cfg['seeds']} seeds x {len(cfg['init'])} init "
        f"schemes x {len(cfg['optimizer'])} optimizers, {cfg['steps']} steps (the recorded run "
        f"took {f'{wall:.1f} s' if isinstance(wall, (int, float)) else 'an unknown time'})")
    with tempfile.TemporaryDirectory(prefix="symjax-reproduce-") as tmp:
        target = Path(out) if out is not None else Path(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymjaxWarning)  # recorded in results.json already
            verify(**options, out=target, save_params=PARAMS_FILE in npz_files, quiet=quiet)
        rerun = load_run(target)
        layout = [f"layout {k}: {recorded.layout.get(k)!r} recorded, {v!r} here"
                  for k, v in rerun.layout.items() if recorded.layout.get(k) != v]
        if layout and tolerance is None:
            return Outcome(EXIT_ENVIRONMENT, recorded.run_id, environment + layout, notes=notes)
        comparisons = [compare_per_seed(recorded, rerun, tolerance)]
        for name in npz_files:
            with (NpzArrays(recorded.file(name), recorded.run_id) as a,
                  NpzArrays(target / name, rerun.run_id) as b):
                comparisons.append(compare_npz(name, recorded, a, b, tolerance))
        comparisons.append(compare_summaries(recorded, rerun, tolerance))
    status = EXIT_DIFFER if any(c.n_differences for c in comparisons) else EXIT_MATCH
    return Outcome(status, recorded.run_id, environment + layout, comparisons, rerun.run_id,
                   notes)


def _part(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``document[k1][k2]...`` when every level is an object, else ``{}`` (the provenance is
    not hashed: a file may hold anything there)."""
    for key in keys:
        document = document.get(key) if isinstance(document, dict) else None
    return document if isinstance(document, dict) else {}


# -- environment -------------------------------------------------------------------------------
def _flags(text: str) -> list[str]:
    """XLA flags other than the CPU device count (the layout's device count covers that)."""
    return [f for f in text.split() if f.split("=", 1)[0] != DEVICE_COUNT_FLAG]


#: Most CPU devices a recorded layout may ask for (each is a thread pool in this process).
MAX_CPU_DEVICES = 4096


def configure_like(document: dict[str, Any]) -> None:
    """Set the XLA flags for the recorded device layout, if JAX is not imported yet: runs that
    went through :func:`symjax.configure_xla` (``symjax verify``) get it again, with the
    recorded number of devices on CPU; other runs get only the CPU device count. Nothing of
    ``provenance.env`` is applied: its flags could name files or change what runs.
    :class:`InputError` when the layout asks for more than :data:`MAX_CPU_DEVICES` CPU devices.
    """
    if "jax" in sys.modules:
        return
    from ..numeric.xla import configure_xla

    prov, layout = _part(document, "provenance"), document["layout"]
    cpu_devices = layout["devices"] if layout["platform"] == "cpu" else None
    if cpu_devices is not None and cpu_devices > MAX_CPU_DEVICES:
        raise InputError(f"the recorded layout has {cpu_devices} CPU devices; reproduce sets "
                         f"up at most {MAX_CPU_DEVICES}")
    if _part(prov, "xla").get("applied"):
        configure_xla(devices=cpu_devices)
    elif (cpu_devices and not os.environ.get("JAX_NUM_CPU_DEVICES")
          and DEVICE_COUNT_FLAG not in os.environ.get("XLA_FLAGS", "")):
        os.environ["JAX_NUM_CPU_DEVICES"] = str(cpu_devices)


def environment_differences(document: dict[str, Any]) -> list[str]:
    """What differs between the recorded environment and this one, one line per item
    (imports JAX)."""
    import jax

    prov, layout = _part(document, "provenance"), document["layout"]
    out = []

    def check(what: str, recorded: Any, here: Any) -> None:
        if recorded is not None and recorded != here:
            out.append(f"{what}: {recorded} recorded, {here} here")

    check("symjax version", prov.get("version"), package_version())
    installed = installed_versions(PINNED_PACKAGES)
    for name in PINNED_PACKAGES:
        check(name, _part(prov, "versions").get(name), installed.get(name))
    check("machine", prov.get("machine"), platform.machine())
    devices = jax.devices()
    check("device count", layout.get("devices"), len(devices))
    check("platform", layout.get("platform"), devices[0].platform)
    check("device kind", layout.get("device_kind"), devices[0].device_kind)
    check("process count", layout.get("process_count"), jax.process_count())
    only_here = set(_flags(os.environ.get("XLA_FLAGS", ""))) - set(_recorded_flags(document))
    if only_here:
        out.append(f"XLA flags (only here: {' '.join(sorted(only_here))}): unset them, or set "
                   f"XLA_FLAGS to the recorded flags, to compare bit for bit")
    return out


def _recorded_flags(document: dict[str, Any]) -> list[str]:
    text = _part(document, "provenance", "env").get("XLA_FLAGS", "")
    return _flags(text) if isinstance(text, str) else []


def xla_flag_notes(document: dict[str, Any]) -> list[str]:
    """Recorded XLA flags that are not set here, named in a note (they are not applied)."""
    here = set(_flags(os.environ.get("XLA_FLAGS", "")))
    missing = [f for f in _recorded_flags(document) if f not in here]
    if not missing:
        return []
    shown = " ".join(missing)
    shown = shown if len(shown) <= 300 else shown[:297] + "..."
    return [f"the recorded run had XLA flags not set here ({shown}); they are not applied "
            f"from the results file: set XLA_FLAGS yourself if they matter"]


# -- comparisons -------------------------------------------------------------------------------
def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _mismatch(a: np.ndarray, b: np.ndarray, tolerance: float | None) -> tuple[np.ndarray, int]:
    """``(differs mask, floats equal only within the tolerance)`` of two same-shape arrays."""
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        return a != b, 0
    bitwise = _bits(a) == _bits(b) if a.dtype == b.dtype else a == b
    if tolerance is None:
        return ~bitwise, 0
    x, y = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):
        close = (x == y) | (np.isnan(x) & np.isnan(y)) | (
            np.abs(x - y) <= tolerance * np.maximum(np.abs(x), np.abs(y)))
    return ~close, int((close & ~bitwise).sum())


def _how_much(a: Any, b: Any) -> str:
    """``recorded A, re-run B (by D, relative R, U ULP)``."""
    if isinstance(a, np.floating) and isinstance(b, np.floating) and a.dtype == b.dtype:
        diff = abs(float(a) - float(b))
        scale = max(abs(float(a)), abs(float(b)))
        rel = f", relative {diff / scale:.3g}" if scale and np.isfinite(diff) else ""
        ulp = abs(_ordered(a) - _ordered(b))
        digits = 9 if a.dtype.itemsize == 4 else 17  # enough to tell any two floats apart
        return (f"recorded {float(a):.{digits}g}, re-run {float(b):.{digits}g} "
                f"(by {diff:.3g}{rel}, {ulp} ULP)")
    if isinstance(a, np.integer) and isinstance(b, np.integer):
        return f"recorded {a}, re-run {b} (by {int(b) - int(a):+d})"
    return f"recorded {a!r}, re-run {b!r}"


def _ordered(x: np.floating) -> int:
    """The bit pattern of ``x`` as an integer that counts floats in order across zero."""
    n = int(_bits(np.asarray(x)))
    sign = 1 << (8 * x.dtype.itemsize - 1)
    return -(n - sign) if n >= sign else n


def compare_per_seed(recorded: RunData, rerun: RunData, tolerance: float | None) -> Comparison:
    """Every value of ``per_seed.csv``, run by run and column by column."""
    result = Comparison(PER_SEED_FILE)
    missing = [c for c in recorded.columns if c not in rerun.columns]
    if missing:
        result.add("columns", len(missing), [f"column {c} is not written by this symjax"
                                             for c in missing])
    seeds = recorded.seeds
    for init, opt in recorded.runs:
        for column in recorded.columns:
            if column in LABEL_COLUMNS or column in missing:
                continue
            a, b = recorded.per_seed[(init, opt)][column], rerun.per_seed[(init, opt)][column]
            rows = np.flatnonzero(result.compare(a, b, tolerance))
            result.add(column, rows.size, [
                f"run {init}/{opt} seed {seeds[i]} column {column}: {_how_much(a[i], b[i])}"
                for i in rows[:MAX_LISTED]])
    return result


def compare_npz(name: str, recorded: RunData, a_arrays: Mapping[str, np.ndarray],
                b_arrays: Mapping[str, np.ndarray], tolerance: float | None) -> Comparison:
    """Every array of ``params.npz`` or ``trajectories.npz``, element by element."""
    result = Comparison(name)
    names = [str(n) for n in a_arrays.get("names", ())]
    steps = a_arrays.get("steps")
    for key, a in a_arrays.items():
        b = b_arrays.get(key)
        if b is None or b.shape != a.shape or b.dtype != a.dtype:
            found = "missing" if b is None else f"{b.dtype}{list(b.shape)}"
            result.add(key, a.size, [f"array {key}: recorded {a.dtype}{list(a.shape)}, "
                                     f"re-run {found}"])
            result.values += a.size
            continue
        where = np.argwhere(result.compare(a, b, tolerance))
        result.add(key, len(where), [
            f"{_describe(key, tuple(idx), recorded, names, steps)}: "
            f"{_how_much(a[tuple(idx)], b[tuple(idx)])}" for idx in where[:MAX_LISTED]])
    return result


def _describe(key: str, index: tuple[int, ...], run: RunData, names: list[str],
              steps: np.ndarray | None) -> str:
    """``run normal/sgd seed 17 step 40 parameter w3`` for an element of an npz array."""
    parts = key.split("__")
    if len(parts) != 3 or not index:
        return f"array {key} at {list(index)}"
    init, opt, what = parts
    text = [f"run {init}/{opt} ({what})", f"seed {run.seeds[index[0]]}"]
    rest = index[1:]
    if what in ("params", "loss") and steps is not None and rest:
        text.append(f"step {steps[rest[0]]}")
        rest = rest[1:]
    if rest:
        text.append(f"parameter {names[rest[0]]}" if names else f"index {rest[0]}")
    return " ".join(text)


def compare_summaries(recorded: RunData, rerun: RunData, tolerance: float | None) -> Comparison:
    """The hashed summaries of ``results.json``: integers and labels exactly, floats as set."""
    result = Comparison("summaries in results.json")
    other = {(s["init"], s["optimizer"]): s for s in rerun.summaries}
    for s in recorded.summaries:
        key = (s["init"], s["optimizer"])
        for name, a in s.items():
            b = other.get(key, {}).get(name)
            if isinstance(a, float) and isinstance(b, float):
                same = not result.compare(np.array([a]), np.array([b]), tolerance)[0]
            else:
                result.values += 1
                same = a == b
            if not same:
                result.add(name, 1, [f"run {key[0]}/{key[1]} {name}: recorded {a!r}, "
                                     f"re-run {b!r}"])
    return result


# -- printing ----------------------------------------------------------------------------------
def render(outcome: Outcome, tolerance: float | None) -> list[str]:
    """The lines ``symjax reproduce`` prints for an outcome."""
    lines = [f"note: {n}" for n in outcome.notes]
    if outcome.environment:
        head = ("the environment differs from the recorded run"
                + ("; bitwise comparison is meaningless:" if tolerance is None else
                   f"; comparing floats within relative tolerance {tolerance:g}:"))
        lines += [head, *(f"  - {d}" for d in outcome.environment)]
    if outcome.status == EXIT_ENVIRONMENT:
        lines.append("Re-run where these match, or pass --tolerance X to compare floats within "
                     "relative tolerance X (integers exactly).")
        return lines
    for comparison in outcome.comparisons:
        lines += comparison.lines(tolerance)
    same_id = outcome.rerun_id == outcome.recorded_id
    lines.append(f"run ID: recorded {outcome.recorded_id}, re-run {outcome.rerun_id}"
                 + (" (identical)" if same_id else ""))
    if outcome.status == EXIT_MATCH:
        lines.append("REPRODUCED " + ("bit for bit" if tolerance is None else
                                      f"within relative tolerance {tolerance:g}"))
    else:
        lines.append("NOT REPRODUCED: values differ in " + "; ".join(
            f"{c.name} ({c.n_differences})" for c in outcome.comparisons if c.n_differences))
    return lines
