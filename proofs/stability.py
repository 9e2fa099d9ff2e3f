"""Stability of the tied subspace of the 2-2-1 network on XOR: how small asymmetries grow.

For several activations: the theorem that the Hessian is block diagonal in symmetric and
antisymmetric coordinates at every tied point, with the antisymmetric block H_anti in compact
form and the coupling identity (w5 H_anti[i,4] = dJ/dp_i, H_anti[4,4] = 0); the Fukumizu-Amari
theorem that a tied network is a 2-1-1 network with its hidden unit duplicated. Then, at a few
tied points, the per-step growth factor rho(I - eta H_anti), checked against the training map
itself: one gradient-descent step in 60-digit mpmath from tied + eps d must move the asymmetry to
eps (I - eta H_anti) d. Last, a 50-step tied trajectory: the product of the linear maps must
predict the asymmetry measured by 50 mpmath steps from a perturbed start.

Then numerically (JAX, float64, 128 seeds, :mod:`symjax.dynamics`): the Jacobian of the GD map on
the antisymmetric subspace (jax.jacfwd) equals the symbolic I - eta H_anti and central finite
differences, and the product of those Jacobians along each tied trajectory predicts the unit
difference measured from tied + eps starts, and the step at which it passes 0.1.

Exits 0 only when every theorem is proven, the growth factor exceeds 1 wherever the tied gradient
in (w1, w2, b1) is not zero (as the coupling lemma implies), the one-step check agrees to 1e-20
and the 50-step prediction to 1e-6 (relative).

Usage: ``python proofs/stability.py [--latex DIR]``
"""

from __future__ import annotations

import sys
from fractions import Fraction

import mpmath
import numpy as np

from symjax.symbolic import (
    ProofScript,
    antisymmetric_hessian_at,
    describe_compact_form,
    gd_step,
    growth_factor,
    join_pairs,
    predict_asymmetry,
    prove_block_diagonal,
    prove_duplication,
    split_pairs,
    stability_model,
    tied_point,
    tied_trajectory,
)

#: (hidden activation, output activation)
SETTINGS = [
    ("sigmoid", "sigmoid"), ("tanh", "sigmoid"), ("tanh", "identity"), ("relu", "identity"),
]
#: Tied points of XOR (w1=w3, w2=w4, b1=b2, w5=w6).
POINTS = {
    "default": {"w1": "1/2", "w2": "-1/3", "b1": "1/4", "w5": "1", "b3": "0"},
    "small": {"w1": "1/10", "w2": "-1/10", "b1": "1/20", "w5": "1/10", "b3": "0"},
    "large": {"w1": "2", "w2": "3/2", "b1": "-1", "w5": "-3/2", "b3": "1/2"},
}
LR = "1/2"
#: Direction of the test asymmetry ((w1-w3)/2, (w2-w4)/2, (b1-b2)/2, (w5-w6)/2).
DIRECTION = ("1/3", "-1/2", "1/5", "2/7")
ONE_STEP_TOL = mpmath.mpf("1e-20")
TRAJECTORY_STEPS = 50
TRAJECTORY_TOL = 1e-6


def _mp(value) -> mpmath.mpf:
    """An exact rational (string or SymPy Rational) at the working mpmath precision."""
    f = Fraction(str(value))
    return mpmath.mpf(f.numerator) / f.denominator


def one_step_error(model, point, lr: str, *, eps: str = "1e-15", dps: int = 60) -> mpmath.mpf:
    """max_i |d'_i / eps - ((I - eta H_anti) d)_i| after one mpmath GD step from tied + eps d."""
    with mpmath.workdps(dps):
        d = np.array([_mp(v) for v in DIRECTION], dtype=object)
        s = np.array([_mp(v) for v in tied_point(point).values()], dtype=object)
        step = gd_step(model, join_pairs(s, _mp(eps) * d), lr, dps=dps)
        _, d_next = split_pairs(np.array(step, dtype=object))
        h = antisymmetric_hessian_at(model, point, dps=dps)
        predicted = (mpmath.eye(4) - _mp(lr) * h) * mpmath.matrix(list(d))
        return max(abs(d_next[i] / _mp(eps) - predicted[i]) for i in range(4))


def trajectory_error(model, point, lr: str, *, eps: str = "1e-12") -> tuple[float, float]:
    """Relative error of the linear prediction after TRAJECTORY_STEPS steps, and the growth."""
    d0 = np.array([float(Fraction(v)) for v in DIRECTION])
    path = tied_trajectory(model, point, float(Fraction(lr)), TRAJECTORY_STEPS)
    predicted = predict_asymmetry(model, path[:-1], d0, float(Fraction(lr)))
    with mpmath.workdps(40):
        s = np.array([_mp(v) for v in tied_point(point).values()], dtype=object)
        d = np.array([_mp(v) * _mp(eps) for v in DIRECTION], dtype=object)
        theta = list(join_pairs(s, d))
        for _ in range(TRAJECTORY_STEPS):
            theta = gd_step(model, theta, lr, dps=40)
        _, d = split_pairs(np.array(theta, dtype=object))
        measured = np.array([float(x / _mp(eps)) for x in d])
    error = np.max(np.abs(measured - predicted.d[-1])) / np.max(np.abs(predicted.d[-1]))
    return float(error), float(predicted.norms[-1] / predicted.norms[0])


def numeric_checks(seeds: int = 128, steps: int = 200) -> list[tuple[str, bool]]:
    """The JAX Jacobian of the GD map on the antisymmetric subspace against the symbolic
    I - eta H_anti and finite differences; the measured growth against its product along tied
    trajectories; break step against ln(1/eps)."""
    from symjax import dynamics

    r = dynamics.measure_stability(seeds=seeds, steps=steps, eps=(1e-10, 1e-8, 1e-6, 1e-4, 1e-2))
    sym = r["jacobian"]["symbolic"]
    fd = r["jacobian"]["finite_difference_relative_error"]["max"]
    print(f"{seeds} seeds x {steps} steps, GD lr {r['config']['lr']} on XOR")
    for p in sym["points"]:
        print(f"  tied point {', '.join(f'{k}={v:.4g}' for k, v in p['point'].items())}: "
              f"rho jacfwd {p['rho_jax']:.12f}, rho symbolic {p['rho_symbolic']:.12f}, "
              f"max |M - (I - eta H_anti)| {p['max_abs_diff']:.1e}")
    print(f"  jacfwd against central finite differences of the GD map: max rel {fd:.1e}")
    print("  eps     |measured/predicted - 1| median   seeds broken   break step measured "
          "(linear prediction)")
    for g, b in zip(r["growth"], r["breaks"]["rows"]):
        med = g["relative_error"]["median"]
        print(f"  {g['eps']:<7.0e} {'-' if med is None else f'{med:.2e}':>12}"
              f"{b['broken_fraction']:>19.1%}   {b['break_step_median'] or '-'} "
              f"({b['predicted_break_step_median'] or '-'})")
    small = [g["relative_error"]["median"] for g in r["growth"] if g["eps"] <= 1e-4]
    return [
        ("numeric: jacfwd = I - eta H_anti (symbolic)", sym["agree"]),
        ("numeric: jacfwd = finite differences", fd <= dynamics.JACOBIAN_TOL),
        ("numeric: tied trajectories stay exactly tied", r["tied_trajectory_max_asymmetry"] == 0),
        ("numeric: measured growth = linear prediction",
         all(m is not None and m <= dynamics.GROWTH_TOL for m in small)),
    ]


def main(argv=None) -> int:
    script = ProofScript(__doc__, argv, latex_help="write one .tex fragment per theorem into DIR")

    for activation, output in SETTINGS:
        model = stability_model(activation, output)
        name = f"{activation}_{output}"
        script.section(f"Hidden {activation}, output {output}")
        print(describe_compact_form(model) + "\n")
        for kind, theorem in (("block", prove_block_diagonal(model)),
                              ("duplication", prove_duplication(model))):
            print(theorem.render() + "\n")
            script.check(f"{name}: {kind} theorem proven", theorem.proven)
            script.fragment(f"stability_{name}_{kind}.tex", theorem.to_latex())

        print(f"Growth factors rho(I - eta H_anti), eta = {LR}:")
        for label, point in POINTS.items():
            growth = growth_factor(model, point, LR)
            moving = max(abs(g) for g in growth.tied_gradient[:3]) > 1e-12
            error = one_step_error(model, point, LR)
            print(
                f"  {label:<8} rho = {growth.factor:.10f}  eigenvalues "
                f"[{', '.join(f'{v:+.3e}' for v in growth.eigenvalues)}]  "
                f"tied grad (w1,w2,b1) != 0: {moving}  one-step check error "
                f"{mpmath.nstr(error, 3)}"
            )
            if moving:
                script.check(f"{name} {label}: rho > 1", growth.grows)
            script.check(f"{name} {label}: one-step check", error < ONE_STEP_TOL)

    script.section(f"{TRAJECTORY_STEPS}-step trajectory (sigmoid, sigmoid), from the default point")
    model = stability_model("sigmoid", "sigmoid")
    error, growth = trajectory_error(model, POINTS["default"], LR)
    print(f"predicted |d_T| / |d_0| = {growth:.10f}; relative error against {TRAJECTORY_STEPS} "
          f"mpmath GD steps from tied + 1e-12 d: {error:.2e}")
    script.check("trajectory prediction", error < TRAJECTORY_TOL)

    script.section("Numerically (JAX, float64): tied + eps over many seeds, tanh hidden, "
                   "sigmoid output")
    for label, ok in numeric_checks():
        script.check(label, ok)
    return script.finish()


if __name__ == "__main__":
    sys.exit(main())
