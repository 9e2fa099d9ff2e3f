"""Stability of the tied subspace: the block-diagonality and duplication theorems, growth factors
against finite differences of the training map, trajectories, input errors, ``symjax stability``."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
import sympy as sp

from symjax import cli
from symjax.base.errors import InputError
from symjax.symbolic import _stability
from symjax.symbolic._stability import (
    _all_zero,
    antisymmetric_hessian_at,
    gd_step,
    growth_factor,
    join_pairs,
    predict_asymmetry,
    prove_block_diagonal,
    prove_duplication,
    split_pairs,
    stability_model,
    tied_point,
    tied_trajectory,
)
from symjax.symbolic._theorem import REFUTED, Theorem

SETTINGS = [("sigmoid", "sigmoid"), ("tanh", "identity"), ("relu", "identity")]
POINTS = [
    {"w1": "1/2", "w2": "-1/3", "b1": "1/4", "w5": "1", "b3": "0"},
    {"w1": "2", "w2": "3/2", "b1": "-1", "w5": "-3/2", "b3": "1/2"},
]
D = ("1/3", "-1/2", "1/5", "2/7")


def _mp(text) -> mpmath.mpf:
    r = sp.Rational(str(text))
    return mpmath.mpf(r.p) / r.q


@pytest.mark.parametrize("activation,output", SETTINGS)
def test_block_diagonal_and_duplication_proven(activation, output):
    model = stability_model(activation, output)
    block = prove_block_diagonal(model)
    assert block.proven and [lemma.verdict for lemma in block.lemmas] == ["proven"] * 3
    assert prove_duplication(model).proven


def test_theorems_hold_for_other_data():
    model = stability_model("softplus", "identity", data=[("1/2", 0, 1), (2, "-1/3", "0.25")])
    assert model.data[1][2] == sp.Rational(1, 4)
    assert prove_block_diagonal(model).proven and prove_duplication(model).proven


def test_cross_block_does_not_vanish_off_the_tied_subspace():
    # Negative control: at an untied point the cross entry H[w5,w5] - H[w6,w6] is not zero, and
    # the checker behind the theorem refutes it with a witness.
    model = stability_model("tanh", "identity")
    w5, w6 = model.p("w5"), model.p("w6")
    cross = sp.diff(model.loss, w5, 2) - sp.diff(model.loss, w6, 2)
    theorem = _all_zero("cross entry vanishes", [], {"H55 - H66": cross}, "entry")
    assert theorem.verdict == REFUTED and abs(sp.N(sp.sympify(theorem.witness["value"]))) > 0


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("activation,output", SETTINGS)
def test_growth_matches_one_finite_difference_step(activation, output, point):
    """GD from tied + eps d (60 digits) moves the asymmetry to eps (I - eta H_anti) d."""
    model = stability_model(activation, output)
    lr, eps = "1/2", mpmath.mpf("1e-15")
    with mpmath.workdps(60):
        s = np.array([_mp(v) for v in tied_point(point).values()], dtype=object)
        d = np.array([_mp(v) for v in D], dtype=object)
        tied_next = gd_step(model, join_pairs(s, 0 * d), lr, dps=60)
        moved = gd_step(model, join_pairs(s, eps * d), lr, dps=60)
        _, d_tied = split_pairs(np.array(tied_next, dtype=object))
        _, d_next = split_pairs(np.array(moved, dtype=object))
        h = antisymmetric_hessian_at(model, point, dps=60)
        predicted = (mpmath.eye(4) - _mp(lr) * h) * mpmath.matrix(list(d))
        assert all(x == 0 for x in d_tied)  # the tied point stays tied, exactly
        assert max(abs(d_next[i] / eps - predicted[i]) for i in range(4)) < mpmath.mpf("1e-20")


@pytest.mark.parametrize("activation,output", SETTINGS)
def test_growth_factor_exceeds_one_where_tied_input_gradient_moves(activation, output):
    model = stability_model(activation, output)
    growth = growth_factor(model, POINTS[0], "1/2")
    assert max(abs(g) for g in growth.tied_gradient[:3]) > 1e-6
    assert growth.grows and growth.eigenvalues[0] < 0
    assert growth.factor == pytest.approx(max(abs(1 - 0.5 * v) for v in growth.eigenvalues))
    w5 = 1.0
    np.testing.assert_allclose(w5 * growth.hessian[:3, 3], growth.tied_gradient[:3], rtol=1e-12)
    assert growth.hessian[3, 3] == 0


def test_tied_trajectory_is_bitwise_tied_and_prediction_matches_mpmath():
    model = stability_model("sigmoid", "sigmoid")
    steps, lr, eps = 12, 0.5, "1e-12"
    path = tied_trajectory(model, POINTS[0], lr, steps)
    assert path.shape == (steps + 1, 9)
    pairs = [(0, 2), (1, 3), (6, 7), (4, 5)]
    for p, q in pairs:
        assert (path[:, p].view(np.uint64) == path[:, q].view(np.uint64)).all()
    d0 = np.array([float(sp.Rational(v)) for v in D])
    predicted = predict_asymmetry(model, path[:-1], d0, lr)
    assert predicted.d.shape == (steps + 1, 4) and predicted.factors.shape == (steps,)
    with mpmath.workdps(40):
        s = np.array([_mp(v) for v in tied_point(POINTS[0]).values()], dtype=object)
        theta = list(join_pairs(s, np.array([_mp(v) * _mp(eps) for v in D], dtype=object)))
        for _ in range(steps):
            theta = gd_step(model, theta, "1/2", dps=40)
        _, d = split_pairs(np.array(theta, dtype=object))
        measured = np.array([float(x / _mp(eps)) for x in d])
    np.testing.assert_allclose(measured, predicted.d[-1], rtol=1e-9, atol=1e-12)


def test_split_join_round_trip():
    theta = np.arange(18, dtype=np.float64).reshape(2, 9)
    s, d = split_pairs(theta)
    assert s.shape == (2, 5) and d.shape == (2, 4)
    np.testing.assert_array_equal(join_pairs(s, d), theta)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: stability_model("sigmoid", "tanh"), "unknown output activation 'tanh'"),
        (lambda: stability_model("swish"), "unknown activation 'swish'"),
        (lambda: stability_model(data=[(0, 1)]), "must be \\(x1, x2, y\\)"),
        (lambda: tied_point({"w1": 1, "w3": 2}), "not tied"),
        (lambda: tied_point({"w9": 1}), "unknown parameter 'w9'"),
        (lambda: tied_point({"w1": "abc"}), "exact rational"),
        (lambda: growth_factor(stability_model("relu", "identity"), lr=0), "must be positive"),
    ],
)
def test_bad_input_is_one_line_input_error(call, message):
    with pytest.raises(InputError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_cli_stability_exit_0_and_json(cli, tmp_path):
    out = tmp_path / "stability.json"
    proc = cli("stability", "--activation", "relu", "--output-activation", "identity",
               "--point", "w1=1/2,w3=1/2,w5=1", "--lr", "1/4", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "growth factor rho(I - eta H_anti)" in proc.stdout and "Verdict: PROVEN" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["command"] == "stability" and doc["growth_factor"] > 1 and doc["lr"] == 0.25
    assert [t["verdict"] for t in doc["theorems"]] == ["proven", "proven"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--point", "w1=1,w3=2"], "not tied"),
        (["--point", "w1"], "must look like w1=1/2"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--lr", "-1"], "must be positive"),
    ],
)
def test_cli_stability_bad_input_exit_2(cli, args, message):
    proc = cli("stability", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and not proc.stdout


def test_cli_stability_exit_1_when_refuted(monkeypatch, capsys):
    def refuted(model):
        return Theorem("fake", [], REFUTED, witness={"value": "1"})

    monkeypatch.setattr(_stability, "prove_duplication", refuted)
    argv = ["stability", "--activation", "relu", "--output-activation", "identity"]
    assert cli.main(argv) == 1
    assert "Verdict: REFUTED" in capsys.readouterr().out


@pytest.mark.parametrize("activation,output", [("tanh", "sigmoid"), ("sigmoid", "identity")])
def test_stability_model_is_the_bridged_network_on_the_shared_xor_data(activation, output):
    """The stability analysis builds its 2-2-1 loss from one symbolic sample of SymbolicMLP; it
    must be exactly the loss of the SymbolicMLP of four samples (which the bridge checks against
    the engine) on the XOR data both halves share, and the engine's dynamics measure the same
    function."""
    import numpy as np

    from symjax.base.choices import XOR
    from symjax.experiments.dynamics import xor_loss
    from symjax.symbolic import SymbolicMLP

    model = stability_model(activation, output)
    net = SymbolicMLP((2, 2, 1), activation=activation, output_activation=output,
                      loss="squared_error", samples=len(XOR), reduction="mean")
    data = {}
    for s, (x1, x2, y) in enumerate(XOR, 1):
        data.update({net.x(1, s): x1, net.x(2, s): x2, net.y(1, s): y})
    rename = {net.params[p.name]: p for p in model.params}
    mlp = net.loss_expr.xreplace(data).xreplace(rename)
    assert mlp == model.loss  # the same expression tree, so the same derivatives
    assert sp.simplify((mlp - model.loss).rewrite(sp.exp)) == 0
    # negative control: another data set gives another loss
    other = net.loss_expr.xreplace({**data, net.y(1, 1): 1}).xreplace(rename)
    assert sp.simplify((other - model.loss).rewrite(sp.exp)) != 0
    # the engine's loss on --dataset xor agrees with it at a point (float64)
    theta = [0.3, -0.2, 0.1, 0.4, -0.5, 0.6, 0.05, -0.15, 0.2]
    point = dict(zip(model.params, map(sp.Rational, map(str, theta))))
    engine = float(xor_loss(activation, output)(np.asarray(theta, np.float64)))
    assert engine == pytest.approx(float(model.loss.xreplace(point)), rel=1e-13)
