"""symjax: why tied hidden units stay tied, proven with SymPy and verified bit for bit with JAX.

The public surface is this module and :mod:`symjax.symbolic` (with the modules ``symjax.bridge``,
``symjax.dynamics`` and ``symjax.symbolic.jaxpr``); the subpackages behind them are layers
(``base``, ``symbolic``, ``results``, ``numeric``, ``experiments``, ``report``, ``cli``) that
may change. Importing it loads neither JAX nor SymPy: the numeric names (``verify``, ...) load
JAX on first use, so that :func:`configure_xla` can still set XLA flags first, and
``symjax.symbolic`` loads SymPy.
"""

from __future__ import annotations

import importlib

from .base.errors import InputError as InputError
from .base.layout import Layout as Layout
from .base.version import __version__ as __version__

#: Public modules: the symbolic half, the cross-check of the two halves (``bridge``) and the
#: measurements of training dynamics (``dynamics``), loaded on first access.
_MODULES = {
    "symbolic": "symjax.symbolic",
    "bridge": "symjax.experiments.bridge",
    "dynamics": "symjax.experiments.dynamics",
}
#: name -> module that defines it, loaded on first access.
_LAZY = {
    **_MODULES,
    "format_ties": "symjax.base.layout",
    "tex_escape": "symjax.base.text",
    "tex_number": "symjax.base.text",
    "collect_provenance": "symjax.results.document",
    "write_results": "symjax.results.document",
    "read_results": "symjax.results.document",
    "verify": "symjax.experiments.verify",
    "VerifyConfig": "symjax.results.config",
    "VerifyResults": "symjax.experiments.verify",
    "resume_verify": "symjax.experiments.verify",
    "RunInterrupted": "symjax.numeric.sweep",
    "configure_xla": "symjax.numeric.xla",
    "register_init": "symjax.numeric.inits",
    "init_schemes": "symjax.numeric.inits",
    "pack_params": "symjax.numeric.inits",
    "write_report": "symjax.report.writer",
    "reproduce": "symjax.report.reproduce",
    "check_symmetry": "symjax.experiments.own_model",
    "verify_model": "symjax.experiments.own_model",
    "ModelVerification": "symjax.experiments.own_model",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if name in _MODULES else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symjax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["InputError", "Layout", "__version__", *_LAZY]
