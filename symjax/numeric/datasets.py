"""Small data sets generated in memory, deterministically (NumPy, no JAX, no files).

Names and options (``name:key=value``, see :mod:`symjax.base.specs`):

* ``xor`` (default), ``and``, ``or``: the four points of ``{0, 1}^2``, target in ``{0, 1}``.
* ``parity``: all ``2**bits`` points of ``{0, 1}^bits``, target 1 when an odd number of inputs
  is 1. ``bits`` defaults to the input width.
* ``teacher``: regression on the outputs of a random teacher network, ``x ~ N(0, 1)``,
  ``y = W2 tanh(W1 x + b1) + b2`` with ``W1 ~ N(0, 1/n_in)``, ``W2 ~ N(0, 1/hidden)``, biases
  ``N(0, 0.1^2)``, plus Gaussian label noise of scale ``noise``. Options ``samples=64``,
  ``hidden=8``, ``noise=0.0``, ``seed=0``. Input and output widths follow the network.
  Use ``--output-activation identity``: the targets are not confined to ``(0, 1)``.
* ``moons``: two interleaving half circles (as in scikit-learn), ``samples=64``,
  ``noise=0.1``, ``seed=0``.
* ``circles``: two concentric circles, inner radius ``factor=0.5``, ``samples=64``,
  ``noise=0.05``, ``seed=0``.
* ``spirals``: ``arms`` interleaved spiral arms (default: the output width when it is 2 or more,
  else 2), ``samples=300`` in all, ``turns=1.0`` turns per arm, Gaussian ``noise=0.05``,
  ``seed=0``. Arm ``c`` has radii ``r`` evenly spaced in ``[0.05, 1]`` and angles
  ``2 pi (turns r + c / arms)``. Two arms and one output: target 0 or 1; otherwise one-hot
  targets, one output per arm.
* ``iris``: Fisher's iris data (R. A. Fisher, "The use of multiple measurements in taxonomic
  problems", Annals of Eugenics 7(2), 1936; the copy of the UCI Machine Learning Repository,
  https://archive.ics.uci.edu/dataset/53/iris), shipped with the package
  (``symjax/numeric/data/iris.csv``, no download): 150 samples, 4 features (sepal length and
  width, petal length and width, in cm), standardized to mean 0 and standard deviation 1 per
  feature (``standardize=false`` keeps centimetres), and one-hot targets of the 3 species
  (setosa, versicolor, virginica; widths ``4,...,3``).

Every data set is used whole: full-batch training, or mini-batches of it (``symjax verify
--batch-size``).

"Solved": for classification with one output (all but ``teacher``, ``iris`` and multi-arm
``spirals``), every output is on the right side of 0.5 for every sample; with one-hot targets
(several outputs), the argmax of the outputs is the right class on at least
:data:`symjax.numeric.net.MULTICLASS_SOLVED` (95%) of the samples; for regression, the mean
squared error (over samples and outputs) is at most ``(1 - R2_SOLVED)`` times the variance of the
targets, i.e. ``R^2 >= 0.99``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from ..base.choices import XOR
from ..base.errors import InputError
from ..base.layout import parse_widths
from ..base.specs import check_option_type, format_spec, parse_spec

#: Coefficient of determination a regression run must reach to count as solved.
R2_SOLVED = 0.99
#: Largest ``bits`` of the parity data set (2**bits samples).
MAX_PARITY_BITS = 16
#: Largest number of samples of the generated data sets.
MAX_SAMPLES = 1 << 16
#: Largest hidden width of the teacher network.
MAX_TEACHER_HIDDEN = 1 << 12

DATASETS = ("xor", "and", "or", "parity", "teacher", "moons", "circles", "spirals", "iris")
#: The iris species in class order (one-hot column order).
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
_OPTIONS = {
    "parity": {"bits": None},
    "teacher": {"samples": 64, "hidden": 8, "noise": 0.0, "seed": 0},
    "moons": {"samples": 64, "noise": 0.1, "seed": 0},
    "circles": {"samples": 64, "noise": 0.05, "factor": 0.5, "seed": 0},
    "spirals": {"arms": None, "samples": 300, "turns": 1.0, "noise": 0.05, "seed": 0},
    "iris": {"standardize": True},
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs ``x (S, n_in)`` and targets ``y (S, n_out)`` in float64; ``spec`` is canonical
    (``"moons:noise=0.2"``: only options that differ from defaults); ``task`` is
    ``"classification"`` or ``"regression"``."""

    spec: str
    x: np.ndarray
    y: np.ndarray
    task: str

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]


def make_dataset(spec: str, widths) -> Dataset:
    """Build the data set named by ``spec`` for a network of the given widths (InputError:
    unknown name or option, bad option value, or input or output width that does not fit)."""
    widths = parse_widths(widths)
    name, opts = parse_spec("dataset", spec, DATASETS, {k: tuple(v) for k, v in _OPTIONS.items()})
    for key, value in opts.items():
        check_option_type("dataset", name, key, value, _OPTIONS[name][key])
    merged = {**_OPTIONS.get(name, {}), **opts}
    n_in, n_out = widths[0], widths[-1]
    if name in ("xor", "and", "or"):
        x = np.array([row[:2] for row in XOR], np.float64)  # 00, 01, 10, 11
        bits = x.astype(int)
        table = {"xor": np.array([row[2] for row in XOR]), "and": bits[:, 0] & bits[:, 1],
                 "or": bits[:, 0] | bits[:, 1]}
        y = table[name][:, None].astype(np.float64)
    elif name == "parity":
        n_bits = n_in if merged["bits"] is None else _int_option(name, "bits", merged["bits"])
        if not 1 <= n_bits <= MAX_PARITY_BITS:
            raise InputError(f"parity bits={n_bits} must be between 1 and {MAX_PARITY_BITS}")
        x = np.array(list(product((0.0, 1.0), repeat=n_bits)))
        y = (x.sum(axis=1) % 2)[:, None]
    elif name == "teacher":
        x, y = _teacher(merged, n_in, n_out)
    elif name == "spirals":
        x, y = _spirals(merged, n_out)
    elif name == "iris":
        x, y = _iris(merged)
    else:
        x, y = _two_curves(name, merged)
    if x.shape[1] != n_in or y.shape[1] != n_out:
        raise InputError(
            f"dataset {spec!r} has {x.shape[1]} inputs and {y.shape[1]} output(s), but widths "
            f"{','.join(map(str, widths))} have {n_in} and {n_out}; use widths "
            f"{x.shape[1]},...,{y.shape[1]}"
        )
    return Dataset(format_spec(name, opts), np.ascontiguousarray(x, np.float64),
                   np.ascontiguousarray(y, np.float64),
                   "regression" if name == "teacher" else "classification")


def _int_option(name: str, key: str, value) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or float(value).is_integer()):
        raise InputError(f"dataset {name} option {key}={value!r} must be an integer")
    return int(value)


def _seed(name: str, opts) -> int:
    seed = _int_option(name, "seed", opts["seed"])
    if seed < 0:
        raise InputError(f"dataset {name} seed={seed} must be >= 0")
    return seed


def _samples(name: str, opts) -> int:
    n = _int_option(name, "samples", opts["samples"])
    if not 2 <= n <= MAX_SAMPLES:
        raise InputError(f"dataset {name} samples={n} must be between 2 and {MAX_SAMPLES}")
    return n


def _noise(name: str, opts) -> float:
    noise = float(opts["noise"])
    if noise < 0:
        raise InputError(f"dataset {name} noise={noise} must be >= 0")
    return noise


def _teacher(opts, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    n = _samples("teacher", opts)
    hidden = _int_option("teacher", "hidden", opts["hidden"])
    if hidden < 1:
        raise InputError(f"dataset teacher hidden={hidden} must be >= 1")
    if hidden > MAX_TEACHER_HIDDEN:
        raise InputError(f"dataset teacher hidden={hidden} must be at most {MAX_TEACHER_HIDDEN}")
    rng = np.random.default_rng(_seed("teacher", opts))
    x = rng.standard_normal((n, n_in))
    w1 = rng.standard_normal((hidden, n_in)) / np.sqrt(n_in)
    b1 = 0.1 * rng.standard_normal(hidden)
    w2 = rng.standard_normal((n_out, hidden)) / np.sqrt(hidden)
    b2 = 0.1 * rng.standard_normal(n_out)
    y = np.tanh(x @ w1.T + b1) @ w2.T + b2
    return x, y + _noise("teacher", opts) * rng.standard_normal(y.shape)


def _two_curves(name: str, opts) -> tuple[np.ndarray, np.ndarray]:
    """``moons`` or ``circles``: half the samples on the outer curve (class 0), the rest on
    the inner one (class 1)."""
    n = _samples(name, opts)
    if name == "circles":
        factor = float(opts["factor"])
        if not 0 < factor < 1:
            raise InputError(f"dataset circles factor={factor} must be between 0 and 1")
    rng = np.random.default_rng(_seed(name, opts))
    n_out = n // 2
    if name == "moons":
        t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
        inner = np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    else:
        t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
        t_in = np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)
        inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1), inner])
    y = np.concatenate([np.zeros(n_out), np.ones(n - n_out)])[:, None]
    return x + _noise(name, opts) * rng.standard_normal(x.shape), y


def _spirals(opts, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    n = _samples("spirals", opts)
    arms = (n_out if n_out >= 2 else 2) if opts["arms"] is None else opts["arms"]
    arms = _int_option("spirals", "arms", arms)
    if not 2 <= arms <= 16:
        raise InputError(f"dataset spirals arms={arms} must be between 2 and 16")
    if n < arms:
        raise InputError(f"dataset spirals samples={n} must be at least arms={arms}")
    turns = float(opts["turns"])
    if not 0 < turns <= 16:
        raise InputError(f"dataset spirals turns={turns} must be in (0, 16]")
    rng = np.random.default_rng(_seed("spirals", opts))
    sizes = [n // arms + (c < n % arms) for c in range(arms)]
    xs, labels = [], []
    for c, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        angle = 2 * np.pi * (turns * r + c / arms)
        xs.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
        labels.append(np.full(size, c))
    x, label = np.concatenate(xs), np.concatenate(labels)
    y = label[:, None].astype(np.float64) if arms == 2 and n_out == 1 else np.eye(arms)[label]
    return x + _noise("spirals", opts) * rng.standard_normal(x.shape), y


def _iris(opts) -> tuple[np.ndarray, np.ndarray]:
    from importlib.resources import files

    rows = files(__package__).joinpath("data", "iris.csv").read_text("utf-8").split()[1:]
    cells = [r.split(",") for r in rows]
    x = np.array([[float(v) for v in c[:4]] for c in cells])
    y = np.eye(len(IRIS_CLASSES))[[IRIS_CLASSES.index(c[4]) for c in cells]]
    if opts["standardize"]:
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y
