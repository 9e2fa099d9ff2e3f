"""The numeric half of "beyond the tie": conservation laws, stability, rounding, measured.

Three measurements, each a pure function that returns a plain dict (JSON-ready: floats, ints,
strings, lists) of measured values next to the values a theory predicts. Nothing here decides a
verdict by fiat: every ``ok``/``verdict`` entry is computed from the measured numbers against a
tolerance that is part of the returned dict.

**Conservation laws** (:func:`measure_laws`). A 2-h-1 network ``f(x) = sum_j v_j sigma(w_j . x +
b_j) + c`` (identity output, squared error ``mean (f - y)^2 / 2``), one random regression data set
per seed. For a ReLU unit ``j`` (positively homogeneous: ``z relu'(z) = relu(z)``, also at 0 with
``relu'(0) = 0``) Euler's identity gives ``<(w_j, b_j), g_in> = v_j g_out`` for the loss gradients
``g_in = dJ/d(w_j, b_j)`` and ``g_out = dJ/dv_j``. Hence for

    Q_j = |w_j|^2 + b_j^2 - v_j^2

one gradient-descent step ``theta -> theta - eta g`` changes ``Q_j`` by exactly

    Q_j' - Q_j = eta^2 (|g_in|^2 - g_out^2)            (Kunin et al., ICLR 2021)

(the first-order terms cancel), so ``Q_j`` is conserved by gradient flow and its total change
over a fixed time ``eta T`` is ``O(eta)``. With weight decay (``theta -> (1 - eta lambda) theta -
eta g``, optax ``add_decayed_weights`` then ``sgd``) the same algebra gives

    Q_j' = (1 - eta lambda)^2 Q_j + eta^2 (|g_in|^2 - g_out^2),

decay by ``(1 - eta lambda)^2`` per step (``exp(-2 lambda t)`` in the flow limit). Momentum and
Adam have no such identity: their first-order term does not cancel, and ``Q_j`` drifts. The
measured change of every ``Q_j`` at every step is compared with the prediction; the error is
reported in units of the rounding of ``Q`` (machine epsilon times ``|theta_j|^2`` before and
after the step), so float64 agreement reads as a small number whatever the size of ``Q``.

**Stability of the tied subspace** (:func:`measure_stability`). The 2-2-1 network of
:mod:`symjax.symbolic._stability` (loss ``mean (yhat - y)^2 / 2`` on XOR) trained by GD. Write
``d = ((w1-w3), (w2-w4), (b1-b2), (w5-w6)) / 2`` (the asymmetry; the unit difference is
``|theta_unit1 - theta_unit2| = 2 |d|``). Each seed draws a tied point and a unit direction
``u``; the tied trajectory ``theta_t`` is run with ``d = 0`` and, for every ``eps``, a perturbed
trajectory from ``d_0 = eps u``. The prediction is linear: ``d_t = M_{t-1} ... M_0 eps u`` with
``M_t = d d_{t+1} / d d_t`` at ``theta_t``, the Jacobian of the GD map restricted to the
antisymmetric subspace, computed with ``jax.jacfwd`` (it equals ``I - eta H_anti``; the symmetric
part does not feed into ``d`` at first order because the Hessian is block diagonal at tied points,
see :func:`symjax.symbolic._stability.prove_block_diagonal`). It is checked against the symbolic
``I - eta H_anti`` (:func:`cross_check_symbolic`), against central finite differences of the GD
map, and against the measured ``d_t``. The step at which the symmetry visibly breaks (unit
difference above ``threshold``) is measured against ``ln(1/eps)``: in the linear regime it is
``t(eps) ~ (ln(1/eps) + ln(threshold / 2 |P_t|)) / ln(rho)``, a line with slope ``1 / ln(rho)``.

**Rounding as a symmetry breaker** (:func:`measure_rounding`). Runs :func:`symjax.verify` with the
``tied`` init on the ``matmul`` path (float32 and float64) and on the ``exact`` path (which must
never break), counts the seeds whose ties break by rounding alone and when, and compares the
growth of the first ULP-level difference with the linear prediction of the stability analysis
along the run's own (nearly tied) trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base.errors import InputError, choose
from ..results.config import MAX_SEEDS, MAX_STEPS
from ..results.summary import median, seed_first_break

#: Parts of :func:`measure` (and of ``symjax dynamics --part``).
PARTS = ("laws", "stability", "rounding")
#: Optimizers of the conservation-law measurement.
LAW_OPTIMIZERS = ("gd", "momentum", "adam", "weight_decay")
#: Predictions the law checker can be asked to test (``exact`` is the theorem; the others are
#: deliberately wrong, for negative controls): ``exact``: ``eta^2 (|g_in|^2 - g_out^2)`` (with
#: the ``(1 - eta lambda)^2`` decay under weight decay); ``eta``: ``eta`` instead of ``eta^2``;
#: ``conserved``: no change at all (the gradient-flow law taken literally for a finite step).
LAW_PREDICTIONS = ("exact", "eta", "conserved")
#: Activations of the law measurement (relu has the law; the others are controls).
LAW_ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
#: A law is reported as holding when the largest per-step error is at most this many units of
#: the rounding of Q (machine epsilon x (|theta_j|^2 before + after)).
LAW_TOL_ROUNDING = 16.0
#: Optimizers that drift count as "drifting" when their total change of Q is this many times
#: that of GD at the same learning rate.
DRIFT_RATIO = 10.0
#: Activations of the stability measurement (hidden; output is sigmoid or identity).
STABILITY_ACTIVATIONS = ("tanh", "sigmoid")
OUTPUT_ACTIVATIONS = ("sigmoid", "identity")
#: Default eps grid of the stability measurement.
DEFAULT_EPS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)
#: Relative tolerance of the Jacobian against the symbolic I - eta H_anti and finite differences.
JACOBIAN_TOL = 1e-8
#: The measured unit difference must match the linear prediction to this relative error (median
#: over seeds and steps of the linear regime, for every eps <= 1e-4).
GROWTH_TOL = 1e-3
DTYPES = ("float32", "float64")

# Shared 2-2-1 order [w1..w6, b1, b2, b3]; pairs (unit 1, unit 2) as in _stability.PAIRS.
_P = (0, 1, 6, 4)  # w1, w2, b1, w5
_Q = (2, 3, 7, 5)  # w3, w4, b2, w6


# -- helpers ---------------------------------------------------------------------------------
def _positive_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None,
                  why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum}{why}, got {value}")
    return int(value)


def _positive_float(name: str, value: Any, *, zero: bool = False) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not math.isfinite(out) or out < 0 or (out == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise InputError(f"{name} must be a finite number {bound}, got {value!r}")
    return out


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    """median, 99th percentile and max of the finite entries (``None`` when there are none)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": None, "p99": None, "max": None}
    return {"median": float(np.median(v)), "p99": float(np.quantile(v, 0.99)),
            "max": float(v.max())}


def _fit_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """Least-squares slope of ``y`` on ``x`` (``None`` with fewer than two distinct x)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    return float(np.polyfit(x, y, 1)[0])


# == conservation laws ========================================================================
def _law_optimizer(name: str, lr: float, weight_decay: float):
    import optax

    if name == "gd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=0.9)
    if name == "adam":
        return optax.adam(lr)
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr))


def law_trajectories(
    *, activation: str = "relu", optimizer: str = "gd", lr: float = 0.05, hidden: int = 2,
    seeds: int = 1000, steps: int = 200, samples: int = 8, weight_decay: float = 0.0,
    dtype: str = "float64", first_seed: int = 0,
) -> dict[str, np.ndarray]:
    """Train 2-h-1 networks (``h = hidden``) and record the per-unit quantities of the law at
    every step.

    Each seed has its own data set (``samples`` points ``x ~ N(0, I)``, ``y ~ N(0, 1)``) and init
    (``w, b ~ N(0, 1/2)``, ``v ~ N(0, 1/h)``, ``c = 0``). ``activation`` is one of
    :data:`LAW_ACTIVATIONS`, ``optimizer`` one of :data:`LAW_OPTIMIZERS` (``weight_decay``: decay
    by ``lambda = weight_decay``, then GD), ``lr`` is ``eta``.

    Returns:
      NumPy arrays: ``Q`` (seeds, steps+1, h); ``G`` (seeds, steps, h): ``|g_in|^2 - g_out^2``
      of the loss gradient at step t; ``scale`` (seeds, steps+1, h): ``|theta_j|^2 = |w_j|^2 +
      b_j^2 + v_j^2``; ``loss`` (seeds, steps+1).
    """
    activation = choose("law activation", activation, LAW_ACTIVATIONS)
    optimizer = choose("law optimizer", optimizer, LAW_OPTIMIZERS)
    dtype = choose("dtype", dtype, DTYPES)
    lr = _positive_float("lr", lr)
    weight_decay = _positive_float("weight_decay", weight_decay, zero=True)
    hidden, seeds = _positive_int("hidden", hidden), _positive_int("seeds", seeds)
    steps, samples = _positive_int("steps", steps), _positive_int("samples", samples)
    first_seed = _positive_int("first_seed", first_seed, 0)

    import jax
    import jax.numpy as jnp

    from ..numeric.inits import pinned_numerics, seed_key
    from ..numeric.net import activation as activation_fn

    sigma = activation_fn(activation)
    opt = _law_optimizer(optimizer, lr, weight_decay)

    def loss_fn(params, x, y):
        z = x @ params["w"].T + params["b"][None, :]
        return 0.5 * jnp.mean((sigma(z) @ params["v"] + params["c"] - y) ** 2)

    def unit_terms(params, grads):
        q = jnp.sum(params["w"] ** 2, axis=1) + params["b"] ** 2 - params["v"] ** 2
        scale = jnp.sum(params["w"] ** 2, axis=1) + params["b"] ** 2 + params["v"] ** 2
        g = jnp.sum(grads["w"] ** 2, axis=1) + grads["b"] ** 2 - grads["v"] ** 2
        return q, scale, g

    def one_seed(seed):
        key = seed_key(seed)
        kx, ky, kw, kb, kv = (jax.random.fold_in(key, 100 + i) for i in range(5))
        dt = jnp.dtype(dtype)
        x = jax.random.normal(kx, (samples, 2), dt)
        y = jax.random.normal(ky, (samples,), dt)
        params = {
            "w": jax.random.normal(kw, (hidden, 2), dt) * np.sqrt(0.5).astype(dtype),
            "b": jax.random.normal(kb, (hidden,), dt) * np.sqrt(0.5).astype(dtype),
            "v": jax.random.normal(kv, (hidden,), dt) * np.asarray(1 / np.sqrt(hidden), dtype),
            "c": jnp.zeros((), dt),
        }
        state = opt.init(params)

        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            q, scale, g = unit_terms(params, grads)
            updates, state = opt.update(grads, state, params)
            params = jax.tree_util.tree_map(lambda p, u: p + u, params, updates)
            return (params, state), (q, scale, g, loss)

        (last, _), (q, scale, g, loss) = jax.lax.scan(step, (params, state), None, length=steps)
        q_end, scale_end, _ = unit_terms(last, last)
        loss_end = loss_fn(last, x, y)
        return (jnp.concatenate([q, q_end[None]]), jnp.concatenate([scale, scale_end[None]]), g,
                jnp.concatenate([loss, loss_end[None]]))

    with pinned_numerics(dtype):
        numbers = jnp.arange(first_seed, first_seed + seeds, dtype=jnp.uint32)
        q, scale, g, loss = jax.jit(jax.vmap(one_seed))(numbers)
        return {"Q": np.asarray(q), "G": np.asarray(g), "scale": np.asarray(scale),
                "loss": np.asarray(loss)}


def check_law(
    traj: dict[str, np.ndarray], *, lr: float, weight_decay: float = 0.0,
    prediction: str = "exact", dtype: str = "float64", tol: float = LAW_TOL_ROUNDING,
) -> dict[str, Any]:
    """Compare the measured per-step change of every ``Q_j`` in ``traj`` (from
    :func:`law_trajectories`, run with ``eta = lr``, ``lambda = weight_decay`` and ``dtype``,
    which sets the rounding unit) with a prediction of :data:`LAW_PREDICTIONS`; it holds when the
    largest error is at most ``tol`` rounding units.

    Returns:
      ``{"prediction", "formula", "error_rounding_units": {median, p99, max}, "relative_error":
      {median, p99, max}, "holds", "tol"}``. The relative error is taken where the predicted
      change is at least 1e3 rounding units (elsewhere it is rounding-dominated).
    """
    prediction = choose("law prediction", prediction, LAW_PREDICTIONS)
    eps = float(np.finfo(choose("dtype", dtype, DTYPES)).eps)
    q, g, scale = (traj[k].astype(np.float64) for k in ("Q", "G", "scale"))
    predicted_change, measured_change = _law_changes(q, g, lr, weight_decay,
                                                     1 if prediction == "eta" else 2)
    if prediction == "exact":
        formula = ("Q' - Q = ((1 - eta lambda)^2 - 1) Q + eta^2 (|g_in|^2 - g_out^2)"
                   if weight_decay else "Q' - Q = eta^2 (|g_in|^2 - g_out^2)")
    elif prediction == "eta":
        formula = "Q' - Q = eta (|g_in|^2 - g_out^2)  (wrong power, a control)"
    else:
        predicted_change = np.zeros_like(g)
        formula = "Q' - Q = 0  (the gradient-flow law for a finite step, a control)"
    unit = eps * (scale[:, :-1] + scale[:, 1:])
    error = np.abs(measured_change - predicted_change)
    in_units = error / unit
    big = np.abs(predicted_change) >= 1e3 * unit
    rel = np.where(big, error / np.where(big, np.abs(predicted_change), 1.0), np.nan)
    worst = float(np.nanmax(in_units)) if np.isfinite(in_units).any() else float("inf")
    return {
        "prediction": prediction,
        "formula": formula,
        "error_rounding_units": _quantiles(in_units),
        "relative_error": _quantiles(rel),
        "holds": bool(np.isfinite(in_units).all() and worst <= tol),
        "tol": tol,
    }


def law_drift(traj: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Total change of Q over the run: per seed ``max_j |Q_j(T) - Q_j(0)| / |theta_j(0)|^2``,
    summarised over seeds (median, p99, max)."""
    q, scale = traj["Q"].astype(np.float64), traj["scale"].astype(np.float64)
    per_seed = np.max(np.abs(q[:, -1] - q[:, 0]) / scale[:, 0], axis=1)
    return _quantiles(per_seed)


def _law_changes(q: np.ndarray, g: np.ndarray, lr: float, weight_decay: float, power: int = 2
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted, measured)`` per-step changes of ``Q`` (float64 ``Q``, ``G`` as
    :func:`law_trajectories` returns them): ``((1 - eta lambda)^2 - 1) Q + eta^power G`` and
    ``Q_{t+1} - Q_t``."""
    predicted = ((1.0 - lr * weight_decay) ** 2 - 1.0) * q[:, :-1] + lr**power * g
    return predicted, q[:, 1:] - q[:, :-1]


def _law_sample(traj: dict[str, np.ndarray], lr: float, weight_decay: float,
                size: int = 400) -> dict[str, list[float]]:
    """Up to ``size`` (predicted, measured) per-step changes of Q (first unit, first seeds), for
    figures."""
    predicted, measured = _law_changes(traj["Q"][..., 0].astype(np.float64),
                                       traj["G"][..., 0].astype(np.float64), lr, weight_decay)
    stride = max(1, predicted.size // size)
    return {"predicted": predicted.ravel()[::stride][:size].tolist(),
            "measured": measured.ravel()[::stride][:size].tolist()}


def measure_laws(
    *, seeds: int = 1000, steps: int = 200, lr: float = 0.05, weight_decay: float = 0.1,
    hidden: int = 2, dtype: str = "float64", small_step_lrs: Sequence[float] = (
        0.2, 0.1, 0.05, 0.025, 0.0125),
    horizon: float = 2.0, control_activation: str = "tanh",
) -> dict[str, Any]:
    """Conservation law of ReLU units, measured: GD, momentum, Adam, weight decay, small steps.

    Returns:
      A dict: ``config``; ``optimizers``: per optimizer the exact-law check
      (:func:`check_law`), the total drift (:func:`law_drift`) and its ratio to GD's,
      ``verdict`` (``"law holds"`` when the check holds, ``"drifts"`` when the drift is at least
      :data:`DRIFT_RATIO` x GD's, else ``"neither"``) and, for weight decay, the measured and
      predicted per-step decay factor; ``controls``: the wrong predictions (``eta``,
      ``conserved``) under GD and the law under ``control_activation`` (each must not hold);
      ``small_step``: for each eta, ``T = horizon / eta`` GD steps and the median total change
      of Q, with the fitted log-log slope (1 predicted); ``ok``: every check came out as the
      theory says.
    """
    common = {"seeds": seeds, "steps": steps, "lr": lr, "hidden": hidden, "dtype": dtype}
    out: dict[str, Any] = {"config": {**common, "weight_decay": weight_decay,
                                      "network": f"2-{hidden}-1 relu, identity output",
                                      "loss": "mean (f - y)^2 / 2", "samples": 8,
                                      "horizon": horizon,
                                      "small_step_lrs": list(small_step_lrs),
                                      "control_activation": control_activation},
                           "optimizers": {}}
    gd_drift = None
    for name in LAW_OPTIMIZERS:
        wd = weight_decay if name == "weight_decay" else 0.0
        traj = law_trajectories(optimizer=name, weight_decay=wd, **common)
        check = check_law(traj, lr=lr, weight_decay=wd, dtype=dtype)
        drift = law_drift(traj)
        if name == "gd":
            gd_drift = drift["median"]
        ratio = (drift["median"] / gd_drift if gd_drift and drift["median"] is not None
                 else None)
        entry: dict[str, Any] = {"check": check, "drift": drift, "drift_ratio_to_gd": ratio,
                                 "final_loss_median": float(np.median(traj["loss"][:, -1])),
                                 "sample": _law_sample(traj, lr, wd)}
        entry["verdict"] = ("law holds" if check["holds"] else
                            "drifts" if ratio is not None and ratio >= DRIFT_RATIO else "neither")
        if name == "weight_decay":
            q, g = traj["Q"].astype(np.float64), traj["G"].astype(np.float64)
            # Q_{t+1} - eta^2 G_t = factor * Q_t: the decay factor, measured per step
            ok = np.abs(q[:, :-1]) > 1e-3
            factor = (q[:, 1:] - lr**2 * g)[ok] / q[:, :-1][ok]
            entry["decay_factor_measured"] = _quantiles(np.abs(factor - (1 - lr * wd) ** 2))
            entry["decay_factor_measured"]["median_value"] = float(np.median(factor))
            entry["decay_factor_predicted"] = (1 - lr * wd) ** 2
        out["optimizers"][name] = entry

    gd = law_trajectories(optimizer="gd", **common)
    control = law_trajectories(optimizer="gd", activation=control_activation, **common)
    out["controls"] = {
        "gd_prediction_eta": check_law(gd, lr=lr, prediction="eta", dtype=dtype),
        "gd_prediction_conserved": check_law(gd, lr=lr, prediction="conserved", dtype=dtype),
        f"{control_activation}_exact_law": check_law(control, lr=lr, dtype=dtype),
    }
    rows = []
    for eta in small_step_lrs:
        t = max(1, round(horizon / eta))
        traj = law_trajectories(optimizer="gd", lr=eta, steps=t, seeds=seeds, hidden=hidden,
                                dtype=dtype)
        rows.append({"lr": float(eta), "steps": t, "drift": law_drift(traj)})
    slope = _fit_slope(np.log([r["lr"] for r in rows]),
                       np.log([r["drift"]["median"] for r in rows]))
    out["small_step"] = {"rows": rows, "loglog_slope": slope, "predicted_slope": 1.0}
    opts = out["optimizers"]
    out["ok"] = bool(
        opts["gd"]["check"]["holds"] and opts["weight_decay"]["check"]["holds"]
        and opts["momentum"]["verdict"] == "drifts" and opts["adam"]["verdict"] == "drifts"
        and not any(c["holds"] for c in out["controls"].values())
        and slope is not None and abs(slope - 1.0) < 0.25
    )
    return out


# == stability of the tied subspace ===========================================================
def xor_network(activation: str = "tanh", output_activation: str = "sigmoid"):
    """``(net, x, y)``: the engine's 2-2-1 network (squared error, mean) and the XOR data set of
    ``symjax verify`` (``--dataset xor``), the model of :mod:`symjax.symbolic._stability`."""
    from ..numeric.datasets import make_dataset
    from ..numeric.net import Net

    choose("hidden activation", activation, STABILITY_ACTIVATIONS)
    choose("output activation", output_activation, OUTPUT_ACTIVATIONS)
    data = make_dataset("xor", (2, 2, 1))
    return Net((2, 2, 1), activation, output_activation, "squared_error", "mean"), data.x, data.y


def xor_loss(activation: str = "tanh", output_activation: str = "sigmoid"):
    """``theta -> J(theta)`` for one parameter vector ``[w1..w6, b1, b2, b3]`` (JAX): the
    engine's exact-path loss on XOR, the function the bridge checks against SymPy."""
    import jax.numpy as jnp

    from ..numeric.net import scalar_loss, to_leaves

    net, x, y = xor_network(activation, output_activation)

    def loss(theta):
        return scalar_loss(net, to_leaves(theta), jnp.asarray(x, theta.dtype),
                           jnp.asarray(y, theta.dtype))

    return loss


def gd_map(activation: str = "tanh", output_activation: str = "sigmoid", lr: float = 2.0):
    """The gradient-descent map ``theta -> theta - eta grad J(theta)`` of 2-2-1 on XOR (JAX),
    with ``J`` the loss of :func:`xor_loss`."""
    import jax

    grad = jax.grad(xor_loss(activation, output_activation))

    def step(theta):
        return theta - lr * grad(theta)

    return step


def split(theta):
    """``(s, d)`` of parameter vectors (..., 9): the symmetric part (..., 5) ``(p+q)/2`` and
    ``b3``, and the asymmetry (..., 4) ``(p-q)/2`` (JAX or NumPy)."""
    p, q = theta[..., np.array(_P)], theta[..., np.array(_Q)]
    return (np.concatenate if isinstance(theta, np.ndarray) else _jnp().concatenate)(
        [(p + q) / 2, theta[..., 8:9]], axis=-1), (p - q) / 2


def join(s, d):
    """Inverse of :func:`split` for one vector (JAX): ``p = s + d``, ``q = s - d``."""
    jnp = _jnp()
    return jnp.stack([s[0] + d[0], s[1] + d[1], s[0] - d[0], s[1] - d[1], s[3] + d[3],
                      s[3] - d[3], s[2] + d[2], s[2] - d[2], s[4] + 0 * d[0]])


def _jnp():
    import jax.numpy as jnp

    return jnp


def _anti_map(step, theta):
    """``(F, d)``: ``F = d -> split(step(join(s, d)))[1]``, the map ``step`` on the asymmetry at
    the symmetric part ``s`` of ``theta``, and the asymmetry ``d`` of ``theta``."""
    s, d = split(theta)
    return (lambda dd: split(step(join(s, dd)))[1]), d


def anti_jacobian(step, theta):
    """``M = d d' / d d`` (4x4) of the map ``step`` at ``theta`` along the antisymmetric
    subspace (``jax.jacfwd`` of :func:`_anti_map`'s ``F`` at ``d``)."""
    import jax

    f, d = _anti_map(step, theta)
    return jax.jacfwd(f)(d)


def _fd_anti_jacobian(step, theta, h: float):
    """Central finite differences of the same map (columns ``(F(d + h e_k) - F(d - h e_k)) /
    2h``)."""
    import jax.numpy as jnp

    f, d = _anti_map(step, theta)
    eye = jnp.eye(4, dtype=theta.dtype)
    return jnp.stack([(f(d + h * eye[k]) - f(d - h * eye[k])) / (2 * h) for k in range(4)],
                     axis=1)


def cross_check_symbolic(
    *, activation: str = "tanh", output_activation: str = "sigmoid", lr: float = 2.0,
    points: Sequence[dict[str, float]] | None = None,
) -> dict[str, Any]:
    """``jax.jacfwd`` of the GD map at tied points against the symbolic ``I - eta H_anti``.

    Args:
      points: tied points ``{w1, w2, b1, w5, b3}`` (floats; each is converted exactly to a
        rational for the symbolic side). Default: the symbolic default point and three points
        of a tied GD trajectory from it.

    Returns:
      ``{"points": [{point, rho_jax, rho_symbolic, max_abs_diff}], "max_abs_diff", "agree"}``.
    """
    from fractions import Fraction

    import jax
    import jax.numpy as jnp

    from ..numeric.inits import pinned_numerics
    from ..symbolic._stability import (
        DEFAULT_POINT,
        TIED,
        antisymmetric_hessian_at,
        growth_factor,
        stability_model,
    )

    model = stability_model(activation, output_activation)
    rows = []
    with pinned_numerics("float64"):
        step = jax.jit(gd_map(activation, output_activation, lr))
        if points is None:
            start = [float(Fraction(DEFAULT_POINT[n])) for n in TIED]
            theta = join(jnp.asarray(start, jnp.float64), jnp.zeros(4, jnp.float64))
            points = []
            for t in range(301):
                if t in (0, 10, 100, 300):
                    s = np.asarray(split(theta)[0])
                    points.append(dict(zip(TIED, s.tolist())))
                theta = step(theta)
        jac = jax.jit(lambda th: anti_jacobian(step, th))
        for point in points:
            exact = {n: str(Fraction(float(point[n]))) for n in TIED}
            s = jnp.asarray([float(point[n]) for n in TIED], jnp.float64)
            m = np.asarray(jac(join(s, jnp.zeros(4, jnp.float64))))
            h = antisymmetric_hessian_at(model, exact)
            m_sym = np.eye(4) - lr * np.array([[float(h[i, j]) for j in range(4)]
                                               for i in range(4)])
            g = growth_factor(model, exact, str(Fraction(lr)))
            rho = float(np.max(np.abs(np.linalg.eigvals(m))))
            rows.append({"point": {n: float(point[n]) for n in TIED}, "rho_jax": rho,
                         "rho_symbolic": g.factor,
                         "max_abs_diff": float(np.max(np.abs(m - m_sym)))})
    worst = max(r["max_abs_diff"] for r in rows)
    return {"activation": activation, "output_activation": output_activation, "lr": lr,
            "points": rows, "max_abs_diff": worst, "agree": bool(worst <= JACOBIAN_TOL)}


def stability_trajectories(
    *, seeds: int = 1000, steps: int = 3000, eps: Sequence[float] = DEFAULT_EPS,
    activation: str = "tanh", output_activation: str = "sigmoid", lr: float = 2.0,
    scale: float = 1.0, first_seed: int = 0, fd_h: float = 1e-5,
) -> dict[str, np.ndarray]:
    """Tied trajectories, linear predictions and perturbed trajectories (float64, vmapped).

    Each seed draws the tied point ``(w1, w2, b1, w5, b3) ~ N(0, scale^2)`` and a unit direction
    ``u`` of the asymmetry.

    Returns:
      NumPy arrays: ``measured`` (seeds, steps+1, E): the unit difference ``2 |d_t|`` of the
      trajectory from ``d_0 = eps u`` (one column per eps); ``predicted_unit`` (seeds, steps+1):
      ``2 |M_{t-1} ... M_0 u|`` (the prediction for eps is ``eps`` times it); ``rho`` (seeds,
      steps): spectral radius of ``M_t``; ``fd_error`` (seeds,): the largest relative difference
      between ``M_t`` and central finite differences of the GD map at steps 0, T/2 and T-1;
      ``tied_broken`` (seeds,): the tied trajectory's own asymmetry (exactly 0 expected);
      ``loss_tied`` (seeds,): the final loss of the tied trajectory.
    """
    seeds, steps = _positive_int("seeds", seeds), _positive_int("steps", steps)
    eps_arr = np.asarray([_positive_float("eps", e) for e in eps], np.float64)
    if eps_arr.size == 0:
        raise InputError("eps must name at least one perturbation size, got none")
    lr = _positive_float("lr", lr)

    import jax
    import jax.numpy as jnp

    from ..numeric.inits import pinned_numerics, seed_key

    step = gd_map(activation, output_activation, lr)
    check_steps = sorted({0, steps // 2, steps - 1})

    def one_seed(seed):
        key = seed_key(seed)
        s0 = scale * jax.random.normal(jax.random.fold_in(key, 200), (5,), jnp.float64)
        u = jax.random.normal(jax.random.fold_in(key, 201), (4,), jnp.float64)
        u = u / jnp.linalg.norm(u)
        tied0 = join(s0, jnp.zeros(4, jnp.float64))
        pert0 = jax.vmap(lambda e: join(s0, e * u))(jnp.asarray(eps_arr))

        def body(carry, t):
            tied, p, pert = carry
            m = anti_jacobian(step, tied)
            rho = jnp.max(jnp.abs(jnp.linalg.eigvalsh((m + m.T) / 2)))
            fd = jax.lax.cond(
                jnp.isin(t, jnp.asarray(check_steps)),
                lambda: jnp.max(jnp.abs(_fd_anti_jacobian(step, tied, fd_h) - m))
                / jnp.max(jnp.abs(m)),
                lambda: jnp.zeros((), jnp.float64),
            )
            new = (step(tied), m @ p, jax.vmap(step)(pert))
            return new, (2 * jnp.linalg.norm(split(new[2])[1], axis=-1),
                         2 * jnp.linalg.norm(new[1]), rho, fd)

        (tied, _, _), (meas, pred, rho, fd) = jax.lax.scan(
            body, (tied0, u, pert0), jnp.arange(steps))
        meas = jnp.concatenate([2 * eps_arr[None, :] * jnp.ones((1, 1)), meas])
        pred = jnp.concatenate([jnp.full((1,), 2.0), pred])
        return meas, pred, rho, jnp.max(fd), jnp.max(jnp.abs(split(tied)[1])), tied

    with pinned_numerics("float64"):
        numbers = jnp.arange(first_seed, first_seed + seeds, dtype=jnp.uint32)
        meas, pred, rho, fd, broken, last = jax.jit(jax.vmap(one_seed))(numbers)
        loss = jax.vmap(xor_loss(activation, output_activation))(last)
    return {"measured": np.asarray(meas), "predicted_unit": np.asarray(pred),
            "rho": np.asarray(rho), "fd_error": np.asarray(fd),
            "tied_broken": np.asarray(broken), "loss_tied": np.asarray(loss),
            "eps": eps_arr}


def break_steps(curves: np.ndarray, threshold: float) -> np.ndarray:
    """First index along the last-but-one axis where ``curves >= threshold``; -1 if never.

    ``curves`` has shape (..., steps+1) or (seeds, steps+1, E) -> (seeds, E).
    """
    hit = curves >= threshold
    first = np.argmax(hit, axis=-2 if curves.ndim == 3 else -1)
    return np.where(hit.any(axis=-2 if curves.ndim == 3 else -1), first, -1)


def measure_stability(
    *, seeds: int = 1000, steps: int = 3000, eps: Sequence[float] = DEFAULT_EPS,
    activation: str = "tanh", output_activation: str = "sigmoid", lr: float = 2.0,
    threshold: float = 0.1, linear_limit: float = 1e-3, record: int = 8,
) -> dict[str, Any]:
    """Growth of a small asymmetry: measured against the linear prediction, break step vs
    ``ln(1/eps)``, Jacobian cross-checks.

    Args:
      threshold: the symmetry is "visibly broken" once the unit difference reaches this.
      linear_limit: the measured/predicted comparison uses steps where the predicted unit
        difference is below this (the linear regime).
      record: how many seeds' curves to keep for figures.

    Returns:
      A dict: ``config``; ``jacobian``: finite-difference and symbolic cross-checks;
      ``growth``: per eps the relative error of the measured unit difference against the
      prediction in the linear regime (median, p99, max over seeds and steps); ``breaks``: per
      eps the fraction of seeds broken, measured and predicted median break steps and the
      fraction of seeds whose measured break step is within one step of the prediction; the
      per-seed slope of break step against ``ln(1/eps)`` (median, measured and predicted) and
      ``1 / ln(rho)`` of the median per-step spectral radius over the same steps; ``curves``:
      recorded curves for figures; ``ok``.
    """
    threshold = _positive_float("threshold", threshold)
    traj = stability_trajectories(seeds=seeds, steps=steps, eps=eps, activation=activation,
                                  output_activation=output_activation, lr=lr)
    meas, pred_unit, rho, eps_arr = (traj["measured"], traj["predicted_unit"], traj["rho"],
                                     traj["eps"])
    pred = pred_unit[:, :, None] * eps_arr[None, None, :]
    growth = []
    for k, e in enumerate(eps_arr):
        lin = pred[:, :, k] < linear_limit
        rel = np.abs(meas[:, :, k] / pred[:, :, k] - 1.0)
        growth.append({"eps": float(e), "relative_error": _quantiles(rel[lin])})
    t_meas = break_steps(meas, threshold)
    t_pred = break_steps(pred, threshold)
    # medians over the seeds broken (measured and predicted), and over those broken at every eps
    all_broken = (t_meas >= 0).all(axis=1) & (t_pred >= 0).all(axis=1)
    rows = []
    for k, e in enumerate(eps_arr):
        hit = t_meas[:, k] >= 0
        both = hit & (t_pred[:, k] >= 0)
        rows.append({
            "eps": float(e), "ln_1_over_eps": float(np.log(1 / e)),
            "broken_fraction": float(hit.mean()),
            "break_step_median": median(t_meas[hit, k]),
            "predicted_break_step_median": median(t_pred[both, k]),
            "within_one_step": float(np.mean(np.abs(t_meas[both, k] - t_pred[both, k]) <= 1))
            if both.any() else None,
            "break_step_median_common": median(t_meas[all_broken, k]),
            "predicted_break_step_median_common": median(t_pred[all_broken, k]),
        })
    x = np.log(1 / eps_arr)
    slopes_m, slopes_p, slopes_rho = [], [], []
    for i in np.flatnonzero(all_broken):
        slopes_m.append(_fit_slope(x, t_meas[i]))
        slopes_p.append(_fit_slope(x, t_pred[i]))
        lo, hi = int(t_meas[i].min()), int(t_meas[i].max())
        window = rho[i, lo:max(hi, lo + 1)]
        mean_log = float(np.mean(np.log(window)))
        slopes_rho.append(1 / mean_log if mean_log > 0 else np.inf)
    slopes = {
        "seeds_broken_at_every_eps": int(all_broken.sum()),
        "measured_median": median(slopes_m),
        "predicted_median": median(slopes_p),
        # not median(): an infinite 1/ln(rho) (rho <= 1 over the window) counts
        "one_over_ln_rho_median": float(np.median(slopes_rho)) if slopes_rho else None,
        "relative_diff_measured_vs_predicted": _quantiles(
            np.abs(np.asarray(slopes_m) / np.asarray(slopes_p) - 1)) if slopes_m else None,
    }
    symbolic = cross_check_symbolic(activation=activation,
                                    output_activation=output_activation, lr=lr)
    fd = _quantiles(traj["fd_error"])
    rec = min(record, seeds)
    stride = max(1, steps // 500)
    out = {
        "config": {"seeds": seeds, "steps": steps, "eps": eps_arr.tolist(),
                   "activation": activation, "output_activation": output_activation,
                   "lr": lr, "dtype": "float64", "dataset": "xor",
                   "loss": "mean (yhat - y)^2 / 2", "optimizer": "gd",
                   "threshold": threshold, "linear_limit": linear_limit,
                   "init": "tied point ~ N(0, 1), d_0 = eps u, u a random unit vector"},
        "jacobian": {"finite_difference_relative_error": fd, "symbolic": symbolic},
        "tied_trajectory_max_asymmetry": float(np.max(traj["tied_broken"])),
        "rho": _quantiles(rho),
        "rho_above_one_fraction": float(np.mean(rho > 1)),
        "tied_final_loss_median": float(np.median(traj["loss_tied"])),
        "growth": growth,
        "breaks": {"rows": rows, "slope": slopes},
        "curves": {"steps": list(range(0, steps + 1, stride)),
                   "measured": meas[:rec, ::stride].tolist(),
                   "predicted_unit": pred_unit[:rec, ::stride].tolist()},
    }
    small = [g for g in growth
             if g["eps"] <= 1e-4 and g["relative_error"]["median"] is not None]
    out["ok"] = bool(
        symbolic["agree"] and fd["max"] is not None and fd["max"] <= JACOBIAN_TOL
        and out["tied_trajectory_max_asymmetry"] == 0.0 and small
        and all(g["relative_error"]["median"] <= GROWTH_TOL for g in small)
    )
    return out


# == rounding as a symmetry breaker ===========================================================
def measure_rounding(
    *, seeds: int = 2000, steps: int = 1000, dtypes: Sequence[str] = DTYPES,
    widths: Sequence[str] = ("2,2,1", "2,8,1"),
    exact_widths: Sequence[str] = ("2,2,1", "2,8,1"),
    optimizers: str = "sgd,adam",
    trajectory_seeds: int = 200, trajectory_steps: int = 200,
    horizons: Sequence[int] = (5, 10, 20, 40),
) -> dict[str, Any]:
    """Tied init on the matmul path: which seeds break by rounding, when, how the difference
    grows; the exact path, which must never break.

    Args:
      exact_widths: the widths also run on the exact path (the control that never breaks).

    Returns:
      A dict: ``runs``: per widths x dtype x path x optimizer the seeds broken, the first-break
      quantiles and the largest ULP distance (from :func:`symjax.verify`); ``exact_never_breaks``;
      ``growth``: for 2-2-1 and sgd, per dtype, the measured unit difference ``k`` steps after a
      seed's first break against the linear prediction from the difference measured at that
      break (``M_t`` along the run's own trajectory): the median of ``log10(measured /
      predicted)``; ``ok``: the exact path never broke.
    """
    runs = []
    for w in widths:
        for dtype in dtypes:
            for path in ("matmul", "exact") if w in exact_widths else ("matmul",):
                res = _tied_run(widths=w, path=path, dtype=dtype, seeds=seeds, steps=steps,
                                optimizer=optimizers)
                for (_, opt), r in res.runs.items():
                    first = seed_first_break(r.first_break)
                    broken = first >= 0
                    q = (np.quantile(first[broken], [0.0, 0.5, 1.0]).tolist() if broken.any()
                         else [None, None, None])
                    runs.append({"widths": w, "dtype": dtype, "path": res.path_used,
                                 "optimizer": opt, "seeds": seeds, "steps": steps,
                                 "seeds_broken": int(broken.sum()),
                                 "first_break_min": q[0], "first_break_median": q[1],
                                 "first_break_max": q[2],
                                 "max_ulp": int(r.max_ulp.max()) if r.max_ulp.size else 0})
    exact_ok = not any(r["seeds_broken"] for r in runs if r["path"] == "exact")
    growth = [_rounding_growth(dtype, trajectory_seeds, trajectory_steps, horizons)
              for dtype in dtypes]
    return {"config": {"seeds": seeds, "steps": steps, "widths": list(widths),
                       "dtypes": list(dtypes), "exact_widths": list(exact_widths),
                       "optimizers": optimizers, "init": "tied",
                       "trajectory_seeds": trajectory_seeds,
                       "trajectory_steps": trajectory_steps, "horizons": list(horizons)},
            "runs": runs, "exact_never_breaks": exact_ok, "growth": growth, "ok": exact_ok}


def _tied_run(**options):
    """:func:`symjax.verify` of the ``tied`` init, quietly (the matmul fallback is expected)."""
    import warnings

    from .verify import SymjaxWarning, verify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymjaxWarning)
        return verify(init="tied", quiet=True, **options)


def _rounding_growth(dtype: str, seeds: int, steps: int, horizons: Sequence[int]) -> dict:
    """Unit difference after a rounding break against the linear prediction (2-2-1, sgd)."""
    import jax
    import jax.numpy as jnp

    from ..numeric.inits import pinned_numerics

    res = _tied_run(widths="2,2,1", path="matmul", dtype=dtype, seeds=seeds, steps=steps,
                    optimizer="sgd", trajectory_every=1)
    cfg = res.config
    lr = float(cfg["lr"][0])
    (run,) = res.runs.values()
    params = np.asarray(run.trajectory_params, np.float64)  # (seeds, steps+1, 9)
    _, d = split(params)
    unit = 2 * np.linalg.norm(d, axis=-1)
    with pinned_numerics("float64"):
        step = gd_map(cfg["activation"], cfg["output_activation"], lr)
        jac = jax.jit(jax.vmap(jax.vmap(lambda th: anti_jacobian(
            step, join(split(th)[0], jnp.zeros(4, th.dtype))))))
        mats = np.asarray(jac(jnp.asarray(params[:, :-1])))  # (seeds, steps, 4, 4)
    logs: dict[int, list[float]] = {k: [] for k in horizons}
    first_unit = []
    example = None
    for i in range(params.shape[0]):
        nz = np.flatnonzero(unit[i] > 0)
        if nz.size == 0:
            continue
        t0 = int(nz[0])
        first_unit.append(unit[i, t0])
        v = d[i, t0].copy()
        curve = [float(unit[i, t0])]
        for t in range(t0, min(steps, t0 + max(horizons))):
            v = mats[i, t] @ v
            curve.append(float(2 * np.linalg.norm(v)))
            k = t + 1 - t0
            if k in logs and unit[i, t + 1] > 0:
                logs[k].append(float(np.log10(unit[i, t + 1] / curve[-1])))
        if example is None:
            example = {"first_break": t0, "measured": unit[i, t0:t0 + len(curve)].tolist(),
                       "predicted": curve}
    return {
        "dtype": dtype, "widths": "2,2,1", "optimizer": "sgd", "lr": lr, "seeds": seeds,
        "steps": steps, "seeds_broken": len(first_unit),
        "first_difference": _quantiles(np.asarray(first_unit)),
        "log10_measured_over_predicted": {
            str(k): {**_quantiles(np.asarray(v)), "seeds": len(v)} for k, v in logs.items()},
        "example": example,
    }


# == everything ==============================================================================
_MEASURES = {"laws": measure_laws, "stability": measure_stability, "rounding": measure_rounding}


def estimate_memory(part: str, options: dict[str, Any]) -> int:
    """Bytes a part holds at its peak with these options, from its trajectories: laws
    ``seeds x (steps+1) x (3 hidden + 1)`` numbers, two runs at once, their host copies and
    float64 temporaries; stability ``seeds x (steps+1) x (eps + 1)`` numbers measured and
    predicted; rounding the per-seed results of :func:`symjax.verify`, 2-8-1 included.
    (Measured peaks above the 0.3 GiB of a tiny run: laws 1000 x 4000: 1.5 GiB, estimate 1.7;
    stability 300 x 6000: 0.55 GiB, estimate 0.58.)"""
    import inspect

    params = inspect.signature(_MEASURES[part]).parameters
    opt = {name: options.get(name, p.default) for name, p in params.items()}
    seeds, steps = opt["seeds"], opt["steps"]
    if part == "laws":
        return 8 * seeds * (steps + 1) * (3 * opt["hidden"] + 1) * 8
    if part == "stability":
        return 3 * seeds * (steps + 1) * (2 * len(opt["eps"]) + 2) * 8
    return seeds * len(opt["optimizers"].split(",")) * 2048


def check_options(parts: Sequence[str], options: dict[str, dict[str, Any]]) -> None:
    """Validate the counts, learning rates and eps of every part and refuse, with the
    estimate, a part that would hold more than half of the available memory: before any work.

    Raises:
      InputError: a bad value, or a run too large for this machine's memory.
    """
    from ..numeric.xla import available_memory

    for part in parts:
        choose("dynamics part", part, PARTS)
        opt = options.get(part, {})
        seeds = _positive_int("seeds", opt.get("seeds", 1), maximum=MAX_SEEDS,
                              why=" (seed numbers are uint32)")
        _positive_int("steps", opt.get("steps", 1), maximum=MAX_STEPS)
        if "lr" in opt:
            lr = _positive_float("lr", opt["lr"])
            dtype = opt.get("dtype", "float64") if part == "laws" else "float64"
            stored = float(np.asarray(lr, choose("dtype", dtype, DTYPES)))
            if stored == 0 or not math.isfinite(stored):
                raise InputError(f"lr {opt['lr']!r} {'rounds to 0' if stored == 0 else 'overflows'}"
                                 f" in {dtype}; use a value that {dtype} holds")
        if "eps" in opt:
            eps = [_positive_float("eps", e) for e in opt["eps"]]
            if not eps:
                raise InputError("eps must name at least one perturbation size, got none")
        if "activation" in opt and part == "stability":
            choose("hidden activation", opt["activation"], STABILITY_ACTIVATIONS)
        need = estimate_memory(part, opt)
        avail = available_memory()
        if avail is not None and need > avail // 2:
            raise InputError(
                f"the {part} part would hold about {need / 2**30:.1f} GiB (trajectories of "
                f"{seeds} seeds x {opt.get('steps', 'default')} steps), more than half of the "
                f"{avail / 2**30:.1f} GiB available; use fewer --seeds or --steps")


def measure(parts: Sequence[str] = PARTS, **options: Any) -> dict[str, Any]:
    """Run the named parts (each with its own keyword options: ``laws={...}``, ...).

    Raises:
      InputError: a bad option or a part too large for memory (:func:`check_options`).
    """
    check_options(parts, options)
    return {part: _MEASURES[part](**options.get(part, {})) for part in parts}


# == text =====================================================================================
def _g(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def render(results: dict[str, Any]) -> str:
    """Readable summary of :func:`measure`'s results, measured next to predicted."""
    lines: list[str] = []
    if "laws" in results:
        r = results["laws"]
        c = r["config"]
        lines += [
            f"Conservation law Q_j = |w_j|^2 + b_j^2 - v_j^2 of ReLU units ({c['network']}, "
            f"{c['seeds']} seeds x {c['steps']} steps, lr {c['lr']}, {c['dtype']})",
            "optimizer     per-step error vs eta^2(|g_in|^2-g_out^2) [rounding units]  "
            "total |dQ|/|theta|^2 median  x GD   verdict",
        ]
        for name, e in r["optimizers"].items():
            err = e["check"]["error_rounding_units"]
            lines.append(f"{name:<13} median {_g(err['median']):>9}  max {_g(err['max']):>9}"
                         f"{'':27}{_g(e['drift']['median']):>9}  {_g(e['drift_ratio_to_gd']):>6}"
                         f"   {e['verdict']}")
        wd = r["optimizers"]["weight_decay"]
        lines.append(
            f"weight decay lambda={c['weight_decay']}: per-step factor (Q' - eta^2 G) / Q median "
            f"{wd['decay_factor_measured']['median_value']:.15g}, predicted (1 - eta lambda)^2 "
            f"= {wd['decay_factor_predicted']:.15g}")
        for name, chk in r["controls"].items():
            lines.append(f"control {name}: error max {_g(chk['error_rounding_units']['max'])} "
                         f"rounding units -> {'holds' if chk['holds'] else 'rejected'}")
        rows = r["small_step"]["rows"]
        lines.append("small steps, fixed horizon eta T = "
                     f"{c['horizon']}: " + ", ".join(
                         f"eta {x['lr']:g}: {_g(x['drift']['median'])}" for x in rows)
                     + f"; log-log slope {_g(r['small_step']['loglog_slope'])} (predicted 1)")
        lines.append(f"laws: {'OK' if r['ok'] else 'NOT OK'}\n")
    if "stability" in results:
        r = results["stability"]
        c = r["config"]
        jac = r["jacobian"]
        lines += [
            f"Stability of the tied subspace (2-2-1, hidden {c['activation']}, output "
            f"{c['output_activation']}, XOR, GD lr {c['lr']}, {c['seeds']} seeds x {c['steps']} "
            f"steps, float64)",
            f"M_t = jacfwd of the GD map on the antisymmetric subspace: vs symbolic I - eta "
            f"H_anti max |diff| {jac['symbolic']['max_abs_diff']:.2e} at "
            f"{len(jac['symbolic']['points'])} tied points; vs central finite differences "
            f"max rel {_g(jac['finite_difference_relative_error']['max'])}",
            f"per-step growth factor rho(M_t) over seeds x steps: median "
            f"{r['rho']['median']:.6g}, p99 {r['rho']['p99']:.6g}, max {r['rho']['max']:.6g}; "
            f"tied trajectories' own asymmetry: {r['tied_trajectory_max_asymmetry']:g}",
            "eps       |measured/predicted - 1| (linear regime) median / max   broken   "
            "break step med (pred)   within 1 step",
        ]
        for g, b in zip(r["growth"], r["breaks"]["rows"]):
            e = g["relative_error"]
            lines.append(
                f"{g['eps']:<9.0e} {_g(e['median']):>10} / {_g(e['max']):<10}"
                f"{'':27}{b['broken_fraction']:>6.1%}   {_g(b['break_step_median'], 'g'):>6} "
                f"({_g(b['predicted_break_step_median'], 'g')}){'':9}"
                f"{_g(b['within_one_step'], '.1%')}")
        sl = r["breaks"]["slope"]
        lines.append(
            f"break step vs ln(1/eps), per-seed slope over {sl['seeds_broken_at_every_eps']} "
            f"seeds broken at every eps: measured {_g(sl['measured_median'])}, linear prediction "
            f"{_g(sl['predicted_median'])}, 1/ln(rho) {_g(sl['one_over_ln_rho_median'])}")
        lines.append(f"stability: {'OK' if r['ok'] else 'NOT OK'}\n")
    if "rounding" in results:
        r = results["rounding"]
        c = r["config"]
        lines += [f"Rounding as a symmetry breaker: tied init, {c['seeds']} seeds x "
                  f"{c['steps']} steps",
                  "widths  dtype    path    optimizer  broken       first break min/med/max"
                  "   max ulp"]
        for x in r["runs"]:
            fb = "never" if x["first_break_median"] is None else (
                f"{x['first_break_min']:g}/{x['first_break_median']:g}/{x['first_break_max']:g}")
            lines.append(f"{x['widths']:<7} {x['dtype']:<8} {x['path']:<7} {x['optimizer']:<10} "
                         f"{x['seeds_broken']:>5}/{x['seeds']:<6} {fb:<25} {x['max_ulp']}")
        for g in r["growth"]:
            ks = ", ".join(f"+{k}: {_g(v['median'], '.2f')}"
                           for k, v in g["log10_measured_over_predicted"].items())
            lines.append(
                f"{g['dtype']} growth after the first break ({g['seeds_broken']}/{g['seeds']} "
                f"seeds, first difference median {_g(g['first_difference']['median'])}): "
                f"median log10(measured/linear prediction) at {ks}")
        lines.append(f"exact path never broke: {r['exact_never_breaks']}")
    return "\n".join(lines)
