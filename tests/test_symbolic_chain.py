"""The chain rule as data: factors, sums over paths and samples, checks, comparisons, LaTeX."""

from __future__ import annotations

import re

import pytest
import sympy as sp

from symjax import InputError
from symjax.symbolic import SymbolicMLP, chain_rule, compare_chains
from symjax.symbolic._chain import ChainRule, Factor, derivation, forward_latex


def r(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def values(rule: ChainRule, term: int = 0) -> dict[str, sp.Expr]:
    return {f.name: f.value for f in rule.terms[term]}


def test_two_two_one_chain_for_w1_is_the_textbook_product():
    net = SymbolicMLP((2, 2, 1))
    rule = chain_rule(net, "w1")
    assert len(rule.terms) == 1
    assert [f.name for f in rule.terms[0]] == [
        "dJ/da3", "da3/dz3", "dz3/da1", "da1/dz1", "dz1/dw1"
    ]
    v = values(rule)
    assert v["dz3/da1"] == r("w5")
    assert v["dz1/dw1"] == r("x1")
    assert v["da1/dz1"] == sp.Function("sigma'", real=True)(r("z1"))
    assert v["da3/dz3"] == sp.Function("phi'", real=True)(r("z3"))
    assert v["dJ/da3"] == sp.Function("l_1", real=True)(r("a3"), r("y"))
    assert values(chain_rule(net, "w3"))["dz3/da2"] == r("w6")
    assert values(chain_rule(net, "w5"))["dz3/dw5"] == r("a1")
    assert values(chain_rule(net, "b2"))["dz2/db2"] == 1
    assert rule.text().splitlines() == [
        "dJ/dw1 = dJ/da3 * da3/dz3 * dz3/da1 * da1/dz1 * dz1/dw1",
        "       = l_1(a3, y) * phi'(z3) * w5 * sigma'(z1) * x1",
    ]


@pytest.mark.parametrize(
    "widths, samples, param, n_terms",
    [((2, 3, 2), 1, "w1", 2), ((2, 2, 2, 1), 1, "w1", 2), ((2, 2, 2, 2, 1), 1, "w1", 4),
     ((2, 3, 1), 3, "w1", 3), ((2, 2, 2, 2), 2, "w2", 8), ((2, 2, 2, 1), 1, "b4", 1)],
)
def test_one_product_per_path_and_sample(widths, samples, param, n_terms):
    rule = chain_rule(SymbolicMLP(widths, samples=samples), param)
    assert len(rule.terms) == n_terms
    assert all(term[0].num == "J" and term[-1].den == param for term in rule.terms)


@pytest.mark.parametrize(
    "widths, options",
    [
        ((2, 2, 1), {}),
        ((2, 3, 2), {"samples": 2}),
        ((2, 2, 2, 1), {}),
        ((2, 2, 2, 2, 1), {}),
        ((2, 2, 2), {"dropout": "independent"}),
        ((2, 2, 2, 1), {"dropout": "shared", "samples": 2, "reduction": "sum"}),
        ((2, 2, 1), {"activation": "relu", "output_activation": "identity",
                     "loss": "squared_error"}),
        ((2, 2, 2, 1), {"activation": "relu", "output_activation": "identity",
                        "loss": "squared_error"}),
        ((2, 2, 1), {"activation": "leaky_relu", "output_activation": "relu"}),
        ((2, 2, 2, 1), {"activation": "sigmoid", "output_activation": "tanh",
                        "loss": "squared_error"}),
        ((2, 3, 1), {"activation": "softplus", "output_activation": "identity",
                     "loss": "mse", "samples": 3}),
        ((2, 2, 1), {"activation": "tanh", "output_activation": "sigmoid", "loss": "bce"}),
    ],
)
def test_sum_of_products_equals_sympy_diff_exactly(widths, options):
    net = SymbolicMLP(widths, **options)
    assert all(chain_rule(net, p).check() for p in net.layout.names)


def test_check_agrees_with_a_fresh_diff_numerically():
    net = SymbolicMLP((2, 2, 2, 1), activation="tanh", loss="squared_error",
                      output_activation="identity", samples=2)
    point = {s: sp.Rational(k + 2, 7 + k) for k, s in
             enumerate(net.param_symbols + net.data_symbols)}
    for p in ("w1", "w6", "b2"):
        chain = chain_rule(net, p).expanded().xreplace(point)
        fresh = sp.diff(net.loss_expr, r(p)).xreplace(point)
        assert abs(sp.N(chain - fresh, 30)) < 1e-25


def test_check_fails_for_a_wrong_chain():
    net = SymbolicMLP((2, 2, 1))
    rule = chain_rule(net, "w1")
    wrong = [*rule.terms[0][:-1], Factor("z1", "w1", r("x2"))]
    assert not ChainRule(net, "w1", (tuple(wrong),)).check()


def test_w1_and_w3_differ_only_through_w5_w6_and_z1_z2():
    net = SymbolicMLP((2, 2, 1))
    cmp = compare_chains(chain_rule(net, "w1"), chain_rule(net, "w3"))
    assert cmp.through == (("w5", "w6"), ("z1", "z2"))
    assert [(d.left.name, d.right.name) for d in cmp.differences] == [
        ("dz3/da1", "dz3/da2"), ("da1/dz1", "da2/dz2")
    ]
    assert cmp.summary() == "dJ/dw1 and dJ/dw3 differ only through w5 vs w6 and z1 vs z2."
    assert "differ: dz3/da1 = w5  vs  dz3/da2 = w6" in cmp.text()


def test_w1_and_w2_differ_only_through_x1_x2():
    net = SymbolicMLP((2, 2, 1))
    cmp = compare_chains(chain_rule(net, "w1"), chain_rule(net, "w2"))
    assert cmp.through == (("x1", "x2"),)
    assert [(d.left.name, d.right.name) for d in cmp.differences] == [("dz1/dw1", "dz1/dw2")]


def test_comparison_of_any_pair_including_different_lengths():
    net = SymbolicMLP((2, 3, 3, 1), activation="tanh")
    cmp = compare_chains(chain_rule(net, "w1"), chain_rule(net, "w16"))
    assert cmp.unmatched and not cmp.identical
    same = compare_chains(chain_rule(net, "w1"), chain_rule(net, "w1"))
    assert same.identical and "equal factors" in same.summary()
    deep = compare_chains(chain_rule(net, "w1"), chain_rule(net, "w3"))
    assert ("z1", "z2") in deep.through
    assert len(deep.rows) == 3


def test_unknown_parameter_is_an_input_error():
    with pytest.raises(InputError, match="unknown parameter 'w7'"):
        chain_rule(SymbolicMLP((2, 2, 1)), "w7")


def _balanced(tex: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    begins = re.findall(r"\\begin\{(\w+)\}", tex)
    ends = re.findall(r"\\end\{(\w+)\}", tex)
    return depth == 0 and sorted(begins) == sorted(ends)


@pytest.mark.parametrize(
    "widths, options, ties",
    [
        ((2, 2, 1), {}, "w1=w3,w2=w4,w5=w6,b1=b2"),
        ((2, 2, 1), {}, "w1=w2"),
        ((2, 3, 2), {"samples": 2, "activation": "relu"}, "w1=w3,b1=b2"),
        ((2, 2, 2, 1), {"dropout": "independent"}, "w5=w7,w6=w8,w9=w10,b3=b4"),
    ],
)
def test_latex_is_produced_for_every_derivation(widths, options, ties):
    net = SymbolicMLP(widths, **options)
    d = derivation(net, ties)
    tex = d.latex()
    assert _balanced(tex)
    assert tex.count(r"\frac{\partial J}{\partial") >= len(d.rules)
    assert all(_balanced(rule.latex()) for rule in d.rules)
    assert all(_balanced(c.latex()) for c in d.comparisons)
    assert _balanced(forward_latex(net))
    assert "Forward pass" in d.text() and "Chain rule" in d.text()


def test_latex_uses_textbook_notation():
    net = SymbolicMLP((2, 2, 1), samples=2)
    tex = chain_rule(net, "w1").latex()
    assert r"\sigma'" in tex and r"x_{1}^{(2)}" in tex and r"\phi'" in tex
