"""SIGINT and SIGTERM: stop within seconds, at a safe point, with exit status 130 or 143.

Raising from a signal handler is not safe once JAX is loaded: the exception can land inside one
of JAX's garbage-collection callbacks (where Python prints "Exception ignored" and drops it), and
a compiled call or a compilation runs on in C++ threads that an exception does not stop. So:

* :func:`handling` (the ``symjax`` command wraps every subcommand in it) installs handlers that
  only record the signal, and a watcher thread woken through :func:`signal.set_wakeup_fd`, so the
  signal is seen even while the main thread is inside C++ (compiling, waiting for a call).
* Before JAX is imported (and after :func:`defer`), the handler raises ``KeyboardInterrupt`` as
  usual: pure Python code (SymPy proofs) unwinds normally.
* The numeric engine calls :func:`check` between bounded pieces of work (before and after
  compilation, while waiting for a compiled call: :func:`wait`, between CSV slices, between
  chunks of the merge); it raises :class:`RunInterrupted` with what was kept and how to resume
  (:func:`hint`).
* If the main thread has not stopped :data:`GRACE_SECONDS` after the signal (it is inside a
  compilation), or on a second signal, the watcher prints the same line and ends the process with
  ``os._exit``: the work still running in XLA's threads ends with it. Finished chunk files are
  complete (they are written atomically), so nothing resumable is lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

#: Seconds the main thread has to stop by itself before the process is ended.
GRACE_SECONDS = 2.0
#: Longest sleep between two readiness polls of a compiled call.
POLL_SECONDS = 0.05
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """A run stopped by SIGINT or SIGTERM. ``str(err)`` says what was kept and how to resume;
    :attr:`exit_status` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, exit_status: int):
        super().__init__(message)
        self.exit_status = exit_status


class _State:
    signum: int | None = None  # the first signal received
    hints: list[Callable[[], str]] = []  # innermost last
    active = False  # handlers installed (by handling() or guard())
    defer = False  # never raise from the handler
    pipe: tuple[int, int] | None = None
    timer: threading.Timer | None = None
    lock = threading.Lock()


def received() -> int | None:
    """The signal that arrived while handlers were installed, ``None`` if none did."""
    return _State.signum


def exit_status() -> int:
    """128 + the signal number (130 SIGINT, 143 SIGTERM); 130 when none was recorded."""
    return 128 + (_State.signum or signal.SIGINT)


def message() -> str:
    """``interrupted by SIGxxx`` and the innermost hint (what was kept, how to resume)."""
    name = signal.Signals(_State.signum or signal.SIGINT).name
    text = ""
    with contextlib.suppress(Exception):  # a hint must never hide the interruption
        text = _State.hints[-1]() if _State.hints else ""
    return f"interrupted by {name}" + (f"; {text}" if text else "")


def check() -> None:
    """Raise :class:`RunInterrupted` if SIGINT or SIGTERM arrived (a safe point)."""
    if _State.signum is not None:
        raise RunInterrupted(message(), exit_status())


def defer() -> None:
    """From now on the handler only records signals; code stops at :func:`check` points."""
    _State.defer = True


@contextlib.contextmanager
def hint(text: Callable[[], str]) -> Iterator[None]:
    """Inside: an interruption message ends with ``text()`` (evaluated when it is shown)."""
    _State.hints.append(text)
    try:
        yield
    except KeyboardInterrupt:  # raised by the handler before JAX loaded: say it with the hint
        if _State.signum is None:
            raise
        raise RunInterrupted(message(), exit_status()) from None
    finally:
        _State.hints.remove(text)


def wait(tree) -> None:
    """Wait until every array of ``tree`` is computed, checking for signals while waiting."""
    import jax

    leaves = [x for x in jax.tree.leaves(tree) if hasattr(x, "is_ready")]
    pause = 0.001
    while not all(x.is_ready() for x in leaves):
        check()
        time.sleep(pause)
        pause = min(2 * pause, POLL_SECONDS)
    check()


def _record(signum: int) -> None:
    with _State.lock:
        if _State.signum is None:
            _State.signum = signum


def _handler(signum, frame) -> None:
    _record(signum)
    if not _State.defer and "jax" not in sys.modules:
        raise KeyboardInterrupt


def _end_now() -> None:
    """Print the interruption line and end the process (the main thread did not stop)."""
    try:
        os.write(2, f"symjax: {message()}\n".encode("utf-8", "replace"))
    finally:
        os._exit(exit_status())


def _watch(read_fd: int) -> None:
    seen = 0
    with contextlib.suppress(OSError):  # the pipe is gone: nothing left to watch
        for data in iter(lambda: os.read(read_fd, 64), b""):
            for byte in data:
                if byte not in _SIGNALS or not _State.active:
                    continue
                _record(byte)
                seen += 1
                if seen == 1:
                    _State.timer = threading.Timer(GRACE_SECONDS, _end_now)
                    _State.timer.daemon = True
                    _State.timer.start()
                else:
                    _end_now()


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    """Install ``handler`` for SIGINT and SIGTERM for the duration, then restore the old ones."""
    # A signal ignored by whoever started us (nohup, a shell's background job) stays ignored.
    old = {s: signal.signal(s, handler) for s in _SIGNALS
           if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the handlers and the watcher for the duration (main thread only; else nothing).

    On leaving, the previous handlers are restored, and a pending forced exit is cancelled.
    """
    if threading.current_thread() is not threading.main_thread() or _State.active:
        yield
        return
    if _State.pipe is None:
        r, w = os.pipe()
        os.set_blocking(w, False)
        _State.pipe = (r, w)
        threading.Thread(target=_watch, args=(r,), name="symjax-signals", daemon=True).start()
    with _handlers(_handler):
        old_fd = signal.set_wakeup_fd(_State.pipe[1], warn_on_full_buffer=False)
        _State.signum, _State.defer, _State.active = None, False, True
        try:
            yield
        finally:
            _State.active = False
            if _State.timer is not None:
                _State.timer.cancel()
                _State.timer = None
            signal.set_wakeup_fd(old_fd)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Inside: signals are recorded for :func:`check` (for callers of the Python API; under
    :func:`handling` this changes nothing). Main thread only; elsewhere signals are untouched."""
    if _State.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        with _handlers(lambda signum, frame: _record(signum)):
            _State.signum = None
            yield
    finally:
        _State.signum = None
