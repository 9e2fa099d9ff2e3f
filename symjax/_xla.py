"""XLA flags that make the numeric engine fast, set before JAX is imported.

XLA reads ``XLA_FLAGS`` once, when JAX initialises its backends, so the flags must be in the
environment before ``import jax``. The ``symjax`` command calls :func:`configure_xla` first thing;
from Python, call ``symjax.configure_xla()`` before anything imports JAX. Everything works
without it, only slower: on a 2-core CPU, for the default 2-2-1 XOR workload (float32, exact
path), the two CPU flags below made each core about 2.7x faster (CPU time for 131,072 seeds x
1,000 steps: 5.2 s without, 1.9 s with) and the second CPU device doubles the throughput again.

Flags set (each only when the user has not set the same flag already; the user's value wins):

* ``--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=2000000000``: the CPU
  backend compiles a ``lax.scan`` over training steps into one native loop instead of running
  each step through the runtime.
* ``--xla_cpu_prefer_vector_width=512``: wider SIMD for the elementwise per-seed arithmetic.
* ``--xla_force_host_platform_device_count=<n>``: one CPU device per core (or ``devices``), so
  that seeds are sharded over all cores. Skipped when ``JAX_NUM_CPU_DEVICES`` is set or
  ``XLA_FLAGS`` already holds a device count.
* ``--xla_gpu_deterministic_ops=true``: bitwise repeatable GPU reductions (no effect on CPU).

Matrix products on the ``matmul`` path ask for ``Precision.HIGHEST`` in the code itself, so
TPUs and GPUs do not silently drop to bfloat16 or TF32 passes.
"""

from __future__ import annotations

import os
import sys
import warnings

#: Flags that :func:`configure_xla` adds, in order (the device count is added separately).
SPEED_FLAGS = (
    "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=2000000000",
    "--xla_cpu_prefer_vector_width=512",
    "--xla_gpu_deterministic_ops=true",
)
_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"

#: What the last successful :func:`configure_xla` call did; ``None`` if it was never called.
_CONFIGURED: dict | None = None


def configure_xla(*, devices: int | None = None) -> dict:
    """Set the XLA flags of the fast path, if JAX is not imported yet.

    Args:
      devices: number of CPU devices to expose (default: the number of CPU cores this process
        may use). Ignored when the user already chose a device count (``JAX_NUM_CPU_DEVICES``, or
        ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``).

    Returns:
      ``{"applied": bool, "added": [flags added], "xla_flags": XLA_FLAGS after the call}``.
      ``applied`` is ``False`` (and a warning is issued) when JAX was already imported: flags set
      now would be ignored, so nothing is changed.

    Raises:
      InputError: ``devices`` is not a positive integer.
    """
    global _CONFIGURED
    from ._errors import InputError

    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int)
                                or devices < 1):
        raise InputError(f"devices must be a positive integer, got {devices!r}")
    current = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules:
        warnings.warn(
            "symjax.configure_xla() was called after JAX was imported; XLA flags are read at "
            "import, so nothing was changed (call it before importing jax for the fast path)",
            stacklevel=2,
        )
        return {"applied": False, "added": [], "xla_flags": current}
    present = {flag.split("=", 1)[0] for flag in current.split()}
    added = [f for f in SPEED_FLAGS if f.split("=", 1)[0] not in present]
    if _DEVICE_COUNT_FLAG not in present and not os.environ.get("JAX_NUM_CPU_DEVICES"):
        count = devices if devices is not None else _cpu_count()
        added.append(f"{_DEVICE_COUNT_FLAG}={count}")
    new = " ".join([current, *added]).strip()
    os.environ["XLA_FLAGS"] = new
    _CONFIGURED = {"applied": True, "added": added, "xla_flags": new}
    return dict(_CONFIGURED)


def configured() -> dict | None:
    """The record of the last :func:`configure_xla` call that set flags, or ``None``."""
    return None if _CONFIGURED is None else dict(_CONFIGURED)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        return os.cpu_count() or 1
