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

Results directories are shared between people, so nothing in one is trusted: symjax writes only
into a directory it created or one holding its own files (:func:`claim_directory`), follows no
symbolic link inside it (:func:`refuse_symlink`, :func:`open_nofollow`), and checks every chunk
(digest, metadata, members) each time it reads one, not only when a resume starts.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import numbers
import os
import re
import socket
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import InputError
from ..base.files import atomic_savez, atomic_write_text

MANIFEST = "run.json"
CHUNK_DIR = "chunks"
MANIFEST_FORMAT = "symjax-verify-run"
MANIFEST_VERSION = 1
#: Manifest format of a run of :func:`symjax.verify_model` (a user's model), same store.
MODEL_FORMAT = "symjax-model-run"
#: Names of the files symjax itself leaves in a directory that holds nothing else yet.
_OWN_LEFTOVERS = re.compile(r"\.lock(-p[0-9]+)?")
_CHUNK_NAME = re.compile(r"c[0-9]{6}-o[0-9]{2}\.npz")


# -- what symjax writes into, and what it reads ------------------------------------------------
def _nonempty_path(path, option: str) -> Path:
    text = os.fspath(path) if path is not None else ""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{option} {text!r} is empty; name a path (symjax never takes an "
                         f"empty path for the current directory)")
    return Path(text)


def refuse_symlink(path) -> None:
    """Raise :class:`InputError` if ``path`` is a symbolic link: symjax follows no link inside a
    results directory (it could point anywhere: a user's file, another directory)."""
    if Path(path).is_symlink():
        raise InputError(f"{path} is a symbolic link; symjax follows no link inside a "
                         f"results directory (remove the link or choose another directory)")


def open_nofollow(path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link and anything but a regular file (a FIFO, a
    device): :class:`InputError` naming ``path``. Returns the file descriptor."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | nofollow | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NONBLOCK", 0), mode)
    except OSError as err:
        if err.errno == errno.ELOOP or (err.errno == errno.EMLINK and nofollow):
            refuse_symlink(path)
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{path} is not a regular file; symjax reads and writes only regular "
                         f"files in a results directory")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def existing_directory(path, option: str) -> Path:
    """``path`` as an existing directory (for ``--resume``), else :class:`InputError`."""
    p = _nonempty_path(path, option)
    if not p.is_dir():
        what = "does not exist" if not p.exists() else "is not a directory"
        raise InputError(f"{option} {p} {what}; it takes the directory of a symjax run")
    return p


def claim_directory(path, *, option: str, ours: Callable[[Path], bool], what: str,
                    force: bool = False, force_option: str | None = "--force") -> Path:
    """Make sure symjax may write into directory ``path`` (named by ``option``, for messages),
    before anything is written; returns it as a :class:`~pathlib.Path`.

    Allowed: a path that does not exist (created), an empty directory, a directory for which
    ``ours(path)`` is true (it holds symjax's ``what``, e.g. a finished run it replaces; ``ours``
    may raise :class:`InputError` for a damaged marker file) and, with ``force`` (the option
    ``force_option`` in messages; ``None``: there is none), any directory: files with symjax's
    names are replaced, others left alone. Refused with :class:`InputError` (one line): an empty
    path (it would mean the current directory), an existing file or other non-directory, and a
    non-empty directory of other files.
    """
    p = _nonempty_path(path, option)
    if p.is_symlink() and not p.exists():
        raise InputError(f"{option} {p} is a dangling symbolic link; name a directory")
    if p.exists() and not p.is_dir():
        raise InputError(f"{option} {p} exists and is not a directory; symjax does not replace "
                         f"it: choose a new or empty directory")
    if not p.exists():
        try:
            p.mkdir(parents=True)
        except FileExistsError:  # created meanwhile: check it like any existing directory
            return claim_directory(p, option=option, ours=ours, what=what, force=force,
                                   force_option=force_option)
        except OSError as err:
            raise InputError(f"cannot create {option} {p}: {err.strerror or err}") from None
        return p
    try:
        entries = sorted(e for e in os.listdir(p) if not _OWN_LEFTOVERS.fullmatch(e))
    except OSError as err:
        raise InputError(f"cannot read {option} {p}: {err.strerror or err}") from None
    if entries and not force and not ours(p):
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        hint = (f", or add {force_option} to write into it (files with symjax's names are "
                f"replaced)" if force_option else "")
        raise InputError(f"{option} {p} is a non-empty directory that holds no symjax {what} "
                         f"({shown}); choose a new or empty directory{hint}")
    return p


def claim_file(path, *, option: str, ours: Callable[[Path], bool], what: str,
               force: bool = False) -> Path:
    """Make sure symjax may write the file ``path`` (replaced atomically), before it is written:
    a new file, one that holds symjax's own ``what`` (``ours(path)``) or, with ``force``, any
    regular file. Refused with :class:`InputError`: an empty path, a symbolic link, a directory
    or another non-regular file, and someone else's file (unless ``force``)."""
    p = _nonempty_path(path, option)
    refuse_symlink(p)
    if p.exists() and not p.is_file():
        raise InputError(f"{option} {p} exists and is not a regular file; name a file")
    if p.exists() and not force and not ours(p):
        raise InputError(f"{option} {p} exists and is not a symjax {what}; symjax does not "
                         f"replace it: choose another name, or add --force to replace it")
    return p


def read_text_nofollow(path) -> str:
    """The UTF-8 text of a regular file, refusing a symbolic link (:class:`InputError`)."""
    with os.fdopen(open_nofollow(path), "r", encoding="utf-8") as f:
        return f.read()



def file_sha256(path) -> str:
    """``"sha256:<hex>"`` of a file, read in blocks."""
    h = hashlib.sha256()
    with os.fdopen(open_nofollow(path), "rb") as f:
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
    """An exclusive ``flock`` on ``DIR/.lock`` (``.lock-pN`` for process ``N > 0``); acquiring
    it while another process holds it raises :class:`InputError` naming that one's pid and
    host."""

    def __init__(self, directory, process_index: int = 0):
        name = ".lock" if process_index == 0 else f".lock-p{process_index}"
        self.path = Path(directory) / name
        self._file = None

    def acquire(self) -> DirectoryLock:
        # never through a link: the holder's pid is written into the file
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        self._file = os.fdopen(fd, "r+", encoding="utf-8")  # noqa: SIM115 - held until release
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
    """The files of one run in ``directory`` (see the module docstring), whose ``manifest`` is
    ``{"config", "layout", "save_params", "run_key"}`` (JSON-ready)."""

    def __init__(self, directory, manifest: dict[str, Any]):
        self.directory = Path(directory)
        self.chunk_dir = self.directory / CHUNK_DIR
        self.manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **manifest}
        self._expect: dict[tuple[int, int], dict[str, Any]] = {}  # unit -> what it must hold
        self._checked: dict[tuple[int, int], tuple] = {}  # unit -> identity of its file, checked

    # manifest
    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def check_links(self, names=()) -> None:
        """Refuse (:class:`InputError`) a symbolic link in place of the chunk directory, the
        manifest or any of ``names``: nothing of a run is read or written through a link."""
        for p in (self.chunk_dir, self.manifest_path, *(self.directory / n for n in names)):
            refuse_symlink(p)
        if self.chunk_dir.exists() and not self.chunk_dir.is_dir():
            raise InputError(f"{self.chunk_dir} is not a directory; symjax keeps the run's "
                             f"chunk files there")

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest on disk, ``None`` if there is none."""
        return read_manifest(self.directory, missing_ok=True)

    def write_manifest(self, *, finished: bool = False) -> None:
        """Write the manifest; ``finished``: the run's results files are complete."""
        self.check_links()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.chunk_dir.mkdir(exist_ok=True)
        self.manifest["finished"] = bool(finished)
        atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=1, sort_keys=True)
                          + "\n")

    def clear_chunks(self) -> None:
        """Remove the chunk files of an earlier (finished) run, nothing else in the chunk
        directory (its temporaries: :meth:`remove_temporaries`)."""
        self.check_links()
        if self.chunk_dir.is_dir():
            for p in self.chunk_dir.iterdir():
                if _CHUNK_NAME.fullmatch(p.name):
                    p.unlink()  # unlink never follows a link: a link is removed, not its target

    def remove_temporaries(self) -> None:
        """Remove temporary files a killed process left behind (never complete files)."""
        self.check_links()
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
        refuse_symlink(self.chunk_dir)
        atomic_savez(self.chunk_path(chunk, optimizer), members)  # replaces a link, never follows
        self._expect[(chunk, optimizer)] = meta

    def read_chunk(self, chunk: int, optimizer: int,
                   expect: dict[str, Any]) -> tuple[dict[str, np.ndarray] | None, str]:
        """``(arrays, "")`` of a complete, intact unit whose metadata equals ``expect``
        (plus its position), else ``(None, why)``: ``why`` is ``"missing"`` or what is wrong.

        ``expect`` is remembered: :meth:`load_chunk` checks the file against it again."""
        path = self.chunk_path(chunk, optimizer)
        expect = {**expect, "chunk": chunk, "optimizer": optimizer}
        self._expect[(chunk, optimizer)] = expect
        refuse_symlink(self.chunk_dir)
        if path.is_symlink():
            return None, "a symbolic link"
        if not path.exists():
            return None, "missing"
        try:
            with os.fdopen(open_nofollow(path), "rb") as fh:
                return _checked_members(fh, expect)
        except InputError:  # replaced by a link or a FIFO meanwhile
            return None, "not a regular file"

    def load_chunk(self, chunk: int, optimizer: int,
                   names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of a unit for the merge (only ``names``, if given), checked again
        against what :meth:`read_chunk` or :meth:`write_chunk` expected of it: the first load of
        a file checks all of it and remembers its identity (device, inode, size, modification and
        change times); a later load of the same unchanged file reads only ``names`` (the change
        time moves with any write or rename, and no one but the kernel sets it).

        Raises:
          InputError: the file changed or was damaged since (one line; a resume recomputes it).
        """
        expect = self._expect.get((chunk, optimizer))
        path = self.chunk_path(chunk, optimizer)
        why = "not checked by this run"
        if expect is not None:
            refuse_symlink(self.chunk_dir)
            try:
                fh = os.fdopen(open_nofollow(path), "rb")
            except (OSError, InputError) as err:
                fh, why = None, ("missing" if isinstance(err, FileNotFoundError) else
                                 "a symbolic link or not a regular file")
            if fh is not None:
                with fh:
                    st = os.fstat(fh.fileno())
                    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    if names is not None and self._checked.get((chunk, optimizer)) == ident:
                        arrays, why = _lazy_members(fh, names)
                    else:
                        arrays, why = _checked_members(fh, expect)
                    if arrays is not None:
                        self._checked[(chunk, optimizer)] = ident
                        return arrays if names is None else {n: arrays[n] for n in names}
        raise InputError(f"{path} is {why} at the merge, after it was checked; nothing "
                         f"was merged: recompute it with symjax verify --resume "
                         f"{self.directory}")


def _checked_members(fh, expect: dict[str, Any]) -> tuple[dict[str, np.ndarray] | None, str]:
    """``(arrays, "")`` of the chunk file open in ``fh`` if its digest, metadata (equal to
    ``expect``) and members are right, else ``(None, why)``."""
    try:
        with np.load(fh, allow_pickle=False) as z:
            members = {k: z[k] for k in z.files}
        digest = str(members.pop("__digest__"))
        if arrays_digest(members) != digest:
            return None, "corrupted (checksum mismatch)"
        meta = json.loads(str(members.pop("__meta__")))
    except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
        return None, f"truncated or unreadable ({type(err).__name__})"
    if meta != expect:
        return None, "written by a different run"
    why = _members_problem(members, meta)
    return (None, why) if why else (members, "")


def _lazy_members(fh, names: list[str]) -> tuple[dict[str, np.ndarray] | None, str]:
    """Only ``names`` of an npz file already checked whole (the zip CRC checks each read)."""
    try:
        with np.load(fh, allow_pickle=False) as z:
            return {n: z[n] for n in names}, ""
    except Exception as err:  # noqa: BLE001 - changed despite its identity: say so
        return None, f"truncated or unreadable ({type(err).__name__})"


def _members_problem(members: Mapping[str, np.ndarray], meta: dict[str, Any]) -> str:
    """What is wrong with the arrays of a chunk whose metadata is right ("" if nothing): the
    members its metadata names (``inits`` x ``fields``), numeric, ``seeds`` rows each."""
    try:
        if "inits" in meta and "fields" in meta:
            want = {f"{i}.{f}" for i in range(len(meta["inits"])) for f in meta["fields"]}
            if set(members) != want:
                return "incomplete (its members differ from its metadata)"
        seeds = int(meta["seeds"]) if "seeds" in meta else None
    except (TypeError, ValueError):
        return "written by a different run"
    if any(a.dtype.kind not in "biuf" or (seeds is not None and (a.ndim == 0
                                                                 or a.shape[0] != seeds))
           for a in members.values()):
        return "malformed (its arrays differ from its metadata)"
    return ""


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Real))


def check_manifest(data: Any, path) -> dict[str, Any]:
    """``data`` if it is a symjax verify run manifest of this version with well-formed parts
    (config keys are options of ``verify``, values scalars or flat lists; layout a flat object;
    ``save_params`` and ``finished`` booleans), else :class:`InputError` naming ``path``."""
    from .config import DEFAULTS as OPTIONS

    if (not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT
            or not isinstance(data.get("config"), dict)):
        raise InputError(f"{path} is not a symjax verify run manifest (format "
                         f"{MANIFEST_FORMAT!r} expected)")
    if data.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path} has manifest version {data.get('version')!r}; this symjax "
                         f"reads version {MANIFEST_VERSION}")
    config, layout = data["config"], data.get("layout")

    def bad(problem: str) -> InputError:
        return InputError(f"{path} is not a valid run manifest: {problem}")

    unknown = sorted(set(config) - set(OPTIONS))
    if unknown:
        raise bad(f"config names {unknown[0]!r}, which is not an option of symjax verify "
                  f"(allowed: {', '.join(OPTIONS)})")
    for key, value in config.items():
        if not (_scalar(value) or (isinstance(value, list) and all(map(_scalar, value)))):
            raise bad(f"config {key} is {type(value).__name__} {_short(value)}; a value or a "
                      f"list of values expected")
    if not isinstance(layout, dict):
        raise bad(f"layout is {_short(layout)}; an object of values expected")
    for key, value in layout.items():
        if not _scalar(value):
            raise bad(f"layout {key!r} is {_short(value)}; a value expected")
    for key in ("save_params", "finished"):
        if key in data and not isinstance(data[key], bool):
            raise bad(f"{key} is {_short(data[key])}; true or false expected")
    if not isinstance(data.get("run_key", ""), str):
        raise bad(f"run_key is {_short(data['run_key'])}; a string expected")
    return data


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_manifest(directory, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The manifest ``DIR/run.json`` of a run directory, checked by :func:`check_manifest`
    (``None`` if it is missing and ``missing_ok``); else :class:`InputError`."""
    path = Path(directory) / MANIFEST
    refuse_symlink(path)
    if not path.exists():
        if missing_ok:
            return None
        raise InputError(
            f"{directory} holds no symjax verify run to resume (no {MANIFEST}); start one with "
            f"symjax verify --out {directory}"
        )
    try:
        data = json.loads(read_text_nofollow(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not a readable run manifest "
                         f"({' '.join(str(err).split())})") from None
    except RecursionError:
        raise InputError(f"{path} is not a symjax verify run manifest (JSON nested too "
                         f"deeply)") from None
    return check_manifest(data, path)


def manifest_finished(manifest: dict[str, Any], directory) -> bool:
    """Whether the run of ``manifest`` finished (its results files were written). Manifests of
    symjax 0.2 do not say: there, a ``results.json`` next to it means finished."""
    if "finished" in manifest:
        return manifest["finished"]
    return (Path(directory) / "results.json").exists()


def holds_verify_run(directory) -> bool:
    """Whether ``directory`` holds a symjax verify run: a well-formed run manifest or (symjax
    0.1) the intact ``results.json`` of a verify run. Links and damaged files count as not."""
    try:
        if read_manifest(directory, missing_ok=True) is not None:
            return True
    except InputError:
        return False
    return _holds_results(directory, "verify")


def holds_dynamics_results(directory) -> bool:
    """Whether ``directory`` holds the intact ``results.json`` of ``symjax dynamics``."""
    return _holds_results(directory, "dynamics")


def holds_model_run(directory) -> bool:
    """Whether ``directory`` holds a run of :func:`symjax.verify_model`: its manifest
    (format ``symjax-model-run``) or the intact ``results.json`` of kind ``model``."""
    path = Path(directory) / MANIFEST
    try:
        if not path.is_symlink() and path.is_file():
            return json.loads(read_text_nofollow(path)).get("format") == MODEL_FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, RecursionError,
            InputError):
        return False
    return _holds_results(directory, "model")


def _holds_results(path, kind: str) -> bool:
    from .document import RESULTS_FILE, read_results

    path = Path(path)
    path = path / RESULTS_FILE if path.is_dir() and not path.is_symlink() else path
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return read_results(path).get("kind") == kind
    except InputError:
        return False


#: Files of a run directory besides ``results.json``: the per-seed table (verify and model
#: runs), saved parameters and trajectories (verify ``--save-params``, ``--trajectory-every``),
#: the trajectory sample ``verify --out`` re-runs for the figures when it records none, and the
#: default report directory of ``symjax report DIR``.
PER_SEED_FILE = "per_seed.csv"
PARAMS_FILE = "params.npz"
TRAJECTORIES_FILE = "trajectories.npz"
SAMPLE_FILE = "trajectory_sample.npz"
REPORT_DIR = "report"


def locked_store(out: Path, manifest: dict, files, option: str, pid: int = 0
                 ) -> tuple[ChunkStore, DirectoryLock]:
    """The chunk store of run directory ``out`` (``manifest`` plus its ``run_key``, the SHA-256
    of ``manifest``) and its lock, held: refused (:class:`InputError`) when a link stands in for
    the store or one of ``files``, or another run holds the lock."""
    run_key = hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode())
    store = ChunkStore(out, {**manifest, "run_key": run_key.hexdigest()})
    try:
        out.mkdir(parents=True, exist_ok=True)  # processes > 0 of a multi-process run
        store.check_links(files)
        return store, DirectoryLock(out, pid).acquire()
    except OSError as err:
        raise InputError(f"cannot write into {option} {out}: {err.strerror or err}") from None


def remove_report(directory: Path) -> None:
    """Remove the report of an earlier run in ``directory`` (a symbolic link itself, never what
    it points to)."""
    import shutil

    report = Path(directory) / REPORT_DIR
    if report.is_symlink() or report.is_file():
        report.unlink()
    elif report.is_dir():
        shutil.rmtree(report)
