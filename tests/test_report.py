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
from symjax.cli import main
from symjax.report.run import load_run
from symjax.report.stats import trajectory_stats
from symjax.report.writer import write_report
from symjax.results.document import write_results
from symjax.results.rundir import PER_SEED_FILE, TRAJECTORIES_FILE

HAS_MATPLOTLIB = __import__("importlib.util").util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs the plots extra")
#: A tiny run: one symmetric init (covered by the theorem) and one random init with an
#: underscore in its name (LaTeX escaping), two optimizers.
RUN = dict(init="tied,glorot_normal", optimizer="sgd,adam", seeds=64, steps=50, quiet=True)
FIGURES = ("solved_fraction", "min_unit_distance", "loss")
TEX_FILES = ("methods.tex", "table_symmetry.tex", "table_training.tex")


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
    assert {"report.md", "summary.csv", "methods.txt", *TEX_FILES} <= names
    if HAS_MATPLOTLIB:
        assert {f"{f}.{ext}" for f in FIGURES for ext in ("png", "pdf", "tex")} <= names
        # every break was at step 0 (tied never breaks, glorot_normal at initialization)
        assert "first_break.png" not in names
    assert "appendix_proof.tex" not in names  # no proof.json in the run directory


@needs_matplotlib
def test_figures_are_real_images(report_dir):
    for name in FIGURES:
        png = (report_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 1000 and height >= 200 and len(png) > 20_000
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
        "solved": str(s["solved"]), "ci": _ci(s["solved"], s["seeds"]),
        "loss": f"{s['final_loss_median']:.4g}",
        "dist": f"{s['min_unit_distance_median']:.4g}", "nonfinite": str(s["nonfinite"]),
        "theorem": ("not covered" if not s["expected_preserved"] else
                    "holds" if s["invariant_holds"] else "VIOLATED"),
    }


def _ci(k: int, n: int) -> str:
    """The 95% Wilson interval in percent, computed here independently (scipy-free)."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    lo, hi = (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)
    return "–".join(f"{100 * x:.2f}" if 0 < 100 * x < 1 else f"{100 * x:.1f}" for x in (lo, hi))


def test_wilson_interval_known_values():
    from symjax.report.stats import wilson_interval

    # Wilson (1927) / Newcombe (1998) example: 81 of 263 -> 0.2553 to 0.3662
    lo, hi = wilson_interval(81, 263)
    assert abs(lo - 0.2553) < 5e-5 and abs(hi - 0.3662) < 5e-5
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] > 0.2  # an empty count still has an upper bound


def test_markdown_table_equals_results(run_dir, report_dir):
    summaries = _results(run_dir)["results"]["summaries"]
    text = (report_dir / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]  # header, rule
    assert len(rows) == len(summaries)
    for line, s in zip(rows, summaries):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells == list(_expected_cells(s).values())


def test_latex_tables_equal_results(run_dir, report_dir):
    summaries = _results(run_dir)["results"]["summaries"]
    for name, columns in (("table_symmetry", ("broken", "first", "ulp3", "thm")),
                          ("table_training", ("solved_of", "ci", "loss3", "dist3"))):
        text = (report_dir / f"{name}.tex").read_text()
        assert "\\toprule" in text and "\\bottomrule" in text and "\\begin{tabular}" in text
        body = text.split("\\midrule\n")[1].split("\\bottomrule")[0]
        lines = [r.removeprefix("\\addlinespace ") for r in body.splitlines()
                 if r.endswith("\\\\")]
        headings = [r for r in lines if r.startswith("\\multicolumn")]
        rows = [r for r in lines if not r.startswith("\\multicolumn")]
        assert len(rows) == len(summaries)
        inits = list(dict.fromkeys(s["init"] for s in summaries))
        assert headings == [f"\\multicolumn{{{len(columns) + 1}}}{{@{{}}l}}{{\\texttt{{"
                            f"{i.replace('_', chr(92) + '_')}}}}} \\\\" for i in inits]
        for line, s in zip(rows, summaries):
            cells = [c.strip() for c in line.removesuffix("\\\\").split("&")]
            assert cells[0] == "\\quad " + {"sgd": "SGD", "adam": "Adam"}[s["optimizer"]]
            n = s["seeds"]
            expected = {
                "broken": str(s["seeds_broken"]),
                "first": _expected_cells(s)["first"],
                "ulp3": str(s["max_ulp"]) if s["max_ulp"] < 10**6 else f"{s['max_ulp']:.1e}",
                "thm": "holds" if s["expected_preserved"] else "n/a",
                "solved_of": f"{s['solved']}/{n}",
                "ci": _ci(s["solved"], n).replace("–", "--"),
                "loss3": f"{s['final_loss_median']:.3g}",
                "dist3": f"{s['min_unit_distance_median']:.3g}",
            }
            assert [_tex_value(c) for c in cells[1:]] == [expected[k] for k in columns]


def test_methods_paragraph_states_each_run_never_pooled(run_dir, report_dir):
    doc = _results(run_dir)
    summaries = doc["results"]["summaries"]
    text = (report_dir / "methods.txt").read_text()
    setup, groups, definitions = text.strip().split("\n\n")
    for phrase in [
        "64 seeds (seed numbers 0–63)", "2-2-1 network", "tanh hidden units",
        "sigmoid output", "squared-error loss", "on XOR", "50 full-batch steps",
        "SGD and Adam", "exact fixed-order path", "float32",
    ]:
        assert phrase in setup, phrase
    assert doc["run_id"] in groups and f"symjax {doc['provenance']['version']}" in groups
    # one sentence per init x optimizer run, in table order, each with its own counts
    inits = {s["init"] for s in summaries}
    sentences = [g for g in groups.split(". ") if g.split(" with ")[0] in inits]
    assert len(sentences) == len(summaries)
    for sentence, s in zip(sentences, summaries):
        n = s["seeds"]
        lr = {"sgd": "2", "adam": "0.05"}[s["optimizer"]]
        opt = "SGD" if s["optimizer"] == "sgd" else "Adam"
        assert sentence.startswith(f"{s['init']} with {opt} (learning rate {lr})")
        assert f"XOR was solved in {s['solved']} of {n} (" in sentence
        assert f"95% CI {_ci(s['solved'], n)}%" in sentence
        if s["expected_preserved"]:
            kept = s["seeds_all_pairs_preserved"]
            assert f"stayed bitwise equal in {kept} of {n} seeds" in sentence
        else:
            assert f"symmetry was broken in {s['seeds_broken']} of {n} (" in sentence
    # negative control: no number pooled over runs (the sums over runs appear nowhere)
    total = sum(s["seeds"] for s in summaries)
    assert f"of {total} " not in text and f"{sum(s['solved'] for s in summaries)} of " not in text
    for word in ("Solved", "ULP distance", "unit distance", "first break", "Wilson"):
        assert word.lower() in definitions.lower(), word
    tex = (report_dir / "methods.tex").read_text()
    assert f"\\texttt{{{doc['run_id']}}}" in tex and "\\texttt{glorot\\_normal}" in tex
    assert "glorot_normal" not in tex.replace("\\_", "") and "0--63" in tex
    assert "$\\eta = 2$" in tex and "$\\eta = 0.05$" in tex and "95\\% CI" in tex


def test_optimizer_hyperparameters_do_not_clash_with_parameter_names(run_dir):
    """Adam's b1/b2/eps and the learning rate are Greek letters in LaTeX; the network's biases
    b1, b2 stay code; tied_eps's perturbation is delta, not epsilon."""
    from symjax.report.text import LATEX, PLAIN, methods_paragraph

    run = load_run(run_dir)
    run.document["config"] = {**run.config, "optimizer": ["sgd", "adam:b1=0.8:b2=0.99:eps=1e-07"],
                              "init": [*run.config["init"], "tied_eps"]}
    tex = methods_paragraph(run, LATEX)
    assert "Adam ($\\beta_1 = 0.8$, $\\beta_2 = 0.99$, $\\epsilon = 1\\times 10^{-7}$)" in tex
    assert "$\\delta = 0.001$" in tex and "\\epsilon = 0.001" not in tex
    assert "\\texttt{w1=w3, w2=w4, w5=w6, b1=b2}" in tex
    outside_code = re.sub(r"\\texttt\{[^}]*\}", "", tex)
    for clash in (r"\bb1\b", r"\bb2\b", r"\blr\b", r"\beps\b", r"m\\_p"):
        assert not re.search(clash, outside_code), clash
    assert "adam:b1" not in tex
    # negative control: the plain text keeps optax's names (a user types them)
    assert "b1=0.8" in methods_paragraph(run, PLAIN)


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
        assert (tmp_path / "solved_fraction.png").is_file()


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
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "table_training.tex").is_file()


# -- proof appendix --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def proofs(tmp_path_factory):
    """``symjax prove --json`` of the run's network (proven), of 2-3-1 and of a refuted tie."""
    out = tmp_path_factory.mktemp("proofs")
    made = {}
    for name, argv in (("good", []), ("other_net", ["--widths", "2,3,1"]),
                       ("refuted", ["--ties", "w1=w3"])):
        made[name] = out / f"{name}.json"
        assert main(["prove", *argv, "--json", str(made[name])]) in (0, 1)
    return made


def test_proof_appendix_is_regenerated_not_copied(run_dir, proofs, tmp_path, capsys):
    copy = _copy(run_dir, tmp_path)
    doc = json.loads(proofs["good"].read_text())
    doc["latex"] = "\\immediate\\write18{touch pwned}" + doc["latex"]  # not hashed by prove
    (copy / "proof.json").write_text(json.dumps(doc))
    report = write_report(copy, figures=False)
    text = (copy / "report" / "appendix_proof.tex").read_text()
    assert "write18" not in text and "immediate" not in text
    assert "\\item[Verdict] \\textbf{proven}" in text and "dJ" in text.replace("\\", "")
    assert any("regenerated" in n for n in report.notes)
    # a step's LaTeX edited inside the theorem: the derived theorem differs, refused
    doc = json.loads(proofs["good"].read_text())
    doc["steps"][0]["latex"] = "\\input{/etc/passwd}"
    (copy / "proof.json").write_text(json.dumps(doc))
    assert "differs (steps)" in _error(["report", copy, "--no-figures"], capsys)


@pytest.mark.parametrize("case, message", [
    ("other_net", "the proof is about widths 2,3,1, run sha256:"),
    ("refuted", "the proof's verdict is refuted"),
    ("lemmas", "differs (lemmas)"),
    ("not a proof", "not a proof written by symjax prove --json"),
])
def test_proof_that_does_not_match_the_run_is_refused(run_dir, proofs, tmp_path, capsys, case,
                                                      message):
    proof = tmp_path / "p.json"
    if case in ("other_net", "refuted"):
        shutil.copy(proofs[case], proof)
    elif case == "lemmas":
        proof.write_text(json.dumps({**json.loads(proofs["good"].read_text()), "lemmas": [5]}))
    else:
        proof.write_text('{"something": "else"}')
    out = tmp_path / "report"
    err = _error(["report", run_dir, "--out", out, "--proof", proof], capsys)
    assert message in err and str(proof) in err
    assert not out.exists()  # nothing written


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


def test_run_directory_file_names_are_the_documented_ones():
    """Users' scripts open these files by name: one definition, spelled as documented."""
    from symjax.results import rundir

    assert (rundir.PER_SEED_FILE, rundir.PARAMS_FILE, rundir.TRAJECTORIES_FILE,
            rundir.SAMPLE_FILE, rundir.REPORT_DIR) == (
        "per_seed.csv", "params.npz", "trajectories.npz", "trajectory_sample.npz", "report")
    assert __version__  # the methods paragraph names it


# -- a report belongs to one run; never written through a link ----------------------------------
def test_report_directory_or_file_that_is_a_link_is_refused(run_dir, tmp_path, capsys):
    copy = _copy(run_dir, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (copy / "report").symlink_to(victim)
    assert "is a symbolic link" in _error(["report", copy, "--no-figures"], capsys)
    assert not list(victim.iterdir())
    (copy / "report").unlink()
    (copy / "report").mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    (copy / "report" / "methods.txt").symlink_to(target)
    assert "methods.txt is a symbolic link" in _error(["report", copy, "--no-figures"], capsys)
    assert target.read_text() == "keep"


def test_report_of_another_run_is_not_mixed_and_verify_removes_a_stale_report(
        run_dir, plain_dir, tmp_path, capsys):
    out = tmp_path / "shared"
    write_report(run_dir, out, figures=False)
    assert (out / "report_of_run.txt").read_text().strip() == _results(run_dir)["run_id"]
    err = _error(["report", plain_dir, "--out", out, "--no-figures"], capsys)
    assert f"holds the report of run {_results(run_dir)['run_id']}" in err
    write_report(run_dir, out, figures=False)  # the same run again: fine
    # a new verify run into a directory removes the old run's report
    import symjax

    again = _copy(run_dir, tmp_path)
    write_report(again, figures=False)
    assert (again / "report" / "methods.txt").is_file()
    symjax.verify(**RUN, trajectory_every=10, out=again)
    assert not (again / "report").exists()


def test_edited_per_seed_file_is_refused_by_report_and_cite(run_dir, tmp_path, capsys):
    """An edit that keeps every summary (a seed's initial unit distance) is caught by the
    SHA-256 that results.json records; the summary cross-checks alone would miss it."""
    copy = _copy(run_dir, tmp_path)
    _replace_csv_cell(copy / PER_SEED_FILE, 1, "min_unit_distance_init",
                      lambda old: repr(float(old) * 1.5 + 1.0))
    for argv in (["report", copy, "--no-figures"], ["cite", "--results", copy]):
        assert "differs from the sha256:" in _error(argv, capsys)
    assert not (copy / "report").exists()


# -- the default run: trajectory sample, figures by outcome, LaTeX that compiles -----------------
@pytest.fixture(scope="module")
def default_dir(tmp_path_factory):
    """A run as a new user makes it: no trajectory option (verify writes the sample)."""
    import symjax

    out = tmp_path_factory.mktemp("verify") / "default"
    symjax.verify(**RUN, out=out)
    return out


def test_default_run_records_a_trajectory_sample(default_dir):
    from symjax.experiments.verify import SAMPLE_SEEDS

    run = load_run(default_dir)
    with np.load(default_dir / "trajectory_sample.npz") as data:
        assert str(data["run_id"]) == run.run_id
        assert list(data["seeds"]) == list(range(min(64, SAMPLE_SEEDS)))
        steps = list(data["steps"])
    assert steps[0] == 0 and steps[-1] == 50 and steps == sorted(set(steps))
    stats = trajectory_stats(run)
    assert stats.source == "trajectory_sample.npz"
    for (init, opt), split in stats.outcomes.items():
        solved = int(run.per_seed[(init, opt)]["solved"].sum())
        assert (split["solved"].seeds if split["solved"] else 0) == solved
        assert (split["stuck"].seeds if split["stuck"] else 0) == 64 - solved
    # the sample re-runs the first seeds: the same losses as the run itself, to rounding
    final = stats.loss[("glorot_normal", "sgd")].median[-1]
    np.testing.assert_allclose(final, np.median(
        run.per_seed[("glorot_normal", "sgd")]["final_loss"].astype(np.float64)), rtol=1e-4)
    # a sample of another run is refused (negative control)
    other = dict(np.load(default_dir / "trajectory_sample.npz"))
    other["run_id"] = np.asarray("sha256:0000000000000000")
    bad = _copy(default_dir, default_dir.parent / "bad-sample")
    np.savez(bad / "trajectory_sample.npz", **other)
    with pytest.raises(InputError, match="belongs to run sha256:0000000000000000"):
        trajectory_stats(load_run(bad))


PDFLATEX = shutil.which("pdflatex")


@needs_matplotlib
@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not found (Debian: apt-get install "
                    "texlive-latex-base texlive-latex-recommended)")
def test_every_tex_file_compiles_and_tables_fit_a_column(default_dir, proofs, tmp_path):
    import subprocess

    shutil.copy(proofs["good"], default_dir / "proof.json")
    try:
        report = write_report(default_dir, tmp_path / "r", width="column")
    finally:
        (default_dir / "proof.json").unlink()
    tex = sorted(p.name for p in report.files if p.suffix == ".tex")
    assert {*TEX_FILES, "appendix_proof.tex", "solved_fraction.tex", "loss.tex"} <= set(tex)
    body = []
    for name in tex:
        if name.startswith("table_"):
            body.append(f"\\begin{{table}}[h]\\centering\\input{{{name}}}\\caption{{x}}"
                        f"\\end{{table}}")
        else:
            body.append(f"\\input{{{name}}}")
    (tmp_path / "r" / "paper.tex").write_text("\n".join([
        r"\documentclass[twocolumn]{article}", r"\usepackage{booktabs}",
        r"\usepackage{graphicx}", r"\usepackage{amsmath}", r"\begin{document}", *body,
        r"\end{document}", ""]))
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "paper.tex"], cwd=tmp_path / "r",
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "r" / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert (tmp_path / "r" / "paper.pdf").read_bytes().startswith(b"%PDF")
    # the tables fit one column of a two-column paper (the appendix's displayed formulas are
    # SymPy's and may be wider)
    for table in ("table_symmetry", "table_training"):
        after = log.split(f"(./{table}.tex", 1)[1].split("(./", 1)[0]
        assert "Overfull \\hbox" not in after, table
    assert "Undefined control sequence" not in log


def test_verify_help_lists_the_choices(capsys):
    from symjax.base.choices import ACTIVATIONS
    from symjax.numeric.optimizers import OPTIMIZERS
    from symjax.results.config import OPTIMIZER_CHOICES

    assert OPTIMIZER_CHOICES == OPTIMIZERS  # the help's list (no JAX) is the registry's
    with pytest.raises(SystemExit) as done:
        main(["verify", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in (*ACTIVATIONS, *OPTIMIZERS, "he_normal", "tied_eps", "bce"):
        assert name in text, name


def test_text_from_files_cannot_end_a_latex_comment(run_dir, tmp_path):
    """provenance is not hashed: a version with a line break must not become LaTeX."""
    from symjax.report.text import latex_table

    run = load_run(run_dir)
    run.document["provenance"] = {**run.document["provenance"],
                                  "version": "1\n\\immediate\\write18{touch x}"}
    text = latex_table(run, "table_symmetry")
    assert "\n\\immediate" not in text and "write18" in text.splitlines()[0]
    assert text.splitlines()[0].startswith("% ")


@needs_matplotlib
def test_break_step_figure_only_for_runs_that_break_after_step_0(run_dir):
    from symjax.report import plots as _plots

    run = load_run(run_dir)
    files: dict[str, bytes] = {}
    assert _plots.later_break_runs(run) == []
    assert "first_break" not in _plots.write_figures(run, None, files.__setitem__)
    # positive control: one seed of glorot_normal/adam first broke at step 7
    cols = run.per_seed[("glorot_normal", "adam")]
    cols["first_break_step"][3] = 7
    summary = next(s for s in run.summaries if (s["init"], s["optimizer"]) ==
                   ("glorot_normal", "adam"))
    summary["broken_at_step_0"] -= 1
    assert _plots.later_break_runs(run) == [("glorot_normal", "adam")]
    assert "first_break" in _plots.write_figures(run, None, files.__setitem__)
    assert files["first_break.pdf"].startswith(b"%PDF")
