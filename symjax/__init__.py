"""symjax: why tied hidden units stay tied, proven with SymPy and verified bit for bit with JAX.

The public surface is this module. Importing it loads neither JAX nor SymPy: the numeric names
(``verify``, ...) load JAX on first use, so that :func:`configure_xla` can still set XLA flags
first, and ``symjax.symbolic`` loads SymPy.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from ._errors import InputError as InputError
from ._layout import Layout as Layout

try:
    __version__ = version("symjax-proofs")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

#: name -> module that defines it, loaded on first access.
_LAZY = {
    "symbolic": "symjax.symbolic",
    "collect_provenance": "symjax._provenance",
    "write_results": "symjax._provenance",
    "read_results": "symjax._provenance",
    "verify": "symjax._verifier",
    "VerifyResults": "symjax._verifier",
    "resume_verify": "symjax._verifier",
    "RunInterrupted": "symjax._sweep",
    "configure_xla": "symjax._xla",
    "register_init": "symjax._inits",
    "init_schemes": "symjax._inits",
    "pack_params": "symjax._inits",
    "write_report": "symjax._report",
    "reproduce": "symjax._reproduce",
    "check_symmetry": "symjax._own_model",
    "verify_model": "symjax._own_model",
    "ModelVerification": "symjax._own_model",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__ == f"symjax.{name}" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symjax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["InputError", "Layout", "__version__", *_LAZY]
