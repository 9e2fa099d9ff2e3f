"""Init schemes: registry, shapes, the tied subspace, per-seed keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symjax
from symjax import InputError, Layout
from symjax.base.layout import tied_subspace_pairs
from symjax.numeric.inits import (
    BUILTIN_INITS,
    PRNG_IMPL,
    get_init,
    init_program,
    pack_params,
    parse_init,
    pinned_numerics,
    register_init,
)
from symjax.results.config import DEFAULT_INITS


def _draw(specs, widths, dtype, seeds):
    with pinned_numerics(dtype):
        seeds = np.asarray(seeds, np.uint32)
        return [np.asarray(a) for a in init_program(specs, widths, dtype, len(seeds))(seeds)]


def _tied_pairs_equal(widths, params):
    lay = Layout(widths)
    idx = {n: i for i, n in enumerate(lay.names)}
    pairs = tied_subspace_pairs(lay)
    bits = params.view(np.uint32 if params.dtype == np.float32 else np.uint64)
    return np.array([[bits[s, idx[a]] == bits[s, idx[b]] for a, b in pairs]
                     for s in range(params.shape[0])])


def test_builtin_list_is_the_verify_default():
    assert ",".join(BUILTIN_INITS) == DEFAULT_INITS
    assert set(BUILTIN_INITS) <= set(symjax.init_schemes())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("widths", [(2, 2, 1), (3, 4, 3, 2)])
def test_every_builtin_scheme_gives_the_shared_vector(widths, dtype):
    specs = [parse_init(n, eps=1e-3) for n in BUILTIN_INITS]
    out = _draw(specs, widths, dtype, range(5))
    n_params = Layout(widths).n_params
    for spec, params in zip(specs, out):
        assert params.shape == (5, n_params) and params.dtype == dtype, spec.name
        assert np.all(np.isfinite(params)), spec.name
        equal = _tied_pairs_equal(widths, params)
        if get_init(spec.name).symmetric:
            assert equal.all(), spec.name  # a point of the fully tied subspace
        else:
            assert not equal.all(axis=1).any(), spec.name  # random: some pair differs


def test_tied_scheme_structure_for_2_2_1():
    (p,) = _draw([parse_init("tied", eps=0.0)], (2, 2, 1), "float64", [7])
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p[0]
    assert (w1, w2, b1, w5) == (w3, w4, b2, w6)
    assert len({w1, w2, b1, w5, b3}) == 5  # the shared draws are distinct random numbers
    limit1, limit2 = np.sqrt(6 / 4), np.sqrt(6 / 3)
    assert max(abs(w1), abs(w2), abs(b1)) <= limit1 and max(abs(w5), abs(b3)) <= limit2


def test_tied_eps_is_tied_plus_small_noise():
    tied, eps = _draw([parse_init("tied", eps=0.0), parse_init("tied_eps", eps=1e-3)],
                      (2, 2, 1), "float64", range(50))
    assert parse_init("tied_eps", eps=1e-3).options == (("eps", 1e-3), ("scale", 1.0))
    assert parse_init("tied_eps:eps=0.5", eps=1e-3).options == (("eps", 0.5), ("scale", 1.0))
    diff = eps - tied
    assert 0 < np.abs(diff).max() < 5e-3  # tied_eps is the same seed's tied point plus noise


def test_init_key_is_fold_in_of_the_base_key_and_independent_of_batch():
    spec = parse_init("normal:scale=2.0", eps=0.0)
    small = _draw([spec], (2, 2, 1), "float32", [3, 11])[0]
    large = _draw([spec], (2, 2, 1), "float32", range(64))[0]
    np.testing.assert_array_equal(small[0], large[3])
    np.testing.assert_array_equal(small[1], large[11])
    def direct(seed):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(0, impl=PRNG_IMPL), seed), 0)
        return 2.0 * jax.random.normal(key, (9,), jnp.float32)

    with pinned_numerics("float32"):
        expected = jax.jit(jax.vmap(direct))(jnp.array([3, 11], jnp.uint32))
    np.testing.assert_array_equal(small, np.asarray(expected))


def test_pinned_numerics_do_not_depend_on_global_flags():
    spec = parse_init("uniform", eps=0.0)
    before = _draw([spec], (2, 2, 1), "float32", range(4))[0]
    with jax.threefry_partitionable(False), jax.enable_x64(False):
        after = _draw([spec], (2, 2, 1), "float32", range(4))[0]
    np.testing.assert_array_equal(before, after)


def test_weights_only_schemes_have_zero_biases_and_bounded_weights():
    (p,) = _draw([parse_init("glorot_uniform", eps=0.0)], (2, 2, 1), "float64", range(100))
    assert np.all(p[:, 6:] == 0)
    assert np.abs(p[:, :4]).max() <= np.sqrt(6 / 4) and np.abs(p[:, 4:6]).max() <= np.sqrt(2)


def test_pack_params_follows_the_layout():
    lay = Layout((2, 2, 1))
    flat = pack_params(lay, [jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([[5.0, 6.0]])],
                       [jnp.array([7.0, 8.0]), jnp.array([9.0])])
    assert flat.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_register_a_custom_scheme():
    def halves(key, layout, dtype, *, value):
        del key
        return jnp.full((layout.n_params,), value, dtype)

    register_init("test_halves", halves, defaults={"value": 0.5}, symmetric=True, replace=True)
    try:
        assert "test_halves" in symjax.init_schemes()
        (p,) = _draw([parse_init("test_halves:value=0.25", eps=0.0)], (2, 2, 1), "float32", [0])
        assert p.tolist() == [[0.25] * 9]
        with pytest.raises(InputError, match="already registered"):
            register_init("test_halves", halves)
    finally:
        from symjax.numeric import inits as _inits

        del _inits._REGISTRY["test_halves"]


def test_a_scheme_with_the_wrong_shape_is_rejected():
    register_init("test_short", lambda key, layout, dtype: jnp.zeros((3,), dtype), replace=True)
    try:
        with pytest.raises(InputError, match=r"test_short.*expected float32\[9\]"):
            _draw([parse_init("test_short", eps=0.0)], (2, 2, 1), "float32", [0])
    finally:
        from symjax.numeric import inits as _inits

        del _inits._REGISTRY["test_short"]


@pytest.mark.parametrize("text, message", [
    ("gaussian", "unknown init scheme 'gaussian'; allowed: zeros, constant"),
    ("normal:sigma=1", "unknown option 'sigma' for init scheme 'normal'; allowed: scale"),
    ("normal:scale", "must look like key=value"),
    ("normal:scale=big", "not a number"),
    ("normal:scale=inf", "must be finite"),
])
def test_bad_specs(text, message):
    with pytest.raises(InputError, match=message):
        parse_init(text, eps=1e-3)


@pytest.mark.parametrize("name", ["Bad", "1x", "a-b"])
def test_bad_names(name):
    with pytest.raises(InputError, match="lowercase identifier"):
        register_init(name, lambda key, layout, dtype: None)
