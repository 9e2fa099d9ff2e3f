"""The summary of one init x optimizer run from its per-seed numbers (NumPy only).

The engine summarizes the arrays it trained, the report the per-seed CSV it read back; both call
:func:`summarize`, so a report can check that a CSV gives exactly the summaries its run ID covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NEVER = np.iinfo(np.int64).max


def seed_first_break(pair_first_break: np.ndarray) -> np.ndarray:
    """Per seed, the first step at which any tied pair differs (-1: none ever does), from the
    first break of each pair, shape ``(seeds, pairs)`` (-1 for a pair that never breaks)."""
    fb = np.asarray(pair_first_break).astype(np.int64)
    first = np.where(fb >= 0, fb, _NEVER).min(axis=1, initial=_NEVER)
    return np.where(first == _NEVER, -1, first)


def median(values: np.ndarray) -> float | None:
    """The median of the finite values, in float64 (``None`` when there are none)."""
    values = np.asarray(values).astype(np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def summarize(pair_first_break: np.ndarray, worst_ulp: np.ndarray, solved: np.ndarray,
              final_loss: np.ndarray, min_unit_distance: np.ndarray,
              min_unit_distance_init: np.ndarray, nonfinite_step: np.ndarray) -> dict[str, Any]:
    """The summary fields that follow from a run's per-seed numbers (definitions in
    :mod:`symjax.experiments.verify`): ``pair_first_break`` as in :func:`seed_first_break`,
    ``worst_ulp`` the largest ULP distance of a seed's pairs over all steps, ``nonfinite_step``
    the first step with a non-finite parameter (-1: none); the others one value per seed."""
    n, n_pairs = np.shape(pair_first_break)
    first = seed_first_break(pair_first_break)
    broken = first >= 0
    return {
        "seeds": int(n),
        "pairs": int(n_pairs),
        "pairs_preserved": int((np.asarray(pair_first_break) < 0).sum()),
        "pairs_total": int(n * n_pairs),
        "seeds_all_pairs_preserved": int((~broken).sum()),
        "seeds_broken": int(broken.sum()),
        "broken_at_step_0": int((first == 0).sum()),
        "first_break_median": median(first[broken]),
        "first_break_min": int(first[broken].min()) if broken.any() else None,
        "first_break_max": int(first[broken].max()) if broken.any() else None,
        "max_ulp": int(np.max(worst_ulp)) if n_pairs and n else 0,
        "solved": int(np.sum(solved)),
        "final_loss_median": median(final_loss),
        "min_unit_distance_median": median(min_unit_distance),
        "min_unit_distance_init_median": median(min_unit_distance_init),
        "nonfinite": int((np.asarray(nonfinite_step) >= 0).sum()),
    }
