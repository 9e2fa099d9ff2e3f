"""Optimizers keep tied parameters tied: a proof by induction with symbolic optimizer state.

Every optimizer (:data:`OPTIMIZERS`) is modelled as the map it is for one coordinate (or, for
``clip`` and ``lars``, for one coordinate of a leaf whose norm it uses), written out in SymPy to
match the optax call its rule names (``_RULES``; the definitions of optax 0.2.8, and a test
compares every map with optax itself in float64). ``u`` is the update optax returns
(``theta' = theta + u``), ``t`` the shared step count before the step. For a tied pair ``(p, q)``
the proof builds both coordinates' next state and update from their own symbols (parameter
``theta``, gradient ``g``, each state slot), substitutes ``q``'s symbols by ``p``'s and checks
that every difference is exactly zero: first structurally (identical expressions), else by
:func:`sympy.cancel` (after folding piecewise parts), else by :func:`sympy.simplify`. Nothing is
evaluated at points to prove.

Sign-flip ties (``q = -p``) need the map to be odd: parameter, gradient, first moments, ``d``,
``gprev``, ``prev`` and the update change sign (:data:`_ODD`); second moments, accumulators and
step sizes stay equal. The initial state must be zero in the odd slots, so the initial state
refutes sign-flip ties under ``yogi`` (``m_p(0) + m_q(0) != 0``).

Perturbations (:data:`PERTURBATIONS`) are named as ``"OPTIMIZER+PERTURBATION"``, e.g.
``"sgd+noise"``; each symmetry-breaking one has a symmetric control that must stay tied
(:data:`SYMMETRIC_CONTROLS`; hypotheses in ``_PERTURBATION_TEXT``): independent gradient noise
``n_p != n_q`` (control: ``n_q = n_p``); a learning rate per parameter (control: one per layer;
``rprop``'s is an initial step size, so the initial-state lemma refutes ``rprop+per_unit_lr``);
L2 weight decay per parameter added to the gradient before the optimizer,
``optax.chain(optax.add_decayed_weights(wd), OPTIMIZER)`` (control ``weight_decay``: one decay
for every parameter, as ``symjax verify --weight-decay`` trains with any optimizer; it also keeps
sign-flip ties, the decay term being odd in the parameter); dropout with an independent mask per
unit (control: one mask per layer), through the gradient lemma of
:func:`symjax.symbolic._ties.prove_tie_invariance`: dropout acts on the gradient, not on the
update map, so its per-coordinate lemma is the optimizer's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import partial
from numbers import Real

import sympy as sp

from ..base.choices import PERTURBATIONS, PROVABLE_OPTIMIZERS
from ..base.errors import InputError, choose
from ..base.layout import Layout, format_ties, split_signed
from . import _guard
from ._theorem import PROVEN, REFUTED, UNKNOWN, ProofStep, Theorem, combine
from ._ties import prove_tie_invariance, resolve_ties

OPTIMIZERS = PROVABLE_OPTIMIZERS
#: The symmetric control of each symmetry-breaking perturbation.
SYMMETRIC_CONTROLS = {
    "noise": "shared_noise", "per_unit_lr": "shared_lr", "dropout": "shared_dropout",
    "per_unit_weight_decay": "weight_decay",
}

#: The ``dropout`` option of the gradient lemma for each dropout perturbation.
_DROPOUT = {"dropout": "independent", "shared_dropout": "shared"}
#: The per-coordinate symbol each per-coordinate perturbation adds (``n_p``, ``lr_p``).
_PERTURBATION_SYMBOL = {"noise": "n", "shared_noise": "n", "per_unit_lr": "lr", "shared_lr": "lr",
                        "per_unit_weight_decay": "wd", "weight_decay": "wd"}
#: The symmetric perturbations: their symbol is tied on the pair.
_SHARED_PERTURBATIONS = ("shared_noise", "shared_lr", "weight_decay")

#: One coordinate's symbols (``theta``, ``g``, ``lr``, state slots), or its next state.
Coord = dict[str, sp.Expr]
#: Shared values: hyperparameters, the step count ``t`` and the leaf-norm rests ``rest_*``.
Hyper = Mapping[str, sp.Expr]

# -- symbols ---------------------------------------------------------------------------------
#: Hyperparameter -> (kind: a key of ``_KINDS``, value used in witnesses).
_HYPER = {
    "lr": ("positive", Fraction(1, 10)),
    "momentum": ("unit", Fraction(1, 2)),
    "b1": ("unit", Fraction(1, 2)),
    "b2": ("unit", Fraction(3, 4)),
    "b3": ("unit", Fraction(1, 2)),
    "eps": ("positive", Fraction(1, 1000)),
    "eps_root": ("nonnegative", Fraction(0)),
    "weight_decay": ("nonnegative", Fraction(1, 100)),
    "decay": ("unit", Fraction(1, 2)),
    "rho": ("unit", Fraction(1, 2)),
    "initial_scale": ("nonnegative", Fraction(0)),
    "initial_accumulator_value": ("nonnegative", Fraction(1, 10)),
    "max_norm": ("positive", Fraction(1)),
    "trust_coefficient": ("positive", Fraction(1, 1000)),
    "beta": ("unit", Fraction(1, 2)),
    "alpha": ("nonnegative", Fraction(1)),
    "threshold": ("nonnegative", Fraction(5)),
    "eta_minus": ("fraction", Fraction(1, 2)),
    "eta_plus": ("growth", Fraction(6, 5)),
    "min_step_size": ("nonnegative", Fraction(1, 1000)),
    "max_step_size": ("positive", Fraction(50)),
}
#: Hyperparameters whose meaning depends on the optimizer: optimizer -> {name: (kind, witness)}.
_HYPER_OF = {"optimistic_gradient_descent": {"beta": ("nonnegative", Fraction(1))}}
#: Kind -> (SymPy assumptions of the symbol, test of an override, its range in words, the
#: symbol's range in hypotheses). ``unit`` is a decay rate: an override may be 0.
_KINDS = {
    "positive": ({"positive": True}, lambda x: x > 0, "> 0", "> 0"),
    "nonnegative": ({"nonnegative": True}, lambda x: x >= 0, ">= 0", ">= 0"),
    "unit": ({"positive": True}, lambda x: 0 <= x < 1, "in [0, 1)", "in (0, 1)"),
    "fraction": ({"nonnegative": True}, lambda x: 0 <= x <= 1, "in [0, 1]", "in [0, 1]"),
    "growth": ({"positive": True}, lambda x: x >= 1, ">= 1", ">= 1"),
}
_QUARTER = (Fraction(1, 4),) * 2
#: Per-coordinate symbols: base name -> (SymPy assumptions, value of p and of q in witnesses).
_COORD = {
    "theta": ({"real": True}, (Fraction(1, 2),) * 2),
    "g": ({"real": True}, (Fraction(1),) * 2),
    "m": ({"real": True}, _QUARTER),
    "d": ({"real": True}, _QUARTER),
    **dict.fromkeys(("v", "nu", "s", "vmax", "inf", "eg", "ex"), ({"nonnegative": True}, _QUARTER)),
    "n": ({"real": True}, (Fraction(1), Fraction(0))),
    "lr": ({"positive": True}, (Fraction(1, 10), Fraction(1, 5))),
    "gprev": ({"real": True}, (Fraction(1, 2),) * 2),
    "step": ({"nonnegative": True}, (Fraction(1, 10),) * 2),
    "prev": ({"real": True}, (Fraction(1, 10),) * 2),
    "wd": ({"nonnegative": True}, (Fraction(1, 100), Fraction(1, 10))),
}
_REST = ({"nonnegative": True}, Fraction(0))
#: Shared state and leaf-norm symbols: name -> (assumptions, witness value, meaning).
_SHARED = {
    "t": ({"integer": True, "nonnegative": True}, Fraction(0), "the step count before the step"),
    "rest_g": (*_REST, "the sum of squares of every other gradient coordinate"),
    "rest_theta": (*_REST, "the sum of squares of the other parameters of the leaf"),
    "rest_d": (
        *_REST, "the sum of squares of the other coordinates of the leaf's g + weight_decay theta"
    ),
}


def _hyper_spec(base: str, name: str) -> tuple[str, Fraction]:
    """(kind, witness value) of hyperparameter ``name`` of optimizer ``base``."""
    return _HYPER_OF.get(base, {}).get(name, _HYPER[name])


def _hyper_symbol(base: str, name: str) -> sp.Symbol:
    return sp.Symbol(name, **_KINDS[_hyper_spec(base, name)[0]][0])


def _coord_symbol(base: str, tag: str) -> sp.Symbol:
    return sp.Symbol(f"{base}_{tag}", **_COORD[base][0])


def _shared_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, **_SHARED[name][0])


# -- the update rules ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rule:
    """One optimizer as a per-coordinate map.

    Attributes:
      models: the optax call this rule reproduces.
      hyper: names of its shared hyperparameters (keys of ``_HYPER``).
      slots: names of its per-coordinate state (keys of ``_COORD``), in optax's order.
      direction: ``(coordinate, hyperparameters) -> (d, next slots)``; the hyperparameter
        mapping also holds the shared symbols ``t`` and ``rest_*``.
      update: ``u`` from ``d``: ``"lr"``: ``-lr d`` (optax.scale_by_learning_rate);
        ``"decoupled"``: ``-lr (d + weight_decay theta)`` (optax.add_decayed_weights with mask
        ``None``: every parameter, then the learning rate); ``"raw"``: ``u = d``.
      shared: shared non-hyperparameter symbols the rule uses (keys of ``_SHARED``).
      start: initial slot values other than 0: a hyperparameter's name or a constant.
      leaf: ``direction`` also takes both coordinates of the pair (for the norms of their leaf).
    """

    models: str
    hyper: tuple[str, ...]
    slots: tuple[str, ...]
    direction: Callable[..., tuple[sp.Expr, Coord]]
    update: str = "lr"
    shared: tuple[str, ...] = ()
    start: Mapping[str, str | sp.Expr] = field(default_factory=dict)
    leaf: bool = False

    def init(self, h: Hyper) -> Coord:
        """The initial state, from the hyperparameters."""
        state = dict.fromkeys(self.slots, sp.Integer(0))
        state.update({s: h[v] if isinstance(v, str) else v for s, v in self.start.items()})
        return state

    def step(self, c: Coord, pair: tuple[Coord, Coord], h: Hyper) -> tuple[sp.Expr, Coord]:
        """The update ``u`` of coordinate ``c`` and its next slots."""
        d, state = self.direction(c, h, pair) if self.leaf else self.direction(c, h)
        if self.update == "decoupled":
            d = d + h["weight_decay"] * c["theta"]
        return (d if self.update == "raw" else -c["lr"] * d), state


def _gradient(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    del h
    return c["g"], {}


def _momentum(c: Coord, h: Hyper, nesterov: bool = False) -> tuple[sp.Expr, Coord]:
    """optax.trace: ``m' = g + momentum m``; ``d = m'``, or ``g + momentum m'`` (nesterov)."""
    m = c["g"] + h["momentum"] * c["m"]
    return (c["g"] + h["momentum"] * m if nesterov else m), {"m": m}


def _first_moment(c: Coord, h: Hyper, nesterov: bool = False) -> tuple[sp.Expr, sp.Expr]:
    """The next first moment ``m'`` and its bias-corrected value (optax's ``nesterov=True``:
    ``b1 m' / (1 - b1**(count + 1)) + (1 - b1) g / (1 - b1**count)``)."""
    b1, count = h["b1"], h["t"] + 1
    m = (1 - b1) * c["g"] + b1 * c["m"]
    if nesterov:
        return m, b1 * (m / (1 - b1 ** (count + 1))) + (1 - b1) * (c["g"] / (1 - b1**count))
    return m, m / (1 - b1**count)


def _adaptive(
    c: Coord, h: Hyper, v: sp.Expr, eps_root: sp.Expr = sp.S.Zero, nesterov: bool = False
) -> tuple[sp.Expr, Coord]:
    """``m_hat / (sqrt(v_hat + eps_root) + eps)`` and the next moments, given the next ``v``."""
    m, m_hat = _first_moment(c, h, nesterov)
    v_hat = v / (1 - h["b2"] ** (h["t"] + 1))
    return m_hat / (sp.sqrt(v_hat + eps_root) + h["eps"]), {"m": m, "v": v}


def _adam(c: Coord, h: Hyper, nesterov: bool = False) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_adam: ``v' = b2 v + (1 - b2) g**2``, bias-corrected with the count."""
    v = (1 - h["b2"]) * c["g"] ** 2 + h["b2"] * c["v"]
    return _adaptive(c, h, v, h["eps_root"], nesterov)


def _adabelief(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_belief: ``v' = b2 v + (1 - b2) (g - m')**2 + eps_root``."""
    m = (1 - h["b1"]) * c["g"] + h["b1"] * c["m"]
    return _adaptive(c, h, (1 - h["b2"]) * (c["g"] - m) ** 2 + h["b2"] * c["v"] + h["eps_root"])


def _yogi(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_yogi, ``eps_root = 0``: ``v' = v - (1 - b2) sign(v - g**2) g**2``."""
    g2 = c["g"] ** 2
    return _adaptive(c, h, c["v"] - (1 - h["b2"]) * sp.sign(c["v"] - g2) * g2)


def _radam(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_radam: Adam rectified by ``r`` once the length ``rho`` of the
    approximated simple moving average reaches ``threshold``, else the bias-corrected ``m``."""
    b2, count = h["b2"], h["t"] + 1
    adam, state = _adam(c, h)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * count * b2**count / (1 - b2**count)
    r = sp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    m_hat = state["m"] / (1 - h["b1"] ** count)
    return sp.Piecewise((r * adam, rho >= h["threshold"]), (m_hat, True)), state


def _amsgrad(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_amsgrad: Adam with the running maximum ``vmax`` of ``v_hat``."""
    b2 = h["b2"]
    m, m_hat = _first_moment(c, h)
    v = (1 - b2) * c["g"] ** 2 + b2 * c["v"]
    vmax = sp.Max(c["vmax"], v / (1 - b2 ** (h["t"] + 1)))
    return m_hat / (sp.sqrt(vmax + h["eps_root"]) + h["eps"]), {"m": m, "v": v, "vmax": vmax}


def _adamax(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_adamax: ``inf' = max(b2 inf, |g| + eps)``, ``d = m_hat / inf'``."""
    m, m_hat = _first_moment(c, h)
    inf = sp.Max(sp.Abs(c["g"]) + h["eps"], h["b2"] * c["inf"])
    return m_hat / inf, {"m": m, "inf": inf}


def _adan(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_adan: moving averages of ``g`` (``m``), of the gradient difference
    ``g - gprev`` (``d``; the difference is 0 at the first step) and of the square of
    ``g + (1 - b2) (g - gprev)`` (``v``), each bias-corrected."""
    b1, b2, b3, count = h["b1"], h["b2"], h["b3"], h["t"] + 1
    diff = sp.Piecewise((0, sp.Eq(h["t"], 0)), (c["g"] - c["gprev"], True))
    m = (1 - b1) * c["g"] + b1 * c["m"]
    d = (1 - b2) * diff + b2 * c["d"]
    v = (1 - b3) * (c["g"] + (1 - b2) * diff) ** 2 + b3 * c["v"]
    direction = m / (1 - b1**count) + (1 - b2) * (d / (1 - b2**count))
    denominator = sp.sqrt(v / (1 - b3**count) + h["eps_root"]) + h["eps"]
    return direction / denominator, {"m": m, "d": d, "v": v, "gprev": c["g"]}


def _adadelta(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_adadelta on ``g + weight_decay theta``: ``eg`` and ``ex`` are moving
    averages of the squared gradients and updates, ``d = sqrt(ex + eps) / sqrt(eg' + eps) g``."""
    rho = h["rho"]
    g = c["g"] + h["weight_decay"] * c["theta"]
    eg = rho * c["eg"] + (1 - rho) * g**2
    scaled = sp.sqrt(c["ex"] + h["eps"]) / sp.sqrt(eg + h["eps"]) * g
    ex = rho * c["ex"] + (1 - rho) * scaled**2
    return scaled, {"eg": eg, "ex": ex}


def _rprop(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_rprop, then optax.scale(-1): the step size grows by eta_plus where
    ``g prev > 0``, shrinks by eta_minus where it is < 0 (clipped to [min_step_size,
    max_step_size]); ``prev' = step' sign(g)`` (0 after a sign change). optax returns the
    previous step's ``prev`` (0 after a sign change) as the update."""
    s = c["g"] * c["prev"]

    def clipped(x: sp.Expr) -> sp.Expr:
        return sp.Min(sp.Max(h["min_step_size"], x), h["max_step_size"])

    step = sp.Piecewise(
        (c["step"], sp.Eq(s, 0)),
        (clipped(c["step"] * h["eta_plus"]), s > 0),
        (clipped(c["step"] * h["eta_minus"]), True),
    )
    prev = sp.Piecewise((0, s < 0), (step * sp.sign(c["g"]), True))
    return -sp.Piecewise((0, s < 0), (c["prev"], True)), {"step": step, "prev": prev}


def _optimistic(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_optimistic_gradient: ``(alpha + beta) g - beta gprev``, with
    ``gprev = g`` at the first step."""
    gprev = sp.Piecewise((c["g"], sp.Eq(h["t"], 0)), (c["gprev"], True))
    return (h["alpha"] + h["beta"]) * c["g"] - h["beta"] * gprev, {"gprev": c["g"]}


def _rmsprop(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_rms (not centered, no momentum): ``nu' = decay nu + (1 - decay) g**2``,
    ``d = g / sqrt(nu' + eps)``."""
    nu = (1 - h["decay"]) * c["g"] ** 2 + h["decay"] * c["nu"]
    return c["g"] / sp.sqrt(nu + h["eps"]), {"nu": nu}


def _adagrad(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_rss: ``s' = s + g**2``, ``d = g / sqrt(s' + eps)`` (0 where ``s' = 0``)."""
    s = c["g"] ** 2 + c["s"]
    return sp.Piecewise((c["g"] / sp.sqrt(s + h["eps"]), s > 0), (0, True)), {"s": s}


def _clip(c: Coord, h: Hyper, pair: tuple[Coord, Coord]) -> tuple[sp.Expr, Coord]:
    """The global norm is ``sqrt(g_p**2 + g_q**2 + rest_g)``."""
    norm = sp.sqrt(sum(x["g"] ** 2 for x in pair) + h["rest_g"])
    return sp.Piecewise((c["g"], norm < h["max_norm"]), (c["g"] * h["max_norm"] / norm, True)), {}


def _lars(c: Coord, h: Hyper, pair: tuple[Coord, Coord]) -> tuple[sp.Expr, Coord]:
    """The trust ratio uses the norms of the leaf that holds ``p`` and ``q``. Tied parameters
    share a role (kind and layer), so they lie in the same leaf when leaves are layers."""

    def decayed(x: Coord) -> sp.Expr:
        return x["g"] + h["weight_decay"] * x["theta"]

    param_norm = sp.sqrt(sum(x["theta"] ** 2 for x in pair) + h["rest_theta"])
    update_norm = sp.sqrt(sum(decayed(x) ** 2 for x in pair) + h["rest_d"])
    ratio = sp.Piecewise(
        (1, sp.Or(sp.Eq(param_norm, 0), sp.Eq(update_norm, 0))),
        (h["trust_coefficient"] * param_norm / (update_norm + h["eps"]), True),
    )
    m = -c["lr"] * ratio * decayed(c) + h["momentum"] * c["m"]
    return m, {"m": m}


def _lion(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """optax.scale_by_lion: ``d = sign((1 - b1) g + b1 m)``, ``m' = b2 m + (1 - b2) g``."""
    m = h["b2"] * c["m"] + (1 - h["b2"]) * c["g"]
    return sp.sign((1 - h["b1"]) * c["g"] + h["b1"] * c["m"]), {"m": m}


def _signum(c: Coord, h: Hyper) -> tuple[sp.Expr, Coord]:
    """``m' = beta m + (1 - beta) g``, ``d = sign(m')``."""
    m = h["beta"] * c["m"] + (1 - h["beta"]) * c["g"]
    return sp.sign(m), {"m": m}


_ADAM = ("lr", "b1", "b2", "eps", "eps_root")
#: optax.yogi passes no ``initial_accumulator_value`` to optax.scale_by_yogi: both moments
#: start at 1e-6.
_YOGI_INITIAL = sp.Rational(1, 10**6)
_RULES: dict[str, _Rule] = {
    "gd": _Rule("optax.sgd(lr)", ("lr",), (), _gradient),
    "sgd": _Rule("optax.sgd(lr) on a mini-batch gradient", ("lr",), (), _gradient),
    "momentum": _Rule(
        "optax.sgd(lr, momentum) (optax.trace)", ("lr", "momentum"), ("m",), _momentum
    ),
    "nesterov": _Rule(
        "optax.sgd(lr, momentum, nesterov=True) (optax.trace)", ("lr", "momentum"), ("m",),
        partial(_momentum, nesterov=True),
    ),
    "adam": _Rule(
        "optax.adam(lr, b1, b2, eps, eps_root) (optax.scale_by_adam)", _ADAM, ("m", "v"), _adam,
        shared=("t",),
    ),
    "adamw": _Rule(
        "optax.adamw(lr, b1, b2, eps, eps_root, weight_decay)", (*_ADAM, "weight_decay"),
        ("m", "v"), _adam, "decoupled", ("t",),
    ),
    "l2": _Rule(
        "optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr))",
        ("lr", "weight_decay"), (), _gradient, "decoupled",
    ),
    "rmsprop": _Rule(
        "optax.rmsprop(lr, decay, eps, initial_scale) (optax.scale_by_rms)",
        ("lr", "decay", "eps", "initial_scale"), ("nu",), _rmsprop,
        start={"nu": "initial_scale"},
    ),
    "adagrad": _Rule(
        "optax.adagrad(lr, initial_accumulator_value, eps) (optax.scale_by_rss)",
        ("lr", "initial_accumulator_value", "eps"), ("s",), _adagrad,
        start={"s": "initial_accumulator_value"},
    ),
    "clip": _Rule(
        "optax.chain(optax.clip_by_global_norm(max_norm), optax.sgd(lr))",
        ("lr", "max_norm"), (), _clip, shared=("rest_g",), leaf=True,
    ),
    "lars": _Rule(
        "optax.lars(lr, weight_decay, trust_coefficient, eps, momentum) "
        "(optax.scale_by_trust_ratio, optax.trace)",
        ("lr", "weight_decay", "trust_coefficient", "eps", "momentum"), ("m",), _lars, "raw",
        ("rest_theta", "rest_d"), leaf=True,
    ),
    "amsgrad": _Rule(
        "optax.amsgrad(lr, b1, b2, eps, eps_root) (optax.scale_by_amsgrad)", _ADAM,
        ("m", "v", "vmax"), _amsgrad, shared=("t",),
    ),
    "adamax": _Rule(
        "optax.adamax(lr, b1, b2, eps) (optax.scale_by_adamax)", ("lr", "b1", "b2", "eps"),
        ("m", "inf"), _adamax, shared=("t",),
    ),
    "lion": _Rule(
        "optax.lion(lr, b1, b2, weight_decay) (optax.scale_by_lion, add_decayed_weights)",
        ("lr", "b1", "b2", "weight_decay"), ("m",), _lion, "decoupled",
    ),
    "sign_sgd": _Rule(
        "optax.sign_sgd(lr) (optax.scale_by_sign)", ("lr",), (),
        lambda c, h: (sp.sign(c["g"]), {}),
    ),
    "signum": _Rule(
        "optax.signum(lr, beta) (optax.ema without debiasing, optax.scale_by_sign)",
        ("lr", "beta"), ("m",), _signum,
    ),
    "nadam": _Rule(
        "optax.nadam(lr, b1, b2, eps, eps_root) (optax.scale_by_adam with nesterov=True)", _ADAM,
        ("m", "v"), partial(_adam, nesterov=True), shared=("t",),
    ),
    "nadamw": _Rule(
        "optax.nadamw(lr, b1, b2, eps, eps_root, weight_decay)", (*_ADAM, "weight_decay"),
        ("m", "v"), partial(_adam, nesterov=True), "decoupled", ("t",),
    ),
    "adamaxw": _Rule(
        "optax.adamaxw(lr, b1, b2, eps, weight_decay) (optax.scale_by_adamax, "
        "add_decayed_weights)", ("lr", "b1", "b2", "eps", "weight_decay"), ("m", "inf"),
        _adamax, "decoupled", ("t",),
    ),
    "adabelief": _Rule(
        "optax.adabelief(lr, b1, b2, eps, eps_root) (optax.scale_by_belief)", _ADAM,
        ("m", "v"), _adabelief, shared=("t",),
    ),
    "adan": _Rule(
        "optax.adan(lr, b1, b2, b3, eps, eps_root, weight_decay) (optax.scale_by_adan, "
        "add_decayed_weights)", ("lr", "b1", "b2", "b3", "eps", "eps_root", "weight_decay"),
        ("m", "d", "v", "gprev"), _adan, "decoupled", ("t",),
    ),
    "radam": _Rule(
        "optax.radam(lr, b1, b2, eps, eps_root, threshold) (optax.scale_by_radam)",
        (*_ADAM, "threshold"), ("m", "v"), _radam, shared=("t",),
    ),
    "yogi": _Rule(
        "optax.yogi(lr, b1, b2, eps) (optax.scale_by_yogi: both moments start at 1e-6, "
        "eps_root = 0)", ("lr", "b1", "b2", "eps"), ("m", "v"), _yogi, shared=("t",),
        start={"m": _YOGI_INITIAL, "v": _YOGI_INITIAL},
    ),
    "adadelta": _Rule(
        "optax.adadelta(lr, rho, eps, weight_decay) (optax.add_decayed_weights, "
        "optax.scale_by_adadelta)", ("lr", "rho", "eps", "weight_decay"), ("eg", "ex"),
        _adadelta,
    ),
    "rprop": _Rule(
        "optax.rprop(lr, eta_minus, eta_plus, min_step_size, max_step_size) "
        "(optax.scale_by_rprop: lr is the initial step size)",
        ("lr", "eta_minus", "eta_plus", "min_step_size", "max_step_size"), ("step", "prev"),
        _rprop, "raw", start={"step": "lr"},
    ),
    "optimistic_gradient_descent": _Rule(
        "optax.optimistic_gradient_descent(lr, alpha, beta) "
        "(optax.scale_by_optimistic_gradient)", ("lr", "alpha", "beta"), ("gprev",),
        _optimistic, shared=("t",),
    ),
}

# -- names -----------------------------------------------------------------------------------
def _parse(optimizer) -> tuple[str, str | None]:
    """Split ``"OPTIMIZER[+PERTURBATION]"``; an :class:`InputError` names the bad part."""
    if not isinstance(optimizer, str):
        raise InputError(
            f"optimizer {optimizer!r} must be a name; allowed: {', '.join(OPTIMIZERS)}"
        )
    base, plus, perturbation = optimizer.partition("+")
    if base not in OPTIMIZERS:
        raise InputError(
            f"optimizer {base!r} is not modelled by the prover; it models "
            f"{', '.join(OPTIMIZERS)}"
        )
    if not plus:
        return base, None
    if perturbation not in PERTURBATIONS:
        raise InputError(
            f"unknown perturbation {perturbation!r} in optimizer {optimizer!r}; allowed: "
            f"{', '.join(f'{base}+{p}' for p in PERTURBATIONS)}"
        )
    return base, perturbation


def _hyper_values(base: str, perturbation: str | None, overrides: Mapping) -> dict:
    """The rule's hyperparameters (symbols unless overridden; a per-parameter learning rate
    replaces ``lr``), ``t`` and ``rest_*``."""
    per_unit_lr = _PERTURBATION_SYMBOL.get(perturbation) == "lr"
    allowed = tuple(n for n in _RULES[base].hyper if not (per_unit_lr and n == "lr"))
    values: dict[str, sp.Expr] = {n: _hyper_symbol(base, n) for n in allowed}
    for name, value in overrides.items():
        choose(f"hyperparameter of {base}", name, allowed)
        values[name] = _exact(name, value, _hyper_spec(base, name)[0])
    values.update({n: _shared_symbol(n) for n in _RULES[base].shared})
    return values


def _exact(name: str, value, kind: str) -> sp.Rational:
    """An override as an exact rational within its constraint, or an :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, Real | str):
        raise InputError(f"hyperparameter {name}={value!r} must be a number")
    try:
        x = sp.Rational(str(value))
    except (TypeError, ValueError):
        raise InputError(f"hyperparameter {name}={value!r} must be a number") from None
    _, ok, wanted, _ = _KINDS[kind]
    if not ok(x):
        raise InputError(f"hyperparameter {name}={value!r} must be {wanted}")
    return x


# -- per-coordinate formulas -----------------------------------------------------------------
def _coordinate(tag: str, rule: _Rule, perturbation: str | None, h: Hyper) -> Coord:
    """The symbols of coordinate ``tag`` as the optimizer sees them (gradient noise included)."""
    c: Coord = {"theta": _coord_symbol("theta", tag), "g": _coord_symbol("g", tag)}
    c.update({s: _coord_symbol(s, tag) for s in rule.slots})
    symbol = _PERTURBATION_SYMBOL.get(perturbation)
    if symbol == "n":
        c["g"] = c["g"] + _coord_symbol("n", tag)
    if symbol == "wd":  # optax.add_decayed_weights before the optimizer
        c["g"] = c["g"] + _coord_symbol("wd", tag) * c["theta"]
    c["lr"] = _coord_symbol("lr", tag) if symbol == "lr" else h["lr"]
    return c


def _outputs(base: str, perturbation: str | None, h: Hyper) -> dict[str, Coord]:
    """One step for both coordinates: ``{"p": {slot: next value, "u": update, "theta": next}}``."""
    rule = _RULES[base]
    pair = (_coordinate("p", rule, perturbation, h), _coordinate("q", rule, perturbation, h))
    out: dict[str, Coord] = {}
    for tag, c in zip("pq", pair):
        u, state = rule.step(c, pair, h)
        out[tag] = {**{s: state[s] for s in rule.slots}, "u": u, "theta": c["theta"] + u}
    return out


def _output_name(name: str, tag: str) -> str:
    """``"u"`` -> ``"u_p"``; a next state or parameter ``"m"`` -> ``"m_p'"``."""
    return f"u_{tag}" if name == "u" else f"{name}_{tag}'"


#: Per-coordinate quantities that change sign with the parameter under a sign flip (first
#: moments, averages of gradient differences, previous gradients and updates); the others
#: (second moments, accumulators, step sizes, learning rates) are even and stay equal.
_ODD = ("theta", "g", "m", "n", "u", "d", "gprev", "prev")


def _parity(name: str, sign: int) -> int:
    """The sign relating ``name``'s values on a pair tied with ``sign`` (+1 or -1)."""
    return sign if name in _ODD else 1


def _tie_map(base: str, perturbation: str | None, sign: int = 1) -> dict[sp.Symbol, sp.Expr]:
    """q's symbols -> p's (negated where odd under a sign flip): parameter, gradient, state,
    and the perturbation when symmetric."""
    bases = ["theta", "g", *_RULES[base].slots]
    if perturbation in _SHARED_PERTURBATIONS:
        bases.append(_PERTURBATION_SYMBOL[perturbation])
    return {_coord_symbol(b, "q"): _parity(b, sign) * _coord_symbol(b, "p") for b in bases}


def update_formulas(optimizer: str, **hyper) -> dict[str, sp.Expr]:
    """The update map of one step for a pair of coordinates ``p`` and ``q``, as SymPy expressions.

    Args:
      optimizer: a name from :data:`OPTIMIZERS`, optionally ``+`` a name from
        :data:`PERTURBATIONS` (``"adam+noise"``).
      **hyper: exact values for hyperparameters (numbers); the others stay symbols.

    Returns:
      ``{"m_p'": ..., "u_p": ..., "theta_p'": ..., "m_q'": ..., ...}``: each state slot's next
      value, the update ``u`` and the next parameter ``theta + u``, for ``p`` then ``q``, in terms
      of the symbols ``theta_p``, ``g_p``, ``m_p``, ... (``n_p``, ``lr_p`` for perturbations),
      the hyperparameters, the step count ``t`` and the leaf-norm rests ``rest_*``.

    Raises:
      InputError: for an unknown optimizer, perturbation or hyperparameter, or a bad value.

    Examples:
      >>> update_formulas("momentum")["u_p"]
      -lr*(g_p + m_p*momentum)
    """
    base, perturbation = _parse(optimizer)
    out = _outputs(base, perturbation, _hyper_values(base, perturbation, hyper))
    return {_output_name(k, tag): e for tag in "pq" for k, e in out[tag].items()}


# -- the per-coordinate lemma ----------------------------------------------------------------
def _vanishes(expr: sp.Expr) -> str | None:
    """How ``expr`` is exactly zero (structurally, as a rational function of its atoms after
    folding piecewise parts, or after simplify), or ``None`` if it is not."""
    if expr == 0:
        return "identical after substitution"
    if sp.cancel(sp.piecewise_fold(expr)) == 0:
        return "cancels to 0"
    if sp.simplify(expr) == 0:
        return "simplifies to 0"
    return None


def _latex_difference(p_expr: sp.Expr, q_expr: sp.Expr, value: sp.Expr = sp.S.Zero) -> str:
    return rf"{sp.latex(p_expr)} - \left({sp.latex(q_expr)}\right) = {sp.latex(value)}"


def _minus(name: str, sign: int) -> str:
    """The operator of the difference that vanishes on a tied pair: ``-``, or ``+`` where
    ``name`` is odd under a sign flip."""
    return "-" if _parity(name, sign) > 0 else "+"


def _identity_step(text: str, p_expr: sp.Expr, q_expr: sp.Expr, tie: Mapping) -> ProofStep:
    """A step of a lemma that holds for every optimizer: ``p_expr - q_expr`` vanishes."""
    how = _vanishes((p_expr - q_expr).xreplace(tie))
    if how is None:
        raise RuntimeError(f"internal error: {p_expr} - {q_expr} does not vanish")
    return ProofStep(f"{text}: {p_expr} - {q_expr} = 0 ({how}).", _latex_difference(p_expr, q_expr))


_PERTURBATION_TEXT = {
    "noise": "Independent gradient noise: the optimizer sees g_p + n_p and g_q + n_q, for any "
    "reals n_p, n_q.",
    "shared_noise": "Shared gradient noise: the optimizer sees g_p + n_p and g_q + n_q with "
    "n_q = n_p.",
    "per_unit_lr": "A learning rate per parameter: lr_p and lr_q, any positive values.",
    "shared_lr": "A learning rate per parameter, equal on the pair: lr_q = lr_p.",
    "per_unit_weight_decay": "L2 weight decay per parameter before the optimizer: it sees "
    "g_p + wd_p theta_p and g_q + wd_q theta_q, for any wd_p, wd_q >= 0.",
    "weight_decay": "L2 weight decay before the optimizer (optax.add_decayed_weights): it sees "
    "g_p + wd_p theta_p and g_q + wd_q theta_q with wd_q = wd_p >= 0.",
    "dropout": "Dropout with an independent mask per unit acts on the gradient, not on this map "
    "(see the gradient lemma).",
    "shared_dropout": "Dropout with one mask per layer acts on the gradient, not on this map "
    "(see the gradient lemma).",
}


#: Second values of q's untied symbols, for maps a first witness misses (a sign: sign(2) = sign(1)),
#: and of shared symbols (a branch on the first step, t = 0).
_SECOND_Q = {"n": Fraction(-3), "lr": Fraction(1, 5), "wd": Fraction(1)}
_SECOND_SHARED = {"t": Fraction(1)}


def _witnesses(base: str, perturbation: str | None, h: Hyper, sign: int = 1):
    """Concrete rational points: both coordinates' symbols (tied ones tied) and the symbols of
    ``h`` that are not overridden; first at their witness values, then with q's untied symbols
    and the shared ones moved further away (``_SECOND_*``), then, for a decay per parameter,
    with ``theta = -2`` too (a decay that turns ``g + wd theta`` around)."""
    tie = _tie_map(base, perturbation, sign)
    bases = ["theta", "g", *_RULES[base].slots]
    if perturbation in _PERTURBATION_SYMBOL:
        bases.append(_PERTURBATION_SYMBOL[perturbation])
    for second in (False, True):
        point: dict[sp.Symbol, sp.Expr] = {}
        for b in bases:
            p_value, q_value = _COORD[b][1]
            q = _coord_symbol(b, "q")
            point[_coord_symbol(b, "p")] = sp.Rational(p_value)
            q_value = _SECOND_Q.get(b, q_value) if second else q_value
            point[q] = tie[q].xreplace(point) if q in tie else sp.Rational(q_value)
        for name, value in h.items():
            if not isinstance(value, sp.Symbol):  # overridden
                continue
            if name in _HYPER:
                point[value] = sp.Rational(_hyper_spec(base, name)[1])
            else:
                shared = _SHARED[name][1]
                point[value] = sp.Rational(_SECOND_SHARED.get(name, shared) if second else shared)
        yield point
    if perturbation == "per_unit_weight_decay":
        yield {**point, **{_coord_symbol("theta", tag): sp.Rational(-2) for tag in "pq"}}


def _lemma_header(
    optimizer: str, base: str, perturbation: str | None, h: Hyper, sign: int = 1
) -> tuple[str, list[str]]:
    """Claim and hypotheses of the per-coordinate lemma."""
    rule = _RULES[base]
    how = "tied" if sign > 0 else "sign-flipped"
    claim = (
        f"One {optimizer} step maps {how} parameter, gradient and state of a pair (p, q) to a "
        f"{how} next state, update and parameter."
    )

    def tie(name: str) -> str:
        return f"{name}_q = {'-' if _parity(name, sign) < 0 else ''}{name}_p"

    hypotheses = [
        f"The update is the per-coordinate map of {rule.models}; theta' = theta + u.",
        "Before the step: " + ", ".join(tie(n) for n in ("theta", "g", *rule.slots)) + ".",
    ]
    if perturbation:
        hypotheses.append(_PERTURBATION_TEXT[perturbation])
    if rule.shared:
        hypotheses.append(
            "One value for every coordinate: "
            + "; ".join(f"{n}, {_SHARED[n][2]}" for n in rule.shared) + "."
        )
    hyper = [
        f"{k} {_KINDS[_hyper_spec(base, k)[0]][3]}" if isinstance(v, sp.Symbol) else f"{k} = {v}"
        for k, v in h.items() if k in _HYPER
    ]
    if hyper:
        hypotheses.append("Hyperparameters (shared by all coordinates): " + ", ".join(hyper) + ".")
    return claim, hypotheses


def prove_update_preserves_ties(optimizer: str, *, sign: int = 1, **hyper) -> Theorem:
    """One optimizer step maps a tied pair to a tied pair (the per-coordinate lemma).

    For a pair ``(p, q)`` with ``theta_q = theta_p``, ``g_q = g_p`` and every state slot tied,
    the next state, the update and the next parameter of ``q`` equal those of ``p``.

    Args:
      optimizer: a name from :data:`OPTIMIZERS`, optionally ``+`` a perturbation
        (``"sgd+noise"``: refuted with a witness; ``"sgd+shared_noise"``: proven).
      sign: ``1`` for ties ``q = p``; ``-1`` for sign-flip ties ``q = -p`` (the update must
        then be odd: parameter, gradient, first moments and the update change sign, second
        moments and accumulators stay equal).
      **hyper: exact values for hyperparameters (e.g. ``b1=0.9``); the others stay symbols, so
        the lemma holds for all of their values.

    Returns:
      A :class:`Theorem`: proven, or refuted with a rational witness (every symbol of both
      coordinates, ``"difference"``: the outputs that differ, ``"value"``: their exact
      difference there).

    Raises:
      InputError: for an unknown optimizer, perturbation or hyperparameter, or a bad value.

    Examples:
      >>> prove_update_preserves_ties("adam").verdict
      'proven'
      >>> prove_update_preserves_ties("sgd+noise").witness["value"]
      '-1/10'
    """
    base, perturbation = _parse(optimizer)
    _check_sign(sign, perturbation, optimizer)
    h = _hyper_values(base, perturbation, hyper)
    claim, hypotheses = _lemma_header(optimizer, base, perturbation, h, sign)
    out = _outputs(base, perturbation, h)
    tie = _tie_map(base, perturbation, sign)
    context = {"optimizer": optimizer, "models": _RULES[base].models,
               "hyper": {k: str(v) for k, v in h.items()}}
    steps, differences = [], {}
    for name, p_expr in out["p"].items():
        q_expr = _parity(name, sign) * out["q"][name]
        label = f"{_output_name(name, 'p')} {_minus(name, sign)} {_output_name(name, 'q')}"
        differences[label] = p_expr - q_expr
        diff = differences[label].xreplace(tie)
        for point in _witnesses(base, perturbation, h, sign) if diff != 0 else ():
            value = sp.simplify(differences[label].xreplace(point))
            if value.is_zero is False:
                witness = {str(k): str(v) for k, v in point.items()}
                witness.update({k: str(v) for k, v in h.items() if k in hyper})
                witness.update(difference=label, value=str(value))
                steps.append(ProofStep(
                    f"{label} is not identically 0 after the substitution: at the witness "
                    f"point (tied values equal) it is {value}.",
                    _latex_difference(p_expr, q_expr, value),
                ))
                return Theorem(claim, hypotheses, REFUTED, steps=steps, witness=witness,
                               context=context)
        how = _vanishes(diff)
        if how is None:
            return Theorem(claim, hypotheses, UNKNOWN, steps=steps, context=context,
                           reason=f"{label} did not simplify to 0 and is 0 at the test point")
        steps.append(ProofStep(
            f"{label} = 0 ({how}); {_output_name(name, 'p')} = {p_expr}",
            _latex_difference(p_expr, q_expr),
        ))
    guard = _guard.check_identities(differences, claim, equal=tie, seed=optimizer)
    return Theorem(claim, hypotheses, PROVEN, steps=steps, context=context, guard=guard)


def _check_sign(sign, perturbation: str | None, optimizer: str) -> None:
    if sign not in (1, -1):
        raise InputError(f"sign must be 1 or -1, got {sign!r}")
    if sign < 0 and perturbation not in (None, "weight_decay"):
        raise InputError(
            f"sign-flip ties with a perturbation ({optimizer!r}) are not modelled; use the "
            "optimizer alone, or ties without signs"
        )


# -- the induction ---------------------------------------------------------------------------
def _batch_lemma(sign: int = 1) -> Theorem:
    """Tied per-sample gradients give a tied batch sum and mean, for any batch."""
    i = sp.Symbol("i", integer=True, positive=True)
    size = sp.Symbol("B", integer=True, positive=True)
    g_p, g_q = sp.IndexedBase("G_p", real=True), sp.IndexedBase("G_q", real=True)
    steps, differences = [], {}
    for reduction, scale in (("sum", sp.Integer(1)), ("mean", 1 / size)):
        p_expr, q_expr = (scale * sp.Sum(g[i], (i, 1, size)) for g in (g_p, g_q))
        tied = q_expr.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == g_q,
            lambda e: sign * g_p[e.indices],
        )
        steps.append(_identity_step(f"Batch {reduction}", p_expr, sign * tied, {}))
        differences[f"batch {reduction}"] = p_expr - sign * q_expr
    relation = "G_q[i] = G_p[i]" if sign > 0 else "G_q[i] = -G_p[i]"
    result = "a tied batch sum and batch mean" if sign > 0 else "opposite batch sums and means"
    claim = (
        f"For any batch size B and any batch, per-sample gradients with {relation} for "
        f"every sample i give {result}."
    )
    return Theorem(
        claim,
        [
            "G_p[i], G_q[i]: the gradients of the tied pair for sample i of the batch.",
            "The gradient lemma holds for one symbolic sample with arbitrary values, so it ties "
            "G_p[i] and G_q[i] for every sample of every batch, also one re-drawn each step.",
        ],
        PROVEN, steps=steps,
        guard=_guard.check_identities(differences, claim, equal={g_q: sign * g_p}),
    )


def _initial_state_lemma(base: str, sign: int = 1, perturbation: str | None = None) -> Theorem:
    """The optimizer's initial state is the same constant for every coordinate (and zero in
    the slots that are odd under a sign flip); refuted with a witness where it is not (a
    per-parameter learning rate that sets an initial step size; a nonzero initial first moment
    under a sign flip)."""
    rule = _RULES[base]
    h = _hyper_values(base, perturbation, {})
    per_unit = _PERTURBATION_SYMBOL.get(perturbation) == "lr"
    init = {tag: rule.init({**h, "lr": _coord_symbol("lr", tag)} if per_unit else h)
            for tag in "pq"}
    tie = _tie_map(base, perturbation, sign)
    claim = f"The initial state of {base} is {'tied' if sign > 0 else 'sign-flip tied'}."
    hypotheses = [f"The optimizer is {rule.models}, initialised as optax does."]
    if per_unit:
        hypotheses.append(_PERTURBATION_TEXT[perturbation])
    steps, differences = [], {}
    for s in rule.slots:
        label = f"{s}_p(0) {_minus(s, sign)} {s}_q(0)"
        p_expr, q_expr = init["p"][s], _parity(s, sign) * init["q"][s]
        if _vanishes((p_expr - q_expr).xreplace(tie)) is None:
            point = next(_witnesses(base, perturbation, h, sign))
            value = sp.simplify((p_expr - q_expr).xreplace(point))
            witness = {str(k): str(point[k]) for k in (p_expr - q_expr).free_symbols}
            witness.update(difference=label, value=str(value))
            steps.append(ProofStep(
                f"{label} is not 0: {p_expr} {_minus(s, sign)} {init['q'][s]} = {value} at the "
                "witness.", _latex_difference(p_expr, q_expr, value),
            ))
            return Theorem(claim, hypotheses, REFUTED, steps=steps, witness=witness)
        steps.append(_identity_step(label, p_expr, q_expr, tie))
        differences[label] = p_expr - q_expr
    if "t" in rule.shared:
        steps.append(ProofStep("The step count starts at t = 0, one scalar for all coordinates."))
    if not steps:
        steps.append(ProofStep(f"{base} keeps no per-coordinate state."))
    guard = (_guard.check_identities(differences, claim, equal=tie) if differences
             else _guard.vacuous(f"{base} keeps no per-coordinate state"))
    return Theorem(claim, hypotheses, PROVEN, steps=steps, guard=guard)


def prove_training_preserves_ties(
    widths=(2, 2, 1), ties=None, optimizer: str = "gd", **network_kwargs
) -> Theorem:
    """Training from tied parameters keeps them tied at every step (a proof by induction).

    Lemmas: (gradient) tied parameters give tied per-sample gradients, from
    :func:`symjax.symbolic._ties.prove_tie_invariance` for the network and tie set; (batch) so the
    batch sum or mean is tied, for any batch; (initial state) the optimizer's initial state is
    tied; (update) :func:`prove_update_preserves_ties`; then induction on the step ``t``. A refuted
    lemma refutes the theorem with its witness.

    Args:
      widths: the layer widths, e.g. ``(2, 2, 1)`` or ``"2,2,1"``.
      ties: the tie set (``"w1=w3,w2=w4,b1=b2,w5=w6"`` or pairs); ``None``: the swap of the
        first two units of hidden layer 1 (:func:`~symjax.symbolic._ties.swap_ties`).
      optimizer: a name from :data:`OPTIMIZERS`, optionally ``+`` a name from
        :data:`PERTURBATIONS`: ``"sgd+noise"``, ``"adam+per_unit_lr"``, ``"sgd+dropout"`` (an
        independent mask per unit) are refuted; their symmetric controls ``"sgd+shared_noise"``,
        ``"adam+shared_lr"``, ``"sgd+shared_dropout"`` are proven.
      **network_kwargs: passed to ``prove_tie_invariance`` (``activation``, ``loss``,
        ``samples``, ``reduction``, ...); ``dropout`` only through the optimizer name.

    Returns:
      A :class:`Theorem` whose lemmas are the four above.

    Raises:
      InputError: for an unknown optimizer or perturbation, bad widths or ties, or ``dropout``
        given both as a keyword and in the optimizer name.
    """
    base, perturbation = _parse(optimizer)
    layout = Layout(widths)
    pairs = resolve_ties(layout, ties)
    if perturbation in _DROPOUT:
        if network_kwargs.get("dropout") not in (None, "none"):
            raise InputError(
                f"dropout={network_kwargs['dropout']!r} conflicts with optimizer {optimizer!r}; "
                "give dropout in one place"
            )
        network_kwargs = {**network_kwargs, "dropout": _DROPOUT[perturbation]}
    gradient = prove_tie_invariance(layout.widths, pairs, **network_kwargs)
    signs = sorted({split_signed(q)[0] for _, q in pairs} or {1}, reverse=True)
    for sign in signs:
        _check_sign(sign, perturbation, optimizer)
    lemmas = [gradient]
    for sign in signs:
        lemmas += [_batch_lemma(sign), _initial_state_lemma(base, sign, perturbation)]
        lemmas.append(prove_update_preserves_ties(optimizer, sign=sign))
    tie_text = format_ties(pairs)
    claim = (
        f"Training the {layout.widths_str} network with {optimizer} from parameters tied by "
        f"{tie_text} keeps the parameters and the optimizer state tied at every step t."
    )
    hypotheses = [
        f"Network {layout.widths_str}; options: "
        + (", ".join(f"{k}={v}" for k, v in network_kwargs.items()) or "defaults")
        + ".",
        f"At t = 0 the parameters are tied by {tie_text}; the optimizer starts from its initial "
        "state.",
        f"Each step: per-sample gradients, reduced over a batch, then one step of "
        f"{_RULES[base].models}.",
    ]
    context = {"widths": list(layout.widths), "ties": tie_text, "optimizer": optimizer,
               **network_kwargs}
    theorem = combine(claim, hypotheses, lemmas, context=context)
    if not theorem.proven:
        return theorem
    return replace(theorem, steps=[
        ProofStep(
            "Base (t = 0): the parameters are tied by hypothesis and the optimizer state by "
            "the initial-state lemma."
        ),
        ProofStep(
            "Step: if the parameters and the state are tied at step t, the gradient lemma ties "
            "every per-sample gradient, the batch lemma ties the batch gradient"
            + (" (a fresh mini-batch each step)" if base == "sgd" else "")
            + ", and the update lemma ties the state and the parameters at step t + 1."
        ),
        ProofStep(
            "Conclusion: by induction on t, the parameters and the optimizer state are tied "
            "at every step."
        ),
    ])
