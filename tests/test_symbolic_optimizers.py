"""Optimizer theorems: every optimizer keeps ties, every symmetry-breaking perturbation does not.

The symbolic update maps are checked against optax itself (float64, a few steps on a
two-coordinate parameter), so the proofs are about the real optimizers.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp

from symjax import InputError
from symjax.symbolic import _optimizers
from symjax.symbolic._optimizers import (
    _RULES,
    OPTIMIZERS,
    PERTURBATIONS,
    SYMMETRIC_CONTROLS,
    _hyper_values,
    _initial_state_lemma,
    prove_training_preserves_ties,
    prove_update_preserves_ties,
    update_formulas,
)

BREAKING = tuple(SYMMETRIC_CONTROLS)
PER_COORDINATE = ("noise", "per_unit_lr")
#: (optimizer, perturbation) whose update map does not see the perturbation: rprop's learning
#: rate is only its initial step size, so the initial-state lemma refutes it instead.
INITIAL_STATE_ONLY = {("rprop", "per_unit_lr")}


# -- the per-coordinate lemma ----------------------------------------------------------------
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_update_lemma_proven(optimizer):
    theorem = prove_update_preserves_ties(optimizer)
    assert theorem.proven, theorem
    assert theorem.witness is None
    assert all("= 0 (" in step.text for step in theorem.steps)


def test_update_lemma_with_concrete_hyperparameters():
    theorem = prove_update_preserves_ties("adam", b1=0.9, b2="0.999", eps=1e-8)
    assert theorem.proven
    assert theorem.context["hyper"]["b1"] == "9/10"
    assert theorem.context["hyper"]["eps"] == "1/100000000"
    assert theorem.context["hyper"]["lr"] == "lr"


def _check_witness(optimizer, witness):
    """Evaluate the update formulas at the witness: the named outputs differ by ``value``."""
    formulas = update_formulas(optimizer)
    p_name, q_name = (s.strip() for s in witness["difference"].split(" - "))
    diff = formulas[p_name] - formulas[q_name]
    point = {s: sp.Rational(witness[s.name]) for s in diff.free_symbols}
    value = sp.simplify(diff.xreplace(point))
    assert value != 0
    assert sp.simplify(value - sp.sympify(witness["value"])) == 0
    # the witness satisfies the tie hypotheses: parameter, gradient and state are tied
    for name in witness:
        if name.endswith("_p") and name[:-2] not in ("n", "lr"):
            assert witness[name] == witness[name[:-2] + "_q"], name


@pytest.mark.parametrize(
    ("optimizer", "perturbation"),
    [(o, p) for o in OPTIMIZERS for p in PER_COORDINATE if (o, p) not in INITIAL_STATE_ONLY],
)
def test_perturbation_refuted_with_witness(optimizer, perturbation):
    name = f"{optimizer}+{perturbation}"
    theorem = prove_update_preserves_ties(name)
    assert theorem.refuted, theorem
    _check_witness(name, theorem.witness)


def test_rprop_per_unit_learning_rate_is_refuted_by_the_initial_step_size():
    assert prove_update_preserves_ties("rprop+per_unit_lr").proven  # the map ignores lr
    theorem = prove_training_preserves_ties((2, 2, 1), None, "rprop+per_unit_lr")
    assert theorem.refuted
    initial = theorem.lemmas[2]
    assert initial.refuted and theorem.witness == initial.witness
    assert theorem.witness == {"lr_p": "1/10", "lr_q": "1/5",
                               "difference": "step_p(0) - step_q(0)", "value": "-1/10"}
    assert prove_training_preserves_ties((2, 2, 1), None, "rprop+shared_lr").proven


@pytest.mark.parametrize("perturbation", PER_COORDINATE)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_symmetric_control_proven(optimizer, perturbation):
    assert prove_update_preserves_ties(f"{optimizer}+{SYMMETRIC_CONTROLS[perturbation]}").proven


def test_dropout_leaves_the_update_map_alone():
    theorem = prove_update_preserves_ties("adam+dropout")
    assert theorem.proven
    assert any("gradient lemma" in h for h in theorem.hypotheses)


# -- the induction ---------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_proven(optimizer):
    theorem = prove_training_preserves_ties((2, 2, 1), None, optimizer)
    assert theorem.proven, theorem
    assert [lemma.proven for lemma in theorem.lemmas] == [True] * 4
    assert theorem.steps[-1].text.startswith("Conclusion")


@pytest.mark.parametrize("perturbation", PER_COORDINATE)
def test_training_refuted_by_a_per_coordinate_perturbation(perturbation):
    theorem = prove_training_preserves_ties((2, 2, 1), None, f"adam+{perturbation}")
    assert theorem.refuted
    assert theorem.witness == theorem.lemmas[-1].witness
    _check_witness(f"adam+{perturbation}", theorem.witness)


def _dropout_gradient_difference(witness):
    """dJ/dw1 - dJ/dw3 of 2-2-1 with dropout masks r1, r2, recomputed with JAX at the witness."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    acts = {"identity": lambda z: z, "tanh": jnp.tanh,
            "leaky_relu": lambda z: jnp.where(z >= 0, z, 0.01 * z)}
    losses = {"squared_error": lambda yhat, y: (yhat - y) ** 2 / 2,
              "bce": lambda yhat, y: -(y * jnp.log(yhat) + (1 - y) * jnp.log(1 - yhat))}
    sigma, phi = acts[witness["activation"]], acts[witness["output_activation"]]
    value = {k: float(sp.Rational(v)) for k, v in witness.items() if k[0] in "wbxyr"}

    def loss(w):
        x1, x2 = value["x1"], value["x2"]
        a1 = sigma(w[0] * x1 + w[1] * x2 + value["b1"]) * value["r1"]
        a2 = sigma(w[2] * x1 + w[3] * x2 + value["b2"]) * value["r2"]
        return losses[witness["loss"]](phi(value["w5"] * a1 + value["w6"] * a2 + value["b3"]),
                                       value["y"])

    grad = jax.grad(loss)(jnp.asarray([value[f"w{i}"] for i in range(1, 5)], dtype=jnp.float64))
    return float(grad[0] - grad[2])


def test_training_with_dropout():
    independent = prove_training_preserves_ties(optimizer="sgd+dropout")
    assert independent.refuted
    assert independent.lemmas[0].refuted and independent.lemmas[-1].proven
    witness = independent.witness
    assert witness["difference"] == "dJ/dw1 - dJ/dw3"
    assert witness["w1"] == witness["w3"] and witness["r1"] != witness["r2"]
    expected = float(sp.Rational(witness["value"]))
    assert expected != 0
    assert _dropout_gradient_difference(witness) == pytest.approx(expected, rel=1e-12)
    assert prove_training_preserves_ties(optimizer="sgd+shared_dropout").proven


def test_training_refuted_for_a_tie_set_that_is_not_invariant():
    theorem = prove_training_preserves_ties((2, 2, 1), "w1=w3", "adam")
    assert theorem.refuted
    assert theorem.lemmas[0].refuted


def test_perturbation_names_cover_their_controls():
    assert set(PERTURBATIONS) == set(SYMMETRIC_CONTROLS) | set(SYMMETRIC_CONTROLS.values())


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: prove_update_preserves_ties("lamb"), ["'lamb'", "adam", "lars", "yogi"]),
        (lambda: prove_update_preserves_ties(3), ["3", "gd"]),
        (lambda: prove_update_preserves_ties("sgd+jitter"), ["'jitter'", "sgd+noise"]),
        (lambda: prove_update_preserves_ties("adam", b3=0.5), ["'b3'", "b1", "eps_root"]),
        (lambda: prove_update_preserves_ties("adam", b1=1.0), ["b1=1.0", "[0, 1)"]),
        (lambda: prove_update_preserves_ties("adam", lr="fast"), ["lr='fast'", "number"]),
        (lambda: prove_update_preserves_ties("sgd+per_unit_lr", lr=0.1), ["'lr'"]),
        (lambda: prove_training_preserves_ties(optimizer="novograd"), ["'novograd'", "rprop"]),
        (
            lambda: prove_training_preserves_ties(optimizer="sgd+dropout", dropout="shared"),
            ["dropout='shared'", "sgd+dropout"],
        ),
        (lambda: update_formulas("sgd+"), ["''", "sgd+shared_lr"]),
    ],
)
def test_bad_input_names_value_and_choices(call, words):
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


# -- the symbolic maps are optax's -----------------------------------------------------------
HYPER = {
    "gd": {"lr": 0.1},
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.1, "momentum": 0.9},
    "nesterov": {"lr": 0.1, "momentum": 0.9},
    "adam": {"lr": 0.1, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "eps_root": 1e-6},
    "adamw": {"lr": 0.1, "b1": 0.8, "b2": 0.99, "eps": 1e-3, "eps_root": 0, "weight_decay": 0.3},
    "l2": {"lr": 0.1, "weight_decay": 0.3},
    "rmsprop": {"lr": 0.1, "decay": 0.9, "eps": 1e-8, "initial_scale": 0.1},
    "adagrad": {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7},
    "clip": {"lr": 0.1, "max_norm": 1.2},
    "lars": {"lr": 0.1, "weight_decay": 0.3, "trust_coefficient": 0.5, "eps": 1e-3,
             "momentum": 0.9},
    "amsgrad": {"lr": 0.1, "b1": 0.9, "b2": 0.99, "eps": 1e-3, "eps_root": 1e-6},
    "adamax": {"lr": 0.1, "b1": 0.8, "b2": 0.9, "eps": 1e-3},
    "lion": {"lr": 0.1, "b1": 0.9, "b2": 0.99, "weight_decay": 0.3},
    "sign_sgd": {"lr": 0.1},
    "signum": {"lr": 0.1, "beta": 0.9},
    "nadam": {"lr": 0.1, "b1": 0.8, "b2": 0.99, "eps": 1e-3, "eps_root": 1e-6},
    "nadamw": {"lr": 0.1, "b1": 0.8, "b2": 0.99, "eps": 1e-3, "eps_root": 1e-6,
               "weight_decay": 0.3},
    "adamaxw": {"lr": 0.1, "b1": 0.8, "b2": 0.9, "eps": 1e-3, "weight_decay": 0.3},
    "adabelief": {"lr": 0.1, "b1": 0.8, "b2": 0.99, "eps": 1e-3, "eps_root": 1e-4},
    "adan": {"lr": 0.1, "b1": 0.8, "b2": 0.7, "b3": 0.9, "eps": 1e-3, "eps_root": 1e-4,
             "weight_decay": 0.3},
    # b2 = 0.9: rho reaches the threshold at the 5th step, so both branches are compared
    "radam": {"lr": 0.1, "b1": 0.8, "b2": 0.9, "eps": 1e-3, "eps_root": 1e-6, "threshold": 4.5},
    "yogi": {"lr": 0.1, "b1": 0.8, "b2": 0.9, "eps": 1e-3},
    "adadelta": {"lr": 0.5, "rho": 0.8, "eps": 1e-3, "weight_decay": 0.3},
    # the step size hits both clip bounds within the steps compared
    "rprop": {"lr": 0.1, "eta_minus": 0.5, "eta_plus": 1.2, "min_step_size": 0.03,
              "max_step_size": 0.13},
    "optimistic_gradient_descent": {"lr": 0.1, "alpha": 0.7, "beta": 0.4},
}


def _optax(name):
    import optax

    h = HYPER[name]
    return {
        "gd": lambda: optax.sgd(h["lr"]),
        "sgd": lambda: optax.sgd(h["lr"]),
        "momentum": lambda: optax.sgd(h["lr"], momentum=h["momentum"]),
        "nesterov": lambda: optax.sgd(h["lr"], momentum=h["momentum"], nesterov=True),
        "adam": lambda: optax.adam(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
        "adamw": lambda: optax.adamw(
            h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"], weight_decay=h["weight_decay"]
        ),
        "l2": lambda: optax.chain(optax.add_decayed_weights(h["weight_decay"]), optax.sgd(h["lr"])),
        "rmsprop": lambda: optax.rmsprop(
            h["lr"], decay=h["decay"], eps=h["eps"], initial_scale=h["initial_scale"]
        ),
        "adagrad": lambda: optax.adagrad(
            h["lr"], initial_accumulator_value=h["initial_accumulator_value"], eps=h["eps"]
        ),
        "clip": lambda: optax.chain(optax.clip_by_global_norm(h["max_norm"]), optax.sgd(h["lr"])),
        "lars": lambda: optax.lars(
            h["lr"], weight_decay=h["weight_decay"], trust_coefficient=h["trust_coefficient"],
            eps=h["eps"], momentum=h["momentum"],
        ),
        "amsgrad": lambda: optax.amsgrad(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
        "adamax": lambda: optax.adamax(h["lr"], h["b1"], h["b2"], h["eps"]),
        "lion": lambda: optax.lion(h["lr"], h["b1"], h["b2"], weight_decay=h["weight_decay"]),
        "sign_sgd": lambda: optax.sign_sgd(h["lr"]),
        "signum": lambda: optax.signum(h["lr"], beta=h["beta"]),
        "nadam": lambda: optax.nadam(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
        "nadamw": lambda: optax.nadamw(
            h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"], weight_decay=h["weight_decay"]
        ),
        "adamaxw": lambda: optax.adamaxw(
            h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=h["weight_decay"]
        ),
        "adabelief": lambda: optax.adabelief(h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"]),
        "adan": lambda: optax.adan(
            h["lr"], h["b1"], h["b2"], h["b3"], h["eps"], h["eps_root"],
            weight_decay=h["weight_decay"],
        ),
        "radam": lambda: optax.radam(
            h["lr"], h["b1"], h["b2"], h["eps"], h["eps_root"], threshold=h["threshold"]
        ),
        "yogi": lambda: optax.yogi(h["lr"], h["b1"], h["b2"], h["eps"]),
        "adadelta": lambda: optax.adadelta(
            h["lr"], rho=h["rho"], eps=h["eps"], weight_decay=h["weight_decay"]
        ),
        "rprop": lambda: optax.rprop(
            h["lr"], eta_minus=h["eta_minus"], eta_plus=h["eta_plus"],
            min_step_size=h["min_step_size"], max_step_size=h["max_step_size"],
        ),
        "optimistic_gradient_descent": lambda: optax.optimistic_gradient_descent(
            h["lr"], alpha=h["alpha"], beta=h["beta"]
        ),
    }[name]()


def _gradients(steps):
    """Untied, sign-changing gradients whose global norm is sometimes above max_norm."""
    return [(math.sin(k + 1.0), 1.3 * math.cos(2.0 * k)) for k in range(steps)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_formulas_match_optax(optimizer):
    jnp = pytest.importorskip("jax.numpy")
    steps = 6
    formulas = update_formulas(optimizer, **HYPER[optimizer])
    slots = [k[:-3] for k in formulas if k.endswith("_p'") and not k.startswith("theta")]
    inputs = [f"{b}_{t}" for b in ("theta", "g", *slots) for t in "pq"] + ["t"]
    outputs = [f"{b}_{t}'" for b in ("theta", *slots) for t in "pq"]
    shared = {s: 0 for e in formulas.values() for s in e.free_symbols if s.name.startswith("rest")}
    symbols = {s.name: s for e in formulas.values() for s in e.free_symbols}
    fn = sp.lambdify(
        [symbols.get(name, sp.Symbol(name)) for name in inputs],
        [formulas[name].subs(shared) for name in outputs],
        modules="math",
    )
    theta = {"p": 0.3, "q": -0.7}
    # the proof's initial state, so that it is checked against optax's too
    initial = _RULES[optimizer].init(_hyper_values(optimizer, None, HYPER[optimizer]))
    state = {f"{s}_{t}": float(initial[s]) for s in slots for t in "pq"}

    opt = _optax(optimizer)
    params = jnp.asarray([theta["p"], theta["q"]], dtype=jnp.float64)
    opt_state = opt.init(params)
    for count, (gp, gq) in enumerate(_gradients(steps)):
        grads = jnp.asarray([gp, gq], dtype=jnp.float64)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = params + updates
        values = {"theta_p": theta["p"], "theta_q": theta["q"], "g_p": gp, "g_q": gq,
                  **state, "t": count}
        new = dict(zip(outputs, fn(*(values[name] for name in inputs))))
        theta = {t: new[f"theta_{t}'"] for t in "pq"}
        state = {f"{s}_{t}": new[f"{s}_{t}'"] for s in slots for t in "pq"}
        assert [theta["p"], theta["q"]] == pytest.approx(params.tolist(), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_sign_flip_verdict_matches_optax_bit_for_bit(optimizer):
    """From theta_q = -theta_p with g_q = -g_p at every step, optax keeps the parameters exactly
    opposite (bit patterns) iff the prover proves the sign-flip initial-state and update lemmas.
    """
    np = pytest.importorskip("numpy")
    jnp = pytest.importorskip("jax.numpy")
    proven = (_initial_state_lemma(optimizer, -1).proven
              and prove_update_preserves_ties(optimizer, sign=-1).proven)
    opt = _optax(optimizer)
    params = jnp.asarray([0.3, -0.3], dtype=jnp.float64)
    opt_state = opt.init(params)
    opposite = True
    for gp, _ in _gradients(6):
        updates, opt_state = opt.update(jnp.asarray([gp, -gp], dtype=jnp.float64), opt_state,
                                        params)
        params = params + updates
        p, q = np.asarray(params)
        opposite = opposite and np.float64(-p).view(np.int64) == np.float64(q).view(np.int64)
    assert opposite == proven
    assert proven == (optimizer != "yogi")  # yogi's first moment starts at 1e-6, not 0


@pytest.mark.parametrize(("optimizer", "slot"), [("adam", "v"), ("rprop", "step"),
                                                  ("adan", "gprev"), ("rprop", "prev")])
def test_a_wrong_parity_claim_is_refuted(monkeypatch, optimizer, slot):
    """Declaring an even slot odd, or an odd one even, makes the sign-flip lemma fail."""
    odd = tuple(n for n in _optimizers._ODD if n != slot)
    monkeypatch.setattr(_optimizers, "_ODD", odd if slot in _optimizers._ODD else (*odd, slot))
    assert prove_update_preserves_ties(optimizer, sign=-1).refuted
