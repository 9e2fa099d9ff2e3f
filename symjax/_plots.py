"""Figures of a ``symjax verify`` run, as PDF and PNG (needs the ``plots`` extra: matplotlib).

No pyplot: every figure is a :class:`matplotlib.figure.Figure` drawn by the Agg (PNG) and PDF
canvases directly, so no GUI backend is ever chosen, nothing needs a display, and the backend and
``rcParams`` of a session that calls :func:`write_figures` (a notebook, say) are left as they
were; the style lives in :data:`STYLE`, applied in a ``rc_context``.

Conventions shared by every figure: one color per init scheme (in the order of the run's
config), one panel per optimizer, the legend outside the axes on the right, and a symmetric-log
step axis (linear up to 1, or up to the trajectory interval, logarithmic beyond) when training
ran 100 steps or more, so that step 0, where random initializations already break the symmetry,
stays on the axis. Runs whose curves are identical (every random init is broken at step 0) are
drawn striped, each init's color in turn, and labelled with their number.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - types only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._report import RunData, TrajectoryStats

#: Local style of every figure (fonts readable at one column of a two-column paper when scaled).
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "pdf.fonttype": 42,
}
#: Width of every figure in inches (a page's text width); PNG resolution.
WIDTH = 7.0
DPI = 200
#: Steps from which the step axis becomes symmetric-log.
LOG_STEPS = 100
#: Percentile bands are drawn when a panel shows at most this many runs (more would hide
#: each other); medians are always drawn.
BAND_MAX_RUNS = 6


def available() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def init_colors(inits: list[str]) -> dict[str, tuple]:
    """One color per init scheme: tab10 for up to 10, else tab20 with dark shades first."""
    from matplotlib import colormaps

    if len(inits) <= 10:
        colors = colormaps["tab10"].colors
    else:
        tab20 = colormaps["tab20"].colors
        colors = tab20[0::2] + tab20[1::2]
    return {name: colors[i % len(colors)] for i, name in enumerate(inits)}


def caption(name: str, run: RunData) -> str:
    """The caption of figure ``name`` of ``run`` (for the report)."""
    seeds = run.config["seeds"]
    n_inits = len({init for init, _ in run.runs})
    band = ", with the 25th-75th percentile band" if n_inits <= BAND_MAX_RUNS else ""
    return {
        "fraction_broken": f"Fraction of the {seeds} seeds whose symmetry broke (some tied pair "
                           f"differs in its bits) at or before each training step; one panel "
                           f"per optimizer, one color per init scheme. Identical curves are "
                           f"striped and labelled with the number of runs sharing them.",
        "first_break": "First-break step of every seed that broke symmetry, one row per init x "
                       "optimizer (black bar: median); the number of broken seeds is on the "
                       "right.",
        "min_unit_distance": f"Smallest Euclidean distance between two hidden units of one "
                             f"layer (incoming weights, bias, outgoing weights) over training: "
                             f"median over {seeds} seeds{band}. Runs whose units stayed bitwise "
                             f"tied lie at exactly 0 and are named in their panel.",
        "loss": f"Training loss over training: median over {seeds} seeds{band}.",
    }[name]


def write_figures(run: RunData, stats: TrajectoryStats | None, out: Path) -> list[str]:
    """Draw every figure the run's files allow; returns their names (``NAME.pdf`` and
    ``NAME.png`` are written into ``out``)."""
    from matplotlib import rc_context

    names = []
    with rc_context(STYLE):
        painter = _Painter(run)
        figures = [("fraction_broken", painter.fraction_broken()),
                   ("first_break", painter.first_break())]
        if stats is not None:
            figures += [("min_unit_distance", painter.min_unit_distance(stats)),
                        ("loss", painter.loss(stats))]
        for name, fig in figures:
            _save(fig, out / name, run)
            names.append(name)
    return names


def _save(fig: Figure, stem: Path, run: RunData) -> None:
    from . import __version__

    title = f"symjax verify run {run.run_id}: {stem.name}"
    fig.savefig(stem.with_suffix(".png"), dpi=DPI,
                metadata={"Title": title, "Software": f"symjax {__version__}"})
    fig.savefig(stem.with_suffix(".pdf"),
                metadata={"Title": title, "Creator": f"symjax {__version__}",
                          "CreationDate": None})


class _Painter:
    """Draws the figures of one run with its colors: one panel per optimizer."""

    def __init__(self, run: RunData):
        self.run = run
        self.steps = run.config["steps"]
        self.inits = list(dict.fromkeys(init for init, _ in run.runs))
        self.optimizers = list(dict.fromkeys(opt for _, opt in run.runs))
        self.colors = init_colors(list(run.config["init"]))
        self.lrs = {s["optimizer"]: s["lr"] for s in run.summaries}

    # -- shared pieces -----------------------------------------------------------------------
    def _figure(self, height: float) -> Figure:
        from matplotlib.figure import Figure

        return Figure(figsize=(WIDTH, height), layout="constrained")

    def _panels(self, height: float) -> tuple[Figure, dict[str, Axes]]:
        """A figure with one panel per optimizer (up to 3 per row), shared axes."""
        n = len(self.optimizers)
        ncols, nrows = min(n, 3), -(-n // 3)
        fig = self._figure(height * (1 if nrows == 1 else 0.75 * nrows))
        grid = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax in grid[n:]:
            ax.set_visible(False)
        axes = dict(zip(self.optimizers, grid))
        for opt, ax in axes.items():
            ax.set_title(f"{opt} (lr {self.lrs[opt]:g})")
        return fig, axes

    def _step_axis(self, ax: Axes, linthresh: float = 1.0) -> None:
        from matplotlib.ticker import FuncFormatter

        if self.steps >= LOG_STEPS:
            ax.set_xscale("symlog", linthresh=linthresh, linscale=0.4)
            first = int(np.ceil(np.log10(linthresh)))
            ax.set_xticks([0] + [10**k for k in range(first, int(np.log10(self.steps)) + 1)])
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.set_xlim(0, max(self.steps, 1))

    def _legend(self, fig: Figure, *, band: bool = False) -> None:
        """The init colors, outside the panels on the right (and the band, when drawn)."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=self.colors[i], lw=2) for i in self.inits]
        labels = list(self.inits)
        if band:
            handles.append(Patch(color="0.5", alpha=0.3, lw=0))
            labels.append("25th-75th\npercentile")
        fig.legend(handles, labels, title="init", loc="outside right upper", frameon=False)

    def _lines(self, ax: Axes, x: np.ndarray, curves: list[tuple[str, np.ndarray]], *,
               label_below: float = np.inf, **kw) -> None:
        """One line per init; identical curves are striped with every init's color in turn
        (so that none hides another) and labelled at their right end with how many runs share
        them (below the line where it ends at ``label_below`` or higher)."""
        groups: dict[bytes, list[tuple[str, np.ndarray]]] = {}
        for init, y in curves:
            groups.setdefault(np.asarray(y, np.float64).tobytes(), []).append((init, y))
        seg = 4.0
        labels_at: dict[float, int] = {}
        for members in groups.values():
            k = len(members)
            for i, (init, y) in enumerate(members):
                style = "-" if k == 1 else (i * seg, (seg, (k - 1) * seg))
                ax.plot(x, y, color=self.colors[init], ls=style, lw=1.6, **kw)
            if k > 1:
                end = float(members[0][1][-1])
                j = labels_at[end] = labels_at.get(end, -1) + 1  # stack labels that share a y
                sign = -1 if end >= label_below else 1
                ax.annotate(f"{k} runs", (0.99, end), xycoords=("axes fraction", "data"),
                            xytext=(0, sign * (3 + 9 * j)), textcoords="offset points",
                            ha="right", va="top" if sign < 0 else "bottom", fontsize=7,
                            color="0.3")

    # -- figures -----------------------------------------------------------------------------
    def fraction_broken(self) -> Figure:
        """Fraction of seeds whose symmetry broke at or before each step, per run."""
        fig, axes = self._panels(3.0)
        steps = np.arange(self.steps + 1)
        for opt, ax in axes.items():
            curves = []
            for init in self.inits:
                first = self.run.per_seed[(init, opt)]["first_break_step"]
                counts = np.bincount(first[first >= 0], minlength=self.steps + 1)
                curves.append((init, np.cumsum(counts) / first.size))
            self._lines(ax, steps, curves, label_below=0.5, drawstyle="steps-post")
            self._step_axis(ax)
        next(iter(axes.values())).set_ylim(-0.03, 1.03)
        fig.supxlabel("training step", fontsize=9)
        fig.supylabel("fraction of seeds broken", fontsize=9)
        fig.suptitle(f"Symmetry broken by step ({self.run.config['seeds']} seeds per run)",
                     fontsize=10)
        self._legend(fig)
        return fig

    def first_break(self) -> Figure:
        """Each broken seed's first-break step, one row per run, with the broken count."""
        runs = self.run.runs
        fig = self._figure(0.9 + 0.26 * len(runs))
        ax = fig.add_subplot()
        rng = np.random.default_rng(0)  # jitter only; fixed so that figures are repeatable
        n = self.run.config["seeds"]
        for row, (init, opt) in enumerate(runs):
            first = self.run.per_seed[(init, opt)]["first_break_step"]
            broken = first[first >= 0]
            if broken.size:
                y = row + rng.uniform(-0.28, 0.28, broken.size)
                ax.scatter(broken, y, s=5, color=self.colors[init], alpha=0.4, lw=0,
                           rasterized=broken.size > 2000)
                ax.plot([np.median(broken)] * 2, [row - 0.38, row + 0.38], color="black",
                        lw=1.2)
            count = ax.annotate(f"{broken.size}/{n}", (1.0, row),
                                xycoords=("axes fraction", "data"), xytext=(4, 0),
                                textcoords="offset points", va="center", fontsize=7,
                                color="0.2" if broken.size else "0.55")
            count.set_in_layout(True)  # constrained layout keeps room for the counts
        ax.set_yticks(range(len(runs)), [f"{i} / {o}" for i, o in runs])
        for label, (init, _) in zip(ax.get_yticklabels(), runs):
            label.set_color(self.colors[init])
        ax.set_ylim(len(runs) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        self._step_axis(ax)
        ax.set_xlim(-0.5, max(self.steps, 1))  # room for the seeds that broke at step 0
        ax.set_xlabel("first step at which a tied pair differs")
        ax.set_title("First-break step of each broken seed (black bar: median)")
        ax.annotate("broken", (1.0, 1.0), xycoords="axes fraction", xytext=(4, 2),
                    textcoords="offset points", va="bottom", fontsize=7).set_in_layout(True)
        return fig

    def min_unit_distance(self, stats: TrajectoryStats) -> Figure:
        """Smallest hidden-unit distance over training: median (and 25-75% band) per run."""
        fig, axes = self._panels(3.2)
        for opt, ax in axes.items():
            self._bands(ax, stats, stats.distance, opt)
        bands = stats.distance.values()
        positive = np.concatenate([b.q25[b.q25 > 0] for b in bands]
                                  + [b.median[b.median > 0] for b in bands])
        for opt, ax in axes.items():
            tied = [init for init in self.inits if stats.tied[(init, opt)]]
            if tied:
                ax.annotate(f"exactly 0 (bitwise tied): {', '.join(tied)}", (0.01, 0),
                            xycoords=("axes fraction", "data"), xytext=(0, 3),
                            textcoords="offset points", fontsize=7, color="0.3")
        ax = next(iter(axes.values()))
        if positive.size:
            # symmetric log, linear below a decade under the smallest positive value: exactly 0
            # (units still bitwise tied) stays on the axis, just above its bottom
            linthresh = 10.0 ** (np.floor(np.log10(positive.min())) - 1)
            ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
            ax.set_ylim(bottom=-0.15 * linthresh)
        fig.supxlabel("training step", fontsize=9)
        fig.supylabel("smallest distance between hidden units", fontsize=9)
        fig.suptitle(f"Smallest hidden-unit distance (median of {self.run.config['seeds']} "
                     f"seeds)", fontsize=10)
        self._legend(fig, band=len(self.inits) <= BAND_MAX_RUNS)
        return fig

    def loss(self, stats: TrajectoryStats) -> Figure:
        """Training loss over training: median (and 25-75% band) per run."""
        fig, axes = self._panels(3.2)
        for opt, ax in axes.items():
            self._bands(ax, stats, stats.loss, opt)
        lows = np.concatenate([b.q25 for b in stats.loss.values()])
        if np.all(lows[np.isfinite(lows)] > 0):
            next(iter(axes.values())).set_yscale("log")
        fig.supxlabel("training step", fontsize=9)
        fig.supylabel(f"training loss ({self.run.config['loss'].replace('_', ' ')})",
                      fontsize=9)
        fig.suptitle(f"Training loss (median of {self.run.config['seeds']} seeds)", fontsize=10)
        self._legend(fig, band=len(self.inits) <= BAND_MAX_RUNS)
        return fig

    def _bands(self, ax: Axes, stats: TrajectoryStats, bands: dict, opt: str) -> None:
        if len(self.inits) <= BAND_MAX_RUNS:
            for init in self.inits:
                band = bands[(init, opt)]
                ax.fill_between(stats.steps, band.q25, band.q75, color=self.colors[init],
                                alpha=0.15, lw=0)
        self._lines(ax, stats.steps, [(i, bands[(i, opt)].median) for i in self.inits])
        self._step_axis(ax, linthresh=max(1, self.run.config["trajectory_every"]))
