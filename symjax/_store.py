"""On-disk store of a ``verify`` run: chunk files written as they finish, a manifest, a lock.

A run writing into ``DIR`` keeps (every file written atomically: write, flush, fsync, rename,
fsync of the directory, so a file either exists complete or not at all):

* ``DIR/run.json``: the manifest: the resolved options (``config``) and everything of the
  layout that decides per-seed rounding (``layout``), and the units of work. ``--resume DIR``
  re-runs from it.
* ``DIR/chunks/cCCCCCC-oOO.npz``: the per-seed results of seed chunk ``CCCCCC`` under optimizer
  number ``OO``, one member per init scheme and field (``"<init index>.<field>"``), plus
  ``__meta__`` (what the file holds, as JSON) and ``__digest__`` (SHA-256 over every member's
  name, dtype, shape and bytes). A file whose digest, metadata or shapes do not match is treated
  as missing and recomputed, never merged.
* ``DIR/.lock`` (``DIR/.lock-pN`` for process ``N > 0`` of a multi-process run): held with
  ``flock`` for the whole run, so a second run into the same directory refuses instead of
  interleaving; the kernel releases it when the process dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError

MANIFEST = "run.json"
CHUNK_DIR = "chunks"
MANIFEST_FORMAT = "symjax-verify-run"
MANIFEST_VERSION = 1


# -- atomic files ------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
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


def file_sha256(path) -> str:
    """``"sha256:<hex>"`` of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` (in name order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# -- the lock ----------------------------------------------------------------------------------
class DirectoryLock:
    """An exclusive ``flock`` on ``DIR/.lock`` (``.lock-pN`` for process ``N > 0``).

    Raises:
      InputError: another process holds the lock (its pid and host are named).
    """

    def __init__(self, directory, process_index: int = 0):
        name = ".lock" if process_index == 0 else f".lock-p{process_index}"
        self.path = Path(directory) / name
        self._file = None

    def acquire(self) -> DirectoryLock:
        self._file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, say nothing
            return self
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown process"
            self._file.close()
            self._file = None
            raise InputError(
                f"{self.path.parent} is in use by another symjax run ({holder}); wait for it "
                f"to finish or choose another --out"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()} on host {socket.gethostname()}\n")
        self._file.flush()
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the flock
            self._file = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# -- manifest and chunk files -----------------------------------------------------------------
class ChunkStore:
    """The files of one run in ``directory`` (see the module docstring).

    Args:
      directory: the run directory (``--out``).
      manifest: the run's manifest: ``{"config", "layout", "units"}`` (JSON-ready).
    """

    def __init__(self, directory, manifest: dict[str, Any]):
        self.directory = Path(directory)
        self.chunk_dir = self.directory / CHUNK_DIR
        self.manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **manifest}

    # manifest
    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest on disk, ``None`` if there is none."""
        return read_manifest(self.directory, missing_ok=True)

    def write_manifest(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.chunk_dir.mkdir(exist_ok=True)
        atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=1, sort_keys=True)
                          + "\n")

    def clear_chunks(self) -> None:
        """Remove the chunk files of an earlier (finished) run."""
        if self.chunk_dir.is_dir():
            for p in self.chunk_dir.iterdir():
                if p.suffix in (".npz", ".tmp"):
                    p.unlink()

    def remove_temporaries(self) -> None:
        """Remove temporary files a killed process left behind (never complete files)."""
        for d in (self.directory, self.chunk_dir):
            if d.is_dir():
                for p in d.glob(".*.tmp"):
                    with contextlib.suppress(OSError):
                        p.unlink()

    # chunks
    def chunk_path(self, chunk: int, optimizer: int) -> Path:
        return self.chunk_dir / f"c{chunk:06d}-o{optimizer:02d}.npz"

    def write_chunk(self, chunk: int, optimizer: int, meta: dict[str, Any],
                    arrays: Mapping[str, np.ndarray]) -> None:
        """Write one unit's arrays with its metadata and digest, atomically."""
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        meta = {**meta, "chunk": chunk, "optimizer": optimizer}
        members = {**arrays, "__meta__": np.asarray(json.dumps(meta, sort_keys=True))}
        members["__digest__"] = np.asarray(arrays_digest(members))
        atomic_savez(self.chunk_path(chunk, optimizer), members)

    def read_chunk(self, chunk: int, optimizer: int,
                   expect: dict[str, Any]) -> tuple[dict[str, np.ndarray] | None, str]:
        """``(arrays, "")`` of a complete, intact unit whose metadata equals ``expect``
        (plus its position), else ``(None, why)``: ``why`` is ``"missing"`` or what is wrong."""
        path = self.chunk_path(chunk, optimizer)
        if not path.exists():
            return None, "missing"
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                members = {k: z[k] for k in z.files}
            digest = str(members.pop("__digest__"))
            if arrays_digest(members) != digest:
                return None, "corrupted (checksum mismatch)"
            meta = json.loads(str(members.pop("__meta__")))
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
            return None, f"truncated or unreadable ({type(err).__name__})"
        if meta != {**expect, "chunk": chunk, "optimizer": optimizer}:
            return None, "written by a different run"
        return members, ""


def read_manifest(directory, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The manifest ``DIR/run.json`` of a run directory.

    Raises:
      InputError: it is missing (unless ``missing_ok``), unreadable or not a symjax run manifest.
    """
    path = Path(directory) / MANIFEST
    if not path.exists():
        if missing_ok:
            return None
        raise InputError(
            f"{directory} holds no symjax verify run to resume (no {MANIFEST}); start one with "
            f"symjax verify --out {directory}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not a readable run manifest ({err})") from None
    if (not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT
            or not isinstance(data.get("config"), dict)):
        raise InputError(f"{path} is not a symjax verify run manifest (format "
                         f"{MANIFEST_FORMAT!r} expected)")
    if data.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path} has manifest version {data.get('version')!r}; this symjax "
                         f"reads version {MANIFEST_VERSION}")
    return data
