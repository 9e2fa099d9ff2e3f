"""Figures of ``symjax dynamics`` (PDF and PNG; needs matplotlib), drawn from the results dict.

Same conventions as :mod:`symjax._plots`: no pyplot, the local :data:`symjax._plots.STYLE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._plots import DPI, STYLE, WIDTH


def write_dynamics_figures(results: dict[str, Any], out: Path) -> list[str]:
    """Draw the figures the results allow into ``out``; returns their names.

    ``laws``: measured against predicted per-step change of Q (GD, momentum, Adam, weight decay)
    and the total change against eta. ``stability``: measured against predicted unit difference
    along trajectories, and break step against ln(1/eps). ``rounding``: the growth of the first
    rounding difference against the linear prediction.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    out.mkdir(parents=True, exist_ok=True)
    names = []
    with rc_context(STYLE):
        if "laws" in results:
            r = results["laws"]
            fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
            ax, bx = fig.subplots(1, 2)
            for name, e in r["optimizers"].items():
                p = np.asarray(e["sample"]["predicted"])
                m = np.asarray(e["sample"]["measured"])
                ax.scatter(np.abs(p), np.abs(m), s=4, label=name, alpha=0.6)
            lo, hi = ax.get_xlim()
            ax.set(xscale="log", yscale="log", xlabel="|predicted change of Q| per step",
                   ylabel="|measured change of Q|",
                   title="ReLU law: eta^2(|g_in|^2 - g_out^2)")
            ax.plot([1e-12, 1e2], [1e-12, 1e2], color="k", lw=0.6, ls="--", label="equal")
            ax.legend(loc="upper left")
            rows = r["small_step"]["rows"]
            eta = np.array([x["lr"] for x in rows])
            drift = np.array([x["drift"]["median"] for x in rows])
            bx.loglog(eta, drift, "o-", label="measured (median over seeds)")
            bx.loglog(eta, drift[-1] * eta / eta[-1], "k--", lw=0.8, label="slope 1")
            bx.set(xlabel="learning rate eta", ylabel="|Q(T) - Q(0)| / |theta(0)|^2",
                   title=f"GD, fixed horizon eta T = {r['config']['horizon']}")
            bx.legend()
            names.append(_save(fig, out / "laws_change"))
        if "stability" in results:
            r = results["stability"]
            c = r["curves"]
            steps = np.asarray(c["steps"])
            meas = np.asarray(c["measured"])  # (seeds, records, eps)
            pred = np.asarray(c["predicted_unit"])  # (seeds, records)
            eps = np.asarray(r["config"]["eps"])
            fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
            ax, bx = fig.subplots(1, 2)
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
            names.append(_save(fig, out / "stability_growth"))
        if "rounding" in results:
            r = results["rounding"]
            fig = Figure(figsize=(WIDTH, 2.8), layout="constrained")
            axes = fig.subplots(1, len(r["growth"]), squeeze=False)[0]
            for ax, g in zip(axes, r["growth"]):
                ex = g["example"]
                if ex is None:
                    continue
                t = ex["first_break"] + np.arange(len(ex["predicted"]))
                ax.semilogy(t, np.maximum(ex["measured"][:len(t)], 1e-300), label="measured")
                ax.semilogy(t, ex["predicted"], "--", label="linear prediction")
                ax.set(xlabel="step", ylabel="unit difference",
                       title=f"matmul path, {g['dtype']}:\nafter the first rounding break")
                ax.legend()
            names.append(_save(fig, out / "rounding_growth"))
    return names


def _save(fig, stem: Path) -> str:
    from . import __version__

    from ._store import atomic_open

    # atomically, into a new file: a link in the directory is replaced, never followed
    with atomic_open(stem.with_suffix(".png")) as f:
        fig.savefig(f, format="png", dpi=DPI,
                    metadata={"Title": f"symjax dynamics: {stem.name}",
                              "Software": f"symjax {__version__}"})
    with atomic_open(stem.with_suffix(".pdf")) as f:
        fig.savefig(f, format="pdf",
                    metadata={"Title": f"symjax dynamics: {stem.name}",
                              "Creator": f"symjax {__version__}", "CreationDate": None})
    return stem.name
