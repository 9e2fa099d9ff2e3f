"""Your own model, proven: a JAX loss translated into SymPy through its jaxpr.

The second door between the halves (with :mod:`symjax.experiments.bridge`): JAX is imported only
when a function here is called. :func:`to_sympy` traces a function of parameter and data pytrees
with :func:`jax.make_jaxpr` and interprets every equation on NumPy object arrays of SymPy
expressions, so a plain-JAX loss (an MLP, a small CNN, an attention block, an RNN unrolled over
a few steps) becomes the exact SymPy expression it computes. :func:`prove_model_ties` then proves
or refutes that gradient descent keeps a (signed) tie set of its parameters, exactly as the MLP
prover does, and every "proven" passes the independent check (the un-simplified differences at
random tied points, and ``jax.grad`` in float64 at random tied points).

Supported primitives: :data:`PRIMITIVES` (arithmetic, elementwise functions, ``max``/``min``
and comparisons with ``select_n``, ``dot_general``, ``conv_general_dilated`` with strides and
padding but no dilation or groups, reductions, reshaping), ``integer_pow``, and nested ``jit``
and ``custom_jvp_call``/``custom_vjp_call`` (their primal computation). ``stop_gradient`` is
read as the identity: a proof is about the gradient of the function the model computes (as in
softmax, where the stopped shift changes no value). Anything else is refused with
``unsupported primitive NAME``.

Names: every array element of a parameter or data leaf is one real symbol named by its pytree
path and index, e.g. ``['W1'][0,1]`` -> ``W1[0,1]`` (a tuple leaf ``[0]`` -> ``a0[...]``).
"""

from __future__ import annotations

import itertools
import operator
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from ..base.errors import GuardContradiction, InputError
from ..base.layout import split_signed
from . import _guard
from ._laws import nonzero_witness
from ._network import exactly_zero
from ._theorem import PROVEN, REFUTED, UNKNOWN, ProofStep, Theorem

#: Largest number of scalar symbols a traced model may have.
MAX_SYMBOLS = 400


# -- names -----------------------------------------------------------------------------------
def _leaf_name(path, position: int) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    stem = "_".join(parts) or f"a{position}"
    stem = re.sub(r"[^0-9A-Za-z_]", "_", stem)
    return stem if not stem[0].isdigit() else "a" + stem


def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        label = f"{name}[{','.join(map(str, index))}]" if shape else name
        out[index] = sp.Symbol(label, real=True)
    return out


# -- the interpreter -------------------------------------------------------------------------
def _vectorized(f: Callable, nargs: int = 1) -> Callable:
    """``f`` of ``nargs`` scalars, applied elementwise (with broadcasting) to object arrays."""
    vf = np.frompyfunc(f, nargs, 1)

    def apply(*args, **_):
        return np.asarray(vf(*args), dtype=object)

    return apply


def _dot_general(lhs, rhs, dimension_numbers, **_):
    (lc, rc), (lb, rb) = dimension_numbers
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    nb, m, k = (int(np.prod([lhs.shape[d] for d in dims], dtype=int)) for dims in (lb, lf, lc))
    n = int(np.prod([rhs.shape[d] for d in rf], dtype=int))
    a = np.transpose(lhs, [*lb, *lf, *lc]).reshape(nb, m, k)
    b = np.transpose(rhs, [*rb, *rc, *rf]).reshape(nb, k, n)
    out = np.empty((nb, m, n), dtype=object)
    for i, r, c in np.ndindex(out.shape):
        out[i, r, c] = sp.Add(*[a[i, r, t] * b[i, t, c] for t in range(k)])
    return out.reshape([*[lhs.shape[d] for d in (*lb, *lf)], *[rhs.shape[d] for d in rf]])


def _broadcast_in_dim(x, shape, broadcast_dimensions, **_):
    x = np.asarray(x, dtype=object)
    expanded = [1] * len(shape)
    for src, dst in enumerate(broadcast_dimensions):
        expanded[dst] = x.shape[src]
    return np.broadcast_to(x.reshape(expanded), shape).copy()


def _reduce(f: Callable) -> Callable:
    def apply(x, axes, **_):
        x = np.asarray(x, dtype=object)
        moved = np.moveaxis(x, list(axes), list(range(len(axes))))
        flat = moved.reshape(-1, *moved.shape[len(axes):]) if axes else moved[None]
        out = np.empty(flat.shape[1:], dtype=object)
        for index in np.ndindex(out.shape):
            out[index] = f([flat[(j, *index)] for j in range(flat.shape[0])])
        return out

    return apply


def _select_n(pred, *cases, **_):
    if len(cases) != 2:
        raise InputError("unsupported primitive select_n with more than two cases")
    return _vectorized(lambda p, no, yes: sp.Piecewise((yes, p), (no, True)), 3)(pred, *cases)


def _conv(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
          feature_group_count, batch_group_count, **_):
    if any(d != 1 for d in (*lhs_dilation, *rhs_dilation)) or feature_group_count != 1 or \
            batch_group_count != 1:
        raise InputError("unsupported primitive conv_general_dilated with dilation or groups")
    ls, rs, os_ = dimension_numbers.lhs_spec, dimension_numbers.rhs_spec, dimension_numbers.out_spec
    x = np.transpose(lhs, ls)          # N, C, spatial...
    w = np.transpose(rhs, rs)          # O, I, spatial...
    pads = [(0, 0), (0, 0), *[tuple(p) for p in padding]]
    padded = np.full([s + lo + hi for s, (lo, hi) in zip(x.shape, pads)], sp.S.Zero, dtype=object)
    padded[tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape, pads))] = x
    out_spatial = [(s - k) // st + 1
                   for s, k, st in zip(padded.shape[2:], w.shape[2:], window_strides)]
    out = np.empty((x.shape[0], w.shape[0], *out_spatial), dtype=object)
    for n, o, *pos in np.ndindex(out.shape):
        terms = []
        for c, *k in np.ndindex(w.shape[1:]):
            src = tuple(p * st + kk for p, st, kk in zip(pos, window_strides, k))
            terms.append(padded[(n, c, *src)] * w[(o, c, *k)])
        out[(n, o, *pos)] = sp.Add(*terms)
    return np.transpose(out, np.argsort(os_))


def _slice(x, start_indices, limit_indices, strides, **_):
    strides = strides or (1,) * len(start_indices)
    return x[tuple(slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, strides))]


#: primitive name -> handler(*inputs, **params) on object arrays.
PRIMITIVES: dict[str, Callable] = {
    "add": _vectorized(operator.add, 2),
    "add_any": _vectorized(operator.add, 2),
    "sub": _vectorized(operator.sub, 2),
    "mul": _vectorized(operator.mul, 2),
    "div": _vectorized(operator.truediv, 2),
    "max": _vectorized(lambda a, b: sp.Piecewise((a, sp.GreaterThan(a, b)), (b, True)), 2),
    "min": _vectorized(lambda a, b: sp.Piecewise((a, sp.LessThan(a, b)), (b, True)), 2),
    "pow": _vectorized(operator.pow, 2),
    "neg": _vectorized(operator.neg),
    "exp": _vectorized(sp.exp),
    "log": _vectorized(sp.log),
    "tanh": _vectorized(sp.tanh),
    "logistic": _vectorized(lambda a: 1 / (1 + sp.exp(-a))),
    "sin": _vectorized(sp.sin),
    "cos": _vectorized(sp.cos),
    "abs": _vectorized(sp.Abs),
    "sign": _vectorized(sp.sign),
    "sqrt": _vectorized(sp.sqrt),
    "rsqrt": _vectorized(lambda a: 1 / sp.sqrt(a)),
    "square": _vectorized(lambda a: a * a),
    "gt": _vectorized(sp.StrictGreaterThan, 2),
    "ge": _vectorized(sp.GreaterThan, 2),
    "lt": _vectorized(sp.StrictLessThan, 2),
    "le": _vectorized(sp.LessThan, 2),
    "select_n": _select_n,
    "dot_general": _dot_general,
    "conv_general_dilated": _conv,
    "reduce_sum": _reduce(lambda xs: sp.Add(*xs)),
    "reduce_max": _reduce(lambda xs: sp.Max(*xs)),
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda x, new_sizes, **p: np.asarray(x, dtype=object).reshape(new_sizes),
    "transpose": lambda x, permutation, **p: np.transpose(x, permutation),
    "squeeze": lambda x, dimensions, **p: np.squeeze(x, axis=tuple(dimensions)),
    "expand_dims": lambda x, dimensions, **p: np.expand_dims(x, tuple(dimensions)),
    "slice": _slice,
    "concatenate": lambda *xs, dimension, **p: np.concatenate(xs, axis=dimension),
    "convert_element_type": lambda x, **p: x,
    "copy": lambda x, **p: x,
    "copy_p": lambda x, **p: x,
    "stop_gradient": lambda x, **p: x,
}
_INTEGER_POW = "integer_pow"
_NESTED = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
           "custom_vjp_call_jaxpr", "remat", "checkpoint")


def _constant(v):
    """A constant of the jaxpr as a SymPy number, a finite float as the rational it is."""
    if isinstance(v, float) and np.isfinite(v):
        return sp.nsimplify(v, rational=True)
    return sp.sympify(v)


_literal = _vectorized(_constant)


def _eval_jaxpr(jaxpr, consts, args) -> list:
    from jax.extend import core as jcore

    env: dict = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return _literal(v.val)
        return env[v]

    env.update(zip(jaxpr.constvars, map(_literal, consts)))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        inputs = [read(v) for v in eqn.invars]
        params = dict(eqn.params)
        if name == _INTEGER_POW:
            outs = [_vectorized(lambda a, y=params["y"]: a ** y)(inputs[0])]
        elif name in _NESTED:
            inner = next((params[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr")
                          if k in params), None)
            if inner is None:
                raise InputError(f"unsupported primitive {name} (no inner jaxpr found)")
            closed = getattr(inner, "jaxpr", inner)
            args_inner = inputs[len(inputs) - len(closed.invars):]
            outs = _eval_jaxpr(closed, getattr(inner, "consts", ()), args_inner)
        elif name in PRIMITIVES:
            outs = [np.asarray(PRIMITIVES[name](*inputs, **params), dtype=object)]
        else:
            raise InputError(
                f"unsupported primitive {name} in the model's jaxpr; supported: "
                f"{', '.join(sorted([*PRIMITIVES, _INTEGER_POW, *_NESTED]))}"
            )
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def to_sympy(fn: Callable, *args) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    """Trace ``fn(*args)`` and return its outputs as SymPy expressions of symbolic inputs.

    Args:
      fn: a JAX function of pytrees of arrays (e.g. ``loss(params, x, y)``).
      *args: example pytrees: only shapes are used; every element becomes a symbol.

    Returns:
      ``(outputs, symbols)``: each output as a NumPy object array of SymPy expressions, and for
      each argument a dict ``{leaf name: object array of its symbols}``.

    Raises:
      InputError: an unsupported primitive, or more than :data:`MAX_SYMBOLS` symbols.
    """
    import jax

    symbols, flat_args, count = [], [], 0
    for position, arg in enumerate(args):
        leaves, _ = jax.tree_util.tree_flatten_with_path(arg)
        names: dict[str, np.ndarray] = {}
        for path, leaf in leaves:
            name = _leaf_name(path, position)
            names[name] = _symbols(name, tuple(np.shape(leaf)))
            count += names[name].size
        if count > MAX_SYMBOLS:
            raise InputError(
                f"the model has {count} scalar inputs; symbolic translation handles at most "
                f"{MAX_SYMBOLS}"
            )
        symbols.append(names)
        flat_args += list(names.values())
    closed = jax.make_jaxpr(fn)(*args)
    outs = _eval_jaxpr(closed.jaxpr, closed.consts, flat_args)
    return outs, symbols


# -- proofs ----------------------------------------------------------------------------------
def _tie_map(pairs, by_name: Mapping[str, sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
    """q -> sign * representative, for a signed tie set (union of the pairs)."""
    parent: dict[str, tuple[str, int]] = {}

    def find(x):
        sign = 1
        while x in parent:
            x, s = parent[x]
            sign *= s
        return x, sign

    for p, signed_q in pairs:
        sign, q = split_signed(signed_q)
        for name in (p, q):
            if name not in by_name:
                raise InputError(
                    f"unknown parameter {name!r} in the tie {p}={signed_q}; parameters: "
                    + ", ".join(list(by_name)[:12]) + (", ..." if len(by_name) > 12 else "")
                )
        (a, sa), (b, sb) = find(p), find(q)
        if a == b:
            if sa != sign * sb:
                raise InputError(f"the tie {p}={signed_q} contradicts the others")
            continue
        parent[b] = (a, sign * sa * sb)
    return {by_name[n]: find(n)[1] * by_name[find(n)[0]] for n in by_name if find(n)[0] != n}


def prove_model_ties(
    loss: Callable, params, pairs: Sequence[tuple[str, str]], *data, timeout: float = 120.0,
    numeric_check: bool = True,
) -> Theorem:
    """Prove or refute that gradient descent keeps a tie set of a JAX model's parameters.

    Args:
      loss: ``loss(params, *data) -> scalar``, plain JAX (an Equinox or Flax model through its
        pure-function form).
      params: an example parameter pytree (shapes only).
      pairs: ties ``[("W1[0,0]", "W1[1,0]"), ("b1[0]", "-b1[1]"), ..]`` between parameter
        elements named as :func:`to_sympy` names them (a leading ``-`` for a sign flip); the
        helpers :func:`dense_units` etc. build the common ones.
      *data: example data pytrees (inputs, targets); their elements are symbols too, so a proof
        holds for all data of these shapes.
      timeout: seconds (checked between pairs).
      numeric_check: also compare with ``jax.grad`` in float64 at random tied points.

    Returns:
      A :class:`Theorem`: proven (each tied pair's gradients are tied after substituting the
      ties, by exact simplification), or refuted with a rational witness.
    """
    deadline = time.monotonic() + timeout
    (out,), symbols = to_sympy(loss, params, *data)
    expr = sp.sympify(np.asarray(out).reshape(()).item())
    by_name = {s.name: s for arr in symbols[0].values() for s in arr.reshape(-1)}
    data_syms = [s for names in symbols[1:] for arr in names.values() for s in arr.reshape(-1)]
    tie = _tie_map(pairs, by_name)
    words = ",".join(f"{p}={q}" for p, q in pairs)
    claim = (f"Gradient descent keeps the ties {words} of the model {getattr(loss, '__name__', '')}"
             ": wherever they hold, tied parameters receive tied gradients.")
    hyps = [f"the loss is the SymPy translation of the JAX function's jaxpr "
            f"({len(by_name)} parameter elements, {len(data_syms)} data elements, all symbols)",
            f"ties: {words}"]
    steps, differences = [], {}
    for p, signed_q in pairs:
        if time.monotonic() > deadline:
            return Theorem(claim, hyps, UNKNOWN, steps=steps,
                           reason=f"time limit of {timeout:g} s reached")
        sign, q = split_signed(signed_q)
        gp, gq = sp.diff(expr, by_name[p]), sp.diff(expr, by_name[q])
        label = f"dL/d{p} {'-' if sign > 0 else '+'} dL/d{q}"
        diff = gp.xreplace(tie) - sign * gq.xreplace(tie)
        differences[label] = gp - sign * gq
        if diff == 0:
            steps.append(ProofStep(f"{label} = 0 after the substitution (identical expressions)."))
            continue
        # every untied symbol gets a value, so the witness names a whole point of the subspace
        free = [s for s in (*by_name.values(), *data_syms) if s not in tie]
        witness = nonzero_witness(diff, free)
        if witness is None and exactly_zero(diff):
            steps.append(ProofStep(f"{label} = 0 after the substitution (simplifies to 0)."))
            continue
        if witness is None:
            return Theorem(claim, hyps, UNKNOWN, steps=steps,
                           reason=f"{label} did not simplify to 0 and no witness was found")
        for sym, value in tie.items():  # the tied parameters, so the point is on the subspace
            witness[sym.name] = str(value.xreplace(
                {s: sp.Rational(witness[s.name]) for s in value.free_symbols}))
        witness["difference"] = label
        steps.append(ProofStep(f"{label} = {witness['value']} != 0 at the witness point."))
        return Theorem(claim, hyps, REFUTED, steps=steps, witness=witness)
    guard = _guard.check_identities(differences, claim, equal=tie, points=2)
    if numeric_check:
        guard["jax_float64"] = _jax_check(loss, params, data, pairs, symbols)
    steps.append(ProofStep("So a gradient step keeps every tie; by induction, at every step."))
    return Theorem(claim, hyps, PROVEN, steps=steps, guard=guard,
                   context={"ties": words, "parameters": len(by_name)})


def _jax_check(loss, params, data, pairs, symbols) -> float:
    """Largest relative |dL/dp - s dL/dq| over random tied points, with ``jax.grad`` in float64.

    Raises the guard's contradiction when a pair differs by more than rounding.
    """
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(params)
    names = list(symbols[0])
    index = {arr[pos].name: (k, pos) for k, arr in enumerate(symbols[0].values())
             for pos in np.ndindex(arr.shape)}
    rng = np.random.default_rng(0)
    worst = 0.0
    with jax.enable_x64(True):
        for _ in range(3):
            values = [rng.uniform(-1, 1, np.shape(leaf)) for leaf in leaves]
            for p, signed_q in pairs:  # impose the ties (in order; chains follow)
                sign, q = split_signed(signed_q)
                (kp, pp), (kq, pq) = index[p], index[q]
                values[kq][pq] = sign * values[kp][pp]
            tree = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in values])
            args = [jax.tree_util.tree_map(
                lambda a: jnp.asarray(rng.uniform(-1, 1, np.shape(a))), d) for d in data]
            grads = jax.tree_util.tree_leaves(jax.grad(loss)(tree, *args))
            # gradients that vanish (a bias before a norm layer) differ by rounding only:
            # measure against the largest gradient of the model too
            scale = max(float(jnp.max(jnp.abs(g))) for g in grads) * 1e-6
            for p, signed_q in pairs:
                sign, q = split_signed(signed_q)
                (kp, pp), (kq, pq) = index[p], index[q]
                gp, gq = float(grads[kp][pp]), float(grads[kq][pq])
                rel = abs(gp - sign * gq) / (abs(gp) + abs(gq) + scale + 1e-300)
                worst = max(worst, rel)
    if worst > 1e-9:
        raise GuardContradiction(
            f"jax.grad in float64 contradicts the proof: tied gradients differ by {worst:.3g} "
            f"(relative) at a random tied point of {', '.join(names)}"
        )
    return worst


# -- symmetries of common layers --------------------------------------------------------------
def _name(leaf: str, *index: int) -> str:
    return f"{leaf}[{','.join(map(str, index))}]"


def dense_units(w_in: str, b_in: str | None, w_out: str, shape_in: tuple[int, int],
                shape_out: tuple[int, int], i: int, j: int, *, sign: int = 1
                ) -> list[tuple[str, str]]:
    """Ties of swapping (``sign=-1``: sign-flipping) hidden units ``i`` and ``j`` (0-based).

    ``w_in`` has shape ``(units, inputs)`` (rows are units, as ``x @ W.T``), ``b_in`` shape
    ``(units,)``, ``w_out`` shape ``(outputs, units)``.
    """
    s = "" if sign > 0 else "-"
    pairs = [(_name(w_in, i, k), s + _name(w_in, j, k)) for k in range(shape_in[1])]
    if b_in is not None:
        pairs.append((_name(b_in, i), s + _name(b_in, j)))
    pairs += [(_name(w_out, k, i), s + _name(w_out, k, j)) for k in range(shape_out[0])]
    return pairs


def blocks(leaf: str, shape: tuple[int, ...], axis: int, a: Iterable[int], b: Iterable[int]
           ) -> list[tuple[str, str]]:
    """Ties between the slices ``a`` and ``b`` (equal-length index lists) along ``axis``."""
    pairs = []
    for ia, ib in zip(a, b):
        for rest in itertools.product(*(range(n) for d, n in enumerate(shape) if d != axis)):
            ra, rb = list(rest), list(rest)
            ra.insert(axis, ia)
            rb.insert(axis, ib)
            pairs.append((_name(leaf, *ra), _name(leaf, *rb)))
    return pairs


def parameter_names(params: Any) -> dict[str, tuple[int, ...]]:
    """The leaf names :func:`to_sympy` gives a parameter pytree, with their shapes."""
    import jax

    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {_leaf_name(path, 0): tuple(np.shape(leaf)) for path, leaf in leaves}


def check_cases(cases: Iterable[tuple[str, Callable, Any, Sequence, tuple, str]]) -> int:
    """Prove each case ``(description, loss, params, ties, data, expected verdict)``, print one
    line per case, and return how many verdicts were not as stated."""
    failures = 0
    for description, loss, params, ties, data, expected in cases:
        theorem = prove_model_ties(loss, params, ties, *data)
        ok = theorem.verdict == expected
        failures += not ok
        evidence = ""
        if theorem.witness:
            evidence = f"  {theorem.witness['difference']} = {theorem.witness['value'][:12]}"
        elif theorem.guard:
            evidence = (f"  (checked: {theorem.guard['evaluations']} exact evaluations, "
                        f"jax.grad float64 rel. diff {theorem.guard.get('jax_float64', 0):.1g})")
        print(f"{description:<60} {theorem.verdict.upper()}"
              f"{'' if ok else '  (expected ' + expected.upper() + ')'}{evidence}")
    return failures
