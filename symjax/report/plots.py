"""Figures of a ``symjax verify`` run, as PDF and PNG (needs the ``plots`` extra: matplotlib).

No pyplot: every figure is a :class:`matplotlib.figure.Figure` drawn by the Agg (PNG) and PDF
canvases directly, so no GUI backend is ever chosen, nothing needs a display, and the backend and
``rcParams`` of a session that calls :func:`write_figures` (a notebook, say) are left as they
were; the style lives in :data:`STYLE`, applied in a ``rc_context``.

Each figure answers one question (its caption: :func:`caption`): how often does each init x
optimizer solve the task (``solved_fraction``)? How do the loss and the distance between hidden
units evolve, for the seeds that solved the task and for the others (``loss``,
``min_unit_distance``)? When does symmetry break, in the runs where it breaks after step 0
(``first_break``, drawn only for those)?

Sizes are in inches (:data:`WIDTHS`); fonts are embedded in the PDF (TrueType). Colours are the
Okabe-Ito palette (safe for the common kinds of colour blindness); beyond eight init schemes the
line style changes too.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - types only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .run import RunData
    from .stats import TrajectoryStats

#: Okabe and Ito's colour-blind-safe palette (black last).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
#: Local style of every figure.
STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "axes.prop_cycle": f"cycler('color', {list(PALETTE)!r})",  # for the default colours
}
#: Figure widths in inches: a page's text width, one column of a two-column paper.
WIDTHS = {"page": 7.0, "column": 3.4}
DPI = 200
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Steps from which the step axis becomes symmetric-log.
LOG_STEPS = 100


def available() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def later_break_runs(run: RunData) -> list[tuple[str, str]]:
    """The runs where some seed broke symmetry after step 0."""
    return [(s["init"], s["optimizer"]) for s in run.summaries
            if s["seeds_broken"] > s["broken_at_step_0"]]


def caption(name: str, run: RunData, stats: TrajectoryStats | None = None) -> str:
    """The caption of figure ``name`` of ``run`` (for the report and ``NAME.tex``)."""
    source = ""
    if stats is not None:
        source = (f"all {stats.seeds} seeds of each run" if stats.source == "trajectories.npz" else
                  f"the first {stats.seeds} seeds of each run, re-run with their parameters "
                  f"recorded at {stats.steps.size} log-spaced steps (by symjax verify, beside "
                  f"the run)")
    return {
        "solved_fraction": f"Fraction of the {run.config['seeds']} seeds of each init x "
                           f"optimizer run that solved {run.results['dataset']['spec']} after "
                           f"{run.config['steps']} steps, with its 95% Wilson score interval.",
        "loss": f"Training loss over training, median (line) and 25th-75th percentiles (band) "
                f"over the seeds that solved the task (left) and those that did not (right), "
                f"per optimizer; from {source}. Runs with no seed in a panel are absent.",
        "min_unit_distance": f"Smallest Euclidean distance between two hidden units of one layer "
                             f"(incoming weights, bias, outgoing weights) over training, median "
                             f"and 25th-75th percentiles over the seeds that solved the task "
                             f"(left) and those that did not (right); from {source}. Exactly 0 "
                             f"(units bitwise tied) is drawn at the bottom of the axis.",
        "first_break": "First-break step of every seed that broke symmetry after "
                       "initialization, for the runs where some seed did (black bar: median "
                       "over the run's broken seeds; the number broken is on the right).",
    }[name]


def save_figure(fig: Figure, name: str, write: Callable[[str, bytes], Any],
                title: str) -> None:
    """Render ``fig`` as ``NAME.png`` and ``NAME.pdf`` and hand the bytes to ``write``."""
    from ..base.version import __version__

    for ext, meta in (("png", {"Title": title, "Software": f"symjax {__version__}"}),
                      ("pdf", {"Title": title, "Creator": f"symjax {__version__}",
                               "CreationDate": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=DPI, metadata=meta)
        write(f"{name}.{ext}", buffer.getvalue())


def write_figures(run: RunData, stats: TrajectoryStats | None,
                  write: Callable[[str, bytes], Any], *, width: str = "page") -> list[str]:
    """Draw every figure the run's files allow; ``write(file name, bytes)`` stores each file.
    Returns the figure names (``NAME.pdf`` and ``NAME.png`` each)."""
    from matplotlib import rc_context

    with rc_context(STYLE):
        painter = _Painter(run, WIDTHS[width])
        figures = [("solved_fraction", painter.solved_fraction())]
        if stats is not None:
            figures += [("loss", painter.by_outcome(stats, "loss")),
                        ("min_unit_distance", painter.by_outcome(stats, "distance"))]
        if later_break_runs(run):
            figures.append(("first_break", painter.first_break()))
        for name, fig in figures:
            save_figure(fig, name, write, f"symjax verify run {run.run_id}: {name}")
    return [name for name, _ in figures]


class _Painter:
    """Draws the figures of one run."""

    def __init__(self, run: RunData, width: float):
        self.run, self.width = run, width
        self.steps = run.config["steps"]
        self.inits = list(dict.fromkeys(init for init, _ in run.runs))
        self.optimizers = list(dict.fromkeys(opt for _, opt in run.runs))
        n = len(PALETTE)  # init -> (colour, line style): every colour, then the next style
        self.styles = {name: (PALETTE[i % n], _LINESTYLES[(i // n) % len(_LINESTYLES)])
                       for i, name in enumerate(run.config["init"])}
        self.lrs = {s["optimizer"]: s["lr"] for s in run.summaries}

    def _figure(self, height: float) -> Figure:
        from matplotlib.figure import Figure

        return Figure(figsize=(self.width, height), layout="constrained")

    def _step_axis(self, ax: Axes, linthresh: float = 1.0) -> None:
        if self.steps >= LOG_STEPS:
            ax.set_xscale("symlog", linthresh=linthresh, linscale=0.4)
            first = int(np.ceil(np.log10(linthresh)))
            ax.set_xticks([0] + [10**k for k in range(first, int(np.log10(self.steps)) + 1)])
            ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0f}")
        ax.set_xlim(0, max(self.steps, 1))

    # -- figures -----------------------------------------------------------------------------
    def solved_fraction(self) -> Figure:
        """Solved fraction with 95% Wilson intervals: one row per init, one marker per
        optimizer."""
        from .stats import wilson_interval

        n_opt = len(self.optimizers)
        fig = self._figure(0.8 + 0.2 * len(self.inits) * max(1, n_opt / 2))
        ax = fig.add_subplot()
        offsets = np.linspace(-0.25, 0.25, n_opt) if n_opt > 1 else np.zeros(1)
        by_run = {(s["init"], s["optimizer"]): s for s in self.run.summaries}
        for j, opt in enumerate(self.optimizers):
            found = [(i, by_run[(init, opt)]) for i, init in enumerate(self.inits)
                     if (init, opt) in by_run]  # never empty: every optimizer ran
            rows = [i + offsets[j] for i, _ in found]
            frac = np.array([s["solved"] / s["seeds"] for _, s in found])
            lo, hi = np.array([wilson_interval(s["solved"], s["seeds"]) for _, s in found]).T
            err = np.clip([frac - lo, hi - frac], 0, None)  # rounding: never below 0
            ax.errorbar(frac, rows, xerr=err, fmt=_MARKERS[j % 8], ms=3.5,
                        lw=1, capsize=2, color=PALETTE[j % len(PALETTE)],
                        label=f"{opt} (lr {self.lrs[opt]:g})")
        ax.set_yticks(range(len(self.inits)), self.inits)
        ax.set_ylim(len(self.inits) - 0.5, -0.5)
        ax.set_xlim(-0.02, 1.02)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"fraction of seeds that solved {self.run.results['dataset']['spec']} "
                      f"(95% Wilson interval)")
        ax.legend(title="optimizer", loc="best", frameon=True, framealpha=0.9)
        return fig

    def by_outcome(self, stats: TrajectoryStats, what: str) -> Figure:
        """Loss or smallest unit distance over training: one row per optimizer, columns solved
        and stuck; one line (median) and band (25th-75th percentile) per init."""
        from matplotlib.lines import Line2D
        from matplotlib.ticker import NullFormatter

        n_opt = len(self.optimizers)
        per_row = 1.7 if self.width < 5 else 2.0
        fig = self._figure(0.9 + per_row * n_opt)
        grid = fig.subplots(n_opt, 2, sharex=True, sharey=True, squeeze=False)
        values = []
        for r, opt in enumerate(self.optimizers):
            for c, outcome in enumerate(("solved", "stuck")):
                ax = grid[r, c]
                ax.set_title(f"{opt} (lr {self.lrs[opt]:g}): "
                             f"{'solved' if outcome == 'solved' else 'not solved'}")
                for init in self.inits:
                    got = stats.outcomes.get((init, opt), {}).get(outcome)
                    if got is None:
                        continue
                    band = got.loss if what == "loss" else got.distance
                    colour, ls = self.styles[init]
                    if len(self.inits) <= 8:
                        ax.fill_between(stats.steps, band.q25, band.q75, color=colour,
                                        alpha=0.15, lw=0)
                    ax.plot(stats.steps, band.median, color=colour, ls=ls, lw=1.3)
                    values += [band.q25, band.median]
                self._step_axis(ax, linthresh=max(1.0, float(stats.steps[1]) if
                                                  stats.steps.size > 1 else 1.0))
        every = np.concatenate(values) if values else np.zeros(0)
        positive = every[np.isfinite(every) & (every > 0)]
        ax = grid[0, 0]
        if positive.size and what == "distance":
            # symmetric log, linear below a decade under the smallest positive value: exactly 0
            # (units still bitwise tied) stays on the axis, at its bottom
            linthresh = 10.0 ** (np.floor(np.log10(positive.min())) - 1)
            ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
            ax.set_ylim(bottom=-0.15 * linthresh)
            ax.yaxis.set_minor_formatter(NullFormatter())
        elif positive.size and positive.size == every[np.isfinite(every)].size:
            ax.set_yscale("log")
        label = (f"training loss ({self.run.config['loss'].replace('_', ' ')})"
                 if what == "loss" else "smallest distance between hidden units")
        for ax in grid[-1]:
            ax.set_xlabel("training step")
        fig.supylabel(label, fontsize=8)
        handles = [Line2D([], [], color=self.styles[i][0], ls=self.styles[i][1], lw=1.5)
                   for i in self.inits]
        fig.legend(handles, self.inits, title="init", loc="outside lower center", frameon=False,
                   ncols=min(len(self.inits), 4 if self.width < 5 else 7))
        return fig

    def first_break(self) -> Figure:
        """Each broken seed's first-break step, for the runs with breaks after step 0."""
        runs = later_break_runs(self.run)
        fig = self._figure(0.9 + 0.26 * len(runs))
        ax = fig.add_subplot()
        rng = np.random.default_rng(0)  # jitter only; fixed so that figures are repeatable
        n = self.run.config["seeds"]
        for row, (init, opt) in enumerate(runs):
            first = self.run.per_seed[(init, opt)]["first_break_step"]
            broken = first[first >= 0]
            y = row + rng.uniform(-0.28, 0.28, broken.size)
            ax.scatter(broken, y, s=5, color=self.styles[init][0], alpha=0.4, lw=0,
                       rasterized=broken.size > 2000)
            ax.plot([np.median(broken)] * 2, [row - 0.38, row + 0.38], color="black", lw=1.2)
            count = ax.annotate(f"{broken.size}/{n}", (1.0, row),
                                xycoords=("axes fraction", "data"), xytext=(4, 0),
                                textcoords="offset points", va="center", fontsize=7,
                                color="0.2")
            count.set_in_layout(True)  # constrained layout keeps room for the counts
        ax.set_yticks(range(len(runs)), [f"{i} / {o}" for i, o in runs])
        ax.set_ylim(len(runs) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        self._step_axis(ax)
        ax.set_xlim(-0.5, max(self.steps, 1))
        ax.set_xlabel("first step at which a tied pair differs")
        return fig
