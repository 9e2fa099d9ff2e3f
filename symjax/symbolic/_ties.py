"""Which ties between parameters does gradient descent preserve? Proofs and witnesses.

A tie set (``w1=w3, w2=w4, b1=b2, w5=w6``) is *invariant* when, at every point where the ties
hold, tied parameters receive equal gradients: a gradient step then keeps every tie, at every
step, whatever the learning rate. The prover substitutes the ties (each class of tied parameters
becomes its first member) into ``dJ/dp`` and ``dJ/dq`` for every tied pair ``p=q`` and shows the
difference is exactly zero: first structurally (after the substitution the two gradients are
usually the very same expression), then by exact rewriting (:func:`exactly_zero`). Nothing is
ever proven by evaluating at points.

When a difference is not zero, the prover looks for a witness: a point of exact rationals that
satisfies the ties (tied parameters get equal values) and, if the claim was about undefined
functions, concrete choices of them (``identity`` first, as it keeps values rational; then
``leaky_relu``, then ``tanh``), at which the difference is a non-zero number. The value is exact
when it is rational, else SymPy's ``evalf`` to 30 digits with ``strict=True``, which fails rather
than return digits it cannot guarantee, so a non-zero value is rigorously non-zero.

The verdict is ``"unknown"`` only when the time limit is hit. On the main thread of a Unix
process the limit interrupts long SymPy calls (``SIGALRM``); elsewhere it is checked between
steps.
"""

from __future__ import annotations

import functools
import itertools
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sympy as sp
from sympy.core.evalf import PrecisionExhausted

from ..base.choices import UNDEFINED_ACTIVATION, UNDEFINED_LOSS
from ..base.errors import InputError
from ..base.layout import Layout, format_ties, has_sign_flip, parse_widths, split_signed
from ..base.text import tex_escape, text_table
from . import _guard
from ._network import (
    CONCRETE_ACTIVATIONS,
    CONCRETE_LOSSES,
    UNDEFINED_OUTPUT_ACTIVATION,
    SymbolicMLP,
    canonical,
    exactly_zero,
)
from ._render import latex, text
from ._theorem import PROVEN, REFUTED, UNKNOWN, ProofStep, Theorem, combine

#: Default time limit of a proof, in seconds.
DEFAULT_TIMEOUT = 120.0
#: Most generating ties of a lattice (2**8 = 256 subsets).
MAX_LATTICE_GENERATORS = 8
#: Concrete activations tried for an undefined hidden activation, exact ones first.
WITNESS_ACTIVATIONS = ("identity", "leaky_relu", "tanh")
#: Witness keys naming the concrete functions chosen for undefined ones.
_FUNCTION_KEYS = ("activation", "output_activation", "loss")
#: Concrete functions whose values at rationals are (in general) irrational.
_TRANSCENDENTAL = ("tanh", "sigmoid", "softplus")
#: Points tried per concrete choice before falling back on ``simplify``.
QUICK_POINTS = 6
#: Dropout rate of the masks in witnesses (each mask is 0 or 1/(1 - rate) = 2).
DROPOUT_RATE = "1/2"
#: Symbolic differences longer than this (in operations) are not printed in the proof steps.
MAX_SHOWN_OPS = 120

Pairs = tuple[tuple[str, str], ...]


# -- time limit ----------------------------------------------------------------------------
class _TimeLimit(Exception):
    """The time limit of a proof was reached."""


#: Longest time limit accepted, in seconds (a year; also keeps the deadline a valid time).
_MAX_TIMEOUT = 365 * 24 * 3600


class _Budget:
    """A deadline shared by the steps of one proof (or one lattice)."""

    def __init__(self, seconds: float):
        if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                or not 0 < seconds < _MAX_TIMEOUT):
            raise InputError(f"timeout must be a positive number of seconds (at most "
                             f"{_MAX_TIMEOUT}), got {seconds!r}")
        self.seconds = float(seconds)
        self.deadline = time.monotonic() + self.seconds

    def check(self) -> None:
        if time.monotonic() >= self.deadline:
            raise _TimeLimit

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Interrupt the block when the deadline passes (``SIGALRM`` where available)."""
        self.check()
        main = threading.current_thread() is threading.main_thread()
        if not (main and hasattr(signal, "setitimer")):
            yield
            return

        def _raise(signum, frame):
            raise _TimeLimit

        previous = signal.signal(signal.SIGALRM, _raise)
        signal.setitimer(signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 1e-3))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


# -- tie sets ------------------------------------------------------------------------------
def permutation_ties(widths, layer: int, perm) -> Pairs:
    """The ties fixed by a permutation ``perm`` of the units of hidden ``layer`` (1-based);
    ``perm`` as :meth:`symjax.Layout.permutation_map` takes it: a 1-based dict ``{i: perm(i)}``
    or a 0-based sequence of images.

    >>> permutation_ties((2, 2, 1), 1, {1: 2, 2: 1})
    (('w1', 'w3'), ('w2', 'w4'), ('w5', 'w6'), ('b1', 'b2'))
    """
    return Layout(widths).permutation_pairs(layer, perm)


def whole_layer_ties(widths, layer: int) -> Pairs:
    """Every unit of hidden ``layer`` tied to every other (the fixed set of a full cycle)."""
    layout = Layout(widths)
    width = layout.widths[layer] if layer in layout.hidden_layers else 1
    return layout.permutation_pairs(layer, {i: i % width + 1 for i in range(1, width + 1)})


def swap_ties(layout: Layout) -> Pairs:
    """The swap of the first two units of hidden layer 1."""
    if not layout.hidden_layers or layout.widths[1] < 2:
        raise InputError(
            f"widths {layout.widths_str} have no hidden layer 1 with two units to swap; "
            f"give the ties explicitly, e.g. w1=w3"
        )
    return layout.swap_pairs(1, 1, 2)


def resolve_ties(layout: Layout, ties) -> Pairs:
    """``None`` -> :func:`swap_ties`; a string or pairs -> :meth:`Layout.parse_ties`."""
    return swap_ties(layout) if ties is None else layout.parse_ties(ties, signed=True)


@functools.lru_cache(maxsize=32)
def _network(widths: tuple[int, ...], **options) -> SymbolicMLP:
    """Networks are cached so that gradients are differentiated once across proofs."""
    return SymbolicMLP(widths, **options)


def network(widths, **options) -> SymbolicMLP:
    """A cached :class:`SymbolicMLP` (same arguments, same object, gradients computed once)."""
    return _network(parse_widths(widths), **options)


def clear_cache() -> None:
    """Forget the cached networks and their gradients (for cold timings, or to free memory)."""
    _network.cache_clear()


# -- wording -------------------------------------------------------------------------------
def _function_words(name: str, undefined: str, what: str) -> str:
    arbitrary = ", an arbitrary differentiable function" if name == undefined else ""
    return f"{what}: {name}{arbitrary}"


def hypotheses(net: SymbolicMLP, pairs: Pairs | None = None) -> list[str]:
    """The assumptions of a tie theorem, in words (the ties last, unless ``pairs`` is None)."""
    out = [
        f"network {net.layout.widths_str}: z_u = sum of incoming w * a + b, "
        f"a_u = activation(z_u); parameters {net.layout.names_summary()}",
        _function_words(net.activation, UNDEFINED_ACTIVATION, "hidden activation"),
        _function_words(net.output_activation, UNDEFINED_OUTPUT_ACTIVATION, "output activation"),
    ]
    if net.loss == UNDEFINED_LOSS:
        out.append("loss: l(outputs, targets), an arbitrary differentiable function")
    else:
        out.append(f"loss: {net.loss}" + (
            ", -sum_k y_k log softmax(outputs)_k (symmetric in the hidden units, not in the "
            "outputs)" if net.loss == "softmax_cross_entropy" else ", summed over outputs"))
    data = "1 symbolic sample" if net.samples == 1 else f"{net.samples} symbolic samples"
    out.append(f"data: {data}, per-sample losses combined by their {net.reduction}")
    if net.dropout == "independent":
        out.append("dropout: an independent mask r_u on every hidden unit")
    elif net.dropout == "shared":
        out.append("dropout: one mask R_l shared by the units of each hidden layer")
    if pairs is not None:
        out.append(f"ties: {format_ties(pairs) or '(none)'}")
    return out


def _claim(net: SymbolicMLP, pairs: Pairs) -> str:
    how = "tied parameters receive equal gradients"
    if has_sign_flip(pairs):
        how += ", and parameters tied with a sign (p=-q) opposite ones"
    return (
        f"Gradient descent preserves the ties {format_ties(pairs) or '(none)'} of the "
        f"{net.layout.widths_str} network: wherever they hold, {how}."
    )


def _context(net: SymbolicMLP, pairs: Pairs) -> dict:
    return {
        "widths": list(net.widths),
        "ties": format_ties(pairs),
        "classes": [list(c) for c in net.layout.tie_classes(pairs)],
        **net.options,
    }


# -- witnesses -----------------------------------------------------------------------------
def _choices(net: SymbolicMLP) -> list[dict[str, str]]:
    """Concrete stand-ins for the undefined functions of ``net``, the exact ones first."""
    acts = WITNESS_ACTIVATIONS if net.activation not in CONCRETE_ACTIVATIONS else (None,)
    outs = (None,)
    if net.output_activation not in CONCRETE_ACTIVATIONS:
        outs = ("sigmoid", "identity") if net.loss == "bce" else ("identity", "sigmoid")
    losses = ("squared_error",) if net.loss not in CONCRETE_LOSSES else (None,)
    out = [{k: v for k, v in zip(_FUNCTION_KEYS, combo) if v is not None}
           for combo in itertools.product(acts, outs, losses)]
    return sorted(out, key=lambda c: sum(v in _TRANSCENDENTAL for v in c.values()))


def _rational(rng: random.Random, low: int, high: int, positive: bool = False) -> sp.Rational:
    den = rng.randint(2, 9)
    if positive:
        return sp.Rational(rng.randint(1, high * den - 1), den)
    return sp.Rational(rng.choice([k for k in range(low * den + 1, high * den) if k != 0]), den)


def _point(net: SymbolicMLP, pairs: Pairs, rng: random.Random) -> dict[sp.Symbol, sp.Rational]:
    """Rationals for every parameter (tied ones equal), input, target and mask."""
    sub = net.tie_substitution(pairs)
    values: dict[sp.Symbol, sp.Rational] = {}
    for sym in net.param_symbols:
        values[sym] = sub[sym].xreplace(values) if sym in sub else _rational(rng, -2, 2)
    for sym in net.data_symbols:
        if sym.name.startswith("y"):
            values[sym] = _rational(rng, 0, 1, positive=True)
        elif sym.name.startswith(("r", "R")):
            # inverted dropout with rate 1/2 keeps a unit with mask 1/(1 - 1/2) = 2 or drops it
            values[sym] = sp.Integer(rng.choice((0, 2)))
        else:
            values[sym] = _rational(rng, -2, 2)
    return values


def _nonzero_value(expr: sp.Expr) -> sp.Expr | None:
    """The value of a closed expression if it is rigorously a non-zero real, else ``None``."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    if expr.is_Rational:
        return expr if expr != 0 else None
    try:
        value = expr.evalf(30, strict=True)
    except PrecisionExhausted:
        return None
    return value if value.is_real and value.is_nonzero else None


def _witness(
    net: SymbolicMLP, pair: tuple[str, str], pairs: Pairs, budget: _Budget, points: int | None
) -> dict[str, str] | None:
    """Search concrete choices x points for a non-zero ``dJ/dp - dJ/dq``.

    ``points=None`` keeps searching (more points per choice each round) until the deadline.
    """
    p, q = pair
    q, sign, words = sides(p, q)
    rng = random.Random(f"{net!r} {format_ties(pairs)} {p} {q}")
    for round_ in itertools.count() if points is None else range(1):
        for choice in _choices(net):
            concrete = network(net.widths, **{**net.options, **choice})
            for _ in range(points or 2 ** min(round_, 6)):
                budget.check()
                point = _point(net, pairs, rng)
                diff = concrete.grad(p).xreplace(point) - sign * concrete.grad(q).xreplace(point)
                value = _nonzero_value(diff)
                if value is not None:
                    rate = {"dropout_rate": DROPOUT_RATE} if net.dropout else {}
                    at = {str(k): str(v) for k, v in point.items()}
                    return {"difference": words, **choice, **rate, **at, "value": str(value)}
    return None


# -- proofs --------------------------------------------------------------------------------
def _substitution_step(net: SymbolicMLP, pairs: Pairs) -> ProofStep:
    sub = net.tie_substitution(pairs)
    words = ", ".join(f"{k} -> {v}" for k, v in sub.items())
    tex = r",\quad ".join(f"{latex(k)} \\mapsto {latex(v)}" for k, v in sub.items())
    return ProofStep(
        f"On the tied subspace each class of tied parameters takes the value of its first "
        f"member: substitute {words} into every gradient.",
        tex,
    )


def sides(p: str, q: str) -> tuple[str, int, str]:
    """The second member of a tie ``p=q`` or ``p=-q``: its name, the sign, and the difference
    that vanishes when tied gradients keep the tie (``"dJ/dw1 - dJ/dw3"``; for a sign-flip tie
    ``"dJ/dw1 + dJ/dw3"``: ``q = -p`` is kept when ``dJ/dq = -dJ/dp``)."""
    sign, name = split_signed(q)
    return name, sign, f"dJ/d{p} {'-' if sign > 0 else '+'} dJ/d{name}"


def _difference_latex(p: str, q: str, sign: int) -> str:
    return (
        rf"\frac{{\partial J}}{{\partial {latex(sp.Symbol(p))}}} {'-' if sign > 0 else '+'} "
        rf"\frac{{\partial J}}{{\partial {latex(sp.Symbol(q))}}}"
    )


def _equal_step(p: str, q: str, how: str) -> ProofStep:
    q, sign, words = sides(p, q)
    return ProofStep(
        f"{words} = 0 after the substitution ({how}).", _difference_latex(p, q, sign) + " = 0"
    )


def _refutation(
    net: SymbolicMLP, pairs: Pairs, pair: tuple[str, str], diff: sp.Expr, witness: dict,
    steps: list[ProofStep],
) -> Theorem:
    p, signed_q = pair
    q, sign, words = sides(p, signed_q)
    diff = canonical(diff)
    shown = sp.count_ops(diff) <= MAX_SHOWN_OPS
    steps.append(
        ProofStep(
            f"After the substitution {words} = "
            + (text(diff) if shown else f"an expression of {sp.count_ops(diff)} operations")
            + ", which is not identically zero:",
            _difference_latex(p, q, sign) + f" = {latex(diff)}" if shown else None,
        )
    )
    chosen = [f"{k} = {witness[k]}" for k in _FUNCTION_KEYS if k in witness]
    relation = "tied" if has_sign_flip(pairs) else "equal"
    steps.append(
        ProofStep(
            f"at the witness point (tied parameters {relation}{'; ' if chosen else ''}"
            f"{', '.join(chosen)}) it equals {witness['value']} != 0, so one gradient step moves "
            f"{p} and {q} off the tie {p}={signed_q}: it is not preserved."
        )
    )
    context = {**_context(net, pairs), "pair": [p, q], "difference": text(diff)}
    return Theorem(
        _claim(net, pairs), hypotheses(net, pairs), REFUTED, steps=steps, witness=witness,
        context=context,
    )


def _prove(net: SymbolicMLP, pairs: Pairs, budget: _Budget) -> Theorem:
    """The tie theorem for one tie set, within ``budget``."""
    claim, hyps, context = _claim(net, pairs), hypotheses(net, pairs), _context(net, pairs)
    if not pairs:
        step = ProofStep("The tie set is empty: there is nothing to preserve (vacuously true).")
        guard = _guard.vacuous("the tie set is empty")
        return Theorem(claim, hyps, PROVEN, steps=[step], context=context, guard=guard)
    sub = net.tie_substitution(pairs)
    steps = [_substitution_step(net, pairs)]
    current = "substituting the ties"
    try:
        with budget.guard():
            for p, signed_q in pairs:
                q, sign, _ = sides(p, signed_q)
                current = f"comparing dJ/d{p} and dJ/d{q}"
                diff = net.grad(p).xreplace(sub) - sign * net.grad(q).xreplace(sub)
                if diff == 0:
                    how = "the two gradients become the same expression" if sign > 0 else (
                        "the two gradients become opposite expressions")
                    steps.append(_equal_step(p, signed_q, how))
                    continue
                witness = _witness(net, (p, signed_q), pairs, budget, QUICK_POINTS)
                if witness is None and exactly_zero(diff):
                    steps.append(_equal_step(p, signed_q, "the difference simplifies to 0"))
                    continue
                witness = witness or _witness(net, (p, signed_q), pairs, budget, None)
                _guard.confirm_tie_witness(net.widths, pairs, net.options, witness)
                return _refutation(net, pairs, (p, signed_q), diff, witness, steps)
    except _TimeLimit:
        reason = f"time limit of {budget.seconds:g} s reached while {current}"
        return Theorem(claim, hyps, UNKNOWN, steps=steps, reason=reason, context=context)
    steps.append(
        ProofStep(
            "So wherever the ties hold, the gradients are tied like the parameters (equal, or "
            "opposite for p=-q) and a step p <- p - lr * dJ/dp keeps every tie; by induction "
            "the ties hold at every step, for every learning rate."
        )
    )
    guard = _guard.check_tie_gradients(net.widths, pairs, net.options, claim)
    return Theorem(claim, hyps, PROVEN, steps=steps, context=context, guard=guard)


def prove_tie_invariance(
    widths=(2, 2, 1),
    ties=None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    **options,
) -> Theorem:
    """Prove or refute that gradient descent preserves a tie set.

    Args:
      widths: layer widths, e.g. ``(2, 2, 1)`` or ``"2,2,1"``.
      ties: ``None`` (swap of the first two units of hidden layer 1), a string
        ``"w1=w3,w2=w4,b1=b2,w5=w6"``, pairs ``[("w1", "w3"), ..]``, or the output of
        :func:`permutation_ties`. An empty tie set is vacuously preserved.
      **options: the network's ``activation``, ``output_activation``, ``loss``, ``samples``,
        ``reduction`` and ``dropout``, as :class:`SymbolicMLP` takes them; the defaults are
        undefined functions, so a proof covers every activation and loss.
      timeout: seconds before the verdict becomes ``"unknown"``.

    Returns:
      A :class:`Theorem`: ``"proven"`` when every tied pair's gradient difference is exactly
      zero after substituting the ties; ``"refuted"`` with a witness (a point of exact rationals
      respecting the ties, concrete functions where they were undefined, the pair in
      ``"difference"`` and its non-zero ``"value"``); ``"unknown"`` when the time limit was hit.

    Raises:
      InputError: on bad widths, ties or options.

    Examples:
      >>> prove_tie_invariance().verdict
      'proven'
      >>> prove_tie_invariance(ties="w1=w3").witness["difference"]
      'dJ/dw1 - dJ/dw3'
    """
    budget = _Budget(timeout)
    net = network(widths, **options)
    return _prove(net, resolve_ties(net.layout, ties), budget)


def prove_transpositions(
    widths, *, layers=None, timeout: float = DEFAULT_TIMEOUT, **options
) -> Theorem:
    """Every transposition of two units of the given hidden ``layers`` (default: all) preserves
    its ties: the conjunction (:func:`combine`) of one lemma per transposition, all within
    ``timeout`` seconds; ``options`` as :func:`prove_tie_invariance`."""
    budget = _Budget(timeout)
    net = network(widths, **options)
    chosen = net.layout.hidden_layers if layers is None else tuple(layers)
    for layer in chosen:
        if layer not in net.layout.hidden_layers:
            raise InputError(
                f"layer {layer!r} is not a hidden layer of {net.layout.widths_str}; "
                f"hidden layers: {list(net.layout.hidden_layers)}"
            )
    lemmas = [_prove(net, net.layout.swap_pairs(layer, i, j), budget)
              for layer, i, j in net.layout.all_transpositions() if layer in chosen]
    claim = (
        f"Gradient descent preserves the ties of every transposition of two hidden units "
        f"of layers {', '.join(map(str, chosen))} of the {net.layout.widths_str} network."
    )
    return combine(claim, hypotheses(net), lemmas, context=_context(net, ()))


def tie_lattice(
    widths=(2, 2, 1),
    ties=None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    **options,
) -> Theorem:
    """Classify every subset of a tie set as preserved by gradient descent or not.

    Arguments as :func:`prove_tie_invariance`; ``ties`` are the generators (at most
    :data:`MAX_LATTICE_GENERATORS`), ``timeout`` is for the whole lattice. For 2-2-1 and the
    default swap ties this decides all 16 subsets.

    Returns:
      A :class:`Theorem` whose lemmas are the subsets' theorems (smallest first), each with its
      proof or witness. It is ``"proven"`` when every subset was decided; ``context["invariant"]``
      and ``context["not_invariant"]`` list the subsets as tie strings (``""`` is the empty set).
    """
    budget = _Budget(timeout)
    net = network(widths, **options)
    generators = resolve_ties(net.layout, ties)
    if len(generators) > MAX_LATTICE_GENERATORS:
        raise InputError(
            f"{len(generators)} ties give {2 ** len(generators)} subsets; a lattice takes at "
            f"most {MAX_LATTICE_GENERATORS} ties"
        )
    subsets = [subset for k in range(len(generators) + 1)
               for subset in itertools.combinations(generators, k)]
    lemmas = [_prove(net, subset, budget) for subset in subsets]
    invariant = [format_ties(s) for s, t in zip(subsets, lemmas) if t.proven]
    broken = [format_ties(s) for s, t in zip(subsets, lemmas) if t.refuted]
    claim = (
        f"Of the {len(subsets)} subsets of the ties {format_ties(generators)} of the "
        f"{net.layout.widths_str} network, exactly {len(invariant)} are preserved by gradient "
        f"descent: " + "; ".join("{" + s + "}" for s in invariant) + "."
    )
    steps = [
        ProofStep(f"Preserved (proven): {'; '.join('{' + s + '}' for s in invariant)}."),
        ProofStep(f"Not preserved (refuted, with witnesses): {len(broken)} subsets."),
    ]
    context = {**_context(net, generators), "invariant": invariant, "not_invariant": broken}
    hyps = hypotheses(net, generators)
    if all(t.verdict != UNKNOWN for t in lemmas):
        guard = _guard.conjunction([t.guard for t in lemmas if t.proven])
        guard["method"] += "; every refuting witness re-checked independently"
        return Theorem(claim, hyps, PROVEN, steps=steps, lemmas=lemmas, context=context,
                       guard=guard)
    reason = next(t.reason for t in lemmas if t.verdict == UNKNOWN)
    return Theorem(claim, hyps, UNKNOWN, steps=steps, reason=reason, lemmas=lemmas, context=context)


def _lattice_rows(theorem: Theorem) -> list[tuple[str, str, str]]:
    rows = []
    for lemma in theorem.lemmas:
        w = lemma.witness or {}
        chosen = ", ".join(w[k] for k in _FUNCTION_KEYS if k in w)
        evidence = f"{w['difference']} = {w['value']}" if w else (lemma.reason or "")
        ties = lemma.context["ties"] or "(none)"
        rows.append((ties, lemma.verdict, evidence + (f" ({chosen})" if chosen else "")))
    return rows


def lattice_table(theorem: Theorem) -> str:
    """The lemmas of :func:`tie_lattice` as a plain-text table: ties, verdict, witness."""
    return text_table([("ties", "verdict", "witness"), *_lattice_rows(theorem)], rule=False)


def lattice_table_latex(theorem: Theorem) -> str:
    """The lemmas of :func:`tie_lattice` as a LaTeX ``tabular``."""
    lines = [r"\begin{tabular}{lll}", r"ties & verdict & witness \\ \hline"]
    lines += [rf"\texttt{{{tex_escape(a)}}} & {b} & {tex_escape(c)} \\"
              for a, b, c in _lattice_rows(theorem)]
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"
