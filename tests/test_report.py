"""``symjax report``: tables, methods paragraph and figures from a verify directory."""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import sys

import numpy as np
import pytest

from symjax import InputError, __version__
from symjax._provenance import write_results
from symjax._report import (
    PARAMS_FILE,
    PER_SEED_FILE,
    TRAJECTORIES_FILE,
    load_run,
    trajectory_stats,
    write_report,
)
from symjax.cli import main

HAS_MATPLOTLIB = __import__("importlib.util").util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs the plots extra")
#: A tiny run: one symmetric init (covered by the theorem) and one random init with an
#: underscore in its name (LaTeX escaping), two optimizers.
RUN = dict(init="tied,glorot_normal", optimizer="sgd,adam", seeds=64, steps=50, quiet=True)
FIGURES = ("fraction_broken", "first_break", "min_unit_distance", "loss")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A verify run with trajectories (every 10 steps)."""
    import symjax

    out = tmp_path_factory.mktemp("verify") / "run"
    symjax.verify(**RUN, trajectory_every=10, out=out)
    return out


@pytest.fixture(scope="module")
def plain_dir(run_dir, tmp_path_factory):
    """The same run as recorded without trajectories: its results.json rewritten (valid hash)
    with ``trajectory_every`` 0 and no trajectories.npz (cheaper than compiling another run)."""
    out = tmp_path_factory.mktemp("verify") / "plain"
    shutil.copytree(run_dir, out)
    (out / TRAJECTORIES_FILE).unlink()
    doc = _results(run_dir)
    write_results(out, kind="verify", config={**doc["config"], "trajectory_every": 0},
                  layout=doc["layout"], results=doc["results"], provenance=doc["provenance"])
    return out


@pytest.fixture(scope="module")
def report_dir(run_dir, tmp_path_factory):
    """``symjax report`` of ``run_dir``, run as a command."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("report")
    done = run_cli("report", run_dir, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def _results(run_dir) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "report", ignore_errors=True)
    return dst


def _error(argv, capsys) -> str:
    """Run the CLI in this process; it must exit 2 with one line on stderr."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symjax: error: ") and "\n" not in err and "Traceback" not in err
    return err


def _tex_value(cell: str) -> str:
    """``$1.5\\times 10^{-5}$`` -> ``1.5e-05``; other cells unchanged."""
    match = re.fullmatch(r"\$(.*)\\times 10\^\{(-?\d+)\}\$", cell)
    return f"{match[1]}e{int(match[2]):+03d}" if match else cell


# -- files and numbers ---------------------------------------------------------------------
def test_report_writes_every_file(report_dir):
    names = {p.name for p in report_dir.iterdir()}
    assert {"report.md", "table.tex", "summary.csv", "methods.txt", "methods.tex"} <= names
    if HAS_MATPLOTLIB:
        assert {f"{f}.{ext}" for f in FIGURES for ext in ("png", "pdf")} <= names
    assert "appendix_proof.tex" not in names  # no proof.json in the run directory


@needs_matplotlib
def test_figures_are_real_images(report_dir):
    for name in FIGURES:
        png = (report_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 1000 and height >= 250 and len(png) > 20_000
        pdf = (report_dir / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
        assert "![Figure" in (report_dir / "report.md").read_text()


def test_summary_csv_equals_results(run_dir, report_dir):
    doc = _results(run_dir)
    with open(report_dir / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["results"]["summaries"])
    for row, summary in zip(rows, doc["results"]["summaries"]):
        assert row["run_id"] == doc["run_id"]
        for key, value in summary.items():
            if value is None:
                assert row[key] == ""
            elif isinstance(value, bool):
                assert row[key] == str(value).lower()
            elif isinstance(value, float):
                assert float(row[key]) == value  # full precision, exactly
            else:
                assert row[key] == str(value)


def _expected_cells(s: dict) -> dict:
    """The table cells of one summary, computed here from results.json."""
    fb = ("never" if s["first_break_median"] is None else
          f"{s['first_break_median']:g} [{s['first_break_min']}, {s['first_break_max']}]")
    return {
        "init": s["init"], "optimizer": s["optimizer"], "lr": f"{s['lr']:.4g}",
        "seeds": str(s["seeds"]), "broken": str(s["seeds_broken"]),
        "at0": str(s["broken_at_step_0"]), "first": fb,
        "pairs": f"{s['pairs_preserved']}/{s['pairs_total']}", "ulp": str(s["max_ulp"]),
        "solved": str(s["solved"]), "loss": f"{s['final_loss_median']:.4g}",
        "dist": f"{s['min_unit_distance_median']:.4g}", "nonfinite": str(s["nonfinite"]),
        "theorem": ("not covered" if not s["expected_preserved"] else
                    "holds" if s["invariant_holds"] else "VIOLATED"),
    }


def test_markdown_table_equals_results(run_dir, report_dir):
    summaries = _results(run_dir)["results"]["summaries"]
    text = (report_dir / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]  # header, rule
    assert len(rows) == len(summaries)
    for line, s in zip(rows, summaries):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells == list(_expected_cells(s).values())


def test_latex_table_equals_results(run_dir, report_dir):
    summaries = _results(run_dir)["results"]["summaries"]
    text = (report_dir / "table.tex").read_text()
    assert "\\toprule" in text and "\\bottomrule" in text and "\\begin{tabular}" in text
    body = text.split("\\midrule\n")[1].split("\\bottomrule")[0]
    rows = [r for r in body.splitlines() if r.endswith("\\\\")]
    assert len(rows) == len(summaries)
    previous = None
    for line, s in zip(rows, summaries):
        cells = [c.strip() for c in line.removesuffix("\\\\").split("&")]
        expected = _expected_cells(s)
        init = f"\\texttt{{{s['init'].replace('_', chr(92) + '_')}}}"
        assert cells[0] == ("" if s["init"] == previous else init)
        assert cells[1] == f"\\texttt{{{s['optimizer']}}}"
        assert [_tex_value(c) for c in cells[2:]] == list(expected.values())[2:]
        previous = s["init"]


def test_methods_paragraph_states_the_run(run_dir, report_dir):
    doc = _results(run_dir)
    summaries = doc["results"]["summaries"]
    covered = [s for s in summaries if s["expected_preserved"]]
    kept = sum(s["seeds_all_pairs_preserved"] for s in covered)
    total = sum(s["seeds"] for s in covered)
    assert covered and kept == total == 2 * 64  # tied x (sgd, adam), the theorem holds
    text = (report_dir / "methods.txt").read_text()
    for phrase in [
        doc["run_id"], "64 seeds (seed numbers 0–63)", "2-2-1 network", "tanh hidden units",
        "sigmoid output", "squared-error loss", "on XOR", "50 full-batch steps",
        "SGD and Adam (learning rates 2 and 0.05)", "exact fixed-order path", "float32",
        f"tied parameters remained bitwise equal in {kept} of {total} seeds",
        f"symjax {doc['provenance']['version']}",
    ]:
        assert phrase in text, phrase
    random = [s for s in summaries if not s["expected_preserved"]]
    broken = sum(s["seeds_broken"] for s in random)
    assert f"symmetry was broken in {broken} of {sum(s['seeds'] for s in random)} seeds" in text
    tex = (report_dir / "methods.tex").read_text()
    assert f"\\texttt{{{doc['run_id']}}}" in tex and "\\texttt{glorot\\_normal}" in tex
    assert "glorot_normal" not in tex.replace("\\_", "") and "0--63" in tex


# -- trajectories ----------------------------------------------------------------------------
def test_trajectory_distance_agrees_with_the_engine(run_dir):
    run = load_run(run_dir)
    stats = trajectory_stats(run)
    assert list(stats.steps) == [0, 10, 20, 30, 40, 50]
    for init, opt in run.runs:
        final = run.per_seed[(init, opt)]["min_unit_distance"].astype(np.float64)
        np.testing.assert_allclose(stats.distance[(init, opt)].median[-1], np.median(final),
                                   rtol=1e-5)
        # tied units stay exactly at distance 0; random ones never are (negative control)
        assert stats.tied[(init, opt)] == (init == "tied")


def test_no_trajectories_says_how_to_get_them(plain_dir, tmp_path):
    report = write_report(plain_dir, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "--trajectory-every 1" in text and "--seeds 64" in text and "--steps 50" in text
    assert "--init tied,glorot_normal" in text
    assert not any("min_unit_distance" in p.name or p.name.startswith("loss")
                   for p in report.files)
    if HAS_MATPLOTLIB:
        assert (tmp_path / "fraction_broken.png").is_file()


def test_missing_trajectories_file_is_a_note(run_dir, tmp_path):
    copy = _copy(run_dir, tmp_path)
    (copy / TRAJECTORIES_FILE).unlink()
    report = write_report(copy, figures=False)
    assert any("missing although the run recorded them every 10 steps" in n
               for n in report.notes)


def test_without_matplotlib_tables_still_written(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = write_report(run_dir, tmp_path)
    assert any("pip install symjax-proofs[plots]" in n for n in report.notes)
    assert "symjax-proofs[plots]" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "table.tex").is_file()


# -- proof appendix --------------------------------------------------------------------------
def _theorem():
    from symjax.symbolic._theorem import ProofStep, Theorem

    return Theorem("Tied units stay tied.", ["2-2-1, tanh"], "proven",
                   steps=[ProofStep("The gradient is equivariant.", r"g(Px) = P g(x)")])


def test_proof_appendix_from_theorem_json(run_dir, tmp_path):
    copy = _copy(run_dir, tmp_path)
    (copy / "proof.json").write_text(_theorem().to_json())
    write_report(copy, figures=False)
    text = (copy / "report" / "appendix_proof.tex").read_text()
    assert text.endswith(_theorem().to_latex()) and "g(Px) = P g(x)" in text


def test_proof_appendix_from_results_document(run_dir, tmp_path):
    copy = _copy(run_dir, tmp_path)
    doc = write_results(copy / "proof.json", kind="prove", config={}, layout={},
                        results={"theorem": _theorem().to_dict(), "latex": "\\emph{proof}\n"})
    write_report(copy, figures=False)
    text = (copy / "report" / "appendix_proof.tex").read_text()
    assert "\\emph{proof}" in text and doc["run_id"] in text
    # edited after it was written: refused like any results file
    (copy / "proof.json").write_text((copy / "proof.json").read_text().replace("emph", "textbf"))
    with pytest.raises(InputError, match="content hash mismatch"):
        write_report(copy, figures=False)


def test_unrecognised_proof_json_is_a_note(run_dir, tmp_path):
    copy = _copy(run_dir, tmp_path)
    (copy / "proof.json").write_text('{"something": "else"}')
    report = write_report(copy, figures=False)
    assert any("no proof appendix" in n for n in report.notes)
    assert not (copy / "report" / "appendix_proof.tex").exists()


# -- bad input: one line, exit 2 ----------------------------------------------------------------
def _edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def _replace_csv_cell(path, row: int, column: str, value):
    """Set one cell; ``value`` is a string or a function of the old string."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    j = rows[0].index(column)
    rows[row][j] = value(rows[row][j]) if callable(value) else value
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


BAD_INPUTS = {
    "missing directory": (lambda d: shutil.rmtree(d), "does not exist"),
    "truncated results": (lambda d: (d / "results.json").write_text(
        (d / "results.json").read_text()[:500]), "not valid JSON"),
    "other schema version": (lambda d: _edit_json(
        d / "results.json", lambda doc: doc.update(schema_version=2)), "schema_version 2"),
    "edited results": (lambda d: _edit_json(
        d / "results.json", lambda doc: doc["results"]["summaries"][0].update(solved=1)),
        "content hash mismatch"),
    "missing per_seed.csv": (lambda d: (d / PER_SEED_FILE).unlink(), "per_seed.csv is missing"),
    "truncated per_seed.csv": (lambda d: (d / PER_SEED_FILE).write_text(
        (d / PER_SEED_FILE).read_text()[:-40]), "truncated"),
    "per_seed.csv inconsistent": (lambda d: _replace_csv_cell(
        d / PER_SEED_FILE, 1, "solved", lambda old: str(1 - int(old))),
        "solved is"),
    "per_seed.csv of another run": (lambda d: _replace_csv_cell(
        d / PER_SEED_FILE, 3, "init", "zeros"), "names run zeros/sgd"),
    "per_seed.csv not a number": (lambda d: _replace_csv_cell(
        d / PER_SEED_FILE, 2, "final_loss", "0.1x"), "holds '0.1x', not a number"),
    "negative max_ulp": (lambda d: _replace_csv_cell(
        d / PER_SEED_FILE, 2, "max_ulp", "-1"), "not an integer in range"),
    "truncated trajectories": (lambda d: (d / TRAJECTORIES_FILE).write_bytes(
        (d / TRAJECTORIES_FILE).read_bytes()[:3000]), "truncated or corrupted"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(case, run_dir, tmp_path, capsys):
    copy = _copy(run_dir, tmp_path)
    damage, expected = BAD_INPUTS[case]
    damage(copy)
    assert expected in _error(["report", copy], capsys)


def test_verify_file_names_match_the_engine():
    from symjax import _verifier

    assert (PER_SEED_FILE, PARAMS_FILE, TRAJECTORIES_FILE) == (
        _verifier.CSV_FILE, _verifier.PARAMS_FILE, _verifier.TRAJECTORIES_FILE)
    assert __version__  # the methods paragraph names it
