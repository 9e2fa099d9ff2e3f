"""The one exception type for bad input.

Every check of user input (CLI options, Python arguments, config and results files) raises
:class:`InputError` with a one-line message that names the bad value and the allowed choices.
The CLI turns it into that line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user. ``str(err)`` is one line meant to be shown as it is."""


def choose(kind: str, value, allowed) -> str:
    """Check ``value`` against ``allowed`` names; return it or raise a clear :class:`InputError`.

    >>> choose("activation", "tanh", ["tanh", "relu"])
    'tanh'
    """
    allowed = list(allowed)
    # A non-string never names a string choice (and arrays, with elementwise ==, stay out of `in`).
    names = all(isinstance(a, str) for a in allowed)
    if (isinstance(value, str) or not names) and value in allowed:
        return value
    raise InputError(f"unknown {kind} {value!r}; allowed: {', '.join(map(str, allowed))}")


class GuardContradiction(RuntimeError):
    """A proof contradicted by its independent falsification check: a bug, never a verdict.

    Raised before any theorem that says "proven" exists; the command line reports it in one
    line with its own exit status (:data:`EXIT_CONTRADICTED`).
    """


#: Exit status of a command whose proof was contradicted by its independent check.
EXIT_CONTRADICTED = 4
