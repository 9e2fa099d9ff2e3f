"""What a report computes from a run: trajectories split by outcome, hidden-unit distances and
Wilson intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..base.errors import InputError
from ..base.layout import Layout, min_unit_distance, unit_rows
from ..results.rundir import SAMPLE_FILE, TRAJECTORIES_FILE
from .run import NpzArrays, RunData


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
    """What the trajectory figures show: per ``(init, optimizer)`` run, :class:`Band` s over
    seeds at each of the recorded ``steps`` of the smallest hidden-unit ``distance`` and of the
    ``loss``; whether the units stayed ``tied`` (distance exactly 0 for every seed at every
    recorded step); and the same bands over the seeds that solved the task and over the others
    (``outcomes``: ``{"solved": Outcome | None, "stuck": Outcome | None}``, by the run's own
    ``solved`` column). ``source``: the file read, with ``seeds`` seeds per run.
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
    ``trajectories.npz`` or, without it, from ``trajectory_sample.npz`` (``None`` without
    either); :class:`InputError` when the file is unreadable or does not match the run."""
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
    layout = Layout(run.config["widths"])
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
            d, lo = _distances(layout, p), lo.astype(np.float64)
            distance[(init, opt)], loss[(init, opt)] = _band(d), _band(lo)
            tied[(init, opt)] = bool(np.all(d == 0))
            solved = run.per_seed[(init, opt)]["solved"][index].astype(bool)
            outcomes[(init, opt)] = {
                name: Outcome(int(m.sum()), _band(d[m]), _band(lo[m])) if m.any() else None
                for name, m in (("solved", solved), ("stuck", ~solved))}
    return TrajectoryStats(np.asarray(recorded), distance, loss, tied, outcomes, path.name,
                           index.size)


def _distances(layout: Layout, params: np.ndarray) -> np.ndarray:
    """:func:`min_unit_distance` in float64 of ``(seeds, records, P)`` parameters, a block of
    records at a time (bounded memory for wide layers)."""
    flat = params.reshape(-1, params.shape[-1])
    sizes = [len(r) ** 2 * len(r[0]) for r in unit_rows(layout)]
    block = max(1, (1 << 22) // max(sizes, default=1))
    parts = [min_unit_distance(layout, flat[i:i + block].astype(np.float64), np)
             for i in range(0, len(flat), block)]
    return np.concatenate(parts).reshape(params.shape[:-1]) if parts else (
        np.full(params.shape[:-1], np.nan))


def _band(values: np.ndarray) -> Band:
    """Quantiles over the seed axis (axis 0), ignoring non-finite values."""
    finite = np.where(np.isfinite(values), values, np.nan)
    some = ~np.isnan(finite).all(axis=0)  # steps with a finite value (others stay NaN)
    q = np.full((3, values.shape[1]), np.nan)
    q[:, some] = np.nanpercentile(finite[:, some], [25, 50, 75], axis=0)
    return Band(*q)


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
    lo = 0.0 if k <= 0 else max(0.0, centre - half)
    hi = 1.0 if k >= n else min(1.0, centre + half)
    return lo, hi
