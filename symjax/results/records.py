"""The JSON record of a symbolic command (``symjax prove | laws | stability --json FILE``).

One writer for every kind: the result's own keys at the top level (the form scripts read), plus
``command`` and ``kind`` (the command), ``config`` (the options that decide the result),
``run_id`` and ``content_hash`` (over kind, config and result, as for a results document: the
same claim gives the same ID on any machine), ``versions`` and ``provenance`` (not hashed). The
file is written atomically, never through a symbolic link, and never over a file that is not a
record of the same command (unless ``force``).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from ..base.errors import InputError
from ..base.files import atomic_write_text
from ..base.version import __version__
from .document import (
    SCHEMA,
    SCHEMA_VERSION,
    collect_provenance,
    content_hash,
    installed_versions,
    run_id_of,
    to_json_value,
)
from .rundir import claim_file

#: Package versions a symbolic result depends on.
_PACKAGES = ("sympy", "mpmath", "numpy")
#: First line of the LaTeX files symjax writes (what marks them as symjax's own).
LATEX_MARK = "% written by symjax"


def _is_record(kind: str):
    def ours(path: Path) -> bool:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        return isinstance(data, dict) and kind in (data.get("kind"), data.get("command"))
    return ours


def _is_latex(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\n") == LATEX_MARK
    except (OSError, UnicodeDecodeError):
        return False


def write_record(path, *, kind: str, config: dict[str, Any], result: dict[str, Any],
                 extra: dict[str, Any] | None = None, option: str = "--json",
                 force: bool = False) -> dict[str, Any]:
    """Write the record of a ``kind`` result to ``path``; returns it. ``extra``: more top-level
    keys that the run ID does not cover (e.g. a LaTeX rendering of the result). One-line
    :class:`InputError` when ``path`` is a link, a directory, someone else's file (without
    ``force``) or cannot be written.
    """
    target = claim_file(path, option=option, ours=_is_record(kind), what=f"{kind} record",
                        force=force)
    config, result = to_json_value(config, "config"), to_json_value(result, "result")
    hashed = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind,
              "config": config, "layout": {}, "results": result}
    record = {
        **result,
        **to_json_value(extra or {}, "extra"),
        "command": kind,
        "kind": kind,
        "symjax": __version__,
        "versions": {"symjax": __version__, "python": platform.python_version(),
                     **installed_versions(_PACKAGES)},
        "run_id": run_id_of(hashed),
        "content_hash": content_hash(hashed),
        "config": config,
        "provenance": collect_provenance(jax_info=False),
    }
    _write(target, json.dumps(record, indent=2) + "\n", option)
    return record


def claim_targets(args, kind: str) -> None:
    """Refuse the ``--json``/``--latex`` targets of a command line before any work is done."""
    force = getattr(args, "force", False)
    if getattr(args, "json", None):
        claim_file(args.json, option="--json", ours=_is_record(kind), what=f"{kind} record",
                   force=force)
    if getattr(args, "latex", None):
        claim_file(args.latex, option="--latex", ours=_is_latex, what="LaTeX file", force=force)


def command_config(args) -> dict[str, Any]:
    """The options of a command line that decide its result (not where it is written)."""
    return {k: v for k, v in sorted(vars(args).items())
            if k not in ("func", "json", "latex", "force")}


def write_latex(path, text: str, *, option: str = "--latex", force: bool = False) -> None:
    """Write a LaTeX file symjax made (first line :data:`LATEX_MARK`), with the same care."""
    target = claim_file(path, option=option, ours=_is_latex, what="LaTeX file", force=force)
    _write(target, f"{LATEX_MARK}\n{text}", option)


def _write(target: Path, text: str, option: str) -> None:
    try:
        atomic_write_text(target, text)
    except OSError as err:
        raise InputError(f"cannot write {option} {str(target)!r}: "
                         f"{err.strerror or err}") from None
