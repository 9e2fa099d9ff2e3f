"""Realistic training in verify: mini-batches, input noise, weight decay, schedules, softmax
cross-entropy, the iris and spirals data sets; ties must hold bitwise and the checks must catch
per-unit batches or noise."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from symjax import InputError
from symjax.experiments.verify import resolve, verify
from symjax.numeric.datasets import IRIS_CLASSES, make_dataset
from symjax.numeric.inits import perturbation_key, pinned_numerics
from symjax.numeric.net import (
    MULTICLASS_SOLVED,
    Net,
    matmul_loss,
    scalar_loss,
    solved,
    to_leaves,
    to_matrices,
    vector_loss,
)
from symjax.numeric.optimizers import learning_rate_schedule, parse_schedule
from symjax.numeric.train import _init_checks, _update_checks, batch_data


def _summary(res, init, optimizer):
    (s,) = [s for s in res.summaries if s["init"] == init and s["optimizer"] == optimizer]
    return s


# -- data sets ---------------------------------------------------------------------------------
def test_iris_is_fisher_s_150_flowers_standardized_with_one_hot_species():
    raw = make_dataset("iris:standardize=false", "4,8,3")
    assert raw.x.shape == (150, 4) and raw.y.shape == (150, 3) and raw.task == "classification"
    assert raw.x[0].tolist() == [5.1, 3.5, 1.4, 0.2] and raw.y[0].tolist() == [1, 0, 0]
    assert raw.x[-1].tolist() == [5.9, 3.0, 5.1, 1.8] and raw.y[-1].tolist() == [0, 0, 1]
    assert raw.y.sum(axis=0).tolist() == [50, 50, 50] and len(IRIS_CLASSES) == 3
    iris = make_dataset("iris", "4,8,3")
    np.testing.assert_allclose(iris.x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(iris.x.std(axis=0), 1, rtol=1e-12)
    np.testing.assert_array_equal(iris.y, raw.y)
    with pytest.raises(InputError, match=r"dataset 'iris' has 4 inputs and 3 output.*4,8,1"):
        make_dataset("iris", "4,8,1")
    with pytest.raises(InputError, match=r"iris option standardize=1 must be true or false"):
        make_dataset("iris:standardize=1", "4,8,3")


def test_spirals_arms_targets_and_seeds():
    three = make_dataset("spirals", "2,8,3")
    assert three.x.shape == (300, 2) and three.y.sum(axis=0).tolist() == [100, 100, 100]
    two = make_dataset("spirals:samples=101", "2,8,1")
    assert two.y.shape == (101, 1) and sorted(set(two.y[:, 0])) == [0, 1]
    assert make_dataset("spirals", "2,8,3").x.tolist() == three.x.tolist()  # deterministic
    assert not np.array_equal(make_dataset("spirals:seed=1", "2,8,3").x, three.x)
    clean = make_dataset("spirals:noise=0", "2,8,3").x
    np.testing.assert_allclose(np.hypot(*clean[:100].T), np.linspace(0.05, 1, 100))
    with pytest.raises(InputError, match=r"spirals arms=1 must be between 2 and 16"):
        make_dataset("spirals:arms=1", "2,8,1")


# -- options -----------------------------------------------------------------------------------
def test_new_options_are_recorded_only_away_from_their_defaults():
    """Runs that do not use them record what earlier versions recorded (same run IDs)."""
    new = ("batch_size", "input_noise", "weight_decay", "schedule")
    assert not set(new) & set(resolve().config)
    config = resolve(batch_size=2, input_noise=0.1, weight_decay=1e-3, schedule="cosine").config
    assert {k: config[k] for k in new} == {
        "batch_size": 2, "input_noise": 0.1, "weight_decay": 1e-3, "schedule": "cosine"}
    (cfg, _) = resolve().train_configs()
    assert cfg.batch_size == 0 and cfg.input_noise == 0
    assert cfg.optimizer.weight_decay == 0 and cfg.optimizer.schedule == "constant"


@pytest.mark.parametrize("options, message", [
    (dict(batch_size=5), r"batch_size 5 must be between 0 and 4"),
    (dict(batch_size="2.5"), r"batch_size '2.5' is not an integer"),
    (dict(input_noise=-1), r"input_noise -1 must be finite and >= 0"),
    (dict(weight_decay="x"), r"weight_decay 'x' is not a number"),
    (dict(schedule="linear"), r"unknown schedule 'linear'; allowed: constant, cosine, "
                              r"exponential, step, warmup_cosine"),
    (dict(schedule="exponential:rate=2"), r"rate=2 must be in \(0, 1\]"),
    (dict(schedule="step:every=0"), r"every=0 must be an integer >= 1"),
    (dict(loss="softmax"), r"unknown loss 'softmax'; allowed: .*softmax_cross_entropy"),
])
def test_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        resolve(**options)


def test_schedules_follow_their_formulas():
    def at(spec, n, steps=100):
        return float(learning_rate_schedule(parse_schedule(spec), 2.0, steps)(n))

    assert at("constant", 77) == 2.0
    assert at("cosine", 50) == pytest.approx(1.0) and at("cosine", 100) == pytest.approx(0.0)
    assert at("exponential:rate=0.5", 100) == pytest.approx(1.0)
    assert at("step:every=10:rate=0.5", 9) == 2.0 and at("step:every=10:rate=0.5", 10) == 1.0
    assert at("warmup_cosine:warmup=10", 0) == 0.0 and at("warmup_cosine:warmup=10", 10) == 2.0
    assert parse_schedule("step:rate=0.5:every=10.0") == "step:every=10:rate=0.5"


def test_weight_decay_is_l2_before_the_optimizer():
    (cfg,) = resolve(optimizer="sgd", lr=0.5, weight_decay=0.1).train_configs()
    p, g = jnp.array([1.0, -2.0]), jnp.array([0.25, 0.5])
    tx = cfg.optimizer.transformation()
    updates, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(updates, -0.5 * (g + 0.1 * p))
    plain = dataclasses.replace(cfg.optimizer, weight_decay=0.0).transformation()
    np.testing.assert_allclose(plain.update(g, plain.init(p), p)[0], -0.5 * g)


# -- softmax cross-entropy and the multi-class "solved" ----------------------------------------
def test_softmax_cross_entropy_is_optax_s_on_every_path():
    net = Net((3, 4, 3), "tanh", "identity", "softmax_ce", "mean")
    rng = np.random.default_rng(0)
    flat = jnp.asarray(rng.standard_normal(net.n_params))
    x = jnp.asarray(rng.standard_normal((5, 3)))
    y = jnp.asarray(np.eye(3)[rng.integers(0, 3, 5)])
    mats = to_matrices(net, flat)
    logits = jnp.tanh(x @ mats[0][0].T + mats[0][1][None]) @ mats[1][0].T + mats[1][1][None]
    want = float(optax.softmax_cross_entropy(logits, y).mean())
    for got in (scalar_loss(net, to_leaves(flat), x, y), vector_loss(net, mats, x, y),
                matmul_loss(net, mats, x, y)):
        assert float(got) == pytest.approx(want, rel=1e-12)
    assert float(scalar_loss(net, to_leaves(flat), x, y)) != pytest.approx(
        float(optax.softmax_cross_entropy(-logits, y).mean()), rel=1e-3)  # a wrong sign shows


def test_multiclass_solved_is_argmax_accuracy_at_the_threshold():
    y = np.eye(3)[np.arange(100) % 3]
    right = y * 2.0  # logits: argmax is the class
    assert MULTICLASS_SOLVED == 0.95
    for wrong, expected in ((5, True), (6, False)):
        out = right.copy()
        out[:wrong] = np.roll(out[:wrong], 1, axis=1)  # `wrong` samples misclassified
        assert bool(solved("classification", jnp.asarray(out), jnp.asarray(y), 0.99)) is expected


# -- mini-batches and input noise --------------------------------------------------------------
def test_each_epoch_is_a_fresh_per_seed_permutation_in_batches():
    (cfg, _) = resolve(dataset="moons:samples=10", batch_size=3).train_configs()
    x = np.repeat(np.arange(10, dtype=np.float32)[:, None], 2, axis=1)
    y = np.arange(10, dtype=np.float32)[:, None]
    with pinned_numerics("float32"):
        def batches(seed, epoch):
            key = perturbation_key(jnp.uint32(seed))
            return [np.asarray(batch_data(cfg, key, jnp.int32(t), x, y)[1][:, 0]).tolist()
                    for t in range(3 * epoch + 1, 3 * epoch + 4)]

        first = batches(0, 0)
        assert batches(0, 0) == first  # deterministic
        drawn = sum(first, [])
        assert len(drawn) == len(set(drawn)) == 9  # 3 batches of 3, no repeat: 1 sample left out
        assert batches(0, 1) != first and batches(1, 0) != first
    noisy = dataclasses.replace(cfg, batch_size=0, input_noise=0.5)
    with pinned_numerics("float32"):
        key = perturbation_key(jnp.uint32(0))
        xa = batch_data(noisy, key, jnp.int32(1), x, y)[0]
        xb = batch_data(noisy, key, jnp.int32(2), x, y)[0]
    assert not np.array_equal(xa, x) and not np.array_equal(xa, xb)
    assert 0.2 < float(np.std(np.asarray(xa) - x)) < 1.0


def test_realistic_training_keeps_ties_bitwise_and_random_inits_break():
    res = verify(dataset="spirals:samples=30", widths="2,2,3", loss="softmax_ce",
                 output_activation="identity", batch_size=6, input_noise=0.1,
                 weight_decay=1e-3, schedule="warmup_cosine", init="tied,normal",
                 optimizer="sgd,adam", lr="0.5,0.05", seeds=4, steps=20, quiet=True)
    assert res.ok and res.layout["form"] == "scalar"
    for opt in ("sgd", "adam"):
        tied, normal = _summary(res, "tied", opt), _summary(res, "normal", opt)
        assert tied["expected_preserved"] and tied["invariant_holds"]
        assert tied["pairs_preserved"] == tied["pairs_total"] > 0
        assert normal["broken_at_step_0"] == 4 and normal["nonfinite"] == 0


@pytest.mark.slow
def test_iris_mini_batches_keep_ties_bitwise_in_the_vector_layout():
    res = verify(dataset="iris", widths="4,8,3", batch_size=16, input_noise=0.05,
                 weight_decay=1e-4, schedule="cosine", init="tied,normal", optimizer="sgd,adam",
                 seeds=8, steps=60, quiet=True)
    assert res.ok and res.layout["form"] == "vector"
    for opt in ("sgd", "adam"):
        assert _summary(res, "tied", opt)["invariant_holds"]
        assert _summary(res, "normal", opt)["seeds_broken"] == 8


def _tied_point_and_batches():
    net = Net((2, 2, 1), "tanh", "sigmoid")
    data = make_dataset("moons:samples=16", "2,2,1")
    w1, w2, w5, b1, b3 = 0.3, -0.7, 0.9, 0.1, -0.2  # tied: w1=w3, w2=w4, w5=w6, b1=b2
    flat = jnp.array([w1, w2, w1, w2, w5, w5, b1, b1, b3])
    return net, flat, jnp.asarray(data.x), jnp.asarray(data.y)


@pytest.mark.parametrize("control", ["batch", "noise"])
def test_per_unit_batches_or_noise_break_ties_and_the_check_catches_it(control):
    """Negative control: if unit 2's parameters followed the gradient of another batch (or of
    other input noise) than unit 1's, the ties would break, and the per-step check says so at
    step 1; with the same batch for both units they hold."""
    net, flat, x, y = _tied_point_and_batches()
    if control == "batch":
        xa, ya, xb, yb = x[:8], y[:8], x[8:], y[8:]
    else:
        noise = jax.random.normal(jax.random.key(0), (2, *x.shape), x.dtype) * 0.1
        xa, ya, xb, yb = x + noise[0], y, x + noise[1], y

    def grad(xs, ys):
        return jnp.stack(jax.grad(lambda p: scalar_loss(net, p, xs, ys))(to_leaves(flat)))

    (cfg,) = resolve(optimizer="sgd").train_configs()
    shared = flat - 0.5 * grad(xa, ya)
    unit2 = np.zeros(net.n_params, bool)
    unit2[[net.layout.info(n).index for n in ("w3", "w4", "b2", "w6")]] = True
    per_unit = flat - 0.5 * jnp.where(unit2, grad(xb, yb), grad(xa, ya))
    for params, broken in ((shared, False), (per_unit, True)):
        checks = _init_checks(cfg, flat[:, None])
        checks = _update_checks(cfg, checks, params[:, None], jnp.int32(1))
        first_break = np.asarray(checks.first_break)[:, 0]
        assert bool((first_break == 1).any()) is broken
        assert bool((first_break == -1).all()) is not broken


# -- sign-flip ties ----------------------------------------------------------------------------
def test_sign_equivariant_optimizers_are_those_the_prover_proves_odd():
    from symjax.numeric.optimizers import OPTIMIZERS, SIGN_EQUIVARIANT
    from symjax.symbolic._optimizers import OPTIMIZERS as MODELLED
    from symjax.symbolic._optimizers import prove_training_preserves_ties

    flip = "w1=-w3,w2=-w4,b1=-b2,w5=-w6"
    proven = {n for n in MODELLED if n in OPTIMIZERS and prove_training_preserves_ties(
        (2, 2, 1), flip, n, activation="tanh").proven}
    assert proven == set(SIGN_EQUIVARIANT)  # yogi: its first moment starts at 1e-6, not 0
    assert "yogi" in OPTIMIZERS and "yogi" not in proven


def test_flip_signs_and_the_tied_flip_init_of_2_2_1():
    from symjax.numeric.inits import flip_signs, init_program, parse_init

    plan = resolve(ties="w1=-w3,w2=-w4,b1=-b2,w5=-w6")
    names = plan.net.layout.names
    assert [n for n, s in zip(names, flip_signs(plan.net.layout)) if s < 0] == [
        "w3", "w4", "w6", "b2"]
    with pinned_numerics("float32"):
        (flat,) = init_program([parse_init("tied_flip", eps=0.0)], (2, 2, 1), "float32", 4)(
            np.arange(4, dtype=np.uint32))
    flat = np.asarray(flat)
    i = {n: k for k, n in enumerate(names)}
    for a, b in (("w1", "w3"), ("w2", "w4"), ("b1", "b2"), ("w5", "w6")):
        np.testing.assert_array_equal(flat[:, i[b]].view(np.uint32),
                                      (-flat[:, i[a]]).view(np.uint32))
    assert plan.net.sign_exact and not resolve().net.sign_exact


def test_the_sign_flip_check_compares_bits_of_a_and_minus_b():
    (cfg, _) = resolve(ties="w1=-w3,w2=w4").train_configs()
    assert cfg.tie_signs == (-1, 1)
    w = np.zeros((9, 4), np.float32)
    # seed 0 right, seed 1 wrong sign, seed 2 +0 and +0, seed 3 +0 and -0 (x - x = +0 in IEEE
    # whatever the sign of x: zeros count as their own negation)
    w[0], w[2] = [0.5, 0.5, 0.0, 0.0], [-0.5, 0.5, 0.0, -0.0]
    w[1], w[3] = 0.25, [0.25, 0.25, 0.25, -0.25]  # w2=w4 unsigned: seed 3 differs
    checks = _init_checks(cfg, jnp.asarray(w))
    assert np.asarray(checks.first_break).tolist() == [[-1, 0, -1, -1], [-1, -1, -1, 0]]


def test_sign_flip_ties_hold_bitwise_for_tanh_and_break_for_sigmoid():
    ties = "w1=-w3,w2=-w4,b1=-b2,w5=-w6"
    res = verify(ties=ties, activation="tanh", init="tied_flip,tied", optimizer="sgd,adam",
                 seeds=16, steps=60, quiet=True)
    assert res.ok
    assert "sign-flipped inits stay bitwise sign-flipped under odd optimizers: HOLDS" in str(res)
    for opt in ("sgd", "adam"):
        s = _summary(res, "tied_flip", opt)
        assert s["expected_preserved"] and s["pairs_preserved"] == s["pairs_total"] == 64
        wrong = _summary(res, "tied", opt)  # w3 = +w1: the sign-flip check fails at step 0
        assert not wrong["expected_preserved"] and wrong["broken_at_step_0"] == 16
    sig = verify(ties=ties, activation="sigmoid", init="tied_flip", optimizer="sgd", seeds=16,
                 steps=60, quiet=True)
    s = _summary(sig, "tied_flip", "sgd")
    assert not s["expected_preserved"] and s["seeds_broken"] == 16  # sigmoid is not odd
    assert s["broken_at_step_0"] == 0  # the init was on the subspace: training broke it


def test_odd_tanh_has_a_bitwise_even_derivative_where_jax_s_does_not():
    from symjax.numeric.net import odd_tanh

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(20000).astype(np.float32))
    g = jnp.asarray(rng.standard_normal(20000).astype(np.float32))

    def vjp(f):
        run = jax.jit(lambda x, g: jax.vjp(f, x)[1](g)[0])
        return np.asarray(run(x, g)).view(np.uint32), np.asarray(-run(-x, -g)).view(np.uint32)

    mine, flipped = vjp(odd_tanh)
    np.testing.assert_array_equal(mine, flipped)
    np.testing.assert_array_equal(np.asarray(jax.jit(odd_tanh)(x)), np.asarray(jnp.tanh(x)))
    theirs, theirs_flipped = vjp(jnp.tanh)
    assert (theirs != theirs_flipped).any()  # why odd_tanh exists (XLA CPU, jax 0.10)


# -- the proofs of weight decay ----------------------------------------------------------------
def test_weight_decay_before_any_optimizer_is_proven_and_a_per_unit_decay_refuted():
    import sympy as sp

    from symjax.symbolic._optimizers import (
        OPTIMIZERS,
        prove_training_preserves_ties,
        prove_update_preserves_ties,
        update_formulas,
    )

    for name in OPTIMIZERS:
        assert prove_update_preserves_ties(f"{name}+weight_decay").proven, name
        assert prove_update_preserves_ties(f"{name}+weight_decay", sign=-1).proven, name
        broken = prove_update_preserves_ties(f"{name}+per_unit_weight_decay")
        assert broken.refuted, name
        w = broken.witness
        assert w["theta_p"] == w["theta_q"] and w["g_p"] == w["g_q"] and w["wd_p"] != w["wd_q"]
        p_name, q_name = (s.strip() for s in w["difference"].split(" - "))
        formulas = update_formulas(f"{name}+per_unit_weight_decay")
        diff = formulas[p_name] - formulas[q_name]
        value = diff.xreplace({s: sp.Rational(w[s.name]) for s in diff.free_symbols})
        assert sp.simplify(value - sp.sympify(w["value"])) == 0 and value != 0
    assert prove_training_preserves_ties((2, 2, 1), None, "adam+weight_decay").proven
