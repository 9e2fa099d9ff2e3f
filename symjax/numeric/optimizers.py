"""Optimizers by name through optax, with their hyperparameters, plus symmetry-breaking
perturbations.

An optimizer spec is ``name`` or ``name:key=value:...`` (see :mod:`symjax.base.specs`), e.g.
``adam:b2=0.99`` or ``sgd:dropout=0.1``. Keys are the optax keyword arguments of that optimizer
(numbers and booleans) and the two perturbations:

* ``dropout=p``: during training every hidden unit's activation is multiplied by an independent
  ``Bernoulli(1 - p) / (1 - p)`` mask, drawn afresh for every sample and every step (inverted
  dropout; the final loss and "solved" are evaluated without dropout).
* ``grad_noise=s``: every gradient component gets independent ``N(0, s^2)`` noise each step.

The random numbers of step ``t`` (1-based) of seed ``k`` come from the step key
``fold_in(perturbation_key(k), t)`` (:func:`symjax.numeric.inits.perturbation_key`), then
``fold_in(step key, 0)`` for dropout and ``fold_in(step key, 1)`` for gradient noise; masks are
drawn as a ``(hidden units in layout order, samples)`` array and noise as an ``(n_params,)``
vector in the shared order, so both paths see the same perturbation, and a seed's perturbations
do not depend on the init scheme.

Every optimizer listed here updates each parameter from its own gradient history and global
scalars only (step count, learning rate), so its update commutes with permuting hidden units:
it is *equivariant*, and the invariance theorem applies. Optimizers whose update depends on how
parameters are grouped into arrays (``lamb``, ``lars``, ``fromage``, ``novograd``,
``adafactor``, ``sm3``) are left out on purpose: the two computation paths group parameters
differently, so they would not even compute the same algorithm. A perturbation makes a run
non-equivariant (the noise differs between tied units), whatever the optimizer.

Two more options apply to every optimizer of a run and keep it equivariant (they act on each
parameter alone, with global scalars only):

* ``weight_decay=w``: L2 weight decay, ``optax.add_decayed_weights(w)`` chained before the
  optimizer (the gradient of ``w/2 |theta|^2`` added to the gradient; AdamW's own decoupled
  ``weight_decay`` option is separate).
* ``schedule``: the learning rate over the ``steps`` updates (optax's update count ``n``, 0 for
  the first update), a spec ``name:key=value`` (see :func:`parse_schedule`):

  - ``constant`` (default): ``lr``.
  - ``cosine`` (``alpha=0.0``): ``lr ((1 - alpha) (1 + cos(pi n / steps)) / 2 + alpha)``.
  - ``exponential`` (``rate=0.1``, ``every``: default ``steps``): ``lr rate^(n / every)``.
  - ``step`` (``rate=0.5``, ``every``: default ``max(1, steps // 3)``):
    ``lr rate^floor(n / every)``.
  - ``warmup_cosine`` (``warmup``: default ``steps // 10``, ``end=0.0``): linear from 0 to
    ``lr`` over ``warmup`` updates, then cosine down to ``end * lr`` at ``steps``.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import optax

from ..base.errors import InputError
from ..base.specs import Value, check_option_type, format_spec, format_value, parse_spec, split_list

#: name -> (optax factory, preset options, default learning rate).
#: Default learning rates are tuned for the default workload (2-2-1 XOR, tanh, sigmoid,
#: squared error, 1000 steps of full-batch training) so that good random inits solve XOR.
_OPTIMIZERS: dict[str, tuple[Callable[..., optax.GradientTransformation], dict, float]] = {
    "sgd": (optax.sgd, {}, 2.0),
    "momentum": (optax.sgd, {"momentum": 0.9}, 0.5),
    "nesterov": (optax.sgd, {"momentum": 0.9, "nesterov": True}, 0.5),
    "adam": (optax.adam, {}, 0.05),
    "adamw": (optax.adamw, {}, 0.05),
    "nadam": (optax.nadam, {}, 0.05),
    "nadamw": (optax.nadamw, {}, 0.05),
    "amsgrad": (optax.amsgrad, {}, 0.05),
    "adamax": (optax.adamax, {}, 0.05),
    "adamaxw": (optax.adamaxw, {}, 0.05),
    "adabelief": (optax.adabelief, {}, 0.05),
    "adan": (optax.adan, {}, 0.05),
    "radam": (optax.radam, {}, 0.05),
    "yogi": (optax.yogi, {}, 0.05),
    "rmsprop": (optax.rmsprop, {}, 0.01),
    "adagrad": (optax.adagrad, {}, 0.5),
    "adadelta": (optax.adadelta, {}, 1.0),
    "lion": (optax.lion, {}, 0.005),
    "sign_sgd": (optax.sign_sgd, {}, 0.01),
    "signum": (optax.signum, {}, 0.01),
    "rprop": (optax.rprop, {}, 0.01),
    "optimistic_gradient_descent": (optax.optimistic_gradient_descent, {}, 0.5),
}
OPTIMIZERS = tuple(_OPTIMIZERS)
#: Optimizers whose update is odd in (parameter, gradient, first moments) with second moments
#: even, so that a sign-flipped pair stays sign-flipped: those whose sign-flip lemma the prover
#: proves (``symjax prove --optimizer NAME --ties w1=-w3,...``; a test checks the list).
SIGN_EQUIVARIANT = ("sgd", "momentum", "nesterov", "adam", "adamw", "nadam", "nadamw", "amsgrad",
                    "adamax", "adamaxw", "adabelief", "adan", "radam", "rmsprop", "adagrad",
                    "adadelta", "lion", "sign_sgd", "signum", "rprop",
                    "optimistic_gradient_descent")
PERTURBATIONS = ("dropout", "grad_noise")
#: Options whose optax default is ``None`` but that take a number.
_NUMERIC_NONE_DEFAULTS = ("momentum",)
#: Allowed ranges of numeric options, ``(low, high, high included)``: decay rates of moving
#: averages in [0, 1), sizes and rates >= 0. Options not listed take any finite number.
_RANGES: dict[str, tuple[float, float, bool]] = {
    **{k: (0.0, 1.0, False) for k in ("b1", "b2", "b3", "decay", "rho", "momentum")},
    **{k: (0.0, math.inf, True) for k in (
        "eps", "eps_root", "weight_decay", "initial_scale", "initial_accumulator_value",
        "threshold", "min_step_size", "max_step_size", "alpha")},
    "eta_minus": (0.0, 1.0, True),
    "eta_plus": (1.0, math.inf, True),
}
#: ``beta`` is a decay rate for signum and a step size for optimistic gradient descent.
_BETA_RANGE = {"signum": (0.0, 1.0, False), "optimistic_gradient_descent": (0.0, math.inf, True)}


def _check_range(name: str, key: str, value: Value) -> None:
    bounds = _BETA_RANGE.get(name) if key == "beta" else _RANGES.get(key)
    if bounds is None or isinstance(value, bool):
        return
    low, high, closed = bounds
    if value < low or value > high or (value == high and not closed):
        shown = (f">= {low:g}" if math.isinf(high) else
                 f"in [{low:g}, {high:g}{']' if closed else ')'}")
        raise InputError(f"optimizer {name} option {key}={format_value(value)} must be {shown}")


def _option_defaults(name: str) -> dict[str, Value | None]:
    factory, preset, _ = _OPTIMIZERS[name]
    params = inspect.signature(factory).parameters.values()
    numeric = {p.name: p.default for p in params if p.name != "learning_rate" and (
        isinstance(p.default, (bool, int, float)) or p.name in _NUMERIC_NONE_DEFAULTS)}
    return {**numeric, **preset}


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer of a run, fully resolved. Hashable (it keys compiled programs).

    ``spec``: canonical, e.g. ``"adam:b2=0.99"``; ``options``: the optax keyword arguments
    given in the spec (preset ones are added on build); ``dropout``, ``grad_noise``,
    ``weight_decay``: 0 is off; ``label``: the run's unique name in tables and files, ``spec``
    or ``spec@lr=...`` when the same spec runs with several learning rates; ``schedule``: a
    canonical spec (:func:`parse_schedule`) spanning ``schedule_steps`` steps.
    """

    spec: str
    name: str
    lr: float
    options: tuple[tuple[str, Value], ...]
    dropout: float
    grad_noise: float
    label: str
    weight_decay: float = 0.0
    schedule: str = "constant"
    schedule_steps: int = 0

    @property
    def perturbed(self) -> bool:
        return self.dropout > 0 or self.grad_noise > 0

    @property
    def equivariant(self) -> bool:
        """Whether the update commutes with permutations of hidden units (no perturbation)."""
        return not self.perturbed

    def transformation(self) -> optax.GradientTransformation:
        factory, preset, _ = _OPTIMIZERS[self.name]
        rate = (self.lr if self.schedule == "constant" else
                learning_rate_schedule(self.schedule, self.lr, self.schedule_steps))
        tx = factory(learning_rate=rate, **{**preset, **dict(self.options)})
        if self.weight_decay > 0:
            tx = optax.chain(optax.add_decayed_weights(self.weight_decay), tx)
        return tx


def default_lr(name: str) -> float:
    """The default learning rate of optimizer ``name``."""
    return _OPTIMIZERS[name][2]


def parse_optimizers(optimizer, lr=None, *, dropout: float = 0.0,
                     grad_noise: float = 0.0) -> tuple[OptimizerSpec, ...]:
    """Resolve the optimizer list and learning rates of a run.

    ``optimizer``: comma-separated specs or a list of them, e.g. ``"sgd,adam:b2=0.99"``.
    ``lr``: ``None`` (each optimizer's default), one number for all, a list (or comma-separated
    string) with one number per optimizer, or a mapping ``{spec or name: lr}`` (also as the
    string ``"sgd=0.5,adam=0.05"``; optimizers not named get their default). ``dropout`` and
    ``grad_noise``: the defaults for specs that do not set them. InputError: unknown optimizer
    or option, a learning rate that is not a finite positive number, a wrong number of learning
    rates, bad perturbation values, duplicate runs.
    """
    texts = split_list(optimizer, "optimizer list")
    if not texts:
        raise InputError(f"optimizer list {optimizer!r} is empty; allowed: {', '.join(OPTIMIZERS)}")
    keys = {n: (*_option_defaults(n), *PERTURBATIONS) for n in OPTIMIZERS}
    parsed = [parse_spec("optimizer", t, OPTIMIZERS, keys) for t in texts]
    specs = [format_spec(n, o) for n, o in parsed]
    lrs = _resolve_lrs(lr, specs, [n for n, _ in parsed])
    out, seen = [], set()
    for (name, opts), spec, rate in zip(parsed, specs, lrs):
        defaults = _option_defaults(name)
        for key, value in opts.items():
            if key not in PERTURBATIONS:
                check_option_type("optimizer", name, key, value, defaults[key])
                _check_range(name, key, value)
        drop = _check_dropout(opts.get("dropout", dropout))
        noise = _check_noise(opts.get("grad_noise", grad_noise))
        options = tuple(sorted((k, v) for k, v in opts.items() if k not in PERTURBATIONS))
        if (spec, rate) in seen:  # two runs with one label: only the learning rate tells
            raise InputError(f"optimizer {spec!r} with lr={rate} is listed twice")
        seen.add((spec, rate))
        label = spec if specs.count(spec) == 1 else f"{spec}@lr={rate!r}"
        out.append(OptimizerSpec(spec, name, rate, options, drop, noise, label))
    return tuple(out)


def _check_lr(value, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"learning rate {value!r} {where} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"learning rate {value!r} {where} is not a number")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"learning rate {value!r} {where} must be a finite number > 0")
    return value


def _resolve_lrs(lr, specs: list[str], names: list[str]) -> list[float]:
    if lr is None:
        return [default_lr(n) for n in names]
    if isinstance(lr, Mapping):
        allowed = set(specs) | set(names)
        for key in lr:
            if key not in allowed:
                raise InputError(f"lr given for {key!r}, which is not in the optimizer list "
                                 f"({', '.join(specs)})")
        return [
            _check_lr(lr[s], f"for {s}") if s in lr else
            _check_lr(lr[n], f"for {n}") if n in lr else default_lr(n)
            for s, n in zip(specs, names)
        ]
    values = split_list(lr, "lr")
    if values and all(isinstance(v, str) and "=" in v for v in values):  # "sgd=0.5,adam=0.05"
        pairs = [(k.strip(), r.strip()) for k, _, r in (v.rpartition("=") for v in values)]
        keys = [k for k, _ in pairs]
        twice = [k for i, k in enumerate(keys) if k in keys[:i]]
        if twice:
            raise InputError(f"lr {lr!r} gives {twice[0]!r} twice")
        return _resolve_lrs(dict(pairs), specs, names)
    if len(values) == 1:
        return [_check_lr(values[0], "(--lr)")] * len(specs)
    if len(values) != len(specs):
        raise InputError(
            f"got {len(values)} learning rates ({lr!r}) for {len(specs)} optimizers "
            f"({', '.join(specs)}); give one, or one per optimizer"
        )
    return [_check_lr(v, f"for {s}") for v, s in zip(values, specs)]


def _check_dropout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise InputError(f"dropout {value!r} must be a number in [0, 1)")
    return float(value)


def _check_noise(value) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise InputError(f"grad_noise {value!r} must be a finite number >= 0")
    return float(value)


#: Learning-rate schedules: name -> option defaults (``None``: derived from the steps).
SCHEDULES: dict[str, dict[str, Value | None]] = {
    "constant": {},
    "cosine": {"alpha": 0.0},
    "exponential": {"rate": 0.1, "every": None},
    "step": {"rate": 0.5, "every": None},
    "warmup_cosine": {"warmup": None, "end": 0.0},
}
_SCHEDULE_KEYS = {k: tuple(v) for k, v in SCHEDULES.items()}


def parse_schedule(text) -> str:
    """The canonical spec of a learning-rate schedule, e.g. ``"exponential:rate=0.5"``;
    InputError for an unknown name or option, or a value out of range (``rate`` in (0, 1],
    ``alpha`` and ``end`` in [0, 1], ``every`` an integer >= 1, ``warmup`` >= 0)."""
    name, opts = parse_spec("schedule", text, SCHEDULES, _SCHEDULE_KEYS)
    for key, value in opts.items():
        check_option_type("schedule", name, key, value, None)
        if key in ("every", "warmup"):
            low = 1 if key == "every" else 0
            if not float(value).is_integer() or value < low:
                raise InputError(f"schedule {name} option {key}={format_value(value)} must be "
                                 f"an integer >= {low}")
            opts[key] = int(value)
        elif key == "rate" and not 0 < value <= 1:
            raise InputError(f"schedule {name} option rate={format_value(value)} must be in "
                             f"(0, 1]")
        elif key in ("alpha", "end") and not 0 <= value <= 1:
            raise InputError(f"schedule {name} option {key}={format_value(value)} must be in "
                             f"[0, 1]")
    return format_spec(name, opts)


def learning_rate_schedule(spec: str, lr: float, steps: int) -> optax.Schedule:
    """The optax schedule of a canonical ``spec`` (:func:`parse_schedule`) over ``steps``."""
    name, opts = parse_spec("schedule", spec, SCHEDULES, _SCHEDULE_KEYS)
    opts = {**SCHEDULES[name], **opts}
    span = max(int(steps), 1)
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=span, alpha=float(opts["alpha"]))
    if name in ("exponential", "step"):
        every = opts["every"] or (span if name == "exponential" else max(1, span // 3))
        return optax.exponential_decay(lr, transition_steps=int(every),
                                       decay_rate=float(opts["rate"]),
                                       staircase=name == "step")
    warmup = span // 10 if opts["warmup"] is None else int(opts["warmup"])
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=warmup,
                                              decay_steps=max(span, warmup + 1),
                                              end_value=float(opts["end"]) * lr)
