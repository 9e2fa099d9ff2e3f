"""The falsification guard: every "proven" is checked by code that shares nothing with the prover.

A prover bug must never reach a user as a theorem. So before any :class:`Theorem` with the
verdict ``"proven"`` can exist, the claim is evaluated again here, by independent means:

* Tie theorems (``prove``, permutations, lattices, the gradient lemma of every optimizer proof):
  this module runs its own forward pass of the network (plain Python, no SymPy) and its own
  forward-mode derivatives (:class:`Dual`), with every undefined function (``sigma``, ``phi``,
  ``l``) replaced by several random *generic* concrete functions: polynomials and transcendental
  functions with random rational coefficients, no symmetry, and a loss that treats every output
  differently. At random exact rational points of the tied subspace (inputs, targets and dropout
  masks random too) it computes ``dJ/dp - dJ/dq`` for every tied pair: exactly (fractions) when
  every function is rational, else with mpmath at :data:`DIGITS` digits.
* Identities proven by simplification (optimizer updates, conservation laws, stability): the
  *un-simplified* expressions are evaluated at random exact rational points that satisfy the
  hypotheses (symbol assumptions, tied symbols equal), never simplified.

A non-zero value is a contradiction: :class:`GuardContradiction` is raised, no "proven" is
returned, and the command line reports it with its own exit status. A refutation's witness is
re-checked the same way (:func:`confirm_tie_witness`): it must satisfy the hypotheses it
refutes, and the difference it names must be non-zero there.

The record each check returns (``Theorem.guard``) states what was evaluated: the
instantiations, the number of points, and the largest residual.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import mpmath

from ..base.choices import LEAKY_RELU_SLOPE
from ..base.errors import GuardContradiction
from ..base.layout import Layout

#: Digits of the mpmath evaluations.
DIGITS = 60
#: A residual counts as zero when it is at most this times the size of the compared values.
RELATIVE_TOLERANCE = mpmath.mpf(10) ** -(DIGITS * 2 // 3)
#: Random points per instantiation.
POINTS = 3
#: Random points for an identity check of expressions.
EXPRESSION_POINTS = 5

UNDEFINED = ("sigma", "phi", "l")


# -- numbers with a derivative ---------------------------------------------------------------
class Dual:
    """``v + d eps`` with ``eps**2 = 0``: forward-mode derivative of arithmetic."""

    __slots__ = ("v", "d")

    def __init__(self, v, d=0):
        self.v, self.d = v, d

    @staticmethod
    def lift(x) -> Dual:
        return x if isinstance(x, Dual) else Dual(x, 0)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __sub__(self, o):
        return self + (-Dual.lift(o))

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.v * o.v, self.v * o.d + self.d * o.v)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.v / o.v, (self.d * o.v - self.v * o.d) / (o.v * o.v))


def _apply(f: Callable, fprime: Callable, x):
    """``f(x)`` for a number or a :class:`Dual` (chain rule with ``fprime``)."""
    if isinstance(x, Dual):
        return Dual(f(x.v), fprime(x.v) * x.d)
    return f(x)


def _mp(x):
    if isinstance(x, Fraction):
        return mpmath.mpf(x.numerator) / x.denominator
    return x if isinstance(x, mpmath.mpf | mpmath.mpc) else mpmath.mpf(x)


# -- concrete functions, written here again on purpose --------------------------------------
def _sigmoid(v):
    return 1 / (1 + mpmath.exp(-_mp(v)))


_SLOPE = Fraction(str(LEAKY_RELU_SLOPE))
#: name -> (value, derivative), on plain numbers; relu'(0) = 0 and leaky_relu'(0) = 1 as in
#: the numeric engine.
CONCRETE: dict[str, tuple[Callable, Callable]] = {
    "identity": (lambda v: v, lambda v: 1),
    "tanh": (lambda v: mpmath.tanh(_mp(v)), lambda v: 1 - mpmath.tanh(_mp(v)) ** 2),
    "sigmoid": (_sigmoid, lambda v: _sigmoid(v) * (1 - _sigmoid(v))),
    "relu": (lambda v: v if v > 0 else 0 * v, lambda v: 1 if v > 0 else 0),
    "leaky_relu": (lambda v: v if v >= 0 else _SLOPE * v, lambda v: 1 if v >= 0 else _SLOPE),
    "softplus": (lambda v: mpmath.log(1 + mpmath.exp(_mp(v))), _sigmoid),
}
EXACT = ("identity", "relu", "leaky_relu")


def _concrete(name: str) -> Callable:
    f, fprime = CONCRETE[name]
    return lambda x: _apply(f, fprime, x)


def _generic_polynomial(rng: random.Random) -> tuple[Callable, str]:
    """A cubic with random non-zero rational coefficients (neither odd nor even)."""
    c = [_nonzero(rng) for _ in range(4)]

    def f(x):
        return c[0] + x * (c[1] + x * (c[2] + x * c[3]))

    return f, "cubic " + ", ".join(map(str, c))


def _generic_transcendental(rng: random.Random, squash: bool) -> tuple[Callable, str]:
    """``tanh(a x + b) + c x`` (or a shifted sigmoid when values must lie in (0, 1))."""
    exact = (_nonzero(rng), _nonzero(rng), _nonzero(rng) / 7)
    a, b, c = (_mp(v) for v in exact)
    if squash:
        def f(x):
            return _apply(lambda v: _sigmoid(a * _mp(v) + _mp(b)),
                          lambda v: a * _sigmoid(a * _mp(v) + _mp(b))
                          * (1 - _sigmoid(a * _mp(v) + _mp(b))), x)

        return f, f"sigmoid({exact[0]} x + {exact[1]})"

    def g(x):
        return _apply(
            lambda v: mpmath.tanh(a * _mp(v) + _mp(b)) + c * _mp(v),
            lambda v: a * (1 - mpmath.tanh(a * _mp(v) + _mp(b)) ** 2) + c, x,
        )

    return g, f"tanh({exact[0]} x + {exact[1]}) + {exact[2]} x"


def _generic_loss(rng: random.Random, k: int, exact: bool) -> tuple[Callable, str]:
    """A loss of ``k`` outputs and ``k`` targets that treats every output differently."""
    c = [[_nonzero(rng) for _ in range(4)] for _ in range(k)]
    mix = _nonzero(rng)

    def loss(u: Sequence, y: Sequence):
        total = 0
        for j in range(k):
            e = u[j] - y[j]
            total = total + c[j][0] * e * e + c[j][1] * u[j] * u[j] * u[j] + c[j][2] * u[j] * y[j]
            total = total + c[j][3] * u[j] * y[(j + 1) % k]
        for j in range(k - 1):
            total = total + mix * (j + 1) * u[j] * u[j + 1] * u[j + 1]
        if not exact:
            total = total + _apply(mpmath.exp, mpmath.exp, u[0] / 3) * (1 + y[-1])
        return total

    return loss, "polynomial" + ("" if exact else " + exp") + f", {k} outputs, asymmetric"


def _squared_error(u, y):
    return sum((a - t) * (a - t) / 2 for a, t in zip(u, y))


def _log(x):
    return _apply(lambda v: mpmath.log(_mp(v)), lambda v: 1 / _mp(v), x)


def _bce(u, y):
    return sum(-(t * _log(a) + (1 - t) * _log(1 - a)) for a, t in zip(u, y))


def _softmax_ce(u, y):
    lse = _log(sum(_apply(mpmath.exp, mpmath.exp, a) for a in u))
    return sum(t * (lse - a) for a, t in zip(u, y))


_LOSSES = {"squared_error": _squared_error, "bce": _bce, "softmax_cross_entropy": _softmax_ce}


def _nonzero(rng: random.Random) -> Fraction:
    while True:
        f = Fraction(rng.randint(-9, 9), rng.randint(1, 7))
        if f:
            return f


def _rational(rng: random.Random, low: int, high: int) -> Fraction:
    den = rng.randint(2, 13)
    return Fraction(rng.randint(int(low * den) + 1, int(high * den) - 1), den)


# -- the network, written here again on purpose ---------------------------------------------
class _Instance:
    """Concrete functions for one instantiation of a network's activations and loss."""

    def __init__(self, options: Mapping[str, Any], rng: random.Random, number: int):
        act, out, loss = options["activation"], options["output_activation"], options["loss"]
        self.exact = exact = (all(name in EXACT + UNDEFINED for name in (act, out))
                              and loss in ("squared_error", "l") and number < 2)
        self.words = []
        self.hidden = self._function(act, rng, exact, squash=False)
        self.output = self._function(out, rng, exact, squash=loss == "bce")
        if loss in _LOSSES:
            self.loss, words = _LOSSES[loss], loss
        else:
            self.loss, words = _generic_loss(rng, options["outputs"], exact)
        self.words.append(f"l: {words}")

    def _function(self, name: str, rng, exact: bool, squash: bool) -> Callable:
        if name in CONCRETE:
            return _concrete(name)
        f, words = _generic_polynomial(rng) if exact else _generic_transcendental(rng, squash)
        self.words.append(f"{name}: {words}")
        return f


def _loss(layout: Layout, inst: _Instance, options, params: Mapping[str, Any], data) -> Any:
    """``J`` of the network at ``params`` on ``data`` (list of (inputs, targets, masks))."""
    total = 0
    for inputs, targets, masks in data:
        values = list(inputs)
        for layer in range(1, layout.n_layers + 1):
            act = inst.output if layer == layout.n_layers else inst.hidden
            new = []
            for unit in range(1, layout.widths[layer] + 1):
                z = params[layout.bias(layer, unit)]
                for src in range(1, layout.widths[layer - 1] + 1):
                    z = z + params[layout.weight(layer, unit, src)] * values[src - 1]
                a = act(z)
                if layer < layout.n_layers:
                    a = a * masks[(layer, unit)]
                new.append(a)
            values = new
        total = total + inst.loss(values, targets)
    if options["reduction"] == "mean":
        total = total / len(data)
    return total


def _signed(name: str) -> tuple[str, int]:
    return (name[1:], -1) if name.startswith("-") else (name, 1)


def _classes(names: Sequence[str], pairs) -> dict[str, tuple[str, int]]:
    """Each name -> (the first name of its tie class, the sign: value = sign * value(first)).

    Written here again on purpose (the prover has ``Layout.tie_signs``): the check shares no
    code with what it checks.
    """
    parent: dict[str, tuple[str, int]] = {n: (n, 1) for n in names}

    def find(x):
        sign = 1
        while parent[x][0] != x:
            x, s = parent[x]
            sign *= s
        return x, sign

    for p, signed_q in pairs:
        q, sign = _signed(signed_q)
        (a, sa), (b, sb) = find(p), find(q)
        if a != b:
            first, second = sorted((a, b), key=list(names).index)
            parent[second] = (first, sign * sa * sb)
    return {n: find(n) for n in names}


def _data(layout: Layout, options, value: Callable) -> list:
    """``(inputs, targets, masks)`` per sample; ``value(name, low, high)`` gives the value of the
    data symbol ``name`` (as :class:`SymbolicMLP` names it: ``x1_2``, ``y``, ``R1``, ``r3``)."""
    data = []
    k_out = layout.widths[-1]
    for s in range(1, options["samples"] + 1):
        tail = f"_{s}" if options["samples"] > 1 else ""
        inputs = [value(f"x{i}{tail}", -2, 2) for i in range(1, layout.widths[0] + 1)]
        targets = [value(("y" if k_out == 1 else f"y{k}") + tail, 0, 1)
                   for k in range(1, k_out + 1)]
        masks = {}
        for layer in layout.hidden_layers:
            shared = value(f"R{layer}{tail}", 0, 2)
            for unit in range(1, layout.widths[layer] + 1):
                if options["dropout"] == "shared":
                    masks[(layer, unit)] = shared
                elif options["dropout"] == "independent":
                    masks[(layer, unit)] = value(f"r{layout.unit_number(layer, unit)}{tail}", 0, 2)
                else:
                    masks[(layer, unit)] = 1
        data.append((inputs, targets, masks))
    return data


def _gradient(layout, inst, options, point, data, name):
    params = {n: Dual(v, 1 if n == name else 0) for n, v in point.items()}
    return Dual.lift(_loss(layout, inst, options, params, data)).d


def _residual(a, b) -> tuple[Any, bool]:
    """``|a - b|`` and whether it is zero (exactly, or to the relative tolerance)."""
    if isinstance(a, Fraction | int) and isinstance(b, Fraction | int):
        return abs(Fraction(a) - Fraction(b)), a == b
    a, b = _mp(a), _mp(b)
    r = abs(a - b)
    return r, r <= RELATIVE_TOLERANCE * (1 + abs(a) + abs(b))


def check_tie_gradients(widths, pairs, options: Mapping[str, Any], claim: str) -> dict:
    """Check "tied parameters receive equal gradients" independently, or raise
    :class:`GuardContradiction` (naming ``claim``) where some tied pair's gradients differ.

    ``options`` are the network's (``activation``, ``output_activation``, ``loss``, ``samples``,
    ``reduction``, ``dropout``) as the prover had them. Returns the guard record: method,
    instantiations (their functions in words), points, evaluations and the largest residual.
    """
    layout = Layout(widths)
    options = {**options, "outputs": layout.widths[-1]}
    names = layout.names
    rep = _classes(names, pairs)
    rng = random.Random(f"guard {layout.widths_str} {sorted(pairs)} {sorted(options.items())}")
    instances, largest, evaluations = [], 0.0, 0
    with mpmath.workdps(DIGITS):
        for number in range(3):
            inst = _Instance(options, rng, number)
            instances.append("; ".join(inst.words) or "the concrete functions as given")

            def draw(name: str, low: int, high: int, exact: bool = inst.exact):
                """A random rational (as an mpmath number where the functions are not)."""
                value = _rational(rng, low, high)
                return value if exact else _mp(value)

            for _ in range(POINTS):
                values = {}
                for n in names:
                    first, sign = rep[n]
                    values[n] = sign * values[first] if first != n else draw(n, -2, 2)
                data = _data(layout, options, draw)
                grads: dict[str, Any] = {}
                for p, signed_q in pairs:
                    q, sign = _signed(signed_q)
                    for n in (p, q):
                        if n not in grads:
                            grads[n] = _gradient(layout, inst, options, values, data, n)
                    r, zero = _residual(grads[p], sign * grads[q])
                    evaluations += 1
                    largest = max(largest, float(r))
                    if not zero:
                        words = f"dJ/d{p} {'-' if sign > 0 else '+'} dJ/d{q}"
                        value = _mp(grads[p]) - sign * _mp(grads[q])
                        raise GuardContradiction(
                            f"the independent check contradicts the proof of: {claim} "
                            f"({words} = {mpmath.nstr(value, 8)}"
                            f" with {'; '.join(inst.words) or 'the given functions'} at "
                            + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"
                        )
    return {
        "method": "independent forward pass and forward-mode derivatives (no SymPy), random "
                  "generic functions, random exact points on the tied subspace",
        "instantiations": instances,
        "points": POINTS * len(instances),
        "evaluations": evaluations,
        "largest_residual": float(largest),
        "digits": DIGITS,
    }


def confirm_tie_witness(widths, pairs, options: Mapping[str, Any], witness: Mapping) -> None:
    """Re-check a refutation's witness independently, or raise :class:`GuardContradiction`.

    The witness must lie on the tied subspace (tied parameters equal, exactly), give every
    dropout mask a value inverted dropout can produce (``0`` or ``1/(1 - rate)``), and the
    difference it names must be non-zero there, evaluated by this module's own network.
    """
    layout = Layout(widths)
    rep = _classes(layout.names, pairs)
    point = {n: Fraction(witness[n]) for n in layout.names}
    for n in layout.names:
        first, sign = rep[n]
        if point[n] != sign * point[first]:
            raise GuardContradiction(
                f"the witness is not on the tied subspace: {n}={point[n]} but "
                f"{first}={point[first]}"
            )
    functions = ("activation", "output_activation", "loss")
    chosen = {key: witness[key] for key in functions if key in witness}
    opts = {**options, "outputs": layout.widths[-1], **chosen}
    if any(opts[k] in UNDEFINED for k in functions):
        raise GuardContradiction("the witness leaves a function undefined")

    def given(name: str, low, high) -> Fraction | None:
        """The witness's value (``None`` for a mask of the kind not in use, like ``R1``)."""
        return Fraction(witness[name]) if name in witness else None

    data = _data(layout, opts, given)
    keep = Fraction(witness.get("dropout_rate", "0"))
    masks = [m for _, _, sample in data for m in sample.values()] if opts["dropout"] else []
    for m in masks:
        if m not in (0, 1 / (1 - keep)):
            raise GuardContradiction(
                f"the witness gives a dropout mask the value {m}; inverted dropout "
                f"with rate {keep} gives only 0 or {1 / (1 - keep)}"
            )
    p, op, q = witness["difference"].replace("dJ/d", "").split(" ")
    sign = 1 if op == "-" else -1
    inst = _Instance(opts, random.Random(0), 0)
    with mpmath.workdps(DIGITS):
        gp = _gradient(layout, inst, opts, point, data, p)
        gq = _gradient(layout, inst, opts, point, data, q)
        _, zero = _residual(gp, sign * gq)
    if zero:
        raise GuardContradiction(
            f"the witness does not refute the tie of {p} and {q}: the independent check finds "
            f"{witness['difference']} = 0 there"
        )


# -- identities proven by simplification ----------------------------------------------------
def check_identities(
    exprs: Mapping[str, Any], claim: str, *, equal: Mapping | None = None,
    points: int = EXPRESSION_POINTS, seed: str = "",
) -> dict:
    """Evaluate un-simplified SymPy expressions at random exact points; all must vanish.

    Values respect each symbol's assumptions (integer, positive, nonnegative, real);
    ``equal`` maps a symbol (or an ``IndexedBase``) to another whose value it takes (the tie
    hypotheses). Sums over a symbolic range are expanded at a random small size first. No
    expression is simplified: each is evaluated to :data:`DIGITS` digits.

    Raises:
      GuardContradiction: some expression is not zero at some point.
    """
    import sympy as sp  # the expressions are SymPy's; only evaluation is used

    equal = dict(equal or {})
    rng = random.Random(f"identities {claim} {seed}")
    largest = mpmath.mpf(0)
    evaluations = 0
    with mpmath.workdps(DIGITS):
        for label, expr in exprs.items():
            expr = sp.sympify(expr)
            done = tries = 0
            while done < points:
                tries += 1
                if tries > 20 * points:
                    raise GuardContradiction(
                        f"the independent check could not evaluate {label} of: {claim}"
                    )
                try:
                    value = _evaluate(sp, expr, equal, rng)
                except (ValueError, TypeError, ZeroDivisionError):
                    value = None  # SymPy refused the point (a comparison with nan, 1/0)
                if value is None:
                    continue
                done += 1
                evaluations += 1
                largest = max(largest, abs(value))
                if abs(value) > RELATIVE_TOLERANCE * 10**6:
                    raise GuardContradiction(
                        f"the independent check contradicts the proof of: {claim} "
                        f"({label} = {mpmath.nstr(value, 8)} at a random point where the "
                        f"hypotheses hold)"
                    )
    return {
        "method": "un-simplified expressions evaluated at random exact points satisfying the "
                  "hypotheses",
        "expressions": len(exprs),
        "points": points,
        "evaluations": evaluations,
        "largest_residual": float(largest),
        "digits": DIGITS,
    }


def _value_for(sp, sym, rng: random.Random):
    a = sym.assumptions0
    if a.get("integer"):
        return sp.Integer(rng.randint(0 if a.get("nonnegative") else 1, 5))
    f = _rational(rng, 0 if a.get("nonnegative") else -2, 2)
    if a.get("nonnegative") and not a.get("positive") and rng.random() >= 0.8:
        return sp.Integer(0)  # a nonnegative symbol is 0 one time in five
    return sp.Rational(f.numerator, f.denominator)


def _evaluate(sp, expr, equal: Mapping, rng: random.Random):
    """One evaluation at a random point, or ``None`` where the expression is undefined."""
    point = {}
    labels = {base.label for base in expr.atoms(sp.IndexedBase)}
    symbols = sorted(expr.free_symbols - labels, key=str)
    for sym in symbols:
        if isinstance(sym, sp.Symbol) and sym not in equal:
            point[sym] = _value_for(sp, sym, rng)
    for sym, other in equal.items():
        if isinstance(sym, sp.Symbol):
            point[sym] = sp.sympify(other).xreplace(point)
    value = expr.xreplace(point)
    if value.has(sp.Sum):
        value = value.doit()
    indexed = sorted(value.atoms(sp.Indexed), key=str)

    def source(base):
        """(the base whose values this base takes, the sign)."""
        if base not in equal:
            return base, 1
        coeff, target = sp.sympify(equal[base]).as_coeff_Mul()
        return target, int(coeff)

    values: dict = {}
    replace = {}
    for item in indexed:
        base, sign = source(item.base)
        key = (base, item.indices)
        if key not in values:
            values[key] = _value_for(sp, sp.Symbol("v", real=True), rng)
        replace[item] = sign * values[key]
    value = value.xreplace(replace)
    if value.free_symbols:
        raise GuardContradiction(f"internal error: symbols left after evaluation: {value}")
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    number = value.evalf(DIGITS)
    if not number.is_number or number.has(sp.zoo, sp.nan) or not number.is_extended_real:
        return None
    return mpmath.mpf(str(number))


def vacuous(reason: str) -> dict:
    """The record of a claim with nothing to evaluate (an empty tie set, no state)."""
    return {"method": f"nothing to evaluate: {reason}", "evaluations": 0, "largest_residual": 0.0}


def conjunction(records: Sequence[Mapping]) -> dict:
    """The record of a conjunction: its lemmas' checks together."""
    return {
        "method": f"conjunction of {len(records)} checked lemmas",
        "evaluations": sum(int(r.get("evaluations", 0)) for r in records),
        "largest_residual": max([float(r.get("largest_residual", 0.0)) for r in records],
                                default=0.0),
    }
