"""No false theorem: output ties, the independent check of every "proven", witnesses, statuses.

The guard (``symjax.symbolic._guard``) must catch a prover that says "proven" wrongly: each
negative control below breaks one prover step on purpose and checks that nothing proven comes
out, and that the command line answers with its own exit status.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy as sp

from symjax import cli
from symjax.base.errors import EXIT_CONTRADICTED, GuardContradiction
from symjax.symbolic import (
    _guard,
    _laws,
    _network,
    _stability,
    _ties,
    check_conserved,
    prove_tie_invariance,
    prove_training_preserves_ties,
    tie_lattice,
)
from symjax.symbolic._network import SymbolicMLP

#: Ties that make two output units equal: not a symmetry of a loss that tells its outputs apart.
OUTPUT_TIES = [
    ("2,2,2", "w5=w7,w6=w8,b3=b4", ()),
    ("1,1,2", "w2=w3,b2=b3", ()),
    ("2,2,3", "w5=w7=w9,w6=w8=w10,b3=b4=b5", ()),
    ("2,2,2", "w5=w7,w6=w8,b3=b4", ("--optimizer", "adam")),
    ("2,2,2", "w5=w7,w6=w8,b3=b4", ("--lattice",)),
]


def run(capsys, *argv):
    code = cli.main(["prove", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def fresh_networks():
    """Networks are cached with their gradients: a patched prover must not leak into others."""
    _ties.clear_cache()
    yield
    _ties.clear_cache()


# -- the output-tie theorems are refuted -------------------------------------------------------
@pytest.mark.parametrize("widths, ties, extra", OUTPUT_TIES)
def test_output_ties_are_refuted_with_a_witness(capsys, tmp_path, widths, ties, extra):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, "--widths", widths, "--ties", ties, *extra, "--json", path)
    record = json.loads(path.read_text())
    if "--lattice" in extra:
        assert code == 0, out  # the lattice itself is decided: only the empty set is kept
        assert record["context"]["invariant"] == [""]
        assert "w5=w7,w6=w8,b3=b4" in record["context"]["not_invariant"]
        return
    assert code == 1, out
    assert out.rstrip().endswith("Verdict: REFUTED")
    gradient = record["lemmas"][0] if record["lemmas"] else record
    assert gradient["verdict"] == "refuted"
    witness = record["witness"] if record["witness"] else record["lemmas"][0]["witness"]
    assert witness["difference"].startswith("dJ/dw") or witness["difference"].startswith("dJ/db")
    assert Fraction(witness["value"]) != 0


def test_output_ties_with_squared_error_are_refuted_too():
    thm = prove_tie_invariance((2, 2, 2), "w5=w7,w6=w8,b3=b4", loss="squared_error")
    assert thm.refuted
    # the targets differ in the witness: that is what tells the outputs apart
    assert thm.witness["y1"] != thm.witness["y2"]


def test_a_real_symmetry_is_still_proven_with_its_check_recorded(capsys, tmp_path):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, "--widths", "2,3,2", "--json", path)
    assert code == 0 and "Verdict: PROVEN" in out and "Independent check:" in out
    guard = json.loads(path.read_text())["guard"]
    assert guard["evaluations"] > 0 and guard["largest_residual"] == 0.0
    assert len(guard["instantiations"]) == 3


def test_gradients_are_in_argument_position_form():
    net = SymbolicMLP((2, 2, 2))
    for name in net.layout.names:
        g = net.grad(name)
        assert not g.has(sp.Derivative) and not g.has(sp.Subs)
    names = {f.func.__name__ for f in net.grad("w5").atoms(sp.Function)}
    assert "l_1" in names and "l_2" not in names
    assert "l_2" in {f.func.__name__ for f in net.grad("w7").atoms(sp.Function)}


def test_mixed_partials_of_an_undefined_function_are_one_function():
    x, y = sp.symbols("x y", real=True)
    f = _network.undefined_function("l")(x, y)
    a = _network.canonical(sp.diff(_network.canonical(sp.diff(f, x)), y))
    b = _network.canonical(sp.diff(_network.canonical(sp.diff(f, y)), x))
    assert a == b and a.func.__name__ == "l_1,2"


# -- witnesses satisfy the hypotheses they refute ----------------------------------------------
def test_tie_witnesses_lie_on_the_tied_subspace():
    thm = tie_lattice((2, 2, 1))
    classes_checked = 0
    for lemma in thm.lemmas:
        if not lemma.refuted:
            continue
        for cls in lemma.context["classes"]:
            values = {lemma.witness[name] for name in cls}
            assert len(values) == 1, (lemma.context["ties"], cls, values)
            classes_checked += 1
    assert classes_checked >= 14


def test_dropout_witnesses_use_masks_inverted_dropout_can_produce():
    thm = prove_tie_invariance((2, 2, 1), dropout="independent", samples=2)
    assert thm.refuted
    rate = Fraction(thm.witness["dropout_rate"])
    masks = {k: Fraction(v) for k, v in thm.witness.items() if k.startswith("r")}
    assert masks and set(masks.values()) <= {Fraction(0), 1 / (1 - rate)}


def test_a_witness_off_the_tied_subspace_is_rejected():
    thm = prove_tie_invariance((2, 2, 1), "w1=w3")
    moved = {**thm.witness, "w3": str(Fraction(thm.witness["w1"]) + 1)}
    with pytest.raises(GuardContradiction, match="not on the tied subspace"):
        _guard.confirm_tie_witness((2, 2, 1), (("w1", "w3"),), _options(), moved)


def test_a_witness_that_does_not_refute_is_rejected():
    thm = prove_tie_invariance((2, 2, 1), "w1=w3")
    # the full swap holds at any point, so its difference is zero at this witness
    swapped = {**thm.witness, "w2": thm.witness["w2"], "w4": thm.witness["w2"],
               "b2": thm.witness["b1"], "w6": thm.witness["w5"]}
    pairs = (("w1", "w3"), ("w2", "w4"), ("b1", "b2"), ("w5", "w6"))
    with pytest.raises(GuardContradiction, match="does not refute"):
        _guard.confirm_tie_witness((2, 2, 1), pairs, _options(), swapped)


def test_a_dropout_mask_that_dropout_cannot_produce_is_rejected():
    thm = prove_tie_invariance((2, 2, 1), dropout="independent")
    bad = {**thm.witness, "r1": "3/7"}
    with pytest.raises(GuardContradiction, match="inverted dropout"):
        _guard.confirm_tie_witness(
            (2, 2, 1), _ties.swap_ties(thm_layout()), _options(dropout="independent"), bad
        )


def thm_layout():
    return SymbolicMLP((2, 2, 1)).layout


def _options(**changes):
    return {"activation": "sigma", "output_activation": "phi", "loss": "l", "samples": 1,
            "reduction": "mean", "dropout": None, **changes}


# -- the guard catches a wrong prover step (negative controls) ---------------------------------
def _raw_grad(self, name):
    """The gradient as ``sympy.diff`` leaves it: the form that made output ties 'proven'."""
    return sp.diff(self.loss_expr, self.params[name])


def test_guard_catches_the_original_output_tie_bug(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(SymbolicMLP, "grad", _raw_grad)
    path = tmp_path / "t.json"
    code, out, err = run(capsys, "--widths", "2,2,2", "--ties", "w5=w7,w6=w8,b3=b4",
                         "--json", path)
    assert code == EXIT_CONTRADICTED == 4
    assert "PROVEN" not in out.upper() and not path.exists()
    assert len(err.strip().splitlines()) == 1
    assert "contradicted by its own independent check" in err and "report" in err


def test_guard_catches_a_prover_that_trusts_sampling(monkeypatch):
    # a prover that calls a difference zero because no witness turned up
    monkeypatch.setattr(_ties, "_witness", lambda *a, **k: None)
    monkeypatch.setattr(_ties, "exactly_zero", lambda expr: True)
    with pytest.raises(GuardContradiction, match="w1=w3"):
        prove_tie_invariance((2, 2, 1), "w1=w3")


def test_guard_catches_a_wrong_optimizer_lemma(monkeypatch):
    monkeypatch.setattr(sp, "simplify", lambda expr, **kw: sp.Integer(0))
    with pytest.raises(GuardContradiction, match="u_p - u_q"):
        prove_training_preserves_ties((2, 2, 1), None, "sgd+noise")


def test_guard_catches_a_wrong_conservation_law(monkeypatch):
    monkeypatch.setattr(_laws, "nonzero_witness", lambda *a, **k: None)
    monkeypatch.setattr(_laws, "exactly_zero", lambda expr: True)
    with pytest.raises(GuardContradiction, match="grad h . grad f_1"):
        check_conserved("w1**2", (2, 2, 1), "tanh")


def test_guard_catches_a_wrong_stability_identity(monkeypatch):
    monkeypatch.setattr(_stability, "_numerator_vanishes", lambda expr: True)
    x = sp.Symbol("x", real=True)
    with pytest.raises(GuardContradiction, match="bad"):
        _stability._all_zero("claim", [], {"bad": sp.tanh(x) - x}, "identity")


def test_guard_passes_true_identities_and_records_them():
    x, y = sp.symbols("x y", real=True)
    record = _guard.check_identities(
        {"tanh": sp.tanh(x + y) - (sp.tanh(x) + sp.tanh(y)) / (1 + sp.tanh(x) * sp.tanh(y))},
        "addition theorem",
    )
    assert record["evaluations"] == _guard.EXPRESSION_POINTS
    assert record["largest_residual"] < 1e-30


def test_guard_checks_every_tied_pair_not_only_the_first():
    pairs = (("w1", "w3"), ("w2", "w4"), ("b1", "b2"), ("w5", "w6"), ("w1", "w2"))
    record = _guard.check_tie_gradients((2, 2, 1), pairs[:4], _options(), "swap")
    assert record["evaluations"] == 4 * record["points"]
    # every unit tied to the other and w1 = w2 too: only the last pair's gradients differ
    with pytest.raises(GuardContradiction, match="dJ/dw1 - dJ/dw2"):
        _guard.check_tie_gradients((2, 2, 1), pairs, _options(), "c")


def test_contradiction_is_not_reported_as_bad_input(monkeypatch, capsys):
    monkeypatch.setattr(_ties, "_witness", lambda *a, **k: None)
    monkeypatch.setattr(_ties, "exactly_zero", lambda expr: True)
    code, out, err = run(capsys, "--ties", "w1=w3", "--lattice")
    assert code == EXIT_CONTRADICTED and "PROVEN" not in out.upper()


def test_laws_say_a_count_is_a_rank_not_a_proof(capsys):
    code = cli.main(["laws", "--widths", "2,2,1", "--activation", "tanh"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Verdict: PROVEN" not in out
    assert "rank at one generic point" in out and "50 significant digits" in out


# -- sign-flip ties: the fixed set of flipping a unit's sign -----------------------------------
SIGN_FLIP = "w1=-w3,w2=-w4,b1=-b2,w5=-w6"


@pytest.mark.parametrize("activation, code", [
    ("tanh", 0), ("identity", 0), ("sigmoid", 1), ("relu", 1), ("softplus", 1),
    ("leaky_relu", 1), ("sigma", 1),
])
def test_sign_flip_ties_hold_exactly_for_odd_activations(capsys, tmp_path, activation, code):
    path = tmp_path / "t.json"
    got, out, _ = run(capsys, "--ties", SIGN_FLIP, "--activation", activation, "--json", path)
    assert got == code, out
    record = json.loads(path.read_text())
    if code == 1:
        witness = record["witness"]
        # the witness lies on the sign-flipped subspace
        for p, q in (("w1", "w3"), ("w2", "w4"), ("b1", "b2"), ("w5", "w6")):
            assert Fraction(witness[q]) == -Fraction(witness[p])
        assert "+" in witness["difference"] and Fraction(witness["value"]) != 0
    else:
        assert record["guard"]["evaluations"] > 0


@pytest.mark.parametrize("widths, ties, proven", [
    ((2, 3, 1), "w1=-w5,w2=-w6,b1=-b3,w7=-w9", True),
    ((2, 2, 2, 1), "w5=-w7,w6=-w8,b3=-b4,w9=-w10", True),
    ((2, 2, 2, 1), "w5=-w7,w6=-w8,b3=-b4", False),
    ((2, 2, 2), "w1=-w3,w2=-w4,b1=-b2,w5=-w6,w7=-w8", True),
])
def test_sign_flip_ties_on_wider_and_deeper_nets(widths, ties, proven):
    for activation in ("tanh", "sigmoid"):
        thm = prove_tie_invariance(widths, ties, activation=activation)
        assert thm.verdict == ("proven" if proven and activation == "tanh" else "refuted")


def test_sign_flip_ties_survive_every_modelled_optimizer_but_yogi():
    from symjax.symbolic import OPTIMIZERS

    for optimizer in OPTIMIZERS:
        thm = prove_training_preserves_ties((2, 2, 1), SIGN_FLIP, optimizer, activation="tanh")
        update = thm.lemmas[-1]
        assert update.proven and "sign-flipped" in update.claim, optimizer
        assert update.guard["evaluations"] > 0
        if optimizer == "yogi":  # both moments start at 1e-6: the initial state is not odd
            assert thm.refuted and thm.witness["difference"] == "m_p(0) + m_q(0)"
        else:
            assert thm.proven, optimizer
    assert prove_training_preserves_ties((2, 2, 1), SIGN_FLIP, "adam").refuted  # sigma


def test_sign_flip_ties_with_a_perturbation_are_refused():
    from symjax import InputError

    with pytest.raises(InputError, match="sign-flip ties with a perturbation"):
        prove_training_preserves_ties((2, 2, 1), SIGN_FLIP, "sgd+noise", activation="tanh")


def test_guard_catches_a_false_sign_flip_proof(monkeypatch):
    monkeypatch.setattr(_ties, "_witness", lambda *a, **k: None)
    monkeypatch.setattr(_ties, "exactly_zero", lambda expr: True)
    with pytest.raises(GuardContradiction, match=r"dJ/d\w+ \+ dJ/d\w+"):
        prove_tie_invariance((2, 2, 1), SIGN_FLIP, activation="sigmoid")


def test_sign_ties_are_parsed_strictly():
    from symjax import InputError, Layout

    layout = Layout((2, 2, 1))
    assert layout.parse_ties("-w3=w1", signed=True) == (("w1", "-w3"),)
    assert layout.parse_ties("-w3=-w1", signed=True) == (("w1", "w3"),)
    with pytest.raises(InputError, match="sign-flip ties are accepted by symjax prove"):
        layout.parse_ties("w1=-w3")
    with pytest.raises(InputError, match="two opposite values"):
        layout.parse_ties("w1=w3,w3=-w1", signed=True)
