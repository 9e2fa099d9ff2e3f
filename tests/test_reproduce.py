"""``symjax reproduce``: bitwise re-runs, detected differences, environment differences.

The runs go through the command line in fresh processes (the ``cli`` fixture), the realistic
path: XLA flags and the device count are set before JAX loads, and x64 is off there (this test
process enables it in conftest; verify pins it per dtype anyway).
"""

from __future__ import annotations

import copy
import csv
import json
import shutil

import numpy as np
import pytest

from symjax.cli import main
from symjax.report.reproduce import Comparison, _mismatch, compare_npz
from symjax.results.document import write_results
from symjax.results.rundir import PARAMS_FILE, PER_SEED_FILE, file_sha256

VERIFY = ("verify", "--seeds", 64, "--steps", 50, "--init", "tied,normal", "--optimizer", "sgd",
          "--trajectory-every", 10, "--save-params", "--quiet")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("verify") / "run"
    done = run_cli(*VERIFY, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _results(path) -> dict:
    return json.loads((path / "results.json").read_text())


def _rewrite(path, *, config=None, layout=None, provenance=None):
    """Rewrite results.json with changed parts and a valid hash (as write_results does)."""
    doc = _results(path)
    write_results(path, kind="verify", config={**doc["config"], **(config or {})},
                  layout={**doc["layout"], **(layout or {})}, results=doc["results"],
                  provenance={**doc["provenance"], **(provenance or {})})


def test_reproduces_bit_for_bit(run_dir, cli):
    done = cli("reproduce", run_dir / "results.json", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = _results(run_dir)["run_id"]
    for name in (PER_SEED_FILE, PARAMS_FILE, "trajectories.npz", "summaries in results.json"):
        assert any(line.startswith(f"{name}: all ") and line.endswith("match bit for bit")
                   for line in done.stdout.splitlines()), name
    assert f"re-run {run_id} (identical)" in done.stdout
    assert done.stdout.rstrip().endswith("REPRODUCED bit for bit")


def test_changed_numbers_are_named(run_dir, tmp_path, cli):
    """One float in per_seed.csv moved by 1 ULP (the seed with the largest loss, so every
    summary still agrees with results.json) and one initial parameter in params.npz. The CSV's
    digest in results.json is recorded anew (a recorded run with these numbers): an edited CSV
    alone is refused as bad input (test_safety)."""
    copy = _copy(run_dir, tmp_path)
    with open(copy / PER_SEED_FILE, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    i_loss = head.index("final_loss")
    normal = [r for r in rows[1:] if r[0] == "normal"]
    worst = max(normal, key=lambda r: float(r[i_loss]))
    old = np.float32(worst[i_loss])
    worst[i_loss] = f"{np.nextafter(old, np.float32(np.inf)):.9g}"
    with open(copy / PER_SEED_FILE, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    doc = _results(copy)
    files = {PER_SEED_FILE: file_sha256(copy / PER_SEED_FILE)}
    write_results(copy, kind="verify", config=doc["config"], layout=doc["layout"],
                  results={**doc["results"], "files": files}, provenance=doc["provenance"])
    with np.load(copy / PARAMS_FILE) as data:
        arrays = dict(data)
    arrays["tied__sgd__init"][5, 2] *= np.float32(2)  # seed 5, w3
    np.savez(copy / PARAMS_FILE, **arrays)

    done = cli("reproduce", copy / "results.json", "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"run normal/sgd seed {worst[head.index('seed')]} column final_loss: " in out
    assert "1 ULP" in out and "per_seed.csv: 1 of " in out and "in final_loss (1)" in out
    assert "run tied/sgd (init) seed 5 parameter w3: " in out
    assert "trajectories.npz: all " in out  # what matched is said too
    assert "NOT REPRODUCED" in out


def test_edited_results_json_is_refused(run_dir, tmp_path, cli):
    copy = _copy(run_dir, tmp_path)
    text = (copy / "results.json").read_text()
    (copy / "results.json").write_text(text.replace('"steps": 50', '"steps": 51', 1))
    done = cli("reproduce", copy / "results.json")
    assert done.returncode == 2
    assert "content hash mismatch" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_inconsistent_per_seed_csv_is_refused(run_dir, tmp_path, capsys):
    copy = _copy(run_dir, tmp_path)
    text = (copy / PER_SEED_FILE).read_text().splitlines()
    (copy / PER_SEED_FILE).write_text("\n".join(text[:-3]) + "\n")  # lost rows
    assert main(["reproduce", str(copy / "results.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "per_seed.csv" in err and "rows" in err and "\n" not in err


def test_config_must_map_onto_verify(run_dir, tmp_path, capsys):
    copy = _copy(run_dir, tmp_path)
    _rewrite(copy, config={"momentum_typo": 0.9})
    assert main(["reproduce", str(copy)]) == 2
    assert "unknown momentum_typo" in capsys.readouterr().err


def test_environment_differs(run_dir, tmp_path, cli):
    copy = _copy(run_dir, tmp_path)
    doc = _results(copy)
    versions = {**doc["provenance"]["versions"], "jax": "0.4.30"}
    _rewrite(copy, layout={"device_kind": "TPU v9"}, provenance={"versions": versions})

    done = cli("reproduce", copy / "results.json")
    assert done.returncode == 2
    assert "jax: 0.4.30 recorded" in done.stderr
    assert "device kind: TPU v9 recorded, cpu here" in done.stderr
    assert "--tolerance" in done.stderr and not done.stdout

    done = cli("reproduce", copy / "results.json", "--tolerance", "1e-6", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "comparing floats within relative tolerance 1e-06" in done.stdout
    assert "layout device_kind: 'TPU v9' recorded, 'cpu' here" in done.stdout
    assert done.stdout.rstrip().endswith("REPRODUCED within relative tolerance 1e-06")


def test_other_xla_flags_are_an_environment_difference(run_dir, cli):
    done = cli("reproduce", run_dir, env={"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"})
    assert done.returncode == 2
    assert "XLA flags (only here: --xla_cpu_enable_fast_math=false)" in done.stderr


# -- the comparison itself (negative controls) ------------------------------------------------
def test_mismatch_is_bitwise_or_relative():
    a = np.array([1.0, 0.0, np.nan, 1.0], np.float32)
    b = np.array([1.0, -0.0, np.nan, np.nextafter(np.float32(1), np.float32(2))], np.float32)
    differs, near = _mismatch(a, b, None)
    assert differs.tolist() == [False, True, False, True]  # +0 and -0 differ in their bits
    differs, near = _mismatch(a, b, 1e-6)
    assert differs.tolist() == [False, False, False, False] and near == 2
    differs, _ = _mismatch(a, b, 1e-9)
    assert differs.tolist() == [False, False, False, True]
    ints = _mismatch(np.array([3, 4]), np.array([3, 5]), 0.5)[0]
    assert ints.tolist() == [False, True]  # integers exactly, whatever the tolerance


def test_compare_npz_names_missing_arrays():
    from types import SimpleNamespace

    run = SimpleNamespace(seeds=np.arange(2))
    a = {"names": np.array(["w1"]), "x__y__final": np.zeros((2, 1), np.float32)}
    result = compare_npz("params.npz", run, a, {"names": a["names"]}, None)
    assert isinstance(result, Comparison) and result.n_differences == 2
    assert "array x__y__final: recorded float32[2, 1], re-run missing" in result.differences


def _next_up(v):
    return np.nextafter(v, np.asarray(np.inf, v.dtype))


def test_every_seed_is_compared_up_to_the_last(run_dir):
    """One value moved by 1 ULP in the last seed of each file (and one summary field) is found
    and named; the unedited copy matches (negative control). In process, no re-run."""
    from symjax.report.reproduce import compare_per_seed, compare_summaries
    from symjax.report.run import load_run
    from symjax.results.rundir import TRAJECTORIES_FILE

    recorded = load_run(run_dir)
    last = int(recorded.seeds[-1])
    assert len(recorded.seeds) == 64 and last == 63
    rerun = copy.deepcopy(recorded)
    assert compare_per_seed(recorded, rerun, None).n_differences == 0
    assert compare_summaries(recorded, rerun, None).n_differences == 0
    column = rerun.per_seed[("normal", "sgd")]["final_loss"]
    column[-1] = _next_up(column[-1])
    got = compare_per_seed(recorded, rerun, None)
    assert got.n_differences == 1 and got.by_column == {"final_loss": 1}
    assert got.differences[0].startswith(f"run normal/sgd seed {last} column final_loss: ")
    assert "1 ULP" in got.differences[0]
    assert compare_per_seed(recorded, rerun, 1e-3).n_differences == 0  # within the tolerance

    s = next(s for s in rerun.summaries if s["init"] == "normal")
    s["solved"] += 1
    got = compare_summaries(recorded, rerun, None)
    assert got.n_differences == 1 and got.differences == [
        f"run normal/sgd solved: recorded {s['solved'] - 1}, re-run {s['solved']}"]

    for name, key, index, where in (
        (PARAMS_FILE, "normal__sgd__final", (-1, -1), f"run normal/sgd (final) seed {last} "
                                                     f"parameter b3"),
        (TRAJECTORIES_FILE, "normal__sgd__params", (-1, -1, 0),
         f"run normal/sgd (params) seed {last} step 50 parameter w1"),
    ):
        with np.load(run_dir / name) as data:
            a = dict(data)
        b = {k: v.copy() for k, v in a.items()}
        assert compare_npz(name, recorded, a, b, None).n_differences == 0
        b[key][index] = _next_up(b[key][index])
        got = compare_npz(name, recorded, a, b, None)
        assert got.n_differences == 1 and got.by_column == {key: 1}, name
        assert got.differences[0].startswith(f"{where}: recorded "), got.differences
        assert "1 ULP" in got.differences[0]


def test_a_run_recorded_before_the_realistic_options_reproduces(run_dir, tmp_path, cli, capsys):
    """A results.json written before --batch-size, --input-noise, --weight-decay and
    --schedule existed lacks them; their defaults are what it ran, so it re-runs bit for bit.
    Any other missing option is still refused."""
    from symjax.results.config import VerifyConfig

    NEWER_OPTIONS = [n for n, f in VerifyConfig.fields().items() if f.metadata["since_default"]]
    assert set(NEWER_OPTIONS) == {"batch_size", "input_noise", "weight_decay", "schedule"}

    copy = _copy(run_dir, tmp_path)
    doc = _results(copy)

    def write(drop):
        write_results(copy, kind="verify",
                      config={k: v for k, v in doc["config"].items() if k not in drop},
                      layout=doc["layout"], results=doc["results"],
                      provenance=doc["provenance"])

    write(("chunk",))
    assert main(["reproduce", str(copy)]) == 2
    assert "missing chunk" in capsys.readouterr().err
    write(NEWER_OPTIONS)
    done = cli("reproduce", copy / "results.json", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
