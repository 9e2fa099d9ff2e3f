"""Names shared by the symbolic and the numeric halves (no SymPy, no JAX here).

Both halves must mean the same function by the same name: the bridge checks that they do.

Activations (hidden and output): ``identity``, ``tanh``, ``sigmoid``, ``relu`` (derivative 0 at
0), ``leaky_relu`` (slope ``LEAKY_RELU_SLOPE`` below 0, derivative 1 at 0), ``softplus``
(``log(1 + exp(z))``). The symbolic half also accepts ``sigma``, an undefined function, for claims
about every activation.

Losses, per sample and summed over output units:

* ``squared_error``: ``(yhat - y)**2 / 2`` (alias ``mse``).
* ``bce``: binary cross-entropy ``-(y log(yhat) + (1 - y) log(1 - yhat))`` of the output
  activation's value (use ``--output-activation sigmoid``).
* ``softmax_cross_entropy``: ``sum_k y_k (log(sum_j exp(yhat_j)) - yhat_k)``, i.e.
  ``-sum_k y_k log softmax(yhat)_k`` (alias ``softmax_ce``), for one-hot class targets; the
  output activation's values are the logits (use ``--output-activation identity``). It is
  symmetric under permuting hidden units (not output units), like every loss here.

The symbolic half also accepts ``l``, an undefined loss ``l(yhat, y)``. Over a data set the loss
is the ``mean`` (default) or the ``sum`` of the per-sample losses.
"""

from __future__ import annotations

from .errors import choose

ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus")
#: Odd activations, ``f(-z) = -f(z)``: flipping the sign of a hidden unit's incoming weights,
#: bias and outgoing weights leaves the network's function unchanged only for these.
ODD_ACTIVATIONS = ("identity", "tanh")
UNDEFINED_ACTIVATION = "sigma"
LOSSES = ("squared_error", "bce", "softmax_cross_entropy")
LOSS_ALIASES = {"mse": "squared_error", "se": "squared_error", "cross_entropy": "bce",
                "softmax_ce": "softmax_cross_entropy"}
UNDEFINED_LOSS = "l"
REDUCTIONS = ("mean", "sum")
#: The XOR data set of both halves, rows ``(x1, x2, y)``: ``--dataset xor`` of the engine and the
#: exact data of the stability analysis.
XOR = ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0))
LEAKY_RELU_SLOPE = 0.01  # the symbolic half uses the exact rational 1/100
#: Optimizers whose update the symbolic half models (``symjax prove --optimizer``).
PROVABLE_OPTIMIZERS = (
    "gd", "sgd", "momentum", "nesterov", "adam", "adamw", "l2", "rmsprop", "adagrad", "clip",
    "lars", "amsgrad", "adamax", "lion", "sign_sgd", "signum", "nadam", "nadamw", "adamaxw",
    "adabelief", "adan", "radam", "yogi", "adadelta", "rprop", "optimistic_gradient_descent",
)
#: Perturbations the symbolic half models, as ``OPTIMIZER+PERTURBATION``.
PERTURBATIONS = (
    "noise", "shared_noise", "per_unit_lr", "shared_lr", "dropout", "shared_dropout",
    "per_unit_weight_decay", "weight_decay",
)


def activation_name(name, *, symbolic: bool = False) -> str:
    return choose("activation", name, ACTIVATIONS + ((UNDEFINED_ACTIVATION,) if symbolic else ()))


def loss_name(name, *, symbolic: bool = False) -> str:
    """The canonical name of a loss (aliases resolved)."""
    allowed = LOSSES + ((UNDEFINED_LOSS,) if symbolic else ())
    name = choose("loss", name, allowed + tuple(LOSS_ALIASES))
    return LOSS_ALIASES.get(name, name)


def reduction_name(name) -> str:
    return choose("reduction", name, REDUCTIONS)
