"""Files written atomically: a reader sees the old file or the complete new one, never a part.

Write to a temporary file in the same directory, flush, fsync, rename over the target, fsync the
directory (where the platform allows), and remove the temporary file on any error.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # e.g. Windows: directories cannot be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", **kwargs) -> Iterator[Any]:
    """Open a temporary file next to ``path``; on success flush, fsync and rename it to
    ``path``; on error remove it. Readers never see a partial ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use what open() would
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def atomic_savez(path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
