"""Training and the per-step invariant checks: batching, ties, negative controls, retracing."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from symjax.experiments.verify import resolve, verify
from symjax.numeric.inits import init_program, pinned_numerics
from symjax.numeric.net import scalar_loss, to_leaves
from symjax.numeric.sweep import TRACE_COUNTS
from symjax.numeric.train import run_block

#: Per-seed floats may differ between batch layouts (XLA does not promise bitwise equality
#: across them); parameters of the batched and the single-seed runs agree within this.
RTOL = {"float32": 1e-4, "float64": 1e-10}

#: Equivariant optimizers of the symmetric-init test (all of them: the one-program test below
#: and the slow test).
FAST_OPTIMIZERS = "sgd,nesterov,adam,rmsprop"


def _summary(res, init, optimizer):
    (s,) = [s for s in res.summaries if s["init"] == init and s["optimizer"] == optimizer]
    return s


@pytest.mark.parametrize("options, dtype", [
    (dict(init="glorot_uniform", optimizer="adam"), "float32"),
    (dict(init="tied", optimizer="sgd:dropout=0.3"), "float64"),
    (dict(init="constant", optimizer="momentum", dataset="moons:samples=24", ties="w1=w2,w3=w4"),
     "float32"),
])
def test_a_block_of_seeds_equals_a_loop_over_single_seeds(options, dtype):
    plan = resolve(steps=100, dtype=dtype, **options)
    (cfg,) = plan.train_configs()
    n = 12
    seeds = np.arange(100, 100 + n, dtype=np.uint32)
    with pinned_numerics(dtype):
        (flat0,) = init_program(plan.inits, plan.net.widths, dtype, n)(seeds)
        x, y = plan.data.x.astype(dtype), plan.data.y.astype(dtype)
        block = jax.jit(lambda f, s: run_block(cfg, f, s, x, y))
        batched = jax.device_get(block(flat0, seeds))
        singles = [jax.device_get(block(flat0[i : i + 1], seeds[i : i + 1])) for i in range(n)]
    loop = jax.tree.map(lambda *v: np.concatenate(v), *singles)
    for field in ("first_break", "nonfinite_step", "solved"):
        np.testing.assert_array_equal(getattr(batched, field), getattr(loop, field), field)
    np.testing.assert_allclose(batched.final_params, loop.final_params, rtol=RTOL[dtype],
                               atol=RTOL[dtype])
    np.testing.assert_allclose(batched.final_loss, loop.final_loss, rtol=RTOL[dtype])
    if options["init"] != "glorot_uniform":  # the verdicts are not trivial: ties break later
        assert (batched.first_break >= 1).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_symmetric_inits_stay_bitwise_tied_under_equivariant_optimizers(dtype):
    res = verify(init="zeros,constant,tied", optimizer=FAST_OPTIMIZERS, seeds=2048, steps=300,
                 dtype=dtype, quiet=True)
    assert res.ok
    for s in res.summaries:
        assert s["expected_preserved"] and s["invariant_holds"], s
        assert s["pairs_preserved"] == s["pairs_total"] == 2048 * 4
        assert s["max_ulp"] == 0 and s["min_unit_distance_median"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [
    dict(widths="2,2,1", dataset="xor"),  # scalar layout
    dict(widths="2,3,3,1", dataset="circles", activation="relu", loss="bce"),  # vector layout
])
def test_every_equivariant_optimizer_keeps_ties(case, dtype):
    from symjax.numeric.optimizers import OPTIMIZERS

    res = verify(init="constant,tied", optimizer=",".join(OPTIMIZERS), seeds=2048, steps=500,
                 dtype=dtype, quiet=True, **case)
    assert res.ok, [s for s in res.summaries if not s["invariant_holds"]]


def test_negative_controls_are_reported_broken():
    res = verify(init="normal,tied_eps,tied", optimizer="sgd,sgd:dropout=0.2,sgd:grad_noise=0.01",
                 seeds=256, steps=60, quiet=True)
    assert res.ok  # only tied x sgd is covered by the theorem, and it holds
    for init in ("normal", "tied_eps"):
        for opt in ("sgd", "sgd:dropout=0.2", "sgd:grad_noise=0.01"):
            s = _summary(res, init, opt)
            assert s["seeds_broken"] == s["broken_at_step_0"] == 256, s
            assert s["pairs_preserved"] < s["pairs_total"] and not s["expected_preserved"]
    for opt in ("sgd:dropout=0.2", "sgd:grad_noise=0.01"):
        s = _summary(res, "tied", opt)
        assert s["seeds_broken"] == 256 and s["first_break_min"] >= 1, s
        assert not s["expected_preserved"] and s["invariant_holds"] is None
        assert s["min_unit_distance_median"] > 0
    assert _summary(res, "tied", "sgd")["invariant_holds"] is True


def test_the_checker_sees_a_tie_that_is_not_invariant():
    # w1 and w2 feed the same unit from different inputs: equal at step 0 under a constant
    # init, but the two inputs of moons differ, so the first update separates them.
    res = verify(init="constant", optimizer="sgd", dataset="moons", ties="w1=w2",
                 seeds=64, steps=20, quiet=True)
    s = _summary(res, "constant", "sgd")
    assert not s["expected_preserved"]
    assert s["seeds_broken"] == 64 and s["first_break_min"] == s["first_break_max"] == 1
    assert s["max_ulp"] > 0


def test_matmul_path_is_measured_not_asserted():
    res = verify(init="tied,normal", optimizer="adam", path="matmul", seeds=256, steps=200,
                 quiet=True)
    assert res.path_used == "matmul" and res.ok
    for s in res.summaries:
        assert not s["expected_preserved"] and s["invariant_holds"] is None
    # Measured, and consistent with the per-seed arrays whatever rounding did.
    for (init, opt), r in res.runs.items():
        s = _summary(res, init, opt)
        broken = (r.first_break >= 0).any(axis=1)
        assert s["seeds_broken"] == int(broken.sum()) and s["seeds"] == 256
        assert s["pairs_preserved"] == int((r.first_break < 0).sum())
    assert _summary(res, "normal", "adam")["broken_at_step_0"] == 256
    assert res.ok  # a run the theorem does not cover cannot fail the verdict


def test_divergence_is_recorded_not_raised():
    res = verify(init="normal", optimizer="sgd", lr=1e20, activation="relu",
                 output_activation="identity", seeds=32, steps=30, quiet=True)
    r = res.runs[("normal", "sgd")]
    assert (r.nonfinite_step >= 1).all()
    assert np.isnan(r.final_loss).all()
    s = _summary(res, "normal", "sgd")
    assert s["nonfinite"] == 32 and s["final_loss_median"] is None


def test_a_diverging_seed_does_not_disturb_the_others():
    """lr 20 diverges about half of the seeds: every seed's numbers equal those of the seed run
    alone (diverged or not), so a NaN in one seed leaks into no other."""
    opts = dict(init="normal", optimizer="sgd", lr=20, activation="relu",
                output_activation="identity", steps=30, quiet=True, save_params=True)
    res = verify(seeds=64, **opts)
    r = res.runs[("normal", "sgd")]
    diverged = r.nonfinite_step >= 0
    assert 0 < diverged.sum() < 64  # both kinds present, or the test proves nothing
    picks = [int(np.argmax(diverged)), int(np.argmax(~diverged))]
    for k in picks:
        alone = verify(seeds=1, first_seed=k, **opts).runs[("normal", "sgd")]
        assert alone.nonfinite_step[0] == r.nonfinite_step[k]
        assert np.array_equal(alone.final_params[0].view(np.uint32),
                              r.final_params[k].view(np.uint32))  # bitwise, NaNs included
    assert np.isfinite(r.final_params[~diverged]).all()  # (their loss may still overflow)


def test_zero_steps_checks_only_the_initial_point():
    res = verify(init="tied,normal", optimizer="adam", seeds=16, steps=0, quiet=True)
    assert _summary(res, "tied", "adam")["seeds_broken"] == 0
    assert _summary(res, "normal", "adam")["broken_at_step_0"] == 16


def test_trajectories_every_k_steps():
    res = verify(init="normal", optimizer="sgd", seeds=8, steps=20, trajectory_every=10,
                 save_params=True, dtype="float64", quiet=True)
    r = res.runs[("normal", "sgd")]
    assert r.trajectory_params.shape == (8, 3, 9) and r.trajectory_loss.shape == (8, 3)
    np.testing.assert_array_equal(r.trajectory_params[:, 0], r.init_params)
    np.testing.assert_array_equal(r.trajectory_params[:, -1], r.final_params)
    plan = resolve(dtype="float64")
    with pinned_numerics("float64"):
        loss0 = jax.jit(jax.vmap(lambda f: scalar_loss(plan.net, to_leaves(f), plan.data.x,
                                                      plan.data.y)))(r.init_params)
    np.testing.assert_allclose(r.trajectory_loss[:, 0], loss0, rtol=1e-12)
    np.testing.assert_allclose(r.trajectory_loss[:, -1], r.final_loss, rtol=1e-12)
    assert (r.trajectory_loss[:, -1] < r.trajectory_loss[:, 0]).mean() > 0.5
    odd = verify(init="normal", optimizer="sgd", seeds=8, steps=25, trajectory_every=10,
                 quiet=True)
    assert odd.runs[("normal", "sgd")].trajectory_loss.shape == (8, 3)  # steps 0, 10, 20


def test_a_second_call_does_not_retrace():
    options = dict(init="tied,normal", optimizer="sgd", seeds=40, steps=13, quiet=True)
    first = verify(**options)
    (cfg,) = resolve(**{k: v for k, v in options.items() if k != "quiet"}).train_configs()
    assert TRACE_COUNTS[cfg] == 1
    second = verify(**options)
    assert TRACE_COUNTS[cfg] == 1
    assert second.timing["compile_seconds"]["sgd"] == 0.0
    for key, r in first.runs.items():  # same layout: bitwise reproducible
        np.testing.assert_array_equal(r.final_loss.view(np.uint32),
                                      second.runs[key].final_loss.view(np.uint32))


@pytest.mark.parametrize("backend, expected", [("cpu", True), ("gpu", False), ("tpu", False)])
def test_delta_barrier_is_used_on_cpu_only(backend, expected, monkeypatch):
    """The scalar layout's delta barrier is a CPU fusion device (in large blocks it is slow):
    the step contains it on CPU and not elsewhere."""
    plan = resolve(steps=3, init="normal", optimizer="sgd")
    (cfg,) = plan.train_configs()
    assert cfg.form == "scalar"
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    from symjax.numeric.train import Checks, TrainState, make_step

    n = 4
    x, y = plan.data.x.astype("float32"), plan.data.y.astype("float32")
    with pinned_numerics("float32"):
        keys = jax.random.split(jax.random.key(0), n)
        step = make_step(cfg, keys, x, y)
        params = np.zeros((cfg.net.n_params, n), np.float32)
        pairs = len(cfg.ties)
        state = TrainState(params, cfg.optimizer.transformation().init(params),
                           Checks(np.zeros((2, pairs, n), np.uint32), np.zeros((n,), np.int32)))
        jaxpr = str(jax.make_jaxpr(step)(state, np.int32(1)))
    assert (" -0.0:f32[]" in jaxpr) is expected  # the init value of the barrier's reduction


def test_nonfinite_step_is_the_first_nonfinite_step():
    """Each seed's ``nonfinite_step`` is the first step whose parameters hold a NaN or an
    infinity, read independently from the trajectory of every step; seeds stay non-finite once
    they are, so a checker that kept the last non-finite step would report ``steps``."""
    steps = 30
    res = verify(init="normal", optimizer="sgd", lr=1e20, activation="relu",
                 output_activation="identity", seeds=16, steps=steps, trajectory_every=1,
                 quiet=True)
    r = res.runs[("normal", "sgd")]
    bad = ~np.isfinite(r.trajectory_params).all(axis=2)  # (seeds, steps + 1)
    assert bad.any(axis=1).all()  # every seed diverges, or the test proves nothing
    first = np.argmax(bad, axis=1)
    np.testing.assert_array_equal(r.nonfinite_step, first)
    assert (first < steps).all() and bad[:, -1].all()  # it stays non-finite to the end
    assert _summary(res, "normal", "sgd")["nonfinite"] == 16
    # Negative control: no seed of a small learning rate is flagged.
    calm = verify(init="normal", optimizer="sgd", seeds=16, steps=steps, quiet=True)
    assert (calm.runs[("normal", "sgd")].nonfinite_step == -1).all()


def test_a_break_made_by_the_last_update_is_recorded_at_that_step(monkeypatch):
    """Step ``steps`` is checked after the last update: a tie that only the last update breaks
    has ``first_break == steps`` (checking the parameters before each update would miss it).
    The optimizer is SGD plus a push on w3 alone in the last step; it is still labelled
    equivariant, so the run is covered by the theorem and must fail the verdict."""
    from symjax.numeric import optimizers as _optimizers

    steps = last = 3

    def noise_in_the_last_step_only(self):
        import optax

        base = _optimizers._OPTIMIZERS[self.name][0](learning_rate=self.lr)

        def update(grads, state, params=None):
            count, inner = state
            updates, inner = base.update(grads, inner, params)
            bump = np.zeros(grads.shape, grads.dtype)
            bump[2] = 1e-3  # w3 (the partner of w1)
            updates = updates + jax.numpy.where(count + 1 == last, bump, 0)
            return updates, (count + 1, inner)

        return optax.GradientTransformation(
            lambda p: (jax.numpy.zeros((), jax.numpy.int32), base.init(p)), update)

    monkeypatch.setattr(_optimizers.OptimizerSpec, "transformation", noise_in_the_last_step_only)
    res = verify(init="tied", optimizer="sgd", seeds=8, steps=steps, quiet=True)
    r = res.runs[("tied", "sgd")]
    s = _summary(res, "tied", "sgd")
    assert s["seeds_broken"] == 8 and s["first_break_min"] == s["first_break_max"] == steps, s
    assert (r.first_break[:, 0] == steps).all() and (r.first_break[:, 1:] == -1).all()
    assert s["invariant_holds"] is False and not res.ok  # covered by the theorem, and broken


def test_grad_noise_breaks_ties_in_the_first_and_only_step():
    """The real perturbation, with one step: the break happens in step 1 and is recorded there."""
    res = verify(init="tied", optimizer="sgd:grad_noise=0.01", seeds=16, steps=1, quiet=True)
    s = _summary(res, "tied", "sgd:grad_noise=0.01")
    assert s["seeds_broken"] == 16 and s["first_break_min"] == s["first_break_max"] == 1, s
    assert s["broken_at_step_0"] == 0 and s["max_ulp"] > 0


def test_every_equivariant_optimizer_keeps_ties_in_one_program():
    """The fast form of the slow all-optimizer test: every optimizer's training step, compiled
    together in one program (one compile instead of one per optimizer), keeps the ties of
    symmetric inits bitwise, float32, 2-2-1 XOR (scalar layout); a perturbed optimizer in the
    same program breaks them (negative control)."""
    from symjax.numeric.optimizers import OPTIMIZERS

    specs = [*OPTIMIZERS, "sgd:grad_noise=0.01"]
    plan = resolve(init="constant,tied", optimizer=",".join(specs), steps=25, dtype="float32")
    cfgs = plan.train_configs()
    n = 32
    seeds = np.arange(2 * n, dtype=np.uint32)
    with pinned_numerics("float32"):
        flat0 = np.concatenate(init_program(plan.inits, plan.net.widths, "float32", n)(
            seeds[:n]))
        x, y = plan.data.x.astype("float32"), plan.data.y.astype("float32")
        results = jax.device_get(jax.jit(
            lambda f, s: [run_block(c, f, s, x, y) for c in cfgs])(flat0, seeds))
    for spec, r in zip(specs[:-1], results):
        assert (r.first_break == -1).all() and (r.max_ulp == 0).all(), spec
        assert (r.nonfinite_step == -1).all(), spec
        assert not np.array_equal(r.final_params, flat0), spec  # it trained
    noisy = results[-1]
    assert (noisy.first_break[:, 0] == 1).all() and (noisy.max_ulp > 0).all()


def _ordered(bits: np.ndarray) -> list[int]:
    """Sign-magnitude float64 bit patterns as integers in float order (Python ints)."""
    sign = 1 << 63
    return [-(b - sign) if b >= sign else b for b in bits.tolist()]


@pytest.mark.parametrize("init, optimizer", [("normal", "sgd"), ("tied", "sgd:dropout=0.3")])
def test_first_break_and_max_ulp_equal_a_recount_from_the_trajectory(init, optimizer):
    """Recount, from the parameters of every step, the first step at which each tied pair's bit
    patterns differ and their largest ULP distance (in plain Python integers): the compiled
    checks must give exactly these numbers."""
    steps = 24
    res = verify(init=init, optimizer=optimizer, seeds=12, steps=steps, trajectory_every=1,
                 dtype="float64", quiet=True)
    r = res.runs[(init, optimizer)]
    traj = r.trajectory_params.view(np.uint64)  # (seeds, steps + 1, params)
    names = list(res.param_names)
    assert r.first_break.shape == (12, len(res.ties))
    for j, (a, b) in enumerate(res.ties):
        ia, ib = names.index(a), names.index(b)
        for k in range(12):
            differ = traj[k, :, ia] != traj[k, :, ib]
            expected_first = int(np.argmax(differ)) if differ.any() else -1
            assert r.first_break[k, j] == expected_first, (a, b, k)
            dist = [abs(x - y) for x, y in zip(_ordered(traj[k, :, ia]), _ordered(traj[k, :, ib]))]
            assert int(r.max_ulp[k, j]) == max(dist), (a, b, k)
    if init == "tied":  # the breaks come later than step 0, and at different steps
        assert (r.first_break >= 1).all() and len(set(r.first_break[:, 0].tolist())) > 1
