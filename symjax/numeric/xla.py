"""XLA flags that make the numeric engine fast, set before JAX is imported.

XLA reads ``XLA_FLAGS`` once, when JAX initialises its backends, so the flags must be in the
environment before ``import jax``. The ``symjax`` command calls :func:`configure_xla` first thing;
from Python, call ``symjax.configure_xla()`` before anything imports JAX. Everything works
without it, only slower (the gains are measured in ``benchmarks/README.md``).

Flags set (each only when the user has not set the same flag already; the user's value wins):

* ``--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=2000000000``: the CPU
  backend compiles a ``lax.scan`` over training steps into one native loop instead of running
  each step through the runtime.
* ``--xla_cpu_prefer_vector_width=512``: wider SIMD for the elementwise per-seed arithmetic.
* ``--xla_force_host_platform_device_count=<n>``: one CPU device per core (or ``devices``), so
  that seeds are sharded over all cores. Skipped when ``JAX_NUM_CPU_DEVICES`` is set or
  ``XLA_FLAGS`` already holds a device count.
* ``--xla_gpu_deterministic_ops=true``: bitwise repeatable GPU reductions (no effect on CPU).

Before setting anything, :func:`configure_xla` checks the environment, so that a bad one ends in
one line and exit status 2 instead of an XLA abort (which would read as a failed check): the
device count (``JAX_NUM_CPU_DEVICES`` or the flag) must be a positive integer whose devices fit
in half of the available memory (:data:`CPU_DEVICE_BYTES` each), and ``XLA_FLAGS`` entries other
than the ones above are shown to XLA in a short child process first (:func:`check_flags`).

Matrix products on the ``matmul`` path ask for ``Precision.HIGHEST`` in the code itself, so
TPUs and GPUs do not silently drop to bfloat16 or TF32 passes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

from ..base.errors import InputError

#: Flags that :func:`configure_xla` adds, in order (the device count is added separately).
SPEED_FLAGS = (
    "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=2000000000",
    "--xla_cpu_prefer_vector_width=512",
    "--xla_gpu_deterministic_ops=true",
)
#: The XLA flag of the number of CPU devices.
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
#: Flags known without asking XLA (any other XLA_FLAGS entry is checked by :func:`check_flags`).
_KNOWN = frozenset(f.split("=", 1)[0] for f in (*SPEED_FLAGS, DEVICE_COUNT_FLAG))
#: Memory a CPU device costs in the memory estimate (an upper bound; see benchmarks/README.md).
CPU_DEVICE_BYTES = 1 << 20
_CHECKED: dict[str, str | None] = {}  # XLA_FLAGS -> XLA's complaint (None: accepted)

#: What the last successful :func:`configure_xla` call did; ``None`` if it was never called.
_CONFIGURED: dict | None = None


def configure_xla(*, devices: int | None = None) -> dict:
    """Set the XLA flags of the fast path, if JAX is not imported yet.

    ``devices``: CPU devices to expose (default: the CPU cores this process may use); ignored
    when the user already chose a device count. Returns ``{"applied": bool, "added": [flags
    added], "xla_flags": XLA_FLAGS after the call}``; ``applied`` is ``False``, with a warning,
    when JAX was already imported (flags set now would be ignored, so nothing is changed).
    Raises InputError for a bad ``devices`` or a bad environment (see the module docstring).
    """
    global _CONFIGURED
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int)
                                or devices < 1):
        raise InputError(f"devices must be a positive integer, got {devices!r}")
    current = os.environ.get("XLA_FLAGS", "")
    user_count = _device_count(current)
    if "jax" in sys.modules:
        warnings.warn(
            "symjax.configure_xla() was called after JAX was imported; XLA flags are read at "
            "import, so nothing was changed (call it before importing jax for the fast path)",
            stacklevel=2,
        )
        return {"applied": False, "added": [], "xla_flags": current}
    present = {flag.split("=", 1)[0] for flag in current.split()}
    added = [f for f in SPEED_FLAGS if f.split("=", 1)[0] not in present]
    if DEVICE_COUNT_FLAG not in present and not os.environ.get("JAX_NUM_CPU_DEVICES"):
        count = devices if devices is not None else _cpu_count()
        added.append(f"{DEVICE_COUNT_FLAG}={count}")
    else:
        count = user_count
    check_device_count(count)
    new = " ".join([current, *added]).strip()
    check_flags(new)
    os.environ["XLA_FLAGS"] = new
    _CONFIGURED = {"applied": True, "added": added, "xla_flags": new}
    return dict(_CONFIGURED)


def _device_count(flags: str) -> int | None:
    """The CPU device count the user chose (``JAX_NUM_CPU_DEVICES`` or the XLA flag), ``None``
    if none; InputError for a count that is not a positive integer."""
    chosen = [(DEVICE_COUNT_FLAG, f.split("=", 1)[1] if "=" in f else "")
              for f in flags.split() if f.split("=", 1)[0] == DEVICE_COUNT_FLAG]
    env = os.environ.get("JAX_NUM_CPU_DEVICES")
    if env is not None and env.strip():
        chosen.insert(0, ("JAX_NUM_CPU_DEVICES", env))
    count = None
    for name, text in chosen:
        if not re.fullmatch(r"\s*\+?[0-9]{1,12}\s*", text) or int(text) < 1:
            raise InputError(f"{name} {text!r} must be a positive integer (the number of CPU "
                             f"devices, e.g. {_cpu_count()}, one per core)")
        count = int(text) if count is None else count
    return count


def check_device_count(count: int | None) -> None:
    """Refuse (InputError, with the estimate) more CPU devices than half of the available
    memory holds."""
    if count is None:
        return
    avail = available_memory()
    need = count * CPU_DEVICE_BYTES
    if avail is not None and need > avail // 2:
        raise InputError(
            f"{count} CPU devices would need about {need / 2**30:.1f} GiB, more than half of "
            f"the {avail / 2**30:.1f} GiB available; use at most {avail // 2 // CPU_DEVICE_BYTES} "
            f"(this machine has {_cpu_count()} cores; more devices than cores do not run faster)")


def check_flags(flags: str) -> None:
    """Ask XLA, in a short child process, whether it accepts ``flags`` (only when they hold an
    entry other than the flags set here): XLA ends the process on an unknown or malformed
    entry, which would otherwise look like a failed check. InputError quotes its complaint.
    """
    if all(f.split("=", 1)[0] in _KNOWN for f in flags.split()):
        return
    if flags not in _CHECKED:
        probe = ("try:\n import jaxlib._jax as j\nexcept ImportError:\n"
                 " from jaxlib import xla_extension as j\nj.get_tfrt_cpu_client()")
        env = {**os.environ, "XLA_FLAGS": flags}
        env.pop("JAX_NUM_CPU_DEVICES", None)
        try:
            done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                                  text=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError):
            done = None
        complaint = None
        if done is not None and done.returncode != 0:
            lines = re.findall(r"^[EF]\d{4} [^\]]*\] (.*)$", done.stderr, re.MULTILINE)
            first = [m for m in lines if "flag" in m.lower()] or lines
            complaint = first[0].strip() if first else None
        _CHECKED[flags] = complaint
    if _CHECKED[flags]:
        raise InputError(f"XLA does not accept XLA_FLAGS: {_CHECKED[flags]}; remove or "
                         f"correct that entry")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def configured() -> dict | None:
    """The record of the last :func:`configure_xla` call that set flags, or ``None``."""
    return None if _CONFIGURED is None else dict(_CONFIGURED)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on every platform
        return os.cpu_count() or 1
