"""Tie theorems: proven where true, refuted with re-checkable witnesses where false."""

from __future__ import annotations

import json
import re
import time

import pytest
import sympy as sp

from symjax import InputError, Layout
from symjax.symbolic import (
    permutation_ties,
    prove_tie_invariance,
    prove_transpositions,
    tie_lattice,
    whole_layer_ties,
)
from symjax.symbolic._ties import _Budget, _TimeLimit, lattice_table, lattice_table_latex

FULL = "w1=w3,w2=w4,w5=w6,b1=b2"

# -- an independent re-evaluation of a witness: its own network, its own sympy.diff ---------
_ACT = {
    "identity": lambda z: z,
    "tanh": sp.tanh,
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "relu": lambda z: sp.Piecewise((z, z > 0), (0, True)),
    "leaky_relu": lambda z: sp.Piecewise((z, z >= 0), (z / 100, True)),
    "softplus": lambda z: sp.log(1 + sp.exp(z)),
}


def _independent_loss(widths, ctx: dict, witness: dict) -> sp.Expr:
    """J rebuilt from the JSON alone: widths, options and the witness's concrete choices."""
    act = _ACT[witness.get("activation", ctx["activation"])]
    out_act = _ACT[witness.get("output_activation", ctx["output_activation"])]
    loss = witness.get("loss", ctx["loss"])
    m = ctx["samples"]
    total = 0
    for s in range(1, m + 1):
        suf = f"_{s}" if m > 1 else ""
        prev = [sp.Symbol(f"x{i}{suf}") for i in range(1, widths[0] + 1)]
        w = b = unit = 0
        weights: list = []
        for layer in range(1, len(widths)):
            for _ in range(widths[layer]):
                weights.append([])
                for _ in range(widths[layer - 1]):
                    w += 1
                    weights[-1].append(sp.Symbol(f"w{w}"))
        for layer in range(1, len(widths)):
            last = layer == len(widths) - 1
            cur = []
            for _ in range(widths[layer]):
                b += 1
                unit += 1
                z = sum(wt * a for wt, a in zip(weights[unit - 1], prev)) + sp.Symbol(f"b{b}")
                a = (out_act if last else act)(z)
                if not last and ctx["dropout"] == "independent":
                    a *= sp.Symbol(f"r{unit}{suf}")
                if not last and ctx["dropout"] == "shared":
                    a *= sp.Symbol(f"R{layer}{suf}")
                cur.append(a)
            prev = cur
        ys = ([sp.Symbol(f"y{suf}")] if widths[-1] == 1 else
              [sp.Symbol(f"y{k}{suf}") for k in range(1, widths[-1] + 1)])
        for yhat, y in zip(prev, ys):
            if loss == "squared_error":
                total += (yhat - y) ** 2 / 2
            else:
                total += -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))
    return total / m if ctx["reduction"] == "mean" else total


def recheck(theorem_json: str) -> sp.Expr:
    """Re-evaluate a refutation from its JSON; returns the value of dJ/dp - dJ/dq there."""
    data = json.loads(theorem_json)
    ctx, witness = data["context"], data["witness"]
    p, q = re.fullmatch(r"dJ/d(\w+) - dJ/d(\w+)", witness["difference"]).groups()
    meta = {"difference", "activation", "output_activation", "loss", "value"}
    point = {sp.Symbol(k): sp.Rational(v) for k, v in witness.items() if k not in meta}
    for cls in ctx["classes"]:  # the witness respects the ties
        assert len({witness[n] for n in cls}) == 1
    J = _independent_loss(ctx["widths"], ctx, witness)
    assert J.free_symbols <= set(point)
    value = (sp.diff(J, sp.Symbol(p)) - sp.diff(J, sp.Symbol(q))).xreplace(point)
    if "/" in witness["value"] or re.fullmatch(r"-?\d+", witness["value"]):
        assert value == sp.Rational(witness["value"])
    else:
        assert abs(sp.N(value, 40) - sp.Float(witness["value"], 30)) < sp.Float("1e-25")
    assert sp.N(value, 40) != 0
    return value


# -- proven --------------------------------------------------------------------------------
def test_default_swap_of_two_two_one_is_proven_structurally():
    t = prove_tie_invariance()
    assert t.proven and t.witness is None
    assert t.context["ties"] == FULL
    assert sum("same expression" in s.text for s in t.steps) == 4


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"activation": "tanh", "output_activation": "sigmoid", "loss": "bce"},
        {"activation": "relu", "output_activation": "identity", "loss": "squared_error"},
        {"activation": "leaky_relu", "output_activation": "softplus", "samples": 3},
        {"samples": 2, "reduction": "sum"},
        {"dropout": "shared"},
        {"dropout": "shared", "samples": 2},
    ],
)
def test_full_swap_is_proven_for_activations_losses_samples(options):
    assert prove_tie_invariance((2, 2, 1), FULL, **options).proven


@pytest.mark.parametrize(
    "widths, layer, perm",
    [
        ((2, 3, 1), 1, {1: 3, 3: 1}),
        ((2, 3, 1), 1, {1: 2, 2: 3, 3: 1}),
        ((3, 3, 2), 1, (1, 2, 0)),
        ((2, 4, 1), 1, {1: 2, 2: 1, 3: 4, 4: 3}),
        ((2, 2, 2, 1), 2, {1: 2, 2: 1}),
        ((2, 3, 3, 1), 2, {1: 3, 2: 1, 3: 2}),
        ((2, 2, 2, 2, 1), 3, {1: 2, 2: 1}),
        ((2, 2, 2, 2, 1), 1, {1: 2, 2: 1}),
    ],
)
def test_every_permutation_tie_set_is_proven(widths, layer, perm):
    pairs = permutation_ties(widths, layer, perm)
    assert pairs == Layout(widths).permutation_pairs(layer, perm)
    assert prove_tie_invariance(widths, pairs).proven


@pytest.mark.parametrize("widths, layer", [((2, 3, 1), 1), ((2, 4, 1), 1), ((2, 3, 3, 1), 2)])
def test_whole_layer_tie_is_proven(widths, layer):
    pairs = whole_layer_ties(widths, layer)
    classes = Layout(widths).tie_classes(pairs)
    assert any(len(c) == widths[layer] for c in classes)
    assert prove_tie_invariance(widths, pairs).proven


def test_all_transpositions_of_two_six_one_are_proven():
    t = prove_transpositions((2, 6, 1))
    assert t.proven and len(t.lemmas) == 15


def test_empty_tie_set_is_vacuously_proven():
    t = prove_tie_invariance((2, 2, 1), "")
    assert t.proven and "vacuously" in t.steps[0].text


def test_ties_as_pairs_and_chains_are_accepted():
    assert prove_tie_invariance((2, 2, 1), [("w1", "w3"), ("w2", "w4"), ("w5", "w6"),
                                            ("b2", "b1")]).proven
    assert prove_tie_invariance((2, 3, 1), "w1=w3=w5,w2=w4=w6,b1=b2=b3,w7=w8=w9").proven


# -- refuted, with witnesses re-checked independently --------------------------------------
@pytest.mark.parametrize(
    "widths, ties, options",
    [
        ((2, 2, 1), "w1=w3", {}),
        ((2, 2, 1), "w1=w2", {}),
        ((2, 2, 1), "w1=w3,w2=w4,b1=b2", {}),
        ((2, 2, 1), "w5=w6", {}),
        ((2, 2, 1), "w1=w3,w2=w4,w5=w6", {}),
        ((2, 2, 1), FULL, {"dropout": "independent"}),
        ((2, 2, 1), FULL, {"dropout": "independent", "samples": 2}),
        ((2, 2, 1), "w1=w3,w2=w4,b1=b2", {"activation": "tanh"}),
        ((2, 2, 1), "w5=w6", {"activation": "sigmoid", "output_activation": "sigmoid",
                              "loss": "bce", "samples": 2, "reduction": "sum"}),
        ((2, 3, 1), "w1=w3,w2=w4,b1=b2", {}),
        ((2, 2, 2, 1), "w5=w7,w6=w8,b3=b4", {"activation": "relu"}),
        ((2, 2, 2), "w1=w3,w2=w4,b1=b2,w5=w6", {}),
    ],
)
def test_false_ties_are_refuted_with_witnesses_that_recheck(widths, ties, options):
    t = prove_tie_invariance(widths, ties, **options)
    assert t.refuted
    w = t.witness
    assert all(isinstance(v, str) for v in w.values())
    assert set(Layout(widths).names) <= set(w)
    value = recheck(t.to_json())
    assert value != 0


def test_witness_for_undefined_functions_names_the_concrete_choices():
    w = prove_tie_invariance((2, 2, 1), "w1=w3").witness
    assert (w["activation"], w["output_activation"], w["loss"]) == (
        "identity", "identity", "squared_error"
    )
    assert w["difference"] == "dJ/dw1 - dJ/dw3"
    assert sp.Rational(w["value"]) != 0  # exact with identity
    assert {"x1", "x2", "y"} <= set(w)


def test_nonlinearity_is_chosen_when_identity_hides_the_difference():
    # With w1=w3, w2=w4, w5=w6 but b1 != b2, sigma' is the only difference: identity gives 0.
    t = prove_tie_invariance((2, 2, 1), "w1=w3,w2=w4,w5=w6")
    assert t.refuted and t.witness["activation"] != "identity"
    recheck(t.to_json())


def test_transcendental_witness_value_is_rigorous():
    t = prove_tie_invariance((2, 2, 1), "w1=w3", activation="tanh",
                             output_activation="tanh", loss="squared_error")
    assert "." in t.witness["value"] and "activation" not in t.witness
    recheck(t.to_json())


def test_refutation_shows_the_symbolic_difference():
    t = prove_tie_invariance((2, 2, 1), "w5=w6")
    assert t.context["pair"] == ["w5", "w6"]
    assert "sigma(" in t.context["difference"]
    assert any("not identically zero" in s.text and s.latex for s in t.steps)


# -- the lattice ---------------------------------------------------------------------------
def test_lattice_of_two_two_one_only_empty_and_full_are_invariant():
    t = tie_lattice()
    assert t.proven and len(t.lemmas) == 16
    assert t.context["invariant"] == ["", FULL]
    assert len(t.context["not_invariant"]) == 14
    for lemma in t.lemmas:
        if lemma.refuted:
            recheck(lemma.to_json())
    assert "w1=w3,w2=w4,w5=w6,b1=b2  proven" in lattice_table(t)
    assert lattice_table_latex(t).count(r"\\") == 17


def test_lattice_with_concrete_functions_agrees():
    t = tie_lattice((2, 2, 1), FULL, activation="tanh", output_activation="identity",
                    loss="squared_error")
    assert t.context["invariant"] == ["", FULL]


@pytest.mark.parametrize("options", [
    {"activation": "relu"},
    {"activation": "relu", "output_activation": "sigmoid", "loss": "bce"},
    {"activation": "leaky_relu", "output_activation": "sigmoid", "loss": "bce"},
])
def test_piecewise_lattices_prove_nothing_by_sampling(options):
    """With (leaky) ReLU a false tie's gradient difference is non-zero only on part of the
    space (where two units sit on either side of the kink), so a handful of sample points can
    miss it, and do for some of these subsets: "proven" must still come only from exact
    rewriting, and each of these subsets must end refuted with a witness that re-checks."""
    t = tie_lattice((2, 2, 1), FULL, **options)
    assert t.proven and t.context["invariant"] == ["", FULL]
    for lemma in t.lemmas:
        if lemma.refuted:
            recheck(lemma.to_json())
        check_stated_equalities(lemma, points=12)


#: How a proof step states that a pair's gradients are equal on the tied subspace.
_EQUAL_STEP = re.compile(r"dJ/d(\w+) - dJ/d(\w+) = 0 after the substitution")
#: Concrete, exact stand-ins for undefined functions when a stated equality is re-checked.
_STAND_INS = {"sigma": "leaky_relu", "phi": "identity", "l": "squared_error"}


def stated_equalities(theorem) -> list[tuple[str, str]]:
    """The pairs whose gradient difference a theorem's steps state to be zero."""
    return [m.groups() for s in theorem.steps if (m := _EQUAL_STEP.match(s.text))]


def check_stated_equalities(theorem, points: int = 40) -> int:
    """Every ``dJ/dp - dJ/dq = 0`` a proof states must hold: evaluate the difference, on an
    independently built network, at random exact points where the ties hold (concrete stand-ins
    for undefined functions; a claim about every function covers them). A non-zero value means
    the proof states a falsehood. Returns the number of statements checked."""
    import random

    data = json.loads(theorem.to_json())
    ctx = data["context"]
    pairs = stated_equalities(theorem)
    if not pairs:
        return 0
    choice = {k: _STAND_INS.get(ctx[k], ctx[k]) for k in ("activation", "output_activation",
                                                           "loss")}
    J = _independent_loss(ctx["widths"], ctx, choice)
    rng = random.Random(0)
    diffs = {(p, q): sp.diff(J, sp.Symbol(p)) - sp.diff(J, sp.Symbol(q)) for p, q in pairs}
    symbols = sorted(J.free_symbols, key=str)
    for _ in range(points):
        point = {v: sp.Rational(rng.randint(-40, 40), rng.randint(1, 9)) for v in symbols}
        for name in [n for n in point if n.name.startswith("y")]:
            point[name] = sp.Rational(rng.randint(1, 8), 9)
        for cls in ctx["classes"]:
            for name in cls[1:]:
                point[sp.Symbol(name)] = point[sp.Symbol(cls[0])]
        for (p, q), diff in diffs.items():
            assert diff.xreplace(point) == 0, (
                f"the proof states dJ/d{p} - dJ/d{q} = 0 ({ctx['ties']}), but it is "
                f"{diff.xreplace(point)} at {point}")
    return len(pairs)


def test_a_relu_difference_that_sampling_misses_is_refuted_not_proven():
    # b1 != b2: the gradients differ only through relu'(z1) vs relu'(z2), i.e. only where z1 and
    # z2 = z1 + b2 - b1 straddle 0 (about a fifth of the random points). No step may state that
    # a pair's difference is 0 on the strength of a few sample points.
    t = prove_tie_invariance((2, 2, 1), "w1=w3,w2=w4,w5=w6", activation="relu")
    assert t.refuted and not t.proven
    assert recheck(t.to_json()) != 0
    check_stated_equalities(t, points=60)
    proven = prove_tie_invariance((2, 2, 1), FULL, activation="relu")
    assert check_stated_equalities(proven, points=5) == 4  # the statements are recognised


def test_a_conjunction_is_proven_only_when_every_lemma_is():
    from symjax.symbolic import Theorem, combine

    checked = {"method": "test", "evaluations": 3, "largest_residual": 0.0}
    proven = Theorem("a", [], "proven", guard=checked)
    with pytest.raises(ValueError, match="independent check"):
        Theorem("a", [], "proven")  # no proven theorem without its check
    refuted = Theorem("b", [], "refuted", witness={"value": "1"})
    unknown = Theorem("c", [], "unknown", reason="time limit")
    both_proven = combine("all", [], [proven, proven])
    assert both_proven.verdict == "proven" and both_proven.guard["evaluations"] == 6
    both = combine("all", [], [proven, refuted, unknown])
    assert both.verdict == "refuted" and both.witness == {"value": "1"}
    assert combine("all", [], [unknown, proven]).verdict == "unknown"
    assert combine("all", [], [proven, unknown]).reason == "time limit"


def test_lattice_limits_the_number_of_generators():
    with pytest.raises(InputError, match="at most 8 ties"):
        tie_lattice((2, 3, 3, 1), "w1=w3,w2=w4,w7=w8,w10=w11,w13=w14,b1=b2,w5=w6,b2=b3,b4=b5")


# -- time limits and bad input -------------------------------------------------------------
def test_time_limit_gives_unknown_with_a_reason():
    t = prove_tie_invariance((2, 2, 1), "w1=w3", timeout=1e-9)
    assert t.verdict == "unknown" and "time limit" in t.reason
    lattice = tie_lattice(timeout=1e-9)
    assert lattice.verdict == "unknown" and "time limit" in lattice.reason


def test_budget_interrupts_a_long_call():
    budget = _Budget(0.2)
    with pytest.raises(_TimeLimit), budget.guard():
        time.sleep(30)


@pytest.mark.parametrize(
    "widths, ties, message",
    [
        ((2, 2, 1), "w1=w9", "unknown parameter 'w9' for widths 2-2-1; allowed: w1..w6, b1..b3"),
        ((2, 2, 1), "w1=b1", "different roles"),
        ((2, 2, 1), "w1=w5", "different roles"),
        ((2, 2, 1), "w1", "must look like w1=w3"),
        ((2, 1, 1), None, "no hidden layer 1 with two units"),
        ((2, 0, 1), None, "positive integers"),
    ],
)
def test_bad_ties_raise_input_errors(widths, ties, message):
    with pytest.raises(InputError, match=message):
        prove_tie_invariance(widths, ties)


@pytest.mark.parametrize("timeout", [0, -1, "soon"])
def test_bad_timeout_is_an_input_error(timeout):
    with pytest.raises(InputError, match="timeout must be a positive number"):
        prove_tie_invariance(timeout=timeout)


def test_permutation_of_an_output_layer_is_rejected():
    with pytest.raises(InputError, match="not a hidden layer"):
        permutation_ties((2, 2, 1), 2, {1: 1})
    with pytest.raises(InputError, match="not a hidden layer"):
        whole_layer_ties((2, 2, 1), 2)
