"""The bridge: lambdified symbolic gradients against ``jax.grad`` of the numeric network, at 1000
random points in float64, on every numeric path; negative controls; the conventions at kinks;
input errors; the import boundary."""

from __future__ import annotations

import doctest
import functools
import json
import subprocess
import sys

import jax
import numpy as np
import pytest
import sympy as sp

from symjax.base.errors import InputError
from symjax.experiments import bridge
from symjax.experiments.bridge import (
    TOLERANCE,
    Points,
    compare_gradients,
    compare_on_paths,
    evaluate,
    lambdify_gradient,
    numeric_form,
    numeric_gradient,
    relative_differences,
)
from symjax.symbolic import SymbolicMLP

#: (widths, activation, output activation, loss, samples, reduction, dropout). Together they
#: cover every width set, activation, loss, sample count and dropout kind the bridge promises.
CASES = [
    ((2, 2, 1), "tanh", "sigmoid", "squared_error", 1, "mean", None),
    ((2, 2, 1), "identity", "sigmoid", "bce", 3, "mean", None),
    ((2, 2, 1), "leaky_relu", "tanh", "squared_error", 3, "mean", "independent"),
    ((2, 3, 1), "sigmoid", "identity", "squared_error", 3, "mean", None),
    ((3, 2, 2), "softplus", "sigmoid", "bce", 1, "mean", None),
    ((2, 2, 2, 1), "relu", "identity", "squared_error", 3, "sum", None),
    ((2, 2, 2, 1), "softplus", "relu", "squared_error", 1, "mean", "shared"),
    ((2, 2, 2, 2, 1), "tanh", "sigmoid", "bce", 1, "sum", None),
    ((2, 2, 3), "tanh", "identity", "softmax_cross_entropy", 3, "mean", None),
]


@functools.cache
def _net(widths, activation, output_activation, loss, samples=1, reduction="mean", dropout=None):
    """One SymbolicMLP per configuration, so its gradient is derived once per session."""
    return SymbolicMLP(widths, activation=activation, output_activation=output_activation,
                       loss=loss, samples=samples, reduction=reduction, dropout=dropout)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[0])) + f"-{c[1]}")
def test_symbolic_gradient_agrees_with_jax_grad_on_every_path(case):
    net = _net(*case)
    paths = ("exact", "matmul") + (("vector",) if numeric_form(net) == "scalar" else ())
    results = compare_on_paths(net, paths, points=1000, seed=0)
    assert [r.path for r in results] == list(paths)
    for result in results:
        assert result.agrees, str(result)
        assert result.max_rel < 1e-12, str(result)
        assert result.points == 1000 and len(result.per_param) == net.layout.n_params
        assert [p.name for p in result.per_param] == list(net.layout.names)


def test_result_reads_and_serializes():
    result = compare_gradients(_net((2, 2, 1), "tanh", "sigmoid", "squared_error"), points=1000)
    text = str(result)
    assert text.startswith("2-2-1 tanh/sigmoid squared_error, samples=1 (mean), exact path")
    assert "agrees over 1000 points" in text and "tolerance 1e-10" in text
    d = json.loads(json.dumps(result.to_dict()))
    assert d["agrees"] is True and d["tolerance"] == TOLERANCE and d["widths"] == [2, 2, 1]
    assert d["form"] == "scalar" and d["per_param"][0]["name"] == "w1"
    assert d["max_rel"] == max(p["max_rel"] for p in d["per_param"])


# -- negative controls: the bridge must be able to fail ------------------------------------------
def test_swapped_gradients_disagree():
    net = _net((2, 2, 1), "tanh", "sigmoid", "squared_error")
    wrong = dict(net.gradient())
    wrong["w1"], wrong["w3"] = wrong["w3"], wrong["w1"]
    result = compare_gradients(net, gradient=wrong)
    assert not result.agrees and result.max_rel > 1e-3
    assert result.worst_param in ("w1", "w3") and "DISAGREES" in str(result)
    bad = {p.name for p in result.per_param if p.max_rel > TOLERANCE}
    assert bad == {"w1", "w3"}


@pytest.mark.parametrize("other", [{"activation": "sigmoid"}, {"reduction": "sum"}])
def test_gradient_of_a_different_network_disagrees(other):
    net = _net((2, 2, 1), "tanh", "identity", "squared_error", 3)
    options = {**net.options, **other}
    wrong = _net(net.widths, options["activation"], options["output_activation"],
                 options["loss"], options["samples"], options["reduction"]).gradient()
    for result in compare_on_paths(net, gradient=wrong):
        assert not result.agrees and result.max_rel > 1e-3, str(result)


def test_non_finite_values_count_as_disagreement():
    net = _net((2, 2, 1), "tanh", "sigmoid", "squared_error")
    w1 = net.params["w1"]
    wrong = {**net.gradient(), "w1": sp.sqrt(-1 - w1**2)}  # NaN everywhere
    result = compare_gradients(net, points=10, gradient=wrong)
    assert not result.agrees and result.max_rel == np.inf and result.worst_param == "w1"
    assert result.to_dict()["max_rel"] == "inf" and result.to_dict()["per_param"][1]["max_rel"] < 1


def test_relative_differences_ignore_rounding_where_the_gradient_cancels():
    a = np.array([[1.0, 0.5], [1.0, -1.0], [1e-12, 0.0], [0.0, 0.0]])  # sizes 1, 1, 1e-12, 0
    b = a + np.array([[1e-16, 0.0], [0.0, 0.0], [1e-17, 0.0], [0.0, 0.0]])
    rel = relative_differences(a, b)
    assert rel[0, 0] == pytest.approx(1e-16, rel=1e-3)  # divided by the size at the point, 1
    assert rel[2, 0] == pytest.approx(2e-17, rel=1e-3)  # by the median size 0.5, not by 1e-12
    assert rel[3].tolist() == [0.0, 0.0]  # both exactly zero: a dead unit, no 0/0


# -- kinks: relu'(0) = 0 and leaky_relu'(0) = 1 on both sides -------------------------------------
@pytest.mark.parametrize(("activation", "slope_at_zero"), [("relu", 0.0), ("leaky_relu", 1.0)])
def test_derivative_at_the_kink_follows_the_shared_convention(activation, slope_at_zero):
    net = _net((2, 2, 1), activation, "identity", "squared_error")
    # w1 = w2 = b1 = 0: z1 = 0 exactly, so dJ/dw1 = e * w5 * sigma'(0) * x1 with e = yhat - y.
    params = np.array([[0.0, 0.0, 0.5, -0.25, 1.5, 0.75, 0.0, 0.125, 0.25]])
    at = Points(params, np.array([[[2.0, -1.0]]]), np.array([[[0.5]]]), np.zeros((1, 0)))
    sym = evaluate(lambdify_gradient(net), at)[0]
    z2 = 0.5 * 2.0 - 0.25 * -1.0 + 0.125
    e = 0.75 * z2 + 0.25 - 0.5
    assert sym[0] == pytest.approx(e * 1.5 * slope_at_zero * 2.0, rel=1e-15, abs=0)
    for path in ("scalar", "vector", "matmul"):
        num = evaluate(numeric_gradient(net, path=path), at)[0]
        np.testing.assert_allclose(sym, num, rtol=1e-15, atol=0, err_msg=path)


# -- float64 whatever the caller's setting, and nothing changed ----------------------------------
def test_runs_in_float64_and_restores_x64():
    net = _net((2, 2, 1), "tanh", "sigmoid", "squared_error")
    with jax.enable_x64(False):
        result = compare_gradients(net, points=1000)
        assert not jax.config.read("jax_enable_x64")
    assert result.agrees and result.max_rel < 1e-12  # float32 rounding alone is 6e-8


# -- input errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, r"unknown activation .*'sigma'.*allowed: identity, tanh"),
        ({"activation": "tanh"}, r"unknown output activation .*'phi'.*allowed: identity"),
        ({"activation": "tanh", "output_activation": "sigmoid"},
         r"unknown loss .*'l'.*allowed: squared_error, bce"),
        ({"activation": "tanh", "output_activation": "identity", "loss": "bce"},
         r"'bce' needs outputs in \(0, 1\): use output_activation 'sigmoid'"),
    ],
)
def test_undefined_functions_cannot_be_lambdified(options, message):
    net = SymbolicMLP((2, 2, 1), **options)
    for call in (lambdify_gradient, numeric_gradient, compare_gradients, compare_on_paths):
        with pytest.raises(InputError, match=message):
            call(net)


def test_bad_arguments_name_the_value_and_the_choices():
    net = _net((2, 2, 1), "tanh", "sigmoid", "squared_error")
    with pytest.raises(InputError, match=r"unknown path 'fast'; allowed: exact, matmul"):
        compare_gradients(net, path="fast")
    with pytest.raises(InputError, match=r"unknown path 'dense'"):
        compare_on_paths(net, ("exact", "dense"))
    with pytest.raises(InputError, match="points must be a positive integer, got 0"):
        compare_gradients(net, points=0)
    with pytest.raises(InputError, match="seed must be a non-negative integer, got -1"):
        compare_gradients(net, seed=-1)
    with pytest.raises(InputError, match="tolerance must be a positive number, got 0.0"):
        compare_gradients(net, tolerance=0.0)
    with pytest.raises(InputError, match="one expression per parameter"):
        lambdify_gradient(net, {"w1": sp.S.Zero})
    with pytest.raises(InputError, match="symbols q that are not parameters or data"):
        lambdify_gradient(net, {**net.gradient(), "b3": sp.Symbol("q")})
    with pytest.raises(InputError, match="expected a SymbolicMLP"):
        compare_gradients((2, 2, 1))


# -- the import boundary and the examples --------------------------------------------------------
def test_symbolic_package_does_not_import_the_bridge():
    code = "import sys, symjax.symbolic; print('symjax.experiments.bridge' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    assert doctest.testmod(bridge, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
