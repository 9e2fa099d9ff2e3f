"""Alias of :mod:`symjax.experiments.bridge`, kept for scripts written against this name.

The bridge compares the symbolic gradients with JAX's, so it sits above both halves; this module
is the one place where ``symjax.symbolic`` refers upward, and only when it is imported.
"""

from ..experiments.bridge import *  # noqa: F403

