"""``symjax cite``: BibTeX for the package, and for one run with ``--results``.

The software entry agrees with ``CITATION.cff`` at the repository root (a test checks title and
version). The run entry names the run's ``run_id`` and full content hash, which identify the
configuration, batch layout and results bit for bit (see :mod:`symjax.results.document`).
"""

from __future__ import annotations

import argparse
import datetime as _dt

from ..base.text import tex_escape
from ..results.document import DISTRIBUTION, package_version, read_results, results_path

TITLE = (
    "symjax: symbolic proofs and bit-exact batch verification of permutation symmetry "
    "in neural network training"
)
AUTHORS = "The symjax developers"
#: Where the source lives; the same URL is ``repository-code`` in CITATION.cff and
#: ``Repository`` under ``[project.urls]`` in pyproject.toml (tests/test_cite.py checks).
REPOSITORY = "https://github.com/symjax-proofs/symjax-proofs"
YEAR = 2026
SOFTWARE_KEY = "symjax2026"


def register(subparsers) -> None:
    """Add the ``cite`` subcommand."""
    parser = subparsers.add_parser(
        "cite",
        help="print BibTeX for symjax (and for one run with --results)",
        description=(
            "Print a BibTeX @software entry for symjax. With --results, also print a @misc "
            "entry for that run, naming its run_id (the hash of its config and results; for a "
            "verify run, results include the SHA-256 of per_seed.csv, which is checked)."
        ),
    )
    parser.add_argument(
        "--results",
        metavar="DIR_OR_FILE",
        help="a results.json, or a directory holding one, written by a symjax command",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the entries; a missing or invalid results file raises InputError (exit 2)."""
    entries = [software_entry(package_version())]
    if args.results is not None:
        document = read_results(args.results)
        if document["kind"] in ("verify", "model"):  # their per-seed file is under the run ID
            from ..report.run import check_file_digests

            check_file_digests(results_path(args.results).parent, document)
        entries.append(run_entry(document))
    print("\n\n".join(entries))
    return 0


def software_entry(version: str) -> str:
    """The ``@software`` BibTeX entry for symjax at ``version``."""
    return _bibtex("software", SOFTWARE_KEY, TITLE, YEAR, version,
                   f"Python package {DISTRIBUTION}, version {version}")


def run_entry(document: dict) -> str:
    """The ``@misc`` BibTeX entry for the run recorded in a results ``document``."""
    prov = document["provenance"]
    run_id = document["run_id"]
    kind = document["kind"]
    details = [
        f"Results of symjax {kind}",
        f"run ID {run_id}",
        f"content hash {document['content_hash']}",
        f"{DISTRIBUTION} {prov['version']}",
    ]
    git = prov.get("git")
    if git:
        dirty = " (uncommitted changes)" if git["dirty"] else ""
        details.append(f"git commit {git['commit']}{dirty}")
    return _bibtex("misc", "symjax-run-" + run_id.removeprefix("sha256:"),
                   f"symjax {kind} run {run_id}", _year(prov), prov["version"], "; ".join(details))


def _year(provenance: dict) -> int:
    """Year the run ended (or started); the package year if neither is recorded."""
    for key in ("end_time", "start_time"):
        try:
            return _dt.datetime.fromisoformat(provenance[key]).year
        except (KeyError, TypeError, ValueError):
            continue
    return YEAR


def _bibtex(entry_type: str, key: str, title: str, year: int, version, note: str) -> str:
    """One BibTeX entry; every entry has the same fields, in this order."""
    fields = [("title", _protect(title)), ("author", "{" + AUTHORS + "}"), ("year", str(year)),
              ("version", tex_escape(str(version))), ("url", REPOSITORY),
              ("note", tex_escape(note))]
    width = max(len(name) for name, _ in fields)
    body = ",\n".join(f"  {name.ljust(width)} = {{{value}}}" for name, value in fields)
    return f"@{entry_type}{{{key},\n{body},\n}}"


def _protect(title: str) -> str:
    """Escape a title and brace the name symjax so that BibTeX styles keep its lowercase."""
    return tex_escape(title).replace("symjax", "{symjax}")
