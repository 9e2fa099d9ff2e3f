"""Linear stability of the tied subspace of the 2-2-1 network under gradient descent.

Setting: the 2-2-1 :class:`SymbolicMLP` (parameters ``[w1..w6, b1, b2, b3]``, the shared order),
a hidden activation, an output activation ``phi`` (``sigmoid`` or ``identity``), the loss
``J = mean_s (yhat_s - y_s)**2 / 2`` over a data set of exact rationals (default XOR), and
gradient descent ``theta -> theta - eta grad J``.

Coordinates. Swapping the hidden units swaps the pairs ``(p, q)`` = ``(w1, w3)``, ``(w2, w4)``,
``(b1, b2)``, ``(w5, w6)``. Write ``s = (p + q) / 2`` (symmetric part) and ``d = (p - q) / 2``
(antisymmetric part, the asymmetry); ``b3`` is symmetric. The tied subspace is ``d = 0``; its
points are named by ``(w1, w2, b1, w5, b3)``.

Results (each a :class:`~symjax.symbolic._theorem.Theorem`, proven by exact simplification):

* :func:`prove_block_diagonal`: at every tied point the Hessian of ``J`` has no
  symmetric/antisymmetric cross block. So the linearised GD map decouples, and a small asymmetry
  evolves as ``d_{t+1} = (I - eta H_anti(theta_t)) d_t`` with ``H_anti = A^T H A``, the Hessian
  block on the antisymmetric subspace in the orthonormal basis ``A = (e_p - e_q) / sqrt(2)``.
  Two lemmas make ``H_anti`` explicit: the compact form

      H_anti = (1/N) sum_s e_s phi'(u_s) [[w5 sigma''(z_s) xt xt^T, sigma'(z_s) xt],
                                          [sigma'(z_s) xt^T,        0           ]]

  with ``z_s = w1 x1 + w2 x2 + b1``, ``u_s = 2 w5 sigma(z_s) + b3``, ``e_s = phi(u_s) - y_s``,
  ``xt = (x1, x2, 1)`` (the Gauss-Newton part vanishes: the output does not move to first order
  along an antisymmetric direction), and the coupling identity ``w5 H_anti[i, 4] = dJ/dp_i``
  (``p_i`` = ``w1, w2, b1``), ``H_anti[4, 4] = 0``: away from the critical points of the tied
  input weights, ``H_anti`` is indefinite and every step amplifies some asymmetry.
* :func:`prove_duplication`: a tied 2-2-1 network is a 2-1-1 network with its hidden unit
  duplicated (Fukumizu and Amari, 2000). On the line ``w1=w3=u1, w2=w4=u2, b1=b2=beta,
  w5 = lam nu, w6 = (1 - lam) nu`` the network equals the 2-1-1 network ``(u1, u2, beta, nu, b3)``
  and its gradient is the 2-1-1 gradient, split: ``dJ/dw1 = lam dJ211/du1``,
  ``dJ/dw3 = (1 - lam) dJ211/du1`` (the same for ``w2, w4`` and ``b1, b2``),
  ``dJ/dw5 = dJ/dw6 = dJ211/dnu``, ``dJ/db3 = dJ211/db3``.

Numbers, as pure functions returning data so that the numeric half can plug in its
trajectories: :func:`growth_factor`, :func:`predict_asymmetry`, :func:`tied_trajectory` and
:func:`gd_step`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..base.choices import XOR, activation_name
from ..base.errors import InputError, choose
from . import _guard
from ._laws import nonzero_witness
from ._network import CONCRETE_ACTIVATIONS, SymbolicMLP, exactly_zero
from ._theorem import PROVEN, REFUTED, UNKNOWN, ProofStep, Theorem, combine

#: Parameter names of the 2-2-1 network in the shared order.
NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")
#: The pairs swapped by the hidden-unit permutation: (unit-1 parameter, unit-2 parameter).
PAIRS = (("w1", "w3"), ("w2", "w4"), ("b1", "b2"), ("w5", "w6"))
#: Coordinates of the tied subspace (the first member of each pair, and b3).
TIED = ("w1", "w2", "b1", "w5", "b3")
#: Output activations accepted.
OUTPUT_ACTIVATIONS = ("sigmoid", "identity")
#: Most samples in a data set.
MAX_SAMPLES = 16
#: Tied point used when none is given (w1=w3, w2=w4, b1=b2, w5=w6).
DEFAULT_POINT = {"w1": "1/2", "w2": "-1/3", "b1": "1/4", "w5": "1", "b3": "0"}
#: Learning rate used when none is given.
DEFAULT_LR = "1/2"

#: Random points at which the independent check evaluates each proven identity.
_GUARD_POINTS = 2

_INDEX = {name: i for i, name in enumerate(NAMES)}
#: Labels of the symmetric directions (rows of the cross block).
_SYM = tuple(f"{p}+{q}" for p, q in PAIRS) + ("b3",)
#: Indices of the first and the second members of the pairs.
_FIRST, _SECOND = ([_INDEX[pair[k]] for pair in PAIRS] for k in (0, 1))
_T = sp.Dummy("t", real=True)


def _rational(value: Any, what: str) -> sp.Rational:
    """An exact rational from an int, a Fraction, a Rational or a string (``"1/3"``, ``"0.5"``)."""
    try:
        out = sp.Rational(str(value).strip())
    except (TypeError, ValueError, ZeroDivisionError, sp.SympifyError):
        out = None
    if not isinstance(out, sp.Rational):
        raise InputError(f"{what} must be an exact rational such as 1/3 or 0.5, got {value!r}")
    return out


@dataclass(frozen=True)
class StabilityModel:
    """The symbolic 2-2-1 training problem: loss, gradient, Hessian blocks (pure data).

    Build it with :func:`stability_model`. The network is :class:`SymbolicMLP` with squared error
    on these data; every attribute derived from the loss is computed on first use and cached.

    Attributes:
      activation: hidden activation.
      output_activation: ``phi``, ``sigmoid`` or ``identity``.
      data: samples ``(x1, x2, y)`` as SymPy rationals.
    """

    activation: str
    output_activation: str
    data: tuple[tuple[sp.Rational, sp.Rational, sp.Rational], ...]

    # -- symbols and the loss ------------------------------------------------------------------
    @cached_property
    def net(self) -> SymbolicMLP:
        """The 2-2-1 network of one symbolic sample ``(x1, x2)``."""
        return SymbolicMLP((2, 2, 1), activation=self.activation,
                           output_activation=self.output_activation, loss="squared_error")

    @cached_property
    def params(self) -> tuple[sp.Symbol, ...]:
        """``w1..w6, b1, b2, b3`` (real symbols) in the shared order."""
        return self.net.param_symbols

    def p(self, name: str) -> sp.Symbol:
        """The parameter symbol called ``name``."""
        return self.net.params[name]

    @cached_property
    def tied_symbols(self) -> tuple[sp.Symbol, ...]:
        """Coordinates of the tied subspace: ``w1, w2, b1, w5, b3``."""
        return tuple(self.p(name) for name in TIED)

    @cached_property
    def tie(self) -> dict[sp.Symbol, sp.Expr]:
        """The substitution onto the tied subspace: ``w3 -> w1, w4 -> w2, b2 -> b1, w6 -> w5``."""
        return self.net.tie_substitution(PAIRS)

    def sigma(self, z: sp.Expr, order: int = 0) -> sp.Expr:
        """The hidden activation (or its ``order``-th derivative) at ``z``."""
        return _function(self.activation, order).xreplace({_T: z})

    def phi(self, u: sp.Expr, order: int = 0) -> sp.Expr:
        """The output activation (or its ``order``-th derivative) at ``u``."""
        return _function(self.output_activation, order).xreplace({_T: u})

    def output(self, x1, x2) -> sp.Expr:
        """The network output at input ``(x1, x2)``."""
        return self.net.forward[0][0].xreplace({self.net.x(1): x1, self.net.x(2): x2})

    @cached_property
    def loss(self) -> sp.Expr:
        """``J = (1/N) sum_s (yhat_s - y_s)**2 / 2``."""
        n = len(self.data)
        return sp.Add(*[(self.output(x1, x2) - y) ** 2 / 2 for x1, x2, y in self.data]) / n

    @cached_property
    def gradient(self) -> tuple[sp.Expr, ...]:
        """``dJ/dp`` for every parameter, in the shared order."""
        return tuple(sp.diff(self.loss, p) for p in self.params)

    @cached_property
    def tied_hessian(self) -> sp.Matrix:
        """The 9x9 Hessian of ``J`` at tied points (ties substituted), symmetric."""
        size = len(self.params)
        upper = {(i, j): sp.diff(self.gradient[i], self.params[j]).xreplace(self.tie)
                 for i in range(size) for j in range(i, size)}
        return sp.Matrix(size, size, lambda i, j: upper[(min(i, j), max(i, j))])

    # -- the blocks ----------------------------------------------------------------------------
    @cached_property
    def cross_block(self) -> sp.Matrix:
        """``S^T H A`` (5x4): directions ``e_p + e_q`` and ``e_b3`` against ``e_p - e_q``."""
        return _directions(+1, b3=True).T * self.tied_hessian * _directions(-1)

    @cached_property
    def antisymmetric_hessian(self) -> sp.Matrix:
        """``H_anti`` (4x4), in ``w1, w2, b1, w5, b3``: rows and columns ``d_w1w3 .. d_w5w6``."""
        anti = _directions(-1)
        return anti.T * self.tied_hessian * anti / 2

    @cached_property
    def compact_antisymmetric_hessian(self) -> sp.Matrix:
        """``(1/N) sum_s e_s phi'(u_s) K_s``, the compact form of ``H_anti`` (see module doc)."""
        w1, w2, b1, w5, b3 = self.tied_symbols
        total = sp.zeros(4, 4)
        for x1, x2, y in self.data:
            z = w1 * x1 + w2 * x2 + b1
            u = 2 * w5 * self.sigma(z) + b3
            weight = (self.phi(u) - y) * self.phi(u, 1)
            xt = sp.Matrix([x1, x2, 1])
            k = sp.zeros(4, 4)
            k[:3, :3] = w5 * self.sigma(z, 2) * xt * xt.T
            k[:3, 3] = self.sigma(z, 1) * xt
            k[3, :3] = self.sigma(z, 1) * xt.T
            total += weight * k
        return total / len(self.data)

    @cached_property
    def tied_gradient(self) -> tuple[sp.Expr, ...]:
        """``dJ/dw1, dJ/dw2, dJ/db1, dJ/dw5, dJ/db3`` at tied points."""
        return tuple(self.gradient[_INDEX[name]].xreplace(self.tie) for name in TIED)

    @functools.cache
    def compiled(self, what: str, module: str):
        """The attribute ``what`` as a function (``sympy.lambdify`` for ``"numpy"`` or
        ``"mpmath"``) of all nine parameters for ``"gradient"``, else of the tied coordinates."""
        args = self.params if what == "gradient" else self.tied_symbols
        exprs = getattr(self, what)
        return sp.lambdify(args, exprs if isinstance(exprs, sp.Matrix) else list(exprs), module)

    def describe(self) -> str:
        """``"hidden sigmoid, output sigmoid, squared error, mean over 4 samples (XOR)"``."""
        name = " (XOR)" if self.data == _data(XOR) else ""
        return (
            f"2-2-1 network, hidden {self.activation}, output {self.output_activation}, "
            f"loss mean over {len(self.data)} samples{name} of (yhat - y)**2/2"
        )


def _function(name: str, order: int) -> sp.Expr:
    """An activation (or its ``order``-th derivative) as an expression in the dummy ``_T``."""
    f = CONCRETE_ACTIVATIONS[name](_T)
    return sp.diff(f, _T, order) if order else f


def _directions(sign: int, b3: bool = False) -> sp.SparseMatrix:
    """9x4: the columns ``e_p + sign e_q``, one per swapped pair ``(p, q)``; then ``e_b3``."""
    entries = {(_INDEX["b3"], len(PAIRS)): 1} if b3 else {}
    for k, (p, q) in enumerate(PAIRS):
        entries[_INDEX[p], k], entries[_INDEX[q], k] = 1, sign
    return sp.SparseMatrix(len(NAMES), len(PAIRS) + b3, entries)


def _data(data) -> tuple[tuple[sp.Rational, sp.Rational, sp.Rational], ...]:
    rows = []
    for row in data:
        try:
            x1, x2, y = row
        except (TypeError, ValueError):
            raise InputError(f"each sample must be (x1, x2, y), got {row!r}") from None
        rows.append(tuple(_rational(v, "a data value") for v in (x1, x2, y)))
    if not 1 <= len(rows) <= MAX_SAMPLES:
        raise InputError(f"the data set must have 1 to {MAX_SAMPLES} samples, got {len(rows)}")
    return tuple(rows)


def stability_model(
    activation: str = "sigmoid", output_activation: str = "sigmoid", data=XOR
) -> StabilityModel:
    """The symbolic training problem, validated and cached.

    Args:
      activation: hidden activation, a name of :data:`symjax.base.choices.ACTIVATIONS`.
      output_activation: ``"sigmoid"`` or ``"identity"``.
      data: samples ``(x1, x2, y)`` of exact rationals (ints, Fractions, strings like ``"1/2"``);
        1 to :data:`MAX_SAMPLES` of them. Default :data:`XOR`.

    Raises:
      InputError: an unknown activation, a bad sample or a value that is not an exact rational.
    """
    activation = activation_name(activation)
    output_activation = choose("output activation", output_activation, OUTPUT_ACTIVATIONS)
    return _cached_model(activation, output_activation, _data(data))


@functools.lru_cache(maxsize=32)
def _cached_model(activation: str, output_activation: str, data) -> StabilityModel:
    return StabilityModel(activation, output_activation, data)


def describe_compact_form(model: StabilityModel) -> str:
    """The compact form of ``H_anti`` with this data set's samples, as readable text."""
    w1, w2, b1, _, _ = model.tied_symbols
    lines = [
        f"H_anti = (1/{len(model.data)}) sum_s e_s phi'(u_s) K_s,",
        "  K_s = [[w5 sigma''(z_s) xt_s xt_s^T, sigma'(z_s) xt_s], [sigma'(z_s) xt_s^T, 0]],",
        "  z_s = w1 x1_s + w2 x2_s + b1, u_s = 2 w5 sigma(z_s) + b3, e_s = phi(u_s) - y_s,",
        "  xt_s = (x1_s, x2_s, 1); rows/columns: (w1-w3, w2-w4, b1-b2, w5-w6)/2",
        f"  sigma = {model.activation}, phi = {model.output_activation}; samples:",
    ]
    for k, (x1, x2, y) in enumerate(model.data, 1):
        z = sp.sstr(w1 * x1 + w2 * x2 + b1)
        lines.append(f"    s={k}: x=({x1}, {x2}), y={y}: z_{k} = {z}, xt_{k} = ({x1}, {x2}, 1)")
    return "\n".join(lines)


def _hypotheses(model: StabilityModel) -> list[str]:
    samples = "; ".join(f"x=({x1}, {x2}) y={y}" for x1, x2, y in model.data)
    return [model.describe(), f"data: {samples}", "gradient descent theta -> theta - eta grad J"]


# -- theorems --------------------------------------------------------------------------------
def prove_block_diagonal(model: StabilityModel) -> Theorem:
    """At tied points the Hessian is block diagonal in symmetric/antisymmetric coordinates.

    Lemmas: (1) the cross block vanishes; (2) ``H_anti`` equals its compact form; (3) the
    coupling ``w5 H_anti[i, 4] = dJ/dp_i`` (``p_i = w1, w2, b1``) and ``H_anti[4, 4] = 0``.
    Every one is an exact simplification to zero of each entry.
    """
    hyp = _hypotheses(model)
    cross = model.cross_block
    block = _all_zero(
        "At every tied point, d^2 J / (ds dd) = 0: the Hessian has no cross block between the "
        "symmetric directions (e_p + e_q, e_b3) and the antisymmetric ones (e_p - e_q)",
        hyp,
        {f"(e_{sym}, e_{p}-{q})": cross[i, j] for i, sym in enumerate(_SYM)
         for j, (p, q) in enumerate(PAIRS)},
        "entry",
    )
    h, compact = model.antisymmetric_hessian, model.compact_antisymmetric_hessian
    form = _all_zero(
        "H_anti = (1/N) sum_s e_s phi'(u_s) [[w5 sigma''(z_s) xt xt^T, sigma'(z_s) xt], "
        "[sigma'(z_s) xt^T, 0]]: the Gauss-Newton part vanishes on the antisymmetric subspace",
        hyp,
        {f"H_anti[{i + 1},{j + 1}]": h[i, j] - compact[i, j] for i in range(4) for j in range(4)},
        "entry minus the compact form",
    )
    w5 = model.p("w5")
    coupling_terms = {
        f"w5*H_anti[{i + 1},4] - dJ/d{name}": w5 * h[i, 3] - model.tied_gradient[i]
        for i, name in enumerate(TIED[:3])
    }
    coupling_terms["H_anti[4,4]"] = h[3, 3]
    coupling = _all_zero(
        "w5 H_anti[i,4] = dJ/dp_i for p_i = w1, w2, b1 and H_anti[4,4] = 0 at tied points: "
        "where the tied gradient in (w1, w2, b1) is not zero, H_anti has a negative eigenvalue",
        hyp,
        coupling_terms,
        "identity",
    )
    theorem = combine(
        "At every tied point the linearised gradient-descent map is block diagonal in "
        "symmetric/antisymmetric coordinates, and a small asymmetry d evolves as "
        "d_{t+1} = (I - eta H_anti(theta_t)) d_t with H_anti given by its compact form",
        hyp,
        [block, form, coupling],
        context={
            "activation": model.activation, "output_activation": model.output_activation,
            "samples": len(model.data),
        },
    )
    theorem.steps[:0] = [
        ProofStep(
            "Coordinates: for each swapped pair (p, q) = (w1,w3), (w2,w4), (b1,b2), (w5,w6), "
            "s = (p + q)/2 and d = (p - q)/2; b3 is symmetric. Tied points are d = 0."
        ),
        ProofStep(
            "GD gives d' = d - eta (dJ/dp - dJ/dq)/2. The loss is invariant under the swap, so "
            "dJ/dp = dJ/dq at tied points and the linearisation is "
            "delta d' = delta d - eta [C^T delta s + H_anti delta d], C the cross block, "
            "H_anti = A^T H A with A = (e_p - e_q)/sqrt(2)."
        ),
        ProofStep(
            "If H_anti[i,4] = c != 0 and H_anti[4,4] = 0, then v = e_4 - t c e_i gives "
            "v^T H_anti v = t^2 c^2 H_anti[i,i] - 2 t c^2 < 0 for small t > 0: a negative "
            "eigenvalue lambda, and |1 - eta lambda| > 1 for every eta > 0."
        ),
    ]
    return theorem


def _all_zero(
    claim: str, hypotheses: list[str], exprs: Mapping[str, sp.Expr], what: str
) -> Theorem:
    """Proven when every expression simplifies to zero exactly; refuted at a non-zero witness.

    Per expression, cheapest first: the expanded numerator over a common denominator is 0
    (proven, in a fraction of a second where the witness search and ``simplify`` take seconds);
    a rational point where the value is not zero (refuted, see
    :func:`~symjax.symbolic._laws.nonzero_witness`); :func:`exactly_zero` (proven). Otherwise
    the verdict is ``unknown``.
    """
    for label, expr in exprs.items():
        if _numerator_vanishes(expr):
            continue
        witness = nonzero_witness(expr, sorted(expr.free_symbols, key=str))
        if witness is not None:
            witness["failing"] = label
            return Theorem(
                claim, hypotheses, REFUTED, witness=witness,
                steps=[ProofStep(f"The {what} {label} is not 0 at the witness.")],
            )
        if not exactly_zero(expr):
            return Theorem(
                claim, hypotheses, UNKNOWN,
                steps=[ProofStep(f"The {what} {label} did not simplify to 0.")],
                reason="no simplification to 0, and no non-zero value at the points tried",
            )
    return Theorem(
        claim, hypotheses, PROVEN,
        steps=[ProofStep(f"Each {what} ({len(exprs)} of them) simplifies to 0 exactly.")],
        guard=_guard.check_identities(exprs, claim, points=_GUARD_POINTS),
    )


def _numerator_vanishes(expr: sp.Expr) -> bool:
    """Over a common denominator the expanded numerator is 0 (an exact rewriting)."""
    numerator, _ = sp.fraction(sp.together(sp.expand(expr)))
    return sp.expand(numerator) == 0


def prove_duplication(model: StabilityModel) -> Theorem:
    """Fukumizu-Amari: on the line of a duplicated hidden unit the 2-2-1 gradient is the 2-1-1 one
    (see the module doc); the 2-1-1 network has hidden unit ``sigma(w1 x1 + w2 x2 + b1)``,
    outgoing weight ``nu`` and output bias ``b3``. Tied points are ``lam = 1/2``."""
    lam, nu = sp.symbols("lam nu", real=True)
    x1, x2 = sp.symbols("x1 x2", real=True)
    w1, w2, b1, b3 = (model.p(name) for name in ("w1", "w2", "b1", "b3"))
    line = {**model.tie, model.p("w5"): lam * nu, model.p("w6"): (1 - lam) * nu}

    def out_211(a, b):
        return model.phi(nu * model.sigma(w1 * a + w2 * b + b1) + b3)

    loss_211 = sp.Add(*[(out_211(a, b) - y) ** 2 / 2 for a, b, y in model.data]) / len(model.data)
    g211 = {name: sp.diff(loss_211, s) for name, s in
            (("u1", w1), ("u2", w2), ("beta", b1), ("nu", nu), ("b3", b3))}

    def g(name: str) -> sp.Expr:
        return model.gradient[_INDEX[name]].xreplace(line)

    identities = {"f_221(x) - f_211(x)": model.output(x1, x2).xreplace(line) - out_211(x1, x2)}
    for (p, q), u in zip(PAIRS, ("u1", "u2", "beta")):
        identities[f"dJ/d{p} - lam dJ211/d{u}"] = g(p) - lam * g211[u]
        identities[f"dJ/d{q} - (1-lam) dJ211/d{u}"] = g(q) - (1 - lam) * g211[u]
    for name, u in (("w5", "nu"), ("w6", "nu"), ("b3", "b3")):
        identities[f"dJ/d{name} - dJ211/d{u}"] = g(name) - g211[u]
    theorem = _all_zero(
        "On the line w1=w3=u1, w2=w4=u2, b1=b2=beta, w5=lam*nu, w6=(1-lam)*nu the 2-2-1 "
        "network equals the 2-1-1 network (u1, u2, beta, nu, b3) and its gradient is the split "
        "2-1-1 gradient: dJ/dw1 = lam dJ211/du1, dJ/dw3 = (1-lam) dJ211/du1 (likewise w2, w4 "
        "and b1, b2), dJ/dw5 = dJ/dw6 = dJ211/dnu, dJ/db3 = dJ211/db3",
        _hypotheses(model) + ["Fukumizu and Amari (2000): the hidden unit of a 2-1-1 network, "
                              "duplicated with its outgoing weight split lam : 1-lam"],
        identities,
        "identity",
    )
    theorem.steps += [
        ProofStep(
            "Hence a critical point (u1, u2, beta, nu, b3) of the 2-1-1 loss gives a whole line "
            "of critical points of the 2-2-1 loss, one for every lam (Fukumizu-Amari)."
        ),
        ProofStep(
            "At tied points (lam = 1/2, w5 = w6 = nu/2): dJ/dw1 = dJ/dw3 = dJ211/du1 / 2 and "
            "dJ/dw5 = dJ/dw6 = dJ211/dnu, so tied GD with step eta is GD on the 2-1-1 network "
            "with step eta/2 on (u1, u2, beta), 2 eta on nu (nu' = nu - eta (dJ/dw5 + dJ/dw6)) "
            "and eta on b3."
        ),
    ]
    theorem.context = {"activation": model.activation,
                       "output_activation": model.output_activation}
    return theorem


# -- numbers ---------------------------------------------------------------------------------
def tied_point(values: Mapping[str, Any] | None = None) -> dict[str, sp.Rational]:
    """A tied point as exact rationals ``{w1, w2, b1, w5, b3}``.

    Args:
      values: any of the nine parameter names with exact rational values (ints, Fractions,
        strings like ``"1/3"`` or ``"0.5"``); both members of a pair may be given if equal.
        Missing coordinates come from :data:`DEFAULT_POINT`.

    Raises:
      InputError: an unknown name, a value that is not rational, or a pair given two values.
    """
    values = dict(values or {})
    for name in values:
        choose("parameter", name, NAMES)
    partner = {q: p for p, q in PAIRS}
    out = {name: _rational(v, name) for name, v in DEFAULT_POINT.items()}
    given: dict[str, sp.Rational] = {}
    for name, v in values.items():
        rep, value = partner.get(name, name), _rational(v, name)
        if given.setdefault(rep, value) != value:
            raise InputError(
                f"the point is not tied: {rep}={given[rep]} but {name}={value} "
                f"(tied points have w1=w3, w2=w4, b1=b2, w5=w6)"
            )
    return {name: given.get(name, out[name]) for name in TIED}


@dataclass(frozen=True)
class Growth:
    """The per-step amplification of a small asymmetry at one tied point.

    Attributes:
      factor: spectral radius of ``I - eta H_anti``, ``max |1 - eta lambda_i|``.
      eigenvalues: eigenvalues of ``H_anti``, ascending.
      hessian: ``H_anti`` at the point (4x4, float64).
      tied_gradient: ``dJ/dw1, dJ/dw2, dJ/db1, dJ/dw5, dJ/db3`` at the point; where one of the
        first three is not zero the coupling lemma gives ``factor > 1``.
      lr: ``eta``.
      point: the tied point, name -> exact rational as a string.
    """

    factor: float
    eigenvalues: tuple[float, ...]
    hessian: np.ndarray
    tied_gradient: tuple[float, ...]
    lr: float
    point: dict[str, str]

    @property
    def grows(self) -> bool:
        """Whether some asymmetry is amplified by one step."""
        return self.factor > 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (floats and strings)."""
        return {
            "growth_factor": self.factor,
            "eigenvalues": list(self.eigenvalues),
            "H_anti": self.hessian.tolist(),
            "tied_gradient": list(self.tied_gradient),
            "lr": self.lr,
            "point": dict(self.point),
        }


def antisymmetric_hessian_at(
    model: StabilityModel, point: Mapping[str, Any] | None = None, *, dps: int = 30
) -> mpmath.matrix:
    """``H_anti`` at a tied point, evaluated with mpmath at ``dps`` digits (exact inputs)."""
    with mpmath.workdps(dps):
        values = map(_mpf, tied_point(point).values())
        return mpmath.matrix(model.compiled("antisymmetric_hessian", "mpmath")(*values))


def growth_factor(
    model: StabilityModel, point: Mapping[str, Any] | None = None, lr: Any = DEFAULT_LR,
    *, dps: int = 30,
) -> Growth:
    """The :class:`Growth` at a tied point (see :func:`tied_point`; default
    :data:`DEFAULT_POINT`) for a positive learning rate ``lr`` (exact rational or float),
    evaluated with mpmath at ``dps`` digits."""
    values = list(tied_point(point).values())
    eta = _rational(lr, "the learning rate")
    if eta <= 0:
        raise InputError(f"the learning rate must be positive, got {lr!r}")
    h = antisymmetric_hessian_at(model, point, dps=dps)
    with mpmath.workdps(dps):
        eigenvalues = sorted(mpmath.eigsy(h, eigvals_only=True))
        factor = max(abs(1 - _mpf(eta) * lam) for lam in eigenvalues)
        gradient = model.compiled("tied_gradient", "mpmath")(*[_mpf(v) for v in values])
        return Growth(
            factor=float(factor),
            eigenvalues=tuple(float(lam) for lam in eigenvalues),
            hessian=np.array([[float(h[i, j]) for j in range(4)] for i in range(4)]),
            tied_gradient=tuple(float(g) for g in gradient),
            lr=float(eta),
            point={name: str(v) for name, v in zip(TIED, values)},
        )


def split_pairs(theta) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric and antisymmetric parts of parameter vectors in the shared order.

    Args:
      theta: shape ``(..., 9)``: ``[w1..w6, b1, b2, b3]``.

    Returns:
      ``(s, d)``: ``s`` of shape ``(..., 5)``, the tied coordinates ``(w1+w3)/2, (w2+w4)/2,
      (b1+b2)/2, (w5+w6)/2, b3``; ``d`` of shape ``(..., 4)``, ``(p - q)/2`` for each pair.
      Works on NumPy arrays of floats or of objects (mpmath numbers).
    """
    theta = np.asarray(theta)
    if theta.shape[-1] != len(NAMES):
        raise InputError(f"parameter vectors must have {len(NAMES)} entries, got {theta.shape}")
    p, q = theta[..., _FIRST], theta[..., _SECOND]
    s = np.concatenate([(p + q) / 2, theta[..., [_INDEX["b3"]]]], axis=-1)
    return s, (p - q) / 2


def join_pairs(s, d) -> np.ndarray:
    """Inverse of :func:`split_pairs`: ``p = s + d``, ``q = s - d``."""
    s, d = np.asarray(s), np.asarray(d)
    out = np.empty(s.shape[:-1] + (len(NAMES),), dtype=np.result_type(s, d))
    out[..., _FIRST], out[..., _SECOND] = s[..., :4] + d, s[..., :4] - d
    out[..., _INDEX["b3"]] = s[..., 4]
    return out


@dataclass(frozen=True)
class AsymmetryPrediction:
    """The linear prediction of an asymmetry along a tied trajectory.

    Attributes:
      d: shape ``(T+1, 4)``: ``d_0`` and ``d_{t+1} = (I - eta H_anti(theta_t)) d_t``.
      norms: shape ``(T+1,)``: Euclidean norms of ``d``.
      factors: shape ``(T,)``: per-step spectral radii of ``I - eta H_anti(theta_t)``.
    """

    d: np.ndarray
    norms: np.ndarray
    factors: np.ndarray


def predict_asymmetry(
    model: StabilityModel, trajectory, d0, lr: float
) -> AsymmetryPrediction:
    """Propagate an asymmetry with the linearised GD map along a tied trajectory (float64).

    Args:
      trajectory: shape ``(T, 9)``: tied parameter vectors ``theta_0..theta_{T-1}`` in the shared
        order (e.g. from :func:`tied_trajectory` or the numeric half). The linearisation is
        taken at each row's symmetric part (:func:`split_pairs`).
      d0: shape ``(4,)``: the initial asymmetry ``((w1-w3)/2, (w2-w4)/2, (b1-b2)/2, (w5-w6)/2)``.
      lr: the learning rate ``eta``.
    """
    s, _ = split_pairs(np.asarray(trajectory, dtype=np.float64))
    if s.ndim != 2:
        raise InputError(f"the trajectory must have shape (T, 9), got {np.shape(trajectory)}")
    d = np.asarray(d0, dtype=np.float64)
    if d.shape != (4,):
        raise InputError(f"d0 must have shape (4,), got {d.shape}")
    ds, factors = [d], []
    h_anti = model.compiled("antisymmetric_hessian", "numpy")
    for row in s:
        step = np.eye(4) - lr * np.asarray(h_anti(*row), dtype=np.float64)
        factors.append(np.max(np.abs(np.linalg.eigvalsh(step))))
        d = step @ d
        ds.append(d)
    ds_arr = np.array(ds)
    return AsymmetryPrediction(ds_arr, np.linalg.norm(ds_arr, axis=1), np.array(factors))


def tied_trajectory(
    model: StabilityModel, point: Mapping[str, Any] | None = None, lr: float = 0.5,
    steps: int = 100,
) -> np.ndarray:
    """Gradient descent on the tied subspace, in float64 (no JAX needed).

    The tied coordinates ``(w1, w2, b1, w5, b3)`` follow ``c' = c - eta dJ/dc|tied`` (the
    gradient of ``J`` with respect to ``w1`` at a tied point, etc., which equals that of ``w3``),
    so the rows are exactly tied.

    Returns:
      Shape ``(steps + 1, 9)``: ``theta_0 .. theta_steps`` in the shared order.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    c = np.array([float(v) for v in tied_point(point).values()])
    rows = [c]
    gradient = model.compiled("tied_gradient", "numpy")
    for _ in range(steps):
        c = c - lr * np.asarray(gradient(*c), dtype=np.float64)
        rows.append(c)
    tied = np.array(rows)
    return join_pairs(tied, np.zeros(tied.shape[:-1] + (4,)))


def gd_step(model: StabilityModel, theta: Sequence, lr, *, dps: int = 50) -> list:
    """One full gradient-descent step ``theta - lr grad J(theta)`` in mpmath at ``dps`` digits:
    nine numbers (strings, rationals, mpmath numbers) in the shared order -> nine ``mpf``."""
    eta = _rational(lr, "the learning rate")
    with mpmath.workdps(dps):
        values = [_mpf(v) for v in theta]
        grad = model.compiled("gradient", "mpmath")(*values)
        return [v - _mpf(eta) * g for v, g in zip(values, grad)]


def _mpf(value) -> mpmath.mpf:
    """An mpmath number at the working precision; SymPy rationals converted exactly."""
    if isinstance(value, sp.Rational):
        return mpmath.mpf(value.p) / value.q
    return mpmath.mpf(value)
