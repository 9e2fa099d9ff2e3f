"""The options of a verify run, declared once: :class:`VerifyConfig`.

Each field is one option (:func:`option`): its default, its help text, its JSON type in
``results.json`` and, for options with a plain value, its validation (the engine's
:func:`symjax.experiments.verify.resolve` canonicalizes the others: widths, activations, data
set, init and optimizer specs, learning rates, ties). Everything else reads this declaration:
the keywords :func:`symjax.verify` accepts, the options of ``symjax verify``
(``output_activation`` is ``--output-activation``), the ``config`` of ``results.json`` and of
``run.json``, ``symjax report`` and ``symjax reproduce``. Adding an option is adding a field here
(and using its value in the engine).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base.choices import ACTIVATIONS, LOSSES
from ..base.errors import InputError, choose

#: The built-in init schemes, in table order (the default of ``init``).
DEFAULT_INITS = (
    "zeros,constant,tied,tied_eps,normal,uniform,glorot_normal,glorot_uniform,he_normal,"
    "he_uniform,lecun_normal,lecun_uniform,orthogonal"
)

#: The built-in optimizers (the names of :data:`symjax.numeric.optimizers.OPTIMIZERS`, listed
#: here so that ``--help`` needs no JAX; a test checks that the two agree).
OPTIMIZER_CHOICES = (
    "sgd", "momentum", "nesterov", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adamax",
    "adamaxw", "adabelief", "adan", "radam", "yogi", "rmsprop", "adagrad", "adadelta", "lion",
    "sign_sgd", "signum", "rprop", "optimistic_gradient_descent",
)

#: Largest seed count and step count: seed numbers are uint32, step counters int32.
MAX_SEEDS, MAX_STEPS = 2**32, 2**31 - 2


# -- validators of plain values ----------------------------------------------------------------
def parse_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """``value`` (an integer or its decimal text) within ``[minimum, maximum]``."""
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):  # ASCII digits: no "1e3", "1_000", "١"
            raise InputError(f"{name} {value!r} is not an integer")
        try:
            value = int(text)
        except ValueError:  # more digits than int() converts
            raise InputError(f"{name} {value!r} is too large") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} {value!r} is not an integer")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InputError(f"{name} {value} must be {bound}")
    return value


def parse_float(name: str, value, minimum: float | None = None) -> float:
    """``value`` (a real number or its text), finite and at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        raise InputError(f"{name} {value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(out) or (minimum is not None and out < minimum):
        bound = "finite" if minimum is None else f"finite and >= {minimum:g}"
        raise InputError(f"{name} {value!r} must be {bound}")
    return out


def integer(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    return lambda name, value: parse_int(name, value, minimum, maximum)


def real(minimum: float | None = None) -> Callable[[str, Any], float]:
    return lambda name, value: parse_float(name, value, minimum)


def one_of(*allowed: str) -> Callable[[str, Any], str]:
    return lambda name, value: choose(name, value, allowed)


_INT = {"type": "integer", "minimum": 0}
_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_NONNEGATIVE = {"type": "number", "minimum": 0}


def option(default: Any, help: str, schema: Mapping[str, Any], *,
           check: Callable[[str, Any], Any] | None = None, required: bool = True,
           since_default: bool = False) -> Any:
    """One option of :class:`VerifyConfig`: its ``default``, its ``help`` line for ``symjax
    verify --help`` (the default is appended there), its JSON ``schema`` in the ``config`` of
    ``results.json``, and ``check(name, value) -> canonical value`` for a plain value, raising
    :class:`InputError` (``None`` when the engine resolves it). ``required``: results documents
    must record it (``False`` for options that documents of earlier versions may lack).
    ``since_default``: recorded only when it differs from ``default`` (an option added after
    runs were published: their run IDs stay the same).
    """
    return field(default=default, metadata={
        "help": help, "schema": dict(schema), "check": check,
        "required": required and not since_default, "since_default": since_default})


@dataclass(frozen=True)
class VerifyConfig:
    """Every option of a verify run that can change its results (output options are apart)."""

    widths: Any = option("2,2,1", "layer widths, input first",
                         {"type": "array", "minItems": 2,
                          "items": {"type": "integer", "minimum": 1}})
    activation: str = option("tanh", f"hidden activation: {', '.join(ACTIVATIONS)}", _STRING)
    output_activation: str = option("sigmoid", f"output activation: {', '.join(ACTIVATIONS)}",
                                    _STRING)
    loss: str = option("squared_error", f"loss per sample: {' or '.join(LOSSES)} (squared_error: "
                       "sum over outputs of (yhat-y)^2/2)", _STRING)
    reduction: str = option("mean", "loss over samples: mean or sum", _STRING)
    dataset: str = option("xor", "data set spec: xor, and, or, parity, teacher, moons, circles, "
                          "spirals, iris (options as name:key=value)", _STRING)
    init: Any = option(DEFAULT_INITS, "init scheme specs, comma-separated, or 'all' for every "
                       "registered scheme (options as name:key=value); built in: "
                       + DEFAULT_INITS.replace(",", ", ") + "; also tied_flip (on the sign-flip "
                       "subspace, for ties such as w1=-w3)", {**_STRINGS, "minItems": 1})
    optimizer: Any = option("sgd,adam", "optimizer specs, comma-separated (optax keyword options "
                            "and dropout=, grad_noise= as name:key=value); built in: "
                            + ", ".join(OPTIMIZER_CHOICES), {**_STRINGS, "minItems": 1})
    lr: Any = option(None, "learning rate: one for all, one per optimizer (comma-separated), or "
                     "name=value pairs; default per optimizer (sgd 2.0, adam 0.05, ...)",
                     {"type": "array", "minItems": 1,
                      "items": {"type": "number", "exclusiveMinimum": 0}})
    seeds: int = option(10000, "number of seeds", {"type": "integer", "minimum": 1},
                        check=integer(1, MAX_SEEDS))
    first_seed: int = option(0, "first seed number (seeds first_seed .. first_seed+seeds-1)",
                             _INT)  # its bound depends on seeds: checked in resolve
    steps: int = option(1000, "training steps", _INT, check=integer(0, MAX_STEPS))
    dtype: str = option("float32", "float32 or float64", {"enum": ["float32", "float64"]},
                        check=one_of("float32", "float64"))
    path: str = option("exact", "exact (fixed-order sums: tied units stay bitwise tied) or "
                       "matmul (x @ W.T)", _STRING, check=one_of("exact", "matmul"))
    chunk: int = option(16384, "at most this many seeds per compiled call (bounds memory; the "
                        "seeds are split into equal calls)", {"type": "integer", "minimum": 1},
                        check=integer(1), required=False)
    ties: Any = option(None, "tied pairs to check, e.g. w1=w3,w2=w4, or sign flips w1=-w3 "
                       "(default: the fully tied subspace of every hidden layer)", _STRING)
    eps: float = option(1e-3, "perturbation size of the tied_eps init", _NONNEGATIVE,
                        check=real(0.0), required=False)
    dropout: float = option(0.0, "dropout rate of hidden units for every optimizer "
                            "(perturbation)", _NONNEGATIVE, check=real(0.0))
    grad_noise: float = option(0.0, "gradient noise scale for every optimizer (perturbation)",
                               _NONNEGATIVE, check=real(0.0))
    trajectory_every: int = option(0, "record parameters and loss every K steps (0: off)", _INT,
                                   check=integer(0, MAX_STEPS))
    # -- realistic training: recorded only away from their defaults (earlier run IDs stay) ----
    batch_size: int = option(0, "samples per training step: 0 = the whole data set every step; "
                             "B > 0 = mini-batches of B, each epoch a fresh per-seed shuffle "
                             "(S // B steps)", _INT, since_default=True)
    input_noise: float = option(0.0, "standard deviation of Gaussian noise added to the inputs "
                                "of every step, per seed (augmentation; every unit sees the same "
                                "inputs)", _NONNEGATIVE, check=real(0.0), since_default=True)
    weight_decay: float = option(0.0, "L2 weight decay for every optimizer (optax "
                                 "add_decayed_weights chained before it)", _NONNEGATIVE,
                                 check=real(0.0), since_default=True)
    schedule: str = option("constant", "learning-rate schedule over the steps: constant, cosine, "
                           "exponential, step, warmup_cosine (options as name:key=value, e.g. "
                           "exponential:rate=0.5, step:every=100:rate=0.5, "
                           "warmup_cosine:warmup=50)", _STRING, since_default=True)

    # -- the declaration, read by the CLI, the results document and reproduce ----------------
    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field]:
        """Option name -> its field (``.default``, ``.metadata["help"]``, ...), in order."""
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {name: f.default for name, f in cls.fields().items()}

    @classmethod
    def complete(cls, options: Mapping[str, Any], *, extra: Iterable[str] = ()) -> dict[str, Any]:
        """``options`` with every missing option at its default; :class:`InputError` for a name
        that is not an option (nor in ``extra``), naming the allowed ones."""
        names = cls.fields()
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise InputError(f"unknown option {unknown[0]!r}; allowed: "
                             f"{', '.join([*names, *extra])}")
        return {**cls.defaults(), **options}

    @classmethod
    def with_defaults(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """A recorded ``config`` with the options it leaves out (at their defaults) filled in."""
        return {**cls.defaults(), **config}

    @classmethod
    def check_plain(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options with a plain value validated and canonical (the others as given)."""
        out = dict(options)
        for name, f in cls.fields().items():
            if f.metadata["check"] is not None and name in out:
                out[name] = f.metadata["check"](name, out[name])
        return out

    @classmethod
    def record(cls, resolved: Mapping[str, Any]) -> dict[str, Any]:
        """The ``config`` that results record for these resolved options, in field order
        (options added later are left out while at their default)."""
        return {name: resolved[name] for name, f in cls.fields().items()
                if not (f.metadata["since_default"] and resolved[name] == f.default)}

    @classmethod
    def from_record(cls, config: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Keyword arguments of :func:`symjax.verify` from a recorded ``config``;
        :class:`InputError` for a recorded name that is no option, or a required one missing."""
        names = cls.fields()
        unknown = sorted(set(config) - set(names))
        missing = sorted(n for n, f in names.items()
                         if n not in config and not f.metadata["since_default"])
        problems = ([f"unknown {', '.join(unknown)}"] if unknown else []) + (
            [f"missing {', '.join(missing)}"] if missing else [])
        if problems:
            raise InputError(f"{where}: config does not map onto symjax.verify: "
                             f"{'; '.join(problems)}")
        return dict(config)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """JSON Schema of the ``config`` of a verify results document."""
        names = cls.fields()
        return {"type": "object",
                "required": [n for n, f in names.items() if f.metadata["required"]],
                "properties": {n: f.metadata["schema"] for n, f in names.items()}}


#: Option name -> default (the form older code reads).
DEFAULTS = VerifyConfig.defaults()
