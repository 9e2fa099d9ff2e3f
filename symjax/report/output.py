"""The files of one report: one directory, one run, never written through a symbolic link."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import InputError
from ..base.files import atomic_open
from ..results.rundir import REPORT_DIR


@dataclass
class Report:
    """What :func:`symjax.report.writer.write_report` wrote: into directory ``out``, the
    ``files`` in order, and ``notes``: what is missing and how to get it (figures,
    trajectories, proof)."""

    out: Path
    files: list[Path]
    notes: list[str]


#: Written into every report directory: the run ID the report belongs to.
REPORT_STAMP = "report_of_run.txt"


class ReportWriter:
    """Writes the files of one report (:attr:`report`) into ``out``, by default ``DIR/report``
    of the results directory ``directory``, never through a symbolic link (the directory, or a
    file in it). A directory that holds the report of another run (:data:`REPORT_STAMP`) is
    refused: a report belongs to one run."""

    def __init__(self, out: str | os.PathLike | None, directory: Path, run_id: str):
        out = Path(out) if out is not None else directory / REPORT_DIR
        self.out, self.files, self.run_id = out, [], run_id
        self.report = Report(out, self.files, [])
        if out.is_symlink():
            raise InputError(f"report directory {out} is a symbolic link; symjax report does "
                             f"not write through links (remove it, or choose another --out)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create report directory {out}: "
                             f"{err.strerror or err}") from None
        if out.is_symlink() or not out.is_dir():
            raise InputError(f"report directory {out} is not a directory")
        stamp = out / REPORT_STAMP
        if stamp.is_symlink():
            raise InputError(f"{stamp} is a symbolic link; remove it")
        if stamp.is_file():
            other = stamp.read_text(encoding="utf-8", errors="replace").strip()
            if other != run_id:
                raise InputError(f"{out} holds the report of run {other[:40]}, not of run "
                                 f"{run_id}; remove it or choose another --out (a report "
                                 f"belongs to one run)")
        self.write(REPORT_STAMP, run_id + "\n")

    def write(self, name: str, data: str | bytes) -> Path:
        """Write ``data`` (text as UTF-8) to ``out/name`` atomically, never through a symbolic
        link."""
        target = self.out / name
        if target.is_symlink():
            raise InputError(f"{target} is a symbolic link; symjax report does not write "
                             f"through links (remove it)")
        try:
            with atomic_open(target, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as err:
            raise InputError(f"cannot write {target}: {err.strerror or err}") from None
        if name != REPORT_STAMP:
            self.files.append(target)
        return target
