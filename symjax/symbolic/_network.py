"""A symbolic MLP of any widths: parameters, forward pass, loss and gradients as SymPy expressions.

Names follow :class:`symjax.Layout`. Units are numbered globally over the
non-input layers; unit ``u`` has the pre-activation ``z_u`` and the activation ``a_u``. For the
2-2-1 network::

    z1 = w1*x1 + w2*x2 + b1    a1 = sigma(z1)
    z2 = w3*x1 + w4*x2 + b2    a2 = sigma(z2)
    z3 = w5*a1 + w6*a2 + b3    a3 = phi(z3)       J = l(a3, y)

Symbols (all ``real=True``):

* parameters ``w1.., b1..`` in the shared order of :class:`symjax.Layout`;
* inputs ``x1..x_n0``; targets ``y`` (one output) or ``y1..y_nL`` (several outputs);
* with ``samples=m > 1`` every data symbol, pre-activation, activation and dropout mask carries
  the sample as a suffix: ``x1_2`` is input 1 of sample 2, ``y_2`` (or ``y1_2``) its target,
  ``z1_2``/``a1_2`` unit 1 on sample 2;
* dropout masks multiply hidden activations where they feed the next layer:
  ``dropout="independent"`` gives one mask ``r_u`` per hidden unit ``u``,
  ``dropout="shared"`` one mask ``R_l`` per hidden layer ``l`` (per sample in both cases,
  as dropout draws a fresh mask for every example).

Functions: the hidden activation is one of :data:`symjax.base.choices.ACTIVATIONS` or ``"sigma"``,
an undefined function (a claim about every activation). The output activation is one of the same
concrete names or ``"phi"``, a *separate* undefined function, so that a proof with the defaults
covers networks whose output function differs from the hidden one. The per-sample loss is
``squared_error`` or ``bce`` (summed over outputs), ``softmax_cross_entropy`` (``sum_k y_k (log
sum_j exp(yhat_j) - yhat_k)``; all as in :mod:`symjax.base.choices`) or ``"l"``, an
undefined function ``l(yhat_1, .., yhat_K, y_1, .., y_K)`` of all outputs and targets at once
(more general than a sum over outputs). Over the samples the loss is the mean (default) or sum.

Derivatives of undefined functions are written as named functions (see :func:`canonical`):
``sigma'(z1)`` is the derivative of ``sigma`` at ``z1``; ``l_1(a3, y)`` is the partial derivative
of ``l`` with respect to its first argument.

Size limits: the engine works on expression trees, whose size grows like the number of paths
from an input to the outputs (the product of the non-input widths). :class:`SymbolicMLP` accepts
at most :data:`MAX_SYMBOLIC_PARAMS` parameters, :data:`MAX_PATHS` such paths,
:data:`MAX_HIDDEN_LAYERS` hidden layers and :data:`MAX_SAMPLES` samples. At the limits
(2-10-10-1: 151 parameters; 2-4-4-4-4-1: 256 paths) every gradient takes 10 to 30 s on a 2-core
machine; 2-8-1 takes 0.3 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property

import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction

from ..base.choices import (
    ACTIVATIONS,
    LEAKY_RELU_SLOPE,
    UNDEFINED_ACTIVATION,
    UNDEFINED_LOSS,
    activation_name,
    loss_name,
    reduction_name,
)
from ..base.errors import InputError, choose
from ..base.layout import Layout

#: Most parameters a symbolic network may have (2-16-1 has 65, 2-10-10-1 has 151).
MAX_SYMBOLIC_PARAMS = 160
#: Most paths from an input to the outputs, the product of the non-input widths.
MAX_PATHS = 256
#: Most hidden layers a symbolic network may have.
MAX_HIDDEN_LAYERS = 6
#: Most symbolic samples.
MAX_SAMPLES = 8
#: Deepest case split of :func:`exactly_zero` on branch comparisons (2**12 cases at most).
MAX_CASE_SPLIT = 12
#: Name of the undefined output activation.
UNDEFINED_OUTPUT_ACTIVATION = "phi"
#: Allowed values of ``dropout`` besides ``None``.
DROPOUTS = ("shared", "independent")

_T = sp.Dummy("t", real=True)


def undefined_function(name: str) -> UndefinedFunction:
    """The undefined real function called ``name`` (one object per name, so they compare equal)."""
    return sp.Function(name, real=True)


def _leaky_relu(z: sp.Expr) -> sp.Expr:
    return sp.Piecewise((z, z >= 0), (sp.Rational(str(LEAKY_RELU_SLOPE)) * z, True))


#: Concrete activations, as in :mod:`symjax.base.choices` (relu'(0) = 0, leaky_relu'(0) = 1).
CONCRETE_ACTIVATIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "identity": lambda z: z,
    "tanh": sp.tanh,
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "relu": lambda z: sp.Piecewise((z, z > 0), (0, True)),
    "leaky_relu": _leaky_relu,
    "softplus": lambda z: sp.log(1 + sp.exp(z)),
}
assert tuple(CONCRETE_ACTIVATIONS) == ACTIVATIONS


def _squared_error(yhat: tuple, y: tuple) -> sp.Expr:
    return sp.Add(*[(a - t) ** 2 / 2 for a, t in zip(yhat, y)])


def _bce(yhat: tuple, y: tuple) -> sp.Expr:
    return sp.Add(*[-(t * sp.log(a) + (1 - t) * sp.log(1 - a)) for a, t in zip(yhat, y)])


def _softmax_ce(yhat: tuple, y: tuple) -> sp.Expr:
    lse = sp.log(sp.Add(*[sp.exp(a) for a in yhat]))
    return sp.Add(*[t * (lse - a) for a, t in zip(yhat, y)])


#: Concrete per-sample losses ``loss(yhat, y)`` summed over outputs, as in
#: :mod:`symjax.base.choices`.
CONCRETE_LOSSES: dict[str, Callable[[tuple, tuple], sp.Expr]] = {
    "squared_error": _squared_error,
    "bce": _bce,
    "softmax_cross_entropy": _softmax_ce,
}


#: Every named derivative function made so far: name -> (base function, positions, nargs).
_DERIVATIVES: dict[str, tuple[str, tuple[int, ...], int]] = {}


def derivative_function(name: str, positions: Iterable[int], nargs: int) -> UndefinedFunction:
    """The named function that stands for a derivative of the undefined function ``name``.

    Args:
      name: the undefined function, e.g. ``"sigma"``, or a named derivative of one (``"l_1"``):
        the derivative of a derivative is named after the base function with all positions.
      positions: 1-based argument positions differentiated, one entry per order.
      nargs: how many arguments the function takes.

    Returns:
      ``sigma'``, ``sigma''``, .. for a function of one argument; ``l_1``, ``l_2``, ``l_1,2``
      (sorted positions, so that mixed partials in either order are the same function) for a
      function of several arguments.
    """
    base, earlier, _ = _DERIVATIVES.get(name, (name, (), nargs))
    order = tuple(sorted((*earlier, *positions)))
    full = base + "'" * len(order) if nargs == 1 else f"{base}_{','.join(map(str, order))}"
    _DERIVATIVES[full] = (base, order, nargs)
    return undefined_function(full)


def _rewrite_derivative(expr: sp.Derivative) -> sp.Expr:
    """``Derivative(f(args), v, ..)`` of an undefined ``f`` -> the named derivative function.

    Only a derivative with respect to one argument *position* is rewritten: ``v`` must be
    exactly one of the arguments and occur in no other. Anything else is left as it is (and
    :meth:`SymbolicMLP.grad` refuses to return it).
    """
    inner = expr.expr
    if not isinstance(inner, AppliedUndef):
        return expr
    positions = []
    for var, count in expr.variable_count:
        hits = [i for i, arg in enumerate(inner.args) if arg == var]
        others = [arg for i, arg in enumerate(inner.args) if i not in hits]
        if len(hits) != 1 or any(arg.has(var) for arg in others):
            return expr
        positions += [hits[0] + 1] * int(count)
    return derivative_function(inner.func.__name__, positions, len(inner.args))(*inner.args)


def _rewrite_subs(expr: sp.Subs) -> sp.Expr:
    if expr.expr.has(sp.Derivative):
        return expr
    return expr.expr.xreplace(dict(zip(expr.variables, expr.point)))


def canonical(expr: sp.Expr) -> sp.Expr:
    """Rewrite derivatives of undefined functions as named functions, ``Subs`` objects resolved.

    ``sympy.diff`` writes the derivative of ``sigma(w1*x1 + b1)`` as
    ``Subs(Derivative(sigma(_xi_1), _xi_1), _xi_1, w1*x1 + b1)``; this returns
    ``sigma'(w1*x1 + b1)``, the form the chain rules use, so that equal derivatives compare
    equal whatever dummy names or argument forms SymPy chose.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> canonical(sp.diff(undefined_function("sigma")(2 * x), x))
    2*sigma'(2*x)
    """
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative), _rewrite_derivative)
    return expr.replace(lambda e: isinstance(e, sp.Subs), _rewrite_subs)


def _conditions(expr: sp.Expr) -> set[sp.Basic]:
    """The comparisons (``z > 0``, ..) that choose the branches of the Piecewise parts."""
    return {rel for pw in expr.atoms(sp.Piecewise) for _, cond in pw.args
            for rel in cond.atoms(sp.core.relational.Relational)}


def _groups(expr: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum, grouped so that no two groups share a branch comparison."""
    groups: list[tuple[set, list]] = []
    for term in sp.Add.make_args(expr):
        conds, terms = _conditions(term), [term]
        for group in [g for g in groups if g[0] & conds or not (g[0] or conds)]:
            groups.remove(group)
            conds, terms = conds | group[0], terms + group[1]
        groups.append((conds, terms))
    return [sp.Add(*terms) for _, terms in groups]


def _algebraic_zero(expr: sp.Expr) -> bool:
    """``expand``, then ``cancel(together(.))``, then ``simplify``."""
    if sp.expand(expr) == 0 or sp.cancel(sp.together(expr)) == 0:
        return True
    return sp.simplify(sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr) == 0


def _split_cases(expr: sp.Expr, depth: int = 0) -> bool:
    """Zero on both branches of the innermost comparison (the smallest), recursively."""
    if expr == 0:
        return True
    conds = _conditions(expr)
    if not conds or depth >= MAX_CASE_SPLIT:
        return _algebraic_zero(expr)
    cond = min(sorted(conds, key=sp.default_sort_key), key=sp.count_ops)
    return all(_split_cases(expr.xreplace({cond: v}), depth + 1) for v in (sp.true, sp.false))


def exactly_zero(expr: sp.Expr) -> bool:
    """Whether ``expr`` is identically zero, shown by exact rewriting (never by evaluation).

    Works on the :func:`canonical` form. Without Piecewise parts: ``expand``, then
    ``cancel(together(.))`` (a rational function in the transcendental parts), then
    ``simplify``. With Piecewise parts (relu, leaky_relu): the expanded sum is split into groups
    of terms that share no branch comparison, and each group must vanish on every branch: a case
    split on the comparisons (``z > 0`` true, then false), at most :data:`MAX_CASE_SPLIT` deep,
    then the same algebra. ``False`` means "not shown to be zero", not "non-zero".
    """
    if expr == 0:
        return True
    expr = canonical(expr)
    if not expr.has(sp.Piecewise):
        return _algebraic_zero(expr)
    expr = sp.expand(expr)
    groups = _groups(expr)
    if len(groups) > 1 and all(_split_cases(g) for g in groups):
        return True
    return _split_cases(expr)


class SymbolicMLP:
    """A fully connected network as SymPy expressions.

    Args:
      widths: layer widths ``(n0, .., nL)``, e.g. ``(2, 2, 1)`` or ``"2,2,1"``.
      activation: hidden activation, a name of :data:`symjax.base.choices.ACTIVATIONS` or
        ``"sigma"`` (undefined function).
      output_activation: output activation, a concrete name or ``"phi"`` (undefined function,
        distinct from ``sigma``).
      loss: ``"squared_error"`` (alias ``"mse"``), ``"bce"``, ``"softmax_cross_entropy"`` (alias
        ``"softmax_ce"``), or ``"l"`` (undefined function).
      samples: number of symbolic samples ``m``.
      reduction: ``"mean"`` or ``"sum"`` of the per-sample losses.
      dropout: ``None``, ``"independent"`` (mask ``r_u`` per hidden unit) or ``"shared"`` (mask
        ``R_l`` per hidden layer).

    Raises:
      InputError: on any bad argument, naming the value and the allowed choices or limits.

    Examples:
      >>> net = SymbolicMLP((2, 2, 1))
      >>> net.forward_equations()[4:]
      [(z3, a1*w5 + a2*w6 + b3), (a3, phi(z3))]
      >>> net.loss_expr
      l(phi(b3 + w5*sigma(b1 + w1*x1 + w2*x2) + w6*sigma(b2 + w3*x1 + w4*x2)), y)
    """

    def __init__(
        self,
        widths,
        *,
        activation: str = UNDEFINED_ACTIVATION,
        output_activation: str = UNDEFINED_OUTPUT_ACTIVATION,
        loss: str = UNDEFINED_LOSS,
        samples: int = 1,
        reduction: str = "mean",
        dropout: str | None = None,
    ):
        self.layout = Layout(widths)
        self.widths = self.layout.widths
        limits = (
            (len(self.layout.hidden_layers), MAX_HIDDEN_LAYERS, "have {} hidden layers"),
            (self.layout.n_params, MAX_SYMBOLIC_PARAMS, "give {} parameters"),
            (math.prod(self.widths[1:]), MAX_PATHS,
             "give {} paths from an input to the outputs (product of the non-input widths)"),
        )
        for count, limit, what in limits:
            if count > limit:
                raise InputError(f"widths {self.layout.widths_str} {what.format(count)}; the "
                                 f"symbolic engine handles at most {limit}")
        self.activation = activation_name(activation, symbolic=True)
        self.output_activation = choose("output activation", output_activation,
                                        ACTIVATIONS + (UNDEFINED_OUTPUT_ACTIVATION,))
        self.loss = loss_name(loss, symbolic=True)
        if type(samples) is not int or not 1 <= samples <= MAX_SAMPLES:  # bool is not a count
            raise InputError(f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}")
        self.samples = samples
        self.reduction = reduction_name(reduction)
        if dropout is not None:
            choose("dropout", dropout, ("none",) + DROPOUTS)
        self.dropout = None if dropout in (None, "none") else dropout
        self._grads: dict[str, sp.Expr] = {}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"SymbolicMLP({self.layout.widths_str}, {options})"

    @property
    def options(self) -> dict:
        """The keyword arguments that rebuild this network (with :attr:`widths`)."""
        return {
            "activation": self.activation,
            "output_activation": self.output_activation,
            "loss": self.loss,
            "samples": self.samples,
            "reduction": self.reduction,
            "dropout": self.dropout,
        }

    # -- symbols ---------------------------------------------------------------------------
    def _suffix(self, sample: int) -> str:
        return f"_{sample}" if self.samples > 1 else ""

    def _symbol(self, name: str) -> sp.Symbol:
        return sp.Symbol(name, real=True)

    @cached_property
    def params(self) -> dict[str, sp.Symbol]:
        """Parameter symbols by name, in the shared order of :class:`symjax.Layout`."""
        return {name: self._symbol(name) for name in self.layout.names}

    @property
    def param_symbols(self) -> tuple[sp.Symbol, ...]:
        """Parameter symbols in the shared order."""
        return tuple(self.params.values())

    def x(self, i: int, sample: int = 1) -> sp.Symbol:
        """Input ``i`` (1-based) of ``sample``."""
        return self._symbol(f"x{i}{self._suffix(sample)}")

    def y(self, k: int, sample: int = 1) -> sp.Symbol:
        """Target of output ``k`` (1-based) of ``sample``."""
        stem = "y" if self.widths[-1] == 1 else f"y{k}"
        return self._symbol(stem + self._suffix(sample))

    def z(self, unit: int, sample: int = 1) -> sp.Symbol:
        """Pre-activation of global unit ``unit`` on ``sample``."""
        return self._symbol(f"z{unit}{self._suffix(sample)}")

    def a(self, unit: int, sample: int = 1) -> sp.Symbol:
        """Activation of global unit ``unit`` on ``sample``."""
        return self._symbol(f"a{unit}{self._suffix(sample)}")

    def mask(self, layer: int, unit: int, sample: int = 1) -> sp.Expr:
        """Dropout mask on the activation of ``unit`` of hidden ``layer`` (``1`` if none)."""
        if self.dropout is None or layer not in self.layout.hidden_layers:
            return sp.S.One
        if self.dropout == "shared":
            return self._symbol(f"R{layer}{self._suffix(sample)}")
        return self._symbol(f"r{self.layout.unit_number(layer, unit)}{self._suffix(sample)}")

    def source(self, layer: int, unit: int, sample: int = 1) -> sp.Expr:
        """What unit ``unit`` of layer ``layer - 1`` feeds forward: ``x_i`` or ``mask * a_u``."""
        if layer == 1:
            return self.x(unit, sample)
        prev = layer - 1
        return self.mask(prev, unit, sample) * self.a(self.layout.unit_number(prev, unit), sample)

    @cached_property
    def data_symbols(self) -> tuple[sp.Symbol, ...]:
        """Inputs, targets and dropout masks, sample by sample."""
        out: list[sp.Symbol] = []
        for s in self.samples_range:
            out += [self.x(i, s) for i in range(1, self.widths[0] + 1)]
            out += [self.y(k, s) for k in range(1, self.widths[-1] + 1)]
            for layer in self.layout.hidden_layers:
                for unit in range(1, self.widths[layer] + 1):
                    m = self.mask(layer, unit, s)
                    if m.is_Symbol and m not in out:
                        out.append(m)
        return tuple(out)

    @property
    def samples_range(self) -> range:
        """1-based sample indices."""
        return range(1, self.samples + 1)

    def units(self, layer: int) -> range:
        """Global numbers of the units of ``layer``."""
        first = self.layout.unit_number(layer, 1)
        return range(first, first + self.widths[layer])

    # -- functions -------------------------------------------------------------------------
    def activation_of(self, layer: int) -> str:
        """Name of the activation used in ``layer`` (the output activation in the last)."""
        return self.output_activation if layer == self.layout.n_layers else self.activation

    def activate(self, layer: int, z: sp.Expr) -> sp.Expr:
        """The activation of ``layer`` applied to ``z``."""
        name = self.activation_of(layer)
        if name in CONCRETE_ACTIVATIONS:
            return CONCRETE_ACTIVATIONS[name](z)
        return undefined_function(name)(z)

    def activation_derivative(self, layer: int, z: sp.Expr) -> sp.Expr:
        """``d a/d z`` of the activation of ``layer`` at ``z`` (``sigma'(z)`` if undefined)."""
        name = self.activation_of(layer)
        if name in CONCRETE_ACTIVATIONS:
            return sp.diff(CONCRETE_ACTIVATIONS[name](_T), _T).xreplace({_T: z})
        return derivative_function(name, [1], 1)(z)

    def sample_loss(self, yhat: tuple, y: tuple) -> sp.Expr:
        """The per-sample loss of outputs ``yhat`` against targets ``y``."""
        if self.loss in CONCRETE_LOSSES:
            return CONCRETE_LOSSES[self.loss](yhat, y)
        return undefined_function(self.loss)(*yhat, *y)

    def loss_derivative(self, k: int, yhat: tuple, y: tuple) -> sp.Expr:
        """``d loss/d yhat_k`` (1-based ``k``) at ``(yhat, y)``; ``l_k(..)`` if undefined."""
        if self.loss in CONCRETE_LOSSES:
            ts = tuple(sp.Dummy(f"t{i}", real=True) for i in range(len(yhat)))
            d = sp.diff(CONCRETE_LOSSES[self.loss](ts, y), ts[k - 1])
            return d.xreplace(dict(zip(ts, yhat)))
        return derivative_function(self.loss, [k], 2 * len(yhat))(*yhat, *y)

    @property
    def sample_weight(self) -> sp.Expr:
        """``dJ/dL_s``: ``1/m`` for the mean, ``1`` for the sum."""
        return sp.Rational(1, self.samples) if self.reduction == "mean" else sp.S.One

    # -- forward pass ----------------------------------------------------------------------
    def forward_equations(self, sample: int = 1) -> list[tuple[sp.Symbol, sp.Expr]]:
        """The forward pass in short form, ``[(z1, w1*x1 + w2*x2 + b1), (a1, sigma(z1)), ..]``."""
        eqs = []
        for layer in range(1, self.layout.n_layers + 1):
            for unit in range(1, self.widths[layer] + 1):
                u = self.layout.unit_number(layer, unit)
                terms = [self.params[self.layout.weight(layer, unit, src)]
                         * self.source(layer, src, sample)
                         for src in range(1, self.widths[layer - 1] + 1)]
                z = self.params[self.layout.bias(layer, unit)] + sp.Add(*terms)
                eqs.append((self.z(u, sample), z))
                eqs.append((self.a(u, sample), self.activate(layer, self.z(u, sample))))
        return eqs

    @cached_property
    def expansion(self) -> dict[sp.Symbol, sp.Expr]:
        """Every ``z``/``a`` symbol (all samples) -> its expression in parameters and data."""
        out: dict[sp.Symbol, sp.Expr] = {}
        for s in self.samples_range:
            for lhs, rhs in self.forward_equations(s):
                out[lhs] = rhs.xreplace(out)
        return out

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """Replace the ``z``/``a`` symbols in a short-form expression by their expressions."""
        return expr.xreplace(self.expansion)

    def outputs(self, sample: int = 1) -> tuple[sp.Symbol, ...]:
        """Output activation symbols ``a_u`` of ``sample`` (short form)."""
        return tuple(self.a(u, sample) for u in self.units(self.layout.n_layers))

    def targets(self, sample: int = 1) -> tuple[sp.Symbol, ...]:
        """Target symbols of ``sample``."""
        return tuple(self.y(k, sample) for k in range(1, self.widths[-1] + 1))

    @cached_property
    def forward(self) -> tuple[tuple[sp.Expr, ...], ...]:
        """Network outputs per sample, in parameters and data: ``forward[s-1][k-1]``."""
        return tuple(tuple(self.expand(a) for a in self.outputs(s)) for s in self.samples_range)

    @cached_property
    def loss_expr(self) -> sp.Expr:
        """The objective ``J`` in parameters and data."""
        losses = [self.sample_loss(out, self.targets(s))
                  for s, out in zip(self.samples_range, self.forward)]
        return self.sample_weight * sp.Add(*losses)

    # -- gradients and substitutions -------------------------------------------------------
    def grad(self, name: str) -> sp.Expr:
        """``dJ/dp`` for the parameter called ``name``, in argument-position form (cached).

        ``sympy.diff`` writes the derivative of ``l(phi(z3), phi(z4), y1, y2)`` with respect to
        its first argument as ``Derivative(l(..), phi(z3))``: a derivative with respect to an
        *expression*. Substituting ties into that form is unsound: where ``z4`` becomes ``z3``
        the derivatives with respect to the first and the second argument turn into the same
        object. So every derivative of an undefined function is rewritten here, before anyone
        can substitute into it, as a named function of argument positions (``l_1(..)``,
        ``sigma'(z1)``, see :func:`canonical`), and a gradient that still holds a
        ``Derivative`` or ``Subs`` is an internal error, never returned.
        """
        if name not in self._grads:
            out = canonical(sp.diff(self.loss_expr, self.params[self.layout.info(name).name]))
            if out.has(sp.Derivative, sp.Subs):
                raise RuntimeError(
                    f"internal error: dJ/d{name} of {self!r} keeps a derivative that is not in "
                    f"argument-position form: {out}"
                )
            self._grads[name] = out
        return self._grads[name]

    def gradient(self) -> dict[str, sp.Expr]:
        """Every ``dJ/dp`` by parameter name, in the shared order."""
        return {name: self.grad(name) for name in self.layout.names}

    def tie_substitution(self, pairs) -> dict[sp.Symbol, sp.Expr]:
        """Each tied parameter -> the representative (first in the shared order) of its class,
        negated for a sign-flip tie (``w1=-w3`` gives ``w3 -> -w1``); ``pairs`` as
        :meth:`symjax.Layout.parse_ties` takes them (signs allowed)."""
        signs = self.layout.tie_signs(self.layout.parse_ties(pairs, signed=True))
        return {
            self.params[name]: sign * self.params[rep]
            for name, (rep, sign) in signs.items() if rep != name
        }

    @cached_property
    def _symbols_by_name(self) -> dict[str, sp.Symbol]:
        return {s.name: s for s in (*self.param_symbols, *self.data_symbols)}

    def symbol(self, name: str) -> sp.Symbol:
        """Any parameter or data symbol by name (``"w1"``, ``"x2_3"``, ``"r1"``)."""
        known = self._symbols_by_name
        if name not in known:
            raise InputError(
                f"unknown symbol {name!r} for {self!r}; allowed: parameters "
                f"{self.layout.names_summary()} and data {', '.join(map(str, self.data_symbols))}"
            )
        return known[name]

    def point(self, values: Mapping[str, object]) -> dict[sp.Symbol, sp.Rational]:
        """``{"w1": "1/2", ..}`` -> ``{w1: Rational(1, 2), ..}`` (exact rationals)."""
        return {self.symbol(k): sp.Rational(str(v)) for k, v in values.items()}
