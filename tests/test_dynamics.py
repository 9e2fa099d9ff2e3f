"""The numeric half of conservation laws, stability and rounding
(``symjax.experiments.dynamics``), with
negative controls: a quantity that is not conserved drifts, a wrong prediction is rejected, the
predicted growth matches finite differences of the training map, and the exact path never breaks
while an artificially broken tie is caught."""

from __future__ import annotations

import numpy as np
import pytest

from symjax import cli
from symjax.base.errors import InputError
from symjax.experiments import dynamics as dyn
from symjax.results.summary import seed_first_break

SEEDS, STEPS, LR = 32, 30, 0.05


@pytest.fixture(scope="module")
def gd_relu():
    return dyn.law_trajectories(seeds=SEEDS, steps=STEPS, lr=LR)


def test_relu_law_exact_under_gd(gd_relu):
    check = dyn.check_law(gd_relu, lr=LR)
    assert check["holds"]
    assert check["error_rounding_units"]["max"] < dyn.LAW_TOL_ROUNDING
    assert check["relative_error"]["median"] < 1e-6


@pytest.mark.parametrize("prediction", ["eta", "conserved"])
def test_wrong_prediction_is_rejected(gd_relu, prediction):
    check = dyn.check_law(gd_relu, lr=LR, prediction=prediction)
    assert not check["holds"]
    assert check["error_rounding_units"]["max"] > 1e6


def test_not_conserved_under_tanh_is_reported_drifting():
    traj = dyn.law_trajectories(activation="tanh", seeds=SEEDS, steps=STEPS, lr=LR)
    assert not dyn.check_law(traj, lr=LR)["holds"]


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_momentum_and_adam_drift_far_more_than_gd(gd_relu, optimizer):
    traj = dyn.law_trajectories(optimizer=optimizer, seeds=SEEDS, steps=STEPS, lr=LR)
    assert not dyn.check_law(traj, lr=LR)["holds"]
    assert dyn.law_drift(traj)["median"] > dyn.DRIFT_RATIO * dyn.law_drift(gd_relu)["median"]


def test_weight_decay_factor():
    traj = dyn.law_trajectories(optimizer="weight_decay", weight_decay=0.3, seeds=SEEDS,
                                steps=STEPS, lr=LR)
    assert dyn.check_law(traj, lr=LR, weight_decay=0.3)["holds"]
    # ignoring the decay (predicting the GD law) must fail
    assert not dyn.check_law(traj, lr=LR, weight_decay=0.0)["holds"]


def test_float32_law_at_float32_rounding():
    traj = dyn.law_trajectories(seeds=SEEDS, steps=STEPS, lr=LR, dtype="float32")
    assert dyn.check_law(traj, lr=LR, dtype="float32")["holds"]


def test_split_join_roundtrip():
    import jax.numpy as jnp

    theta = jnp.arange(9.0, dtype=jnp.float64) / 7
    s, d = dyn.split(theta)
    np.testing.assert_allclose(np.asarray(dyn.join(s, d)), np.asarray(theta), rtol=0, atol=1e-15)


def test_jacobian_matches_finite_differences_and_symbolic():
    import jax.numpy as jnp

    from symjax.numeric.inits import pinned_numerics

    with pinned_numerics("float64"):
        step = dyn.gd_map("sigmoid", "sigmoid", 0.5)
        theta = dyn.join(jnp.asarray([0.5, -1 / 3, 0.25, 1.0, 0.0]), jnp.zeros(4))
        m = np.asarray(dyn.anti_jacobian(step, theta))
        fd = np.asarray(dyn._fd_anti_jacobian(step, theta, 1e-5))
    np.testing.assert_allclose(m, fd, rtol=0, atol=1e-9)
    check = dyn.cross_check_symbolic(
        activation="sigmoid", output_activation="sigmoid", lr=0.5,
        points=[{"w1": 0.5, "w2": -1 / 3, "b1": 0.25, "w5": 1.0, "b3": 0.0}])
    assert check["agree"], check
    np.testing.assert_allclose(check["points"][0]["rho_jax"], check["points"][0]["rho_symbolic"],
                               rtol=1e-12)
    # the GD map of another learning rate must differ (negative control)
    step2 = dyn.gd_map("sigmoid", "sigmoid", 1.0)
    with pinned_numerics("float64"):
        m2 = np.asarray(dyn.anti_jacobian(step2, theta))
    assert np.max(np.abs(m2 - m)) > 1e-3


def test_predicted_growth_matches_measured():
    traj = dyn.stability_trajectories(seeds=16, steps=60, eps=(1e-8, 1e-4))
    assert traj["tied_broken"].max() == 0.0
    assert traj["fd_error"].max() < dyn.JACOBIAN_TOL
    pred = traj["predicted_unit"][:, :, None] * traj["eps"][None, None, :]
    rel = np.abs(traj["measured"] / pred - 1)
    assert np.median(rel) < 1e-5
    assert rel[..., 0].max() < 1e-4


def test_break_steps():
    curves = np.array([[0.0, 0.05, 0.2, 0.3], [0.0, 0.0, 0.0, 0.01]])
    assert dyn.break_steps(curves, 0.1).tolist() == [2, -1]


def test_exact_path_never_breaks_and_checker_catches_broken_tie():
    import warnings

    import symjax

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exact = symjax.verify(init="tied", path="exact", seeds=32, steps=20, optimizer="sgd",
                              dtype="float64", quiet=True)
        broken = symjax.verify(init="tied_eps", eps=1e-9, path="exact", seeds=32, steps=20,
                               optimizer="sgd", dtype="float64", quiet=True)
    (run,) = exact.runs.values()
    assert (seed_first_break(run.first_break) == -1).all()
    (run,) = broken.runs.values()
    assert (seed_first_break(run.first_break) == 0).all()


def test_seed_first_break():
    fb = np.array([[-1, 5, 3], [-1, -1, -1], [0, 2, -1]])
    assert seed_first_break(fb).tolist() == [3, -1, 0]


def test_bad_input():
    with pytest.raises(InputError, match="law optimizer"):
        dyn.law_trajectories(optimizer="lbfgs", seeds=2, steps=2)
    with pytest.raises(InputError, match="law prediction"):
        dyn.check_law({"Q": np.zeros((1, 2, 1)), "G": np.zeros((1, 1, 1)),
                       "scale": np.ones((1, 2, 1))}, lr=0.1, prediction="eta^3")
    with pytest.raises(InputError, match="lr"):
        dyn.law_trajectories(lr=float("nan"), seeds=2, steps=2)
    with pytest.raises(InputError, match="eps"):
        dyn.stability_trajectories(seeds=2, steps=2, eps=(-1.0,))
    with pytest.raises(InputError, match="hidden activation"):
        dyn.gd_map("softsign")
    with pytest.raises(InputError, match="dynamics part"):
        dyn.measure(["nope"])


@pytest.mark.parametrize("argv", [
    ["dynamics", "--part", "nope"],
    ["dynamics", "--dtype", "float16"],
    ["dynamics", "--seeds", "0"],
    ["dynamics", "--eps", "1e-3,abc"],
])
def test_cli_bad_input_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("symjax: error:") and len(err.strip().splitlines()) == 1


def test_render_has_measured_and_predicted(gd_relu):
    text = dyn.render({"laws": {
        "config": {"network": "2-2-1", "seeds": 1, "steps": 1, "lr": 0.1, "dtype": "float64",
                   "weight_decay": 0.1, "horizon": 1.0},
        "optimizers": {"weight_decay": {
            "check": {"error_rounding_units": {"median": 0.1, "max": 1.0}},
            "drift": {"median": 0.5}, "drift_ratio_to_gd": 2.0, "verdict": "law holds",
            "decay_factor_measured": {"median_value": 0.98}, "decay_factor_predicted": 0.98}},
        "controls": {}, "small_step": {"rows": [], "loglog_slope": 1.0}, "ok": True}})
    assert "predicted (1 - eta lambda)^2" in text and "laws: OK" in text


@pytest.mark.slow
def test_cli_writes_results_document(tmp_path, cli):
    from symjax.results.document import read_results

    out = tmp_path / "dyn.json"
    proc = cli("dynamics", "--part", "laws,stability", "--seeds", "16", "--steps", "40",
               "--json", out, env={"JAX_ENABLE_X64": "0"})
    assert proc.returncode == 0, proc.stderr
    doc = read_results(out)
    assert doc["kind"] == "dynamics"
    assert doc["results"]["laws"]["optimizers"]["gd"]["check"]["holds"]
    # The process's global flag is recorded as it was (off here); the float64 measurements pin
    # x64 themselves, so the laws still held to float64 rounding.
    assert doc["provenance"]["jax"]["enable_x64"] is False


def test_report_of_a_dynamics_run(tmp_path):
    """``symjax report`` reads a dynamics results directory: summary, report.md, figures; a
    document without its parts is refused with one line."""
    from symjax.report.writer import write_report
    from symjax.results.document import read_results, write_results

    parts = ["stability"]
    results = dyn.measure(parts, stability={"seeds": 8, "steps": 60, "eps": (1e-6, 1e-2)})
    config = {"parts": parts, "stability": results["stability"]["config"]}
    stored = {"stability": {k: v for k, v in results["stability"].items() if k != "config"},
              "ok": results["stability"]["ok"]}
    write_results(tmp_path, kind="dynamics", config=config, layout={}, results=stored)
    report = write_report(tmp_path, figures=False)
    summary = (report.out / "summary.txt").read_text()
    # The summary is rendered from the file, and equals the one rendered from memory.
    assert summary == dyn.render(results) + "\n"
    assert "Stability of the tied subspace" in (report.out / "report.md").read_text()
    assert read_results(tmp_path)["run_id"] in (report.out / "report.md").read_text()
    # its numbers as a booktabs table, only for the parts the run measured
    table = (report.out / "table_stability.tex").read_text()
    assert r"\toprule" in table and r"$1\times 10^{-6}$" in table and "--" in table
    assert not (report.out / "table_laws.tex").exists()
    _compiles(report.out, ["table_stability.tex"], "summary.tex")
    bad = tmp_path / "bad"
    write_results(bad, kind="dynamics", config={"parts": ["laws"]}, layout={}, results={})
    with pytest.raises(InputError, match="needs config.parts"):
        write_report(bad, figures=False)


def _compiles(directory, tables, *inputs):
    """The tables (in table floats) and other inputs compile in a two-column paper, and the
    tables fit a column; skipped without pdflatex."""
    import shutil
    import subprocess

    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex not found (Debian: apt-get install texlive-latex-base "
                    "texlive-latex-recommended)")
    body = [f"\\begin{{table}}[h]\\centering\\input{{{t}}}\\caption{{x}}\\end{{table}}"
            for t in tables] + [f"\\input{{{name}}}" for name in inputs]
    (directory / "paper.tex").write_text("\n".join([
        r"\documentclass[twocolumn]{article}", r"\usepackage{booktabs}", r"\usepackage{amsmath}",
        r"\begin{document}", *body, r"\end{document}", ""]))
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "paper.tex"], cwd=directory, capture_output=True,
                          text=True, timeout=120)
    log = (directory / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-2000:]
    for table in tables:
        after = log.split(f"(./{table}", 1)[1].split("(./", 1)[0]
        assert "Overfull \\hbox" not in after, table

