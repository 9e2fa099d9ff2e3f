"""Conservation laws: counts against Marcotte, Gribonval and Peyré (2023), exact verification,
negative controls, the Lie-rank engine, input errors and the ``symjax laws`` command."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from symjax import cli
from symjax.base.errors import InputError
from symjax.cli.laws import MAX_PARAMS_HELP
from symjax.symbolic import _laws
from symjax.symbolic._laws import (
    MAX_LAW_PARAMS,
    candidate_laws,
    check_conserved,
    conservation_laws,
    lie_algebra_rank,
    two_layer,
)
from symjax.symbolic._theorem import REFUTED, Theorem

WIDTHS = [(2, 2, 1), (3, 2, 2), (2, 3, 1)]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("widths", WIDTHS)
def test_linear_count_is_r_r_plus_1_over_2(widths, bias):
    result = conservation_laws(widths, "identity", bias=bias)
    r = widths[1]
    assert result.count == r * (r + 1) // 2
    assert result.lie.exact and result.lie.converged
    assert all(result.verified) and result.complete and result.theorem.proven
    assert [law.name for law in result.laws] == [
        f"Q{j}{k}" for j in range(1, r + 1) for k in range(j, r + 1)
    ]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("widths", WIDTHS)
def test_relu_count_is_r_one_law_per_hidden_unit(widths, bias):
    result = conservation_laws(widths, "relu", bias=bias)
    assert result.count == widths[1]
    assert all(result.verified) and result.complete and result.lie.exact


def test_relu_laws_are_incoming_minus_outgoing_norms():
    net = two_layer((2, 2, 1), bias=True)
    w1, w2, w3, w4, w5, w6, b1, b2, _ = net.params
    laws = candidate_laws(net, "relu")
    assert sp.expand(laws[0].expr - (w1**2 + w2**2 + b1**2 - w5**2)) == 0
    assert sp.expand(laws[1].expr - (w3**2 + w4**2 + b2**2 - w6**2)) == 0


def test_linear_beyond_full_rank_counts_independent_entries():
    # r = 3 > n + m = 2: the 6 entries of Q are conserved but only 2*3 - 1 = 5 are independent.
    result = conservation_laws((1, 3, 1), "identity")
    assert result.count == 5 and len(result.laws) == 5 and result.complete


@pytest.mark.parametrize(
    "activation,bias", [("tanh", False), ("tanh", True), ("sigmoid", True)]
)
def test_analytic_networks_have_no_law(activation, bias):
    result = conservation_laws((2, 2, 1), activation, bias=bias)
    assert result.count == 0 and result.laws == ()
    assert result.lie.level_ranks == (result.dimension,) and result.lie.stop == "full rank"
    assert not result.lie.exact and "mpmath with 50 significant digits" in result.lie.method


def _inner_at_witness(theorem: Theorem, law: str, widths, activation: str, bias: bool):
    """grad h . grad f_k at the witness, recomputed here from scratch."""
    net = two_layer(widths, bias=bias)
    h = sp.sympify(law, locals={s.name: s for s in net.params})
    f = net.outputs(activation)[int(theorem.witness["output"]) - 1]
    point = {s: sp.Rational(theorem.witness[s.name]) for s in net.params + net.inputs}
    inner = sum(sp.diff(h, p) * sp.diff(f, p) for p in net.params)
    return sp.N(inner.xreplace(point), 30)


@pytest.mark.parametrize(
    "law,widths,activation,bias",
    [
        # negative controls: the ReLU law for a tanh network, |in|^2 alone for a ReLU network,
        # the linear-network law Q12 for a ReLU network
        ("w1**2 + w2**2 + b1**2 - w5**2", (2, 2, 1), "tanh", True),
        ("w1**2 + w2**2", (2, 2, 1), "relu", False),
        ("w1*w3 + w2*w4 - w5*w6", (2, 2, 1), "relu", False),
    ],
)
def test_checker_reports_non_conserved_quantities(law, widths, activation, bias):
    theorem = check_conserved(law, widths, activation, bias=bias)
    assert theorem.verdict == REFUTED
    value = _inner_at_witness(theorem, law, widths, activation, bias)
    assert abs(value) > 1e-10
    assert abs(value - sp.N(sp.sympify(theorem.witness["value"]), 30)) < 1e-20


@pytest.mark.parametrize(
    "law,activation",
    [("w1**2 + w2**2 - w5**2", "relu"), ("w1**2 + w2**2 - w5**2", "leaky_relu"),
     ("w1*w3 + w2*w4 - w5*w6", "identity")],
)
def test_checker_proves_conserved_quantities(law, activation):
    assert check_conserved(law, (2, 2, 1), activation).proven


def test_lie_rank_needs_brackets_for_transcendental_fields():
    x, y, z = sp.symbols("x y z", real=True)
    fields = [(1, 0, 0), (0, sp.cos(x), sp.sin(x))]
    rank = lie_algebra_rank(fields, (x, y, z), {x: 1, y: 2, z: 3})
    assert rank.level_ranks == (2, 3) and rank.rank == 3 and not rank.exact


def test_lie_rank_exact_rotation_field_leaves_one_law():
    x, y = sp.symbols("x y", real=True)
    rank = lie_algebra_rank([(-y, x)], (x, y), {x: sp.Rational(1, 3), y: 2})
    assert rank.rank == 1 and rank.exact and rank.stop == "closed"


def test_result_serialises_with_count():
    doc = json.loads(json.dumps(conservation_laws((2, 2, 1), "relu").to_dict()))
    assert doc["count"] == 2 and doc["theorem"]["verdict"] == "proven"
    assert [law["verified"] for law in doc["laws"]] == [True, True]


@pytest.mark.parametrize(
    "widths,activation,message",
    [
        ((2, 2, 1), "swish", "unknown activation 'swish'"),
        ((2, 2, 2, 1), "relu", "two-layer networks"),
        ((5, 5, 5), "relu", f"at most {MAX_LAW_PARAMS}"),
    ],
)
def test_bad_input_is_one_line_input_error(widths, activation, message):
    with pytest.raises(InputError, match=message) as err:
        conservation_laws(widths, activation)
    assert "\n" not in str(err.value)


def test_unknown_symbol_in_quantity():
    with pytest.raises(InputError, match="not parameters"):
        check_conserved("w1**2 - w99", (2, 2, 1), "relu")


def test_help_limit_matches_engine_limit():
    assert MAX_PARAMS_HELP == MAX_LAW_PARAMS


def test_cli_laws_exit_0_and_json(cli, tmp_path):
    out = tmp_path / "laws.json"
    proc = cli("laws", "--widths", "2,2,1", "--activation", "relu", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "count = D - dim = 6 - 4 = 2" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["command"] == "laws" and doc["count"] == 2 and "sympy" in doc["versions"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--widths", "6,6,6"], f"at most {MAX_LAW_PARAMS}"),
        (["--widths", "2,x,1"], "comma-separated positive integers"),
    ],
)
def test_cli_laws_bad_input_exit_2(cli, args, message):
    proc = cli("laws", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and not proc.stdout


def test_cli_laws_exit_1_when_a_law_fails(monkeypatch, capsys):
    def refuted(law, widths, activation, *, bias=False, seed=0):
        return Theorem("fake", [], REFUTED, witness={"value": "1"})

    monkeypatch.setattr(_laws, "check_conserved", refuted)
    assert cli.main(["laws", "--widths", "2,2,1", "--activation", "relu"]) == 1
    assert "NOT verified" in capsys.readouterr().out
