"""The options of ``symjax verify`` / :func:`symjax.verify`: names, defaults, help (no JAX here).

The CLI option ``--output-activation`` is the keyword ``output_activation`` and the key
``"output_activation"`` of ``config`` in ``results.json``; ``verify(**config)`` re-runs a run.
"""

from __future__ import annotations

from ..base.choices import ACTIVATIONS, LOSSES

#: The built-in init schemes, in table order (the default of ``init``).
DEFAULT_INITS = (
    "zeros,constant,tied,tied_eps,normal,uniform,glorot_normal,glorot_uniform,he_normal,"
    "he_uniform,lecun_normal,lecun_uniform,orthogonal"
)

#: The built-in optimizers (the names of :data:`symjax.numeric.optimizers.OPTIMIZERS`, listed here so
#: that ``--help`` needs no JAX; a test checks that the two agree).
OPTIMIZER_CHOICES = (
    "sgd", "momentum", "nesterov", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adamax",
    "adamaxw", "adabelief", "adan", "radam", "yogi", "rmsprop", "adagrad", "adadelta", "lion",
    "sign_sgd", "signum", "rprop", "optimistic_gradient_descent",
)

#: name -> (default, help). Every option that changes results; output options are separate.
OPTIONS: dict[str, tuple[object, str]] = {
    "widths": ("2,2,1", "layer widths, input first"),
    "activation": ("tanh", f"hidden activation: {', '.join(ACTIVATIONS)}"),
    "output_activation": ("sigmoid", f"output activation: {', '.join(ACTIVATIONS)}"),
    "loss": ("squared_error", f"loss per sample: {' or '.join(LOSSES)} (squared_error: sum "
             "over outputs of (yhat-y)^2/2)"),
    "reduction": ("mean", "loss over samples: mean or sum"),
    "dataset": ("xor", "data set spec: xor, and, or, parity, teacher, moons, circles, spirals, "
                "iris (options as name:key=value)"),
    "init": (DEFAULT_INITS, "init scheme specs, comma-separated, or 'all' for every registered "
             "scheme (options as name:key=value); built in: " + DEFAULT_INITS.replace(",", ", ")
             + "; also tied_flip (on the sign-flip subspace, for ties such as w1=-w3)"),
    "optimizer": ("sgd,adam", "optimizer specs, comma-separated (optax keyword options and "
                  "dropout=, grad_noise= as name:key=value); built in: "
                  + ", ".join(OPTIMIZER_CHOICES)),
    "lr": (None, "learning rate: one for all, one per optimizer (comma-separated), or "
           "name=value pairs; default per optimizer (sgd 2.0, adam 0.05, ...)"),
    "seeds": (10000, "number of seeds"),
    "first_seed": (0, "first seed number (seeds first_seed .. first_seed+seeds-1)"),
    "steps": (1000, "training steps"),
    "dtype": ("float32", "float32 or float64"),
    "path": ("exact", "exact (fixed-order sums: tied units stay bitwise tied) or matmul "
             "(x @ W.T)"),
    "chunk": (16384, "at most this many seeds per compiled call (bounds memory; the seeds are "
              "split into equal calls)"),
    "ties": (None, "tied pairs to check, e.g. w1=w3,w2=w4, or sign flips w1=-w3 (default: the "
             "fully tied subspace of every hidden layer)"),
    "eps": (1e-3, "perturbation size of the tied_eps init"),
    "dropout": (0.0, "dropout rate of hidden units for every optimizer (perturbation)"),
    "grad_noise": (0.0, "gradient noise scale for every optimizer (perturbation)"),
    "trajectory_every": (0, "record parameters and loss every K steps (0: off)"),
    "batch_size": (0, "samples per training step: 0 = the whole data set every step; B > 0 = "
                   "mini-batches of B, each epoch a fresh per-seed shuffle (S // B steps)"),
    "input_noise": (0.0, "standard deviation of Gaussian noise added to the inputs of every "
                    "step, per seed (augmentation; every unit sees the same inputs)"),
    "weight_decay": (0.0, "L2 weight decay for every optimizer (optax add_decayed_weights "
                     "chained before it)"),
    "schedule": ("constant", "learning-rate schedule over the steps: constant, cosine, "
                 "exponential, step, warmup_cosine (options as name:key=value, e.g. "
                 "exponential:rate=0.5, step:every=100:rate=0.5, warmup_cosine:warmup=50)"),
}

#: Options that results written before they existed lack; their defaults are what those runs
#: did, so a recorded config without them re-runs with the defaults.
NEWER_OPTIONS = ("batch_size", "input_noise", "weight_decay", "schedule")

DEFAULTS = {name: default for name, (default, _) in OPTIONS.items()}
