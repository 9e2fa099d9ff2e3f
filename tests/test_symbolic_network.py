"""The symbolic MLP: names, forward pass, loss, gradients, validation, exact-zero tests."""

from __future__ import annotations

import doctest

import pytest
import sympy as sp

from symjax import InputError, Layout, symbolic
from symjax.symbolic import SymbolicMLP, _chain, _network, _render, _ties, canonical, exactly_zero
from symjax.symbolic._network import MAX_PATHS, MAX_SAMPLES, MAX_SYMBOLIC_PARAMS


def r(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def test_two_two_one_forward_pass_matches_the_textbook():
    net = SymbolicMLP((2, 2, 1))
    w1, w2, w3, w4, w5, w6, b1, b2, b3, x1, x2, y = map(
        r, "w1 w2 w3 w4 w5 w6 b1 b2 b3 x1 x2 y".split()
    )
    sigma, phi, loss = (sp.Function(n, real=True) for n in ("sigma", "phi", "l"))
    eqs = dict(net.forward_equations())
    assert eqs[r("z1")] == w1 * x1 + w2 * x2 + b1
    assert eqs[r("a1")] == sigma(r("z1"))
    assert eqs[r("z2")] == w3 * x1 + w4 * x2 + b2
    assert eqs[r("z3")] == w5 * r("a1") + w6 * r("a2") + b3
    assert eqs[r("a3")] == phi(r("z3"))
    z1, z2 = w1 * x1 + w2 * x2 + b1, w3 * x1 + w4 * x2 + b2
    assert net.loss_expr == loss(phi(w5 * sigma(z1) + w6 * sigma(z2) + b3), y)


def test_parameters_follow_the_shared_layout():
    net = SymbolicMLP((3, 4, 2, 2))
    assert tuple(net.params) == Layout((3, 4, 2, 2)).names
    assert all(s.is_real for s in net.param_symbols)
    assert net.param_symbols[0] == r("w1")


@pytest.mark.parametrize(
    "widths, samples, dropout, expected",
    [
        ((2, 2, 1), 1, None, ["x1", "x2", "y"]),
        ((2, 2, 2), 1, None, ["x1", "x2", "y1", "y2"]),
        ((2, 2, 1), 2, None, ["x1_1", "x2_1", "y_1", "x1_2", "x2_2", "y_2"]),
        ((2, 2, 1), 1, "independent", ["x1", "x2", "y", "r1", "r2"]),
        ((2, 2, 2, 1), 1, "shared", ["x1", "x2", "y", "R1", "R2"]),
        ((1, 2, 1), 2, "independent",
         ["x1_1", "y_1", "r1_1", "r2_1", "x1_2", "y_2", "r1_2", "r2_2"]),
    ],
)
def test_data_symbols_are_named_as_documented(widths, samples, dropout, expected):
    net = SymbolicMLP(widths, samples=samples, dropout=dropout)
    assert [s.name for s in net.data_symbols] == expected
    assert net.loss_expr.free_symbols == set(net.param_symbols) | set(net.data_symbols)


def test_dropout_masks_multiply_hidden_activations():
    net = SymbolicMLP((2, 2, 1), dropout="independent")
    eqs = dict(net.forward_equations())
    assert eqs[r("z3")] == r("w5") * r("r1") * r("a1") + r("w6") * r("r2") * r("a2") + r("b3")
    shared = dict(SymbolicMLP((2, 2, 1), dropout="shared").forward_equations())
    expected = r("R1") * (r("w5") * r("a1") + r("w6") * r("a2")) + r("b3")
    assert sp.expand(shared[r("z3")] - expected) == 0


@pytest.mark.parametrize("reduction, factor", [("mean", sp.Rational(1, 3)), ("sum", 1)])
def test_reduction_over_samples(reduction, factor):
    net = SymbolicMLP((1, 1, 1), activation="identity", output_activation="identity",
                      loss="squared_error", samples=3, reduction=reduction)
    total = 0
    for s in (1, 2, 3):
        yhat = r("w2") * (r("w1") * r(f"x1_{s}") + r("b1")) + r("b2")
        total += (yhat - r(f"y_{s}")) ** 2 / 2
    assert sp.expand(net.loss_expr - factor * total) == 0


@pytest.mark.parametrize(
    "activation, z, expected",
    [
        ("relu", 0, 0),
        ("relu", sp.Rational(1, 2), 1),
        ("leaky_relu", 0, 1),
        ("leaky_relu", -1, sp.Rational(1, 100)),
        ("identity", 3, 1),
        ("tanh", 0, 1),
        ("sigmoid", 0, sp.Rational(1, 4)),
        ("softplus", 0, sp.Rational(1, 2)),
    ],
)
def test_activation_derivatives_follow_the_shared_definitions(activation, z, expected):
    net = SymbolicMLP((1, 1, 1), activation=activation)
    assert sp.simplify(net.activation_derivative(1, sp.S(z)) - expected) == 0


def test_undefined_output_activation_is_distinct_from_the_hidden_one():
    net = SymbolicMLP((2, 2, 1))
    funcs = {f.func.__name__ for f in net.loss_expr.atoms(sp.core.function.AppliedUndef)}
    assert funcs == {"sigma", "phi", "l"}


def test_gradient_is_sympy_diff_and_cached():
    net = SymbolicMLP((2, 3, 1), activation="tanh", loss="squared_error",
                      output_activation="identity")
    g = net.grad("w4")
    assert g is net.grad("w4")
    assert sp.simplify(g - sp.diff(net.loss_expr, r("w4"))) == 0
    assert list(net.gradient()) == list(net.layout.names)


def test_tie_substitution_maps_to_class_representatives():
    net = SymbolicMLP((2, 3, 1))
    sub = net.tie_substitution("w1=w3=w5,b2=b1")
    assert sub == {r("w3"): r("w1"), r("w5"): r("w1"), r("b2"): r("b1")}


def test_point_parses_exact_rationals_and_rejects_unknown_names():
    net = SymbolicMLP((2, 2, 1))
    assert net.point({"w1": "1/3", "x2": "-2"}) == {r("w1"): sp.Rational(1, 3), r("x2"): -2}
    with pytest.raises(InputError, match="unknown symbol 'q7'"):
        net.point({"q7": "1"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"widths": (2, 0, 1)}, "positive integers, got 0"),
        ({"widths": (2, -1, 1)}, "positive integers, got -1"),
        ({"widths": (2, 20, 20, 1)}, f"at most {MAX_SYMBOLIC_PARAMS}"),
        ({"widths": (2, 5, 5, 5, 5, 1)}, f"at most {MAX_PATHS}"),
        ({"widths": (1,) * 9}, "hidden layers"),
        ({"activation": "swish"}, "unknown activation 'swish'; allowed: identity, tanh"),
        ({"output_activation": "sigma"}, "unknown output activation 'sigma'; allowed: .*phi"),
        ({"loss": "hinge"},
         "unknown loss 'hinge'; allowed: squared_error, bce, softmax_cross_entropy, l"),
        ({"reduction": "max"}, "unknown reduction 'max'; allowed: mean, sum"),
        ({"samples": 0}, f"samples must be an integer from 1 to {MAX_SAMPLES}, got 0"),
        ({"samples": 2.5}, "samples must be an integer"),
        ({"dropout": "sometimes"}, "unknown dropout 'sometimes'; allowed: none, shared"),
    ],
)
def test_bad_arguments_raise_one_line_input_errors(kwargs, message):
    kwargs = {"widths": (2, 2, 1), **kwargs}
    with pytest.raises(InputError, match=message) as err:
        SymbolicMLP(kwargs.pop("widths"), **kwargs)
    assert "\n" not in str(err.value)


def test_loss_alias_is_accepted():
    assert SymbolicMLP((2, 2, 1), loss="mse").loss == "squared_error"


def test_canonical_resolves_subs_and_derivatives_of_undefined_functions():
    x, y, u = r("x"), r("y"), r("u")
    sigma, loss = sp.Function("sigma", real=True), sp.Function("l", real=True)
    d = sp.diff(sigma(2 * x + 1), x)
    assert d.has(sp.Subs)
    assert canonical(d) == 2 * sp.Function("sigma'", real=True)(2 * x + 1)
    # Derivative with respect to a function application, as sympy.diff writes for l(phi(.), y).
    d2 = sp.diff(loss(sp.Function("phi", real=True)(x), y), x)
    assert not canonical(d2).has(sp.Derivative, sp.Subs)
    assert canonical(sp.Derivative(loss(u, y), u)) == sp.Function("l_1", real=True)(u, y)
    # Two Subs with different bound variables become the same expression.
    a = sp.Subs(sp.Derivative(sigma(u), u), u, x + 1)
    b = sp.Subs(sp.Derivative(sigma(y), y), y, x + 1)
    assert canonical(a) == canonical(b)


def test_exactly_zero_proves_zero_and_has_negative_controls():
    x, y = r("x"), r("y")
    sigma = sp.Function("sigma", real=True)
    assert exactly_zero(sp.diff(sigma(x * y), x) - y * sp.Function("sigma'", real=True)(x * y))
    assert exactly_zero(sp.tanh(x) ** 2 + 1 / sp.cosh(x) ** 2 - 1)
    relu = sp.Piecewise((x, x > 0), (0, True))
    assert exactly_zero(sp.diff(relu * y, x) - sp.Piecewise((y, x > 0), (0, True)))
    assert not exactly_zero(sigma(x) - sigma(y))
    assert not exactly_zero(sp.Piecewise((1, x > 0), (0, True)) - 1)


def test_exactly_zero_needs_case_splits_and_rewriting():
    """Identities that are zero only after a case split on the kink, or after algebra; and
    non-identities that are zero almost everywhere (sampling would call them zero)."""
    z, a, b = sp.symbols("z a b", real=True)
    relu = sp.Piecewise((z, z > 0), (0, True))
    relu_d = sp.Piecewise((1, z > 0), (0, True))
    leaky = sp.Piecewise((z, z >= 0), (z / 100, True))
    leaky_d = sp.Piecewise((1, z >= 0), (sp.Rational(1, 100), True))
    sigma_d = sp.Function("sigma'", real=True)
    assert exactly_zero(relu - z * relu_d)
    assert exactly_zero(leaky - z * leaky_d)
    assert exactly_zero(relu * relu_d - relu)  # relu' is 1 wherever relu is not 0
    assert exactly_zero(sigma_d(z) * ((a + b) ** 2 - a**2 - 2 * a * b - b**2))
    assert exactly_zero(sp.exp(z) / (1 + sp.exp(z)) - 1 / (1 + sp.exp(-z)))
    # zero except at z = 0 (relu'(0) = 0 but leaky_relu'(0) = 1): not identically zero
    assert not exactly_zero(relu_d - sp.Piecewise((1, z >= 0), (0, True)))
    assert not exactly_zero(leaky_d - sp.Piecewise((1, z > 0), (sp.Rational(1, 100), True)))
    assert not exactly_zero(relu - z * leaky_d)


@pytest.mark.parametrize("name", symbolic.__all__)
def test_every_public_symbolic_name_imports(name):
    assert getattr(symbolic, name) is not None


@pytest.mark.parametrize("module", [_network, _chain, _ties, _render])
def test_docstring_examples_run(module):
    assert doctest.testmod(module).failed == 0
