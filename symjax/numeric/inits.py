"""Initialization schemes in a registry that users can extend.

A scheme is a pure function ``fn(key, layout, dtype, **options) -> (n_params,)`` array in the
shared parameter order of :class:`symjax.Layout`. Register your own with :func:`register_init`;
:func:`pack_params` builds the flat vector from per-layer matrices.

Randomness: seed ``s`` of a run has the key ``seed_key(s) = fold_in(BASE_KEY, s)`` with
``BASE_KEY = jax.random.key(0, impl="threefry2x32")`` and ``jax_threefry_partitionable=True``
(both pinned by :func:`pinned_numerics`, whatever the global JAX settings), so a seed's draws
never depend on how many seeds run or how they are batched. Two independent streams hang off it:
the init schemes draw from ``fold_in(seed_key(s), 0)`` and the training perturbations from
``fold_in(seed_key(s), 1)`` (see :mod:`symjax.numeric.optimizers`). (With partitionable threefry,
``split(k, n)[i] == fold_in(k, i)``, so a key that is drawn from must never also be folded or
split for another purpose; the two streams keep init and training apart.) Every scheme draws
from the same init key, so the same seed gives correlated draws under different schemes (e.g.
``glorot_normal`` and ``he_normal`` differ by a constant factor, and ``tied_eps`` is exactly
``tied`` plus noise), which makes comparisons between schemes paired.

Built-in schemes (options in parentheses, with defaults):

* ``zeros``; ``constant`` (``value=0.5``): every parameter equal. Symmetric.
* ``tied`` (``scale=1.0``): a random point of the fully tied subspace. In every hidden layer all
  units share one draw of incoming weights and bias, and each unit of the next layer gives them
  one shared outgoing weight (for 2-2-1: ``w1=w3, w2=w4, b1=b2, w5=w6``). Values are drawn from
  ``U(-a, a)`` with ``a = scale * sqrt(6 / (fan_in + fan_out))`` of the layer (weights and
  biases alike). Symmetric.
* ``tied_eps`` (``scale=1.0``, ``eps``: the ``eps`` option of the run, default 1e-3): ``tied``
  plus ``eps * N(0, 1)`` independently on every parameter. Not symmetric.
* ``normal`` (``scale=1.0``): every parameter, biases included, ``N(0, scale^2)``.
* ``uniform`` (``scale=1.0``): every parameter, biases included, ``U(-scale, scale)``.
* ``glorot_normal``, ``glorot_uniform``, ``he_normal``, ``he_uniform``, ``lecun_normal``,
  ``lecun_uniform``: weights as in :mod:`jax.nn.initializers` (the normal variants are truncated
  normals), biases zero.
* ``orthogonal`` (``scale=1.0``): weights orthogonal with gain ``scale``, biases zero.

"Symmetric" schemes put every draw in the fully tied subspace; the invariance theorem then says
every tied pair stays bitwise tied under an equivariant optimizer on the exact path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ..base.errors import InputError, choose
from ..base.layout import Layout
from ..base.specs import Value, check_option_type, format_spec, format_value, parse_spec

#: PRNG implementation of every key symjax makes.
PRNG_IMPL = "threefry2x32"
#: ``jax_threefry_partitionable`` while symjax runs (it changes random values).
THREEFRY_PARTITIONABLE = True
#: Seed of the base key; seed ``s`` uses ``fold_in(key(BASE_SEED), s)``.
BASE_SEED = 0

InitFn = Callable[..., jax.Array]
#: Options of the built-in schemes that must not be negative (sizes of draws).
_NONNEGATIVE = ("scale", "eps")


@dataclass(frozen=True)
class InitScheme:
    """A registered scheme (the arguments of :func:`register_init`; ``defaults`` sorted)."""

    name: str
    fn: InitFn
    defaults: tuple[tuple[str, Value], ...]
    symmetric: bool


_REGISTRY: dict[str, InitScheme] = {}


def register_init(
    name: str,
    fn: InitFn,
    *,
    defaults: Mapping[str, Value] | None = None,
    symmetric: bool = False,
    replace: bool = False,
) -> None:
    """Add an init scheme to the registry.

    Args:
      name: lowercase identifier used by ``--init``.
      fn: pure function ``fn(key, layout, dtype, **options)`` returning the ``(n_params,)``
        parameter vector in the shared order (see :func:`pack_params`). It must use only ``key``
        for randomness; it runs under ``jit`` and ``vmap``.
      defaults: the options ``fn`` accepts and their defaults, e.g. ``{"scale": 1.0}``. An
        ``eps`` option defaults to the run's ``eps`` setting.
      symmetric: ``True`` if every draw lies in the fully tied subspace (the invariance theorem
        then applies and ``verify`` expects every tied pair to stay tied).
      replace: allow replacing an existing scheme of the same name.

    Raises:
      InputError: bad name, existing name without ``replace``, or ``fn`` not callable.

    Examples:
      >>> import jax.numpy as jnp
      >>> from symjax import register_init
      >>> def halves(key, layout, dtype):
      ...     del key
      ...     return jnp.full((layout.n_params,), 0.5, dtype)
      >>> register_init("halves", halves, symmetric=True, replace=True)
    """
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise InputError(f"init scheme name {name!r} must be a lowercase identifier")
    if name in _REGISTRY and not replace:
        raise InputError(f"init scheme {name!r} is already registered; pass replace=True")
    if not callable(fn):
        raise InputError(f"init scheme {name!r}: fn {fn!r} is not callable")
    options = tuple(sorted(dict(defaults or {}).items()))
    _REGISTRY[name] = InitScheme(name, fn, options, bool(symmetric))


def init_schemes() -> tuple[str, ...]:
    """Names of every registered scheme, built-in first."""
    return tuple(_REGISTRY)


def get_init(name: str) -> InitScheme:
    """The registered scheme ``name``; InputError naming the choices if unknown."""
    return _REGISTRY[choose("init scheme", name, _REGISTRY)]


@dataclass(frozen=True)
class InitSpec:
    """A scheme with resolved options: ``spec`` is canonical (``"normal:scale=0.5"``) and
    the run's label; ``options`` holds every option of the scheme (defaults filled in), sorted."""

    spec: str
    name: str
    options: tuple[tuple[str, Value], ...]

    @property
    def scheme(self) -> InitScheme:
        return get_init(self.name)


def parse_init(text: str, *, eps: float) -> InitSpec:
    """Parse ``"name"`` or ``"name:key=value:..."``; fill in defaults and the run's ``eps``."""
    keys = {n: tuple(k for k, _ in s.defaults) for n, s in _REGISTRY.items()}
    name, opts = parse_spec("init scheme", text, _REGISTRY, keys)
    defaults = dict(_REGISTRY[name].defaults)
    for key, value in opts.items():
        check_option_type("init scheme", name, key, value, defaults[key])
        if key in _NONNEGATIVE and name in (*BUILTIN_INITS, *SIGN_FLIP_INITS) and value < 0:
            raise InputError(f"init scheme {name} option {key}={format_value(value)} must be "
                             f">= 0")
    if "eps" in defaults:
        defaults["eps"] = eps
    return InitSpec(format_spec(name, opts), name, tuple(sorted({**defaults, **opts}.items())))


@contextlib.contextmanager
def pinned_numerics(dtype: str):
    """Pin the settings that change numbers: x64 on for float64 (off for float32), partitionable
    threefry. Everything symjax traces and runs for a given dtype happens inside this context,
    so results do not depend on the caller's global JAX configuration."""
    with jax.enable_x64(dtype == "float64"), jax.threefry_partitionable(THREEFRY_PARTITIONABLE):
        yield


def seed_key(seed: jax.Array) -> jax.Array:
    """The key of one seed: ``fold_in(key(BASE_SEED, impl=PRNG_IMPL), seed)``."""
    return jax.random.fold_in(jax.random.key(BASE_SEED, impl=PRNG_IMPL), seed)


def init_key(seed: jax.Array) -> jax.Array:
    """The key the init schemes of one seed draw from: ``fold_in(seed_key(seed), 0)``."""
    return jax.random.fold_in(seed_key(seed), 0)


def perturbation_key(seed: jax.Array) -> jax.Array:
    """The key of one seed's training perturbations: ``fold_in(seed_key(seed), 1)``."""
    return jax.random.fold_in(seed_key(seed), 1)


#: XLA options of the init program: level 1 (default 3) halves the compile time of the threefry
#: hashing and gave bitwise the same values (benchmarks/README.md); level 0 would round some
#: float transforms differently (no FMA contraction).
_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def init_program(specs: Sequence[InitSpec], widths: tuple[int, ...], dtype: str, n: int):
    """Compiled ``seeds (n,) uint32 -> tuple of (n, n_params)``, one array per scheme.

    All schemes share one program (they draw from the same seed keys, so XLA computes shared
    random bits once). Call it under :func:`pinned_numerics`. InputError: a scheme that does
    not return ``dtype[n_params]``.
    """
    schemes = tuple((s.name, s.scheme.fn, s.options) for s in specs)
    return _init_program(schemes, tuple(widths), dtype, n)


@lru_cache(maxsize=32)
def _init_program(schemes, widths, dtype, n):
    layout = Layout(widths)
    dt = jnp.dtype(dtype)

    def draw(seed):
        key = init_key(seed)
        return tuple(jnp.asarray(fn(key, layout, dt, **dict(options)))
                     for _, fn, options in schemes)

    outs = jax.eval_shape(draw, jax.ShapeDtypeStruct((), jnp.uint32))
    for (name, _, _), out in zip(schemes, outs):
        if out.shape != (layout.n_params,) or out.dtype != dt:
            raise InputError(
                f"init scheme {name!r} returned {out.dtype}{list(out.shape)}; expected "
                f"{dt}[{layout.n_params}] (the parameters of {layout.widths_str} in the shared "
                f"order)"
            )
    lowered = jax.jit(jax.vmap(draw)).lower(jax.ShapeDtypeStruct((n,), jnp.uint32))
    return lowered.compile(_INIT_COMPILER_OPTIONS)


def pack_params(
    layout: Layout, weights: Sequence[jax.Array], biases: Sequence[jax.Array]
) -> jax.Array:
    """Flat ``(n_params,)`` vector from per-layer ``W (fan_out, fan_in)`` and ``b (fan_out,)``.

    Row ``u`` of ``W`` holds the incoming weights of unit ``u`` in source order, which is the
    shared order (layer by layer, unit by unit, weights then biases).
    """
    return jnp.concatenate([jnp.reshape(w, (-1,)) for w in weights] + list(biases))


# -- built-in schemes --------------------------------------------------------------------------
def _shapes(layout: Layout) -> list[tuple[int, int]]:
    return list(zip(layout.widths[:-1], layout.widths[1:]))


def _zeros(key, layout, dtype):
    del key
    return jnp.zeros((layout.n_params,), dtype)


def _constant(key, layout, dtype, *, value):
    del key
    return jnp.full((layout.n_params,), value, dtype)


def _tied(key, layout, dtype, *, scale):
    n_layers = layout.n_layers
    keys = jax.random.split(key, 2 * n_layers)
    weights, biases = [], []
    for layer, (fan_in, fan_out) in enumerate(_shapes(layout), start=1):
        rows = 1 if layer < n_layers else fan_out  # hidden layer: one shared draw for all units
        cols = 1 if layer > 1 else fan_in  # previous layer hidden: one shared outgoing weight
        limit = scale * np.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(keys[2 * layer - 2], (rows, cols), dtype, -limit, limit)
        b = jax.random.uniform(keys[2 * layer - 1], (rows,), dtype, -limit, limit)
        weights.append(jnp.broadcast_to(w, (fan_out, fan_in)))
        biases.append(jnp.broadcast_to(b, (fan_out,)))
    return pack_params(layout, weights, biases)


def _tied_eps(key, layout, dtype, *, scale, eps):
    # _tied draws from split(key, 2 L)[i] == fold_in(key, i), i < 2 L: index 2 L is unused
    noise = jax.random.normal(jax.random.fold_in(key, 2 * layout.n_layers), (layout.n_params,),
                              dtype)
    return _tied(key, layout, dtype, scale=scale) + eps * noise


def _normal(key, layout, dtype, *, scale):
    return scale * jax.random.normal(key, (layout.n_params,), dtype)


def _uniform(key, layout, dtype, *, scale):
    return jax.random.uniform(key, (layout.n_params,), dtype, -scale, scale)


def _weights_only(make: Callable[[], Callable]) -> InitFn:
    """A scheme drawing each weight matrix with a :mod:`jax.nn.initializers` initializer."""

    def fn(key, layout, dtype, **options):
        init = make(**options)
        keys = jax.random.split(key, layout.n_layers)
        weights = [init(k, shape, dtype).T for k, shape in zip(keys, _shapes(layout))]
        biases = [jnp.zeros((fan_out,), dtype) for _, fan_out in _shapes(layout)]
        return pack_params(layout, weights, biases)

    return fn


_inits = jax.nn.initializers
register_init("zeros", _zeros, symmetric=True)
register_init("constant", _constant, defaults={"value": 0.5}, symmetric=True)
register_init("tied", _tied, defaults={"scale": 1.0}, symmetric=True)
register_init("tied_eps", _tied_eps, defaults={"scale": 1.0, "eps": 1e-3})
register_init("normal", _normal, defaults={"scale": 1.0})
register_init("uniform", _uniform, defaults={"scale": 1.0})
for _name in ("glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
              "lecun_uniform"):
    register_init(_name, _weights_only(getattr(_inits, _name)))
register_init("orthogonal", _weights_only(lambda scale: _inits.orthogonal(scale)),
              defaults={"scale": 1.0})
#: The built-in schemes, in the order of ``symjax verify``'s default.
BUILTIN_INITS = init_schemes()


def flip_signs(layout: Layout) -> np.ndarray:
    """``(n_params,)`` of +1/-1: the sign each parameter takes when unit ``k`` of every hidden
    layer is multiplied by ``(-1)**(k - 1)`` (a weight gets the product of the signs of the two
    units it joins, a bias the sign of its unit; input and output units keep their sign)."""
    def unit_sign(layer: int, unit: int) -> int:
        hidden = 0 < layer < layout.n_layers
        return -1 if hidden and unit % 2 == 0 else 1

    out = np.ones(layout.n_params, np.int8)
    for layer in range(1, layout.n_layers + 1):
        for unit in range(1, layout.widths[layer] + 1):
            out[layout.info(layout.bias(layer, unit)).index] = unit_sign(layer, unit)
            for src in range(1, layout.widths[layer - 1] + 1):
                out[layout.info(layout.weight(layer, unit, src)).index] = (
                    unit_sign(layer, unit) * unit_sign(layer - 1, src))
    return out


def _tied_flip(key, layout, dtype, *, scale):
    return _tied(key, layout, dtype, scale=scale) * flip_signs(layout).astype(dtype)


#: Not part of the default list: ``tied`` with every even-numbered hidden unit's sign flipped
#: (:func:`flip_signs`), a random point of the sign-flip subspace (for 2-2-1: ``w3 = -w1``,
#: ``w4 = -w2``, ``b2 = -b1``, ``w6 = -w5``), where the sign-flip ties of ``symjax verify
#: --ties w1=-w3,...`` hold bitwise at step 0. Not symmetric in the sense of the plain ties.
register_init("tied_flip", _tied_flip, defaults={"scale": 1.0})
#: Schemes whose every draw lies on the sign-flip subspace of :func:`flip_signs`.
SIGN_FLIP_INITS = ("tied_flip",)
