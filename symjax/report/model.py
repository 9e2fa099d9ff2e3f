"""``symjax report`` of a user's model run (``symjax.verify_model(..., out=DIR)``, kind ``model``).

Every number is read from the run's files: ``per_seed.csv`` is checked against the SHA-256 that
``results.json`` records (so against the run ID), and the per-pair summaries derived from it
again must equal the recorded ones. ``table.txt`` is the table as
:meth:`symjax.ModelVerification.table` prints it. No JAX is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..base.errors import InputError
from ..experiments.own_model import pair_summaries, pair_table
from ..results.document import results_path
from ..results.rundir import PER_SEED_FILE
from .output import Report, ReportWriter
from .run import check_file_digests
from .text import csv_text


def model_report(path: str | os.PathLike, document: dict, out=None) -> Report:
    """Write the report of a model run; :class:`InputError` when ``per_seed.csv`` is missing,
    changed after the run, malformed, or disagrees with the summaries of ``results.json``, or
    the output directory is a link or holds the report of another run."""
    target = results_path(path)
    directory = target.parent
    results, config = document["results"], document["config"]
    summaries = _per_seed_summaries(directory, document)
    if summaries != results["pairs"]:
        raise InputError(f"{directory / PER_SEED_FILE}: its per-pair summaries differ from those "
                         f"of {target.name} (run {document['run_id']})")
    table = pair_table(summaries, results["seeds"])
    writer = ReportWriter(out, directory, document["run_id"])
    prov = document["provenance"]
    lines = [
        f"# symjax model report: run `{document['run_id']}`", "",
        f"Model `{config['loss']}` (jaxpr `{config['model_jaxpr_sha256'][:23]}...`), "
        f"{len(config['pairs'])} tied pairs, {config['seeds']} seeds (parameters uniform in "
        f"[-1, 1], projected onto the ties), {config['steps']} steps of {config['optimizer']} "
        f"(lr {config['lr']}), {config['dtype']}. A pair *held* in a seed when its two "
        f"parameters had equal bit patterns (with the pair's sign) at every step; *first "
        f"break med* is the median first step at which it differed, over the seeds where it "
        f"did; *max ulp* the largest distance in units in the last place. "
        f"{results['seeds_held']} of {results['seeds']} seeds held every pair.", "",
        "```text", table, "```", "",
        "## Provenance", "",
        f"- run ID `{document['run_id']}`, content hash `{document['content_hash']}`",
        f"- symjax {prov.get('version')}; "
        + ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()),
        f"- layout: {document['layout']}", ""]
    keys = [k for k in summaries[0] if k != "pair"] if summaries else []
    rows = [["=".join(s["pair"]), *("" if s[k] is None else s[k] for k in keys)]
            for s in summaries]
    writer.write("table.txt", table + "\n")
    writer.write("summary.csv", csv_text([["pair", *keys], *rows]))
    writer.write("report.md", "\n".join(lines))
    return writer.report


def _per_seed_summaries(directory: Path, document: dict) -> list[dict]:
    """The per-pair summaries derived from ``per_seed.csv`` (after its digest is checked)."""
    path = directory / PER_SEED_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing; symjax.verify_model(..., out=DIR) writes it next "
                         f"to results.json")
    check_file_digests(directory, document, names=(PER_SEED_FILE,))
    pairs = [tuple(p) for p in document["config"]["pairs"]]
    seeds = document["results"]["seeds"]
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise InputError(f"{path}: not a per-seed file of a model run ({err})") from None
    if data.shape != (seeds, 4 + 2 * len(pairs)):
        raise InputError(f"{path}: {data.shape[0]} rows of {data.shape[1]} columns, expected "
                         f"{seeds} of {4 + 2 * len(pairs)}")
    k = len(pairs)
    return pair_summaries(pairs, data[:, 4:4 + k].astype(np.int64), data[:, 4 + k:])
