"""Shared test setup.

Global JAX flags are set here, once, before any test imports JAX: float64 is available
(``jax_enable_x64``; code under test always passes explicit dtypes), and accidental broadcasting
across the seed axis fails loudly (``jax_numpy_rank_promotion="raise"``). Tests that need other
global flags (several CPU devices, XLA flags) run a fresh Python process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

try:  # property-based tests: the same examples on every run, no per-example time limit
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis comes with the test extra; without it those tests are skipped
    pass
else:
    settings.register_profile(
        "symjax", derandomize=True, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    settings.load_profile("symjax")


def pytest_configure(config):
    try:
        import jax
    except ImportError:  # the symbolic half's tests do not need JAX
        return
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")


def run_cli(*args, env=None, timeout=600):
    """Run ``python -m symjax ARGS`` in a fresh process; returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "symjax", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli
