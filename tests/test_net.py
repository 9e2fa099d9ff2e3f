"""The MLP: activations, losses, both computation paths, ties, distances, bit patterns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import symjax.numeric.net as net_module
from symjax import InputError, Layout
from symjax.base.choices import ACTIVATIONS, LEAKY_RELU_SLOPE
from symjax.base.layout import tied_subspace_pairs
from symjax.numeric.net import (
    SCALAR_MAX_PARAMS,
    SCALAR_MAX_UNROLL,
    Net,
    _kernel_boundary,
    activation,
    delta_barrier,
    exact_form,
    fixed_dense,
    from_matrices,
    matmul_loss,
    min_unit_distance,
    scalar_loss,
    to_leaves,
    to_matrices,
    vector_loss,
)
from symjax.numeric.train import ulp_distance


def _data(n_samples, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_in))
    y = (rng.random((n_samples, n_out)) > 0.5).astype(np.float64)
    return jnp.asarray(x), jnp.asarray(y)


def test_activations_match_the_shared_definitions():
    z = jnp.array([-2.0, 0.0, 3.0])
    assert set(ACTIVATIONS) == {"identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus"}
    np.testing.assert_allclose(activation("leaky_relu")(z), [-2 * LEAKY_RELU_SLOPE, 0, 3])
    np.testing.assert_allclose(activation("softplus")(z), np.log1p(np.exp(np.asarray(z))))
    np.testing.assert_allclose(activation("sigmoid")(z), 1 / (1 + np.exp(-np.asarray(z))))
    assert jax.grad(activation("relu"))(0.0) == 0.0
    assert jax.grad(activation("leaky_relu"))(0.0) == 1.0
    assert jax.grad(activation("leaky_relu"))(-1.0) == pytest.approx(LEAKY_RELU_SLOPE)
    with pytest.raises(InputError, match="allowed: identity"):
        activation("swish")


def test_default_loss_is_half_squared_error_averaged_over_samples():
    net = Net((2, 2, 1))
    flat = jnp.asarray(np.random.default_rng(1).standard_normal(9))
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = np.asarray(flat)
    xs, ys = np.asarray(x), np.asarray(y)[:, 0]
    h1 = np.tanh(w1 * xs[:, 0] + w2 * xs[:, 1] + b1)
    h2 = np.tanh(w3 * xs[:, 0] + w4 * xs[:, 1] + b2)
    out = 1 / (1 + np.exp(-(w5 * h1 + w6 * h2 + b3)))
    expected = np.mean((out - ys) ** 2 / 2)
    loss = jax.jit(scalar_loss, static_argnums=0)
    assert float(loss(net, to_leaves(flat), x, y)) == pytest.approx(expected, rel=1e-12)
    summed = Net((2, 2, 1), reduction="sum")
    assert float(loss(summed, to_leaves(flat), x, y)) == pytest.approx(4 * expected)


@pytest.mark.parametrize(
    "widths, act, out_act, loss, n_samples",
    [
        ((2, 2, 1), "tanh", "sigmoid", "squared_error", 4),
        ((3, 4, 2), "relu", "identity", "squared_error", 7),
        ((2, 3, 3, 1), "leaky_relu", "sigmoid", "bce", 8),
        ((2, 3, 1), "softplus", "tanh", "squared_error", 9),
        ((2, 2, 1), "sigmoid", "identity", "bce", 5),  # bce of a non-sigmoid output: xlogy form
    ],
)
def test_all_forms_compute_the_same_function(widths, act, out_act, loss, n_samples):
    net = Net(widths, act, out_act, loss)
    x, y = _data(n_samples, widths[0], widths[-1])
    if out_act == "identity" and loss == "bce":
        x = jnp.abs(x) * 0.1  # keep the identity output inside (0, 1)
    flat = jnp.asarray(0.3 * np.random.default_rng(2).standard_normal(net.n_params))
    masks = jnp.asarray(np.random.default_rng(4).integers(0, 2, (sum(widths[1:-1]), n_samples))
                        * 2.0)

    @jax.jit
    def forms(flat, masks):
        ls, gs = jax.value_and_grad(scalar_loss, argnums=1)(net, to_leaves(flat), x, y, masks)
        mats = to_matrices(net, flat)
        lv, gv = jax.value_and_grad(vector_loss, argnums=1)(net, mats, x, y, masks)
        lm, gm = jax.value_and_grad(matmul_loss, argnums=1)(net, mats, x, y, masks)
        return (ls, lv, lm), (jnp.stack(gs), from_matrices(gv), from_matrices(gm))

    for m in (None, masks):  # without and with dropout factors
        (ls, lv, lm), (gs, gv, gm) = forms(flat, m)
        np.testing.assert_allclose([lv, lm], [ls, ls], rtol=1e-12)
        np.testing.assert_allclose(gv, gs, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(gm, gs, rtol=1e-10, atol=1e-14)
    assert float(forms(flat, masks)[0][0]) != pytest.approx(float(forms(flat, None)[0][0]))


def test_fixed_dense_keeps_equal_rows_and_columns_bitwise_equal():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    w[1] = w[0]  # two tied units of this layer ...
    w[:, 3] = w[:, 2]  # ... and two tied units of the previous layer (equal outgoing weights)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    a[3] = a[2]
    b = np.array([0.1, 0.1, -0.3], np.float32)
    z, vjp = jax.vjp(fixed_dense, jnp.asarray(w), jnp.asarray(b), jnp.asarray(a))
    dz = jnp.asarray(rng.standard_normal((3, 5)).astype(np.float32))
    dz = dz.at[1].set(dz[0])
    dw, db, da = vjp(dz)

    def bits(v):
        return np.asarray(v).view(np.uint32)

    assert (bits(z[1]) == bits(z[0])).all()
    assert (bits(dw[1]) == bits(dw[0])).all() and bits(db)[1] == bits(db)[0]
    assert (bits(da[3]) == bits(da[2])).all() and (bits(dw[:, 3]) == bits(dw[:, 2])).all()
    ref_z, ref_vjp = jax.vjp(lambda w, b, a: w @ a + b[:, None], jnp.asarray(w),
                             jnp.asarray(b), jnp.asarray(a))
    np.testing.assert_allclose(z, ref_z, rtol=1e-5, atol=1e-6)
    for got, want in zip((dw, db, da), ref_vjp(dz)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_exact_layout_choice():
    assert exact_form(Net((2, 2, 1)), 4) == "scalar"
    assert exact_form(Net((2, 2, 1)), SCALAR_MAX_UNROLL // 9) == "scalar"
    assert exact_form(Net((2, 2, 1)), SCALAR_MAX_UNROLL // 9 + 1) == "vector"
    big = Net((2, 20, 1))
    assert big.n_params > SCALAR_MAX_PARAMS and exact_form(big, 4) == "vector"
    assert exact_form(Net((2, 600, 1)), 4) == ""


def test_matrices_follow_the_shared_parameter_order():
    net = Net((2, 2, 1))
    flat = jnp.arange(9.0)
    (w1, b1), (w2, b2) = to_matrices(net, flat)
    lay = Layout((2, 2, 1))
    # row u of W holds the incoming weights of unit u: W1 = [[w1, w2], [w3, w4]]
    assert lay.names[:4] == ("w1", "w2", "w3", "w4")
    np.testing.assert_array_equal(w1, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(w2, [[4, 5]])
    np.testing.assert_array_equal(b1, [6, 7])
    np.testing.assert_array_equal(b2, [8])
    np.testing.assert_array_equal(from_matrices(to_matrices(net, flat)), flat)


def test_default_ties_are_the_fully_tied_subspace():
    assert tied_subspace_pairs(Layout((2, 2, 1))) == (
        ("w1", "w3"), ("w2", "w4"), ("w5", "w6"), ("b1", "b2"))
    lay = Layout((2, 3, 1))
    classes = lay.tie_classes(tied_subspace_pairs(lay))
    assert ("w1", "w3", "w5") in classes and ("b1", "b2", "b3") in classes
    assert ("w7", "w8", "w9") in classes
    deep = Layout((2, 2, 2, 1))  # the middle weights of two tied layers all share one class
    assert ("w5", "w6", "w7", "w8") in deep.tie_classes(tied_subspace_pairs(deep))
    assert tied_subspace_pairs(Layout((2, 1, 1))) == ()


def test_min_unit_distance():
    net = Net((2, 2, 1))
    tied = jnp.array([1.0, 2.0, 1.0, 2.0, 3.0, 3.0, 0.5, 0.5, 0.0])
    assert float(min_unit_distance(net, tied)) == 0.0
    apart = tied.at[0].set(4.0).at[4].set(7.0)  # unit 1 moves by (3, 0, 0.0, 4) -> distance 5
    assert float(min_unit_distance(net, apart)) == pytest.approx(5.0)
    assert np.isnan(float(min_unit_distance(Net((2, 1, 1)), jnp.ones(5))))
    wide = Net((3, 80, 2))  # a layer large enough for the Gram-matrix formula
    flat = jnp.asarray(np.random.default_rng(5).standard_normal(wide.n_params))
    rows = np.asarray([[wide.layout.info(n).index for k in ("in", "bias", "out")
                        for n in wide.layout.unit_params(1, u)[k]] for u in range(1, 81)])
    v = np.asarray(flat)[rows]
    d = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1)) + np.diag(np.full(80, np.inf))
    got = jax.jit(min_unit_distance, static_argnums=0)(wide, flat)
    assert float(got) == pytest.approx(d.min(), rel=1e-9)


@pytest.mark.parametrize("dtype, itype", [(np.float32, np.uint32), (np.float64, np.uint64)])
def test_ulp_distance_on_bit_patterns(dtype, itype):
    one = dtype(1)
    nxt = np.nextafter(one, dtype(2))
    tiny = np.nextafter(dtype(0), one)
    big = np.finfo(dtype).max
    a = jnp.asarray(np.array([one, one, 0.0, -0.0, tiny, big, np.nan], dtype))
    b = jnp.asarray(np.array([one, nxt, -0.0, -tiny, -tiny, -big, np.nan], dtype))
    differ, dist = ulp_distance(a, b)
    assert dist.dtype == itype
    assert np.asarray(differ).tolist() == [False, True, True, True, True, True, False]
    d = np.asarray(dist)
    assert d[:5].tolist() == [0, 1, 0, 1, 2]  # +0 and -0 differ in bits but are 0 ULP apart
    n_finite = np.asarray(np.finfo(dtype).max, dtype).view(itype)
    assert d[5] == 2 * int(n_finite)  # no overflow across the whole range
    # negative control: a one-bit difference is seen, equal bits are not
    v = jnp.asarray(np.array([0.1], dtype))
    assert not bool(ulp_distance(v, v)[0][0])


def _bits(v):
    v = np.asarray(v)
    return v.view(np.uint32 if v.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_boundary_is_the_identity_bit_for_bit(dtype):
    info = np.finfo(dtype)
    v = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, info.max, -info.max,
                  info.smallest_subnormal, -info.smallest_subnormal, info.tiny], dtype)
    out = jax.jit(_kernel_boundary)(jnp.asarray(v))
    np.testing.assert_array_equal(_bits(out), _bits(v))
    # Negative control: the same reduction started from +0.0 instead of -0.0 (the plausible
    # slip) turns -0.0 into +0.0 (equal in value), and the bit comparison sees it.
    def from_plus_zero(u):
        return lax.reduce(jnp.stack([u, jnp.zeros_like(u)]), jnp.array(0.0, u.dtype), lax.add,
                          (0,))

    slipped = np.asarray(jax.jit(from_plus_zero)(jnp.asarray(v)))
    assert slipped[1] == v[1] and _bits(slipped)[1] != _bits(v)[1]
    assert not np.array_equal(_bits(slipped), _bits(v))


@pytest.mark.parametrize("widths, loss, out_act", [((2, 2, 1), "squared_error", "sigmoid"),
                                                   ((2, 3, 2), "bce", "sigmoid"),
                                                   ((3, 2, 2, 1), "squared_error", "identity")])
def test_delta_barrier_keeps_loss_and_gradient(widths, loss, out_act, monkeypatch):
    """The barrier is the identity forward and backward: same loss bit for bit, same gradient
    (to rounding: kernel boundaries may change which products XLA contracts into FMAs)."""
    net = Net(widths, loss=loss, output_activation=out_act)
    x, y = _data(5, widths[0], widths[-1], seed=3)
    flat = jnp.asarray(np.random.default_rng(4).standard_normal(net.n_params))

    def value_and_grad(barrier):
        return jax.jit(jax.value_and_grad(
            lambda f: scalar_loss(net, to_leaves(f), x, y, barrier=barrier)))(flat)

    (l0, g0), (l1, g1) = value_and_grad(False), value_and_grad(True)
    assert l0 == l1
    np.testing.assert_allclose(g1, g0, rtol=1e-13, atol=1e-15)
    assert jax.grad(lambda v: 3 * delta_barrier(v))(jnp.asarray(0.75)) == 3.0
    # negative control: a barrier that is not the identity backward is caught
    monkeypatch.setattr(net_module, "_kernel_boundary", lambda v: 2 * v)
    assert not np.allclose(value_and_grad(True)[1], g0, rtol=1e-6)
