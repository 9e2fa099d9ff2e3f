"""Figures of ``symjax dynamics`` (PDF and PNG; needs matplotlib), drawn from the results dict.

Same conventions as :mod:`symjax.report.plots`: no pyplot, the local
:data:`symjax.report.plots.STYLE`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .plots import STYLE, WIDTHS, save_figure

#: Caption of each figure (for the report and its ``NAME.tex``).
CAPTIONS = {
    "laws_change": "Conservation law of ReLU units. Left: per-step change of Q measured "
                   "against the prediction (the squared learning rate times the difference of "
                   "the squared norms of the incoming and outgoing gradients), per optimizer. "
                   "Right: total change of Q over a fixed horizon (learning rate times steps) "
                   "under gradient descent against the learning rate (median over seeds), with "
                   "a line of slope 1.",
    "stability_growth": "Growth of a small asymmetry between tied units. Left: seed 0, the "
                        "measured unit difference (solid) and the linear prediction (dashed) "
                        "per initial asymmetry. Right: break step against the logarithm of the "
                        "inverse initial asymmetry.",
    "rounding_growth": "Matrix-product path: the unit difference after the first break caused "
                       "by rounding, measured and as the linearisation predicts; steps where "
                       "the units were still bitwise equal are left out.",
}


def write_dynamics_figures(results: dict[str, Any], write: Callable[[str, bytes], Any], *,
                           width: str = "page") -> list[str]:
    """Draw the figures of the parts in ``results`` (what each shows: :data:`CAPTIONS`);
    ``write(file name, bytes)`` stores each file. Returns their names (``NAME.pdf`` and
    ``NAME.png`` each)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter

    figures = {}
    wide = width == "page"

    def two_panels() -> tuple[Figure, Any]:
        fig = Figure(figsize=(WIDTHS[width], 3.0 if wide else 5.2), layout="constrained")
        return fig, fig.subplots(*((1, 2) if wide else (2, 1)))

    with rc_context(STYLE):
        if "laws" in results:
            r = results["laws"]
            figures["laws_change"], (ax, bx) = two_panels()
            for name, e in r["optimizers"].items():
                ax.scatter(np.abs(e["sample"]["predicted"]), np.abs(e["sample"]["measured"]), s=4,
                           label=name, alpha=0.6)
            ax.set(xscale="log", yscale="log", xlabel="|predicted change of Q| per step",
                   ylabel="|measured change of Q|",
                   title=r"ReLU law: $\eta^2(|g_\mathrm{in}|^2 - g_\mathrm{out}^2)$")
            ax.plot([1e-12, 1e2], [1e-12, 1e2], color="k", lw=0.6, ls="--", label="equal")
            ax.legend(loc="upper left")
            rows = r["small_step"]["rows"]
            eta = np.array([x["lr"] for x in rows])
            drift = np.array([x["drift"]["median"] for x in rows])
            bx.loglog(eta, drift, "o-", label="measured (median over seeds)")
            bx.loglog(eta, drift[-1] * eta / eta[-1], "k--", lw=0.8, label="slope 1")
            bx.set(xlabel=r"learning rate $\eta$", ylabel=r"$|Q(T) - Q(0)| / |\theta(0)|^2$",
                   title=rf"GD, fixed horizon $\eta T = {r['config']['horizon']}$")
            # one label per measured eta, none in between (minor labels overlapped)
            bx.xaxis.set_major_locator(FixedLocator(eta))
            bx.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
            bx.xaxis.set_minor_formatter(NullFormatter())
            bx.legend()
        if "stability" in results:
            r = results["stability"]
            c = r["curves"]
            steps = np.asarray(c["steps"])
            meas = np.asarray(c["measured"])  # (seeds, records, eps)
            pred = np.asarray(c["predicted_unit"])  # (seeds, records)
            eps = np.asarray(r["config"]["eps"])
            figures["stability_growth"], (ax, bx) = two_panels()
            for k, e in enumerate(eps):
                line, = ax.semilogy(steps, meas[0, :, k], lw=1.2, label=f"eps {e:.0e}")
                ax.semilogy(steps, e * pred[0], ls="--", lw=0.8, color=line.get_color())
            ax.axhline(r["config"]["threshold"], color="k", lw=0.6, ls=":")
            ax.set(xlabel="step", ylabel="unit difference |theta_1 - theta_2|",
                   title="seed 0: measured (solid),\nlinear prediction (dashed)")
            ax.legend(fontsize=6)
            rows = r["breaks"]["rows"]
            common = rows[0]["break_step_median_common"] is not None
            key = "break_step_median_common" if common else "break_step_median"
            pkey = "predicted_" + key
            rows = [x for x in rows if x[key] is not None]
            x = [x["ln_1_over_eps"] for x in rows]
            bx.plot(x, [x[key] for x in rows], "o", label="measured (median)")
            bx.plot(x, [x[pkey] for x in rows], "-", label="linear prediction (median)")
            who = (f"{r['breaks']['slope']['seeds_broken_at_every_eps']} seeds broken at every "
                   f"eps" if common else "seeds broken at that eps")
            bx.set(xlabel="ln(1/eps)", ylabel="break step",
                   title=f"break: unit difference >= {r['config']['threshold']}\n({who})")
            bx.legend()
        if "rounding" in results:
            r = results["rounding"]
            n = len(r["growth"])
            fig = figures["rounding_growth"] = Figure(
                figsize=(WIDTHS[width], 2.8 if wide else 2.4 * n), layout="constrained")
            axes = fig.subplots(1 if wide else n, n if wide else 1, squeeze=False).ravel()
            for ax, g in zip(axes, r["growth"]):
                ex = g["example"]
                if ex is None:
                    continue
                t = ex["first_break"] + np.arange(len(ex["predicted"]))
                measured = np.asarray(ex["measured"][:len(t)], np.float64)
                predicted = np.asarray(ex["predicted"], np.float64)
                # a difference of exactly 0 has no logarithm: leave those steps out instead of
                # clamping them to a tiny value (which stretched the axis down to 1e-314)
                measured = np.where(measured > 0, measured, np.nan)
                predicted = np.where(predicted > 0, predicted, np.nan)
                ax.semilogy(t, measured, label="measured")
                ax.semilogy(t, predicted, "--", label="linear prediction")
                both = np.concatenate([measured, predicted])
                if np.isfinite(both).any():
                    lo, hi = np.nanmin(both), np.nanmax(both)
                    ax.set_ylim(lo / 3, hi * 3)
                ax.set(xlabel="step", ylabel="unit difference",
                       title=f"matmul path, {g['dtype']}:\nafter the first rounding break")
                ax.legend()
        for name, fig in figures.items():
            save_figure(fig, name, write, f"symjax dynamics: {name}")
    return list(figures)
