"""Results files with provenance: one writer and one reader for every ``results.json``.

Every command that produces results (``verify``, ``prove``, ...) writes them with
:func:`write_results`, and every command that consumes them (``report``, ``reproduce``, ``cite``)
reads them with :func:`read_results`. The document holds ``schema`` (:data:`SCHEMA`),
``schema_version``, ``kind`` (one of :data:`KINDS`), ``run_id``, ``content_hash``, ``config``
(what was asked: everything that changes results), ``layout`` (how it was batched), ``results``
(what was found) and ``provenance`` (who, where, when: versions, devices, flags, times); it is
validated against the JSON Schema shipped in the package (:data:`SCHEMA_FILE`).

**Run ID and content hash.** ``run_id`` is ``sha256:`` and the first 16 hex digits of the
SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of ``{schema, schema_version,
kind, config, results}``: what determines the numbers and the numbers themselves (for ``verify``
the results hold the SHA-256 of ``per_seed.csv``, so every per-seed number is under it). The
layout is not part of it: one result has one ID, whether it was computed on 1 device or 2.
``content_hash`` is the SHA-256 of the same with ``layout``, so that an edited layout is refused
too. Provenance is hashed by neither. The reader recomputes both, so a file edited by hand is
rejected. (symjax 0.2.x derived the run ID from the content hash, layout included: run IDs of
0.2.x differ from those of 0.3 for the same result.)

So that equal run IDs mean equal bits, ``config`` holds every option and every pinned numerics
setting (dtype, PRNG implementation, ``jax_threefry_partitionable``, matmul or fixed-order path)
and ``layout`` what decides per-seed rounding (seeds per vmapped chunk, device count, platform
and device kind). Provenance records the actual flags too, unhashed.

**Values.** ``config``, ``layout`` and ``results`` may hold dicts (string keys), lists, tuples,
str, bool, int, float, None, NumPy scalars and arrays and JAX arrays (anything with ``tolist``),
stored as plain JSON. Non-finite floats are stored as the strings ``"nan"``, ``"inf"`` and
``"-inf"`` (``NaN`` is not JSON); ``float(value)`` turns them back. :func:`read_results` returns
the document as stored, those strings included.

Example (what ``symjax verify`` does; the three functions are also public as ``symjax.*``)::

    prov = collect_provenance()  # at the start, after the JAX flags are set
    doc = write_results(out_dir, kind="verify", config={"steps": 500, ...},
                        layout={"devices": 1, ...}, results={...}, provenance=prov)
    doc = read_results(out_dir)  # InputError (one line) if missing, corrupt or edited
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..base.errors import InputError, choose
from ..base.files import atomic_write_text
from ..base.version import DISTRIBUTION, __version__

#: Name of the document type, stored in ``"schema"``.
SCHEMA = "symjax-results"
#: Version of the document layout this module writes and reads.
SCHEMA_VERSION = 1
#: The JSON Schema file shipped in the package (package data).
SCHEMA_FILE = "results.schema.json"
#: File name used when a directory is given.
RESULTS_FILE = "results.json"
#: Kinds of results documents that can be written.
KINDS = ("verify", "prove", "laws", "stability", "dynamics", "model")
#: Third-party packages whose versions are recorded when installed.
VERSIONED_PACKAGES = ("jax", "jaxlib", "optax", "chex", "sympy", "numpy")

_HASHED_KEYS = ("schema", "schema_version", "kind", "config", "layout", "results")
#: What the run ID hashes: the content hash's keys less the layout.
_RUN_ID_KEYS = tuple(k for k in _HASHED_KEYS if k != "layout")
_GIT_TIMEOUT_S = 5.0


# -- provenance ----------------------------------------------------------------------------
def collect_provenance(*, jax_info: bool = True) -> dict[str, Any]:
    """Who, where and when: everything about a run that is not part of its result, as a
    JSON-ready dict (``env`` holds ``XLA_FLAGS`` and ``JAX_*``). Call it at the start of a run,
    after the JAX flags are set: with ``jax_info=True`` it imports JAX and initialises the
    backend (to record its devices and numerics flags), after which flags such as
    ``jax_num_cpu_devices`` can no longer change; with ``False`` (the symbolic commands)
    ``"jax"`` is ``None``. :func:`write_results` fills in ``end_time`` and ``wall_time_s``.
    """
    return {
        "package": DISTRIBUTION,
        "version": package_version(),
        "git": _git_info(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "argv": list(sys.argv),
        "versions": installed_versions(),
        "jax": _jax_info() if jax_info else None,
        "env": {k: v for k, v in sorted(os.environ.items())
                if k == "XLA_FLAGS" or k.startswith("JAX_")},
        "start_time": _now(),
        "end_time": None,
        "wall_time_s": None,
    }


def package_version() -> str:
    """The installed version of ``symjax-proofs``, ``"0+unknown"`` in an uninstalled tree."""
    return __version__


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _seconds_between(start: Any, end: str) -> float | None:
    """Wall-clock seconds from ``start`` to ``end`` (ISO 8601), ``None`` if ``start`` is not one."""
    try:
        elapsed = _dt.datetime.fromisoformat(end) - _dt.datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return None
    return max(elapsed.total_seconds(), 0.0)


def installed_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str]:
    """``name -> version`` of the installed packages among ``names``."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _git_info() -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout holding this package; ``None`` when git is missing
    or fails, or when the package is not the top of a checkout (an installed copy inside some
    unrelated repository must not report that repository)."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=_GIT_TIMEOUT_S).stdout

    try:
        top = git("rev-parse", "--show-toplevel").strip()
        if Path(top).resolve() != root:
            return None
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain").strip())
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _jax_info() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    cfg = jax.config

    def flag(name: str) -> Any:
        value = getattr(cfg, name)
        return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)

    return {
        "backend": jax.default_backend(),
        "device_kinds": sorted({d.device_kind for d in devices}),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
        **{name: flag(f"jax_{name}") for name in ("enable_x64", "default_prng_impl",
                                                   "threefry_partitionable",
                                                   "default_matmul_precision")},
    }


# -- values and hashing --------------------------------------------------------------------
def to_json_value(value: Any, where: str = "value") -> Any:
    """Convert ``value`` (of the types the module docstring lists) to plain JSON; non-finite
    floats to ``"nan"``, ``"inf"``, ``"-inf"``.

    Raises:
      TypeError: for any other type, naming its position ``where``, e.g. ``results.gaps[3]``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r} ({type(k).__name__})")
            out[k] = to_json_value(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if callable(getattr(value, "tolist", None)):
        return to_json_value(value.tolist(), where)
    raise TypeError(f"{where}: cannot store {type(value).__name__} {value!r:.80} in JSON")


def content_hash(document: dict[str, Any]) -> str:
    """``"sha256:<64 hex>"``, the content hash of ``document`` (see the module docstring)."""
    return _sha256_of(document, _HASHED_KEYS)


def _sha256_of(document: dict[str, Any], keys: tuple[str, ...]) -> str:
    text = json.dumps({k: document[k] for k in keys}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_id_of(document: dict[str, Any]) -> str:
    """The run ID ``"sha256:<16 hex>"`` of ``document`` (see the module docstring)."""
    return _sha256_of(document, _RUN_ID_KEYS)[: len("sha256:") + 16]


# -- writing -------------------------------------------------------------------------------
def write_results(path: str | os.PathLike, *, kind: str, config: dict[str, Any],
                  layout: dict[str, Any], results: dict[str, Any],
                  provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate and atomically write a results document to ``path`` (see :func:`results_path`;
    directories are created); returns it as written (JSON types). ``kind`` is one of
    :data:`KINDS`; ``config``, ``layout`` and ``results`` are the hashed parts. ``provenance``
    comes from :func:`collect_provenance` at the start of the run (a copy gets ``end_time`` and
    ``wall_time_s`` now); ``None``: collected now, with JAX details only if JAX is imported.

    Raises:
      InputError: unknown ``kind`` or a document that fails the schema.
      TypeError: a value that cannot be stored (see :func:`to_json_value`).
      OSError: the file cannot be written; no partial file is left behind.
    """
    choose("results kind", kind, KINDS)
    if provenance is None:
        provenance = collect_provenance(jax_info="jax" in sys.modules)
    end = _now()
    provenance = {**provenance, "end_time": end,
                  "wall_time_s": _seconds_between(provenance.get("start_time"), end)}
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "run_id": "",
        "content_hash": "",
        "config": to_json_value(config, "config"),
        "layout": to_json_value(layout, "layout"),
        "results": to_json_value(results, "results"),
        "provenance": to_json_value(provenance, "provenance"),
    }
    document["content_hash"] = content_hash(document)
    document["run_id"] = run_id_of(document)
    target = results_path(path, create=True)
    _validate(document, target)
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_text(target, text)
    return document


def results_path(path: str | os.PathLike, *, create: bool = False) -> Path:
    """The results file meant by ``path``: ``path/results.json`` for an existing directory or a
    path that does not exist and does not end in ``.json``, else ``path`` itself. With
    ``create``, the directory that will hold it is created."""
    p = Path(path)
    if p.is_dir() or (not p.is_file() and p.suffix.lower() != ".json"):
        p = p / RESULTS_FILE
    if create:
        p.parent.mkdir(parents=True, exist_ok=True)
    return p


# -- reading -------------------------------------------------------------------------------
def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read, validate and hash-check the results document ``path`` (a file, or a directory
    holding ``results.json``); returns it as stored. :class:`InputError` (one line naming the
    file) when it is missing, unreadable, not JSON (e.g. truncated), of another schema or schema
    version, failing the schema, or edited after it was written (content hash mismatch)."""
    target = results_path(path)
    if not target.is_file():
        if Path(path).is_dir():
            raise InputError(f"no {RESULTS_FILE} in directory {path}")
        raise InputError(f"results path {path} does not exist")
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{target}: cannot read results file: {_one_line(err)}") from None
    if not text.strip():
        raise InputError(f"{target}: results file is empty")
    try:
        document = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant,
                              object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as err:
        raise InputError(f"{target}: not valid JSON (line {err.lineno} column {err.colno}: "
                         f"{err.msg}); the file may be truncated or corrupted") from None
    except ValueError as err:
        raise InputError(f"{target}: not valid JSON: {err}") from None
    except RecursionError:
        raise InputError(f"{target}: not a symjax results file (JSON nested too deeply)") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise InputError(f"{target}: not a symjax results file (schema {found!r}, expected "
                         f"{SCHEMA!r})")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{target}: results schema_version {document.get('schema_version')!r} "
                         f"is not supported; this symjax {package_version()} reads version "
                         f"{SCHEMA_VERSION}")
    _validate(document, target)
    expected = content_hash(document)
    # 0.2.x wrote the content hash's prefix as the run ID; such files still read.
    run_ids = (run_id_of(document), expected[: len("sha256:") + 16])
    if document["content_hash"] != expected or document["run_id"] not in run_ids:
        raise InputError(f"{target}: content hash mismatch (stored {document['content_hash']}, "
                         f"computed {expected}): the file was changed after it was written")
    return document


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} overflows a float")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f'{name} is not JSON; non-finite floats are stored as "nan", "inf"')


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


# -- schema --------------------------------------------------------------------------------
def load_schema() -> dict[str, Any]:
    """The JSON Schema of results documents, as shipped in the package."""
    return json.loads(resources.files("symjax.results").joinpath(SCHEMA_FILE).read_text("utf-8"))


def _validate(document: dict[str, Any], target: Path) -> None:
    problem = schema_problem(document, load_schema())
    if problem is not None:
        raise InputError(f"{target}: fails the results schema at {problem}")


def schema_problem(instance: Any, schema: dict[str, Any], limit: int = 200) -> str | None:
    """``"PATH: message"`` (on one line, at most ``limit`` characters of message) of the error
    that best explains why ``instance`` fails the JSON Schema ``schema``; ``None`` if it
    passes."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    return None if error is None else f"{error.json_path}: {_one_line(error.message, limit)}"


def _one_line(err: object, limit: int = 200) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
