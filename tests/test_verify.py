"""``symjax.verify`` and ``symjax verify``: options, results files, errors, XLA flags."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import symjax
from symjax import InputError
from symjax.experiments.verify import SymjaxWarning, resolve, verify
from symjax.numeric.net import VECTOR_MAX_WIDTH
from symjax.numeric.optimizers import parse_optimizers
from symjax.results.config import DEFAULTS, VerifyConfig


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify")
    res = verify(init="tied,normal", optimizer="sgd,adam", seeds=50, steps=40, out=out,
                 save_params=True, quiet=True)
    return res, out


def test_public_names():
    assert symjax.verify is verify
    assert "verify" in symjax.__all__ and "configure_xla" in symjax.__all__


def test_results_json_has_config_layout_results(small):
    res, out = small
    doc = symjax.read_results(out)
    assert doc["kind"] == "verify"
    # the CLI option names, nothing else; options added later only when away from their default
    recorded = {n for n, f in VerifyConfig.fields().items() if not f.metadata["since_default"]}
    assert set(doc["config"]) == recorded
    assert doc["config"]["lr"] == [2.0, 0.05] and doc["config"]["optimizer"] == ["sgd", "adam"]
    assert doc["config"]["ties"] == "w1=w3,w2=w4,w5=w6,b1=b2"
    layout = doc["layout"]
    assert layout["path_used"] == "exact" and layout["prng_impl"] == "threefry2x32"
    assert layout["devices"] >= 1 and layout["seeds_per_call"] == 50
    results = doc["results"]
    assert results["ok"] is True and len(results["summaries"]) == 4
    assert "pairs_preserved" in results["definitions"]
    assert doc["provenance"]["timing"]["compile_seconds"].keys() == {"sgd", "adam"}
    assert res.to_dict()["config"] == doc["config"]


def test_config_reruns_the_same_run_bitwise(small):
    res, _ = small
    again = verify(**res.config, quiet=True)
    assert again.summaries == res.summaries
    for key, r in res.runs.items():
        np.testing.assert_array_equal(r.first_break, again.runs[key].first_break)
        np.testing.assert_array_equal(r.final_loss.view(np.uint32),
                                      again.runs[key].final_loss.view(np.uint32))


def test_per_seed_csv_and_params(small):
    res, out = small
    with open(out / "per_seed.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 50
    assert list(rows[0])[:5] == ["init", "optimizer", "seed", "first_break_step", "max_ulp"]
    assert {"first_break_w1_w3", "final_loss", "solved", "min_unit_distance", "nonfinite",
            "nonfinite_step"} <= set(rows[0])
    tied = [r for r in rows if r["init"] == "tied"]
    assert all(r["first_break_step"] == "-1" and r["max_ulp"] == "0" for r in tied)
    normal = [r for r in rows if r["init"] == "normal"]
    assert all(r["first_break_step"] == "0" for r in normal)
    params = np.load(out / "params.npz")
    assert params["names"].tolist() == ["w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3"]
    assert params["tied__adam__init"].shape == params["normal__sgd__final"].shape == (50, 9)
    np.testing.assert_array_equal(params["tied__sgd__init"], params["tied__adam__init"])


def test_table_lists_every_combination(small):
    res, _ = small
    text = res.table()
    assert text.count("\n") >= 6 and "HOLDS" in text
    for init in ("tied", "normal"):
        for opt in ("sgd", "adam"):
            assert any(line.split()[:2] == [init, opt] for line in text.splitlines())


def test_learning_rate_forms():
    assert [o.lr for o in parse_optimizers("sgd,adam")] == [2.0, 0.05]
    assert [o.lr for o in parse_optimizers("sgd,adam", 0.1)] == [0.1, 0.1]
    assert [o.lr for o in parse_optimizers("sgd,adam", "0.3,0.01")] == [0.3, 0.01]
    assert [o.lr for o in parse_optimizers("sgd,adam", "adam=0.2")] == [2.0, 0.2]
    assert [o.lr for o in parse_optimizers(["sgd", "adam"], {"sgd": 1.0})] == [1.0, 0.05]
    twice = parse_optimizers("sgd,sgd", "0.5,1.0")
    assert [o.label for o in twice] == ["sgd@lr=0.5", "sgd@lr=1.0"]
    spec = parse_optimizers("adam:b2=0.99:dropout=0.1")[0]
    assert spec.spec == "adam:b2=0.99:dropout=0.1" and spec.dropout == 0.1
    assert spec.options == (("b2", 0.99),) and not spec.equivariant


@pytest.mark.parametrize("options, message", [
    (dict(init="foo"), "unknown init scheme 'foo'; allowed: zeros"),
    (dict(optimizer="adamx"), "unknown optimizer 'adamx'; allowed: sgd"),
    (dict(dataset="xorr"), "unknown dataset 'xorr'"),
    (dict(seeds=0), "seeds 0 must be between 1 and"),
    (dict(seeds=2.5), "seeds 2.5 is not an integer"),
    (dict(steps=-1), "steps -1 must be between 0 and"),
    (dict(widths="3,2,1"), "widths 3,2,1"),
    (dict(lr=float("nan")), "learning rate nan"),
    (dict(lr="inf"), "learning rate inf"),
    (dict(lr="0.1,0.2,0.3"), "3 learning rates"),
    (dict(dtype="float16"), "unknown dtype 'float16'; allowed: float32, float64"),
    (dict(path="mm"), "unknown path 'mm'; allowed: exact, matmul"),
    (dict(ties="w1=w9"), "unknown parameter 'w9'"),
    (dict(ties="w1=b1"), "different roles"),
    (dict(optimizer="adam:b1=true"), "must be a number"),
    (dict(optimizer="sgd:dropout=1"), r"dropout 1 must be a number in \[0, 1\)"),
    (dict(grad_noise=-1), "grad_noise -1 must be finite and >= 0"),
    (dict(eps="nan"), "eps 'nan' must be finite"),
    (dict(init="tied,tied"), "names a scheme twice"),
    (dict(optimizer="sgd,sgd"), "listed twice"),
    (dict(optimizer="sgd,sgd,sgd", lr="1,2,2"), "'sgd' with lr=2.0 is listed twice"),
    (dict(chunk=0), "chunk 0 must be >= 1"),
    (dict(first_seed=-1), "first_seed -1 must be between 0"),
    (dict(batch=3), "unknown option 'batch'"),
    (dict(lr=1e300), r"lr of sgd 1e\+300 does not fit in float32"),
    (dict(optimizer="adam:eps=1e40"), "does not fit in float32"),
])
def test_bad_input(options, message):
    with pytest.raises(InputError, match=message):
        resolve(**options)


def test_forms_of_the_exact_path_and_the_matmul_fallback():
    assert resolve().form == "scalar"
    assert resolve(widths="2,16,16,1").form == "vector"
    assert resolve(dataset="moons").form == "vector"
    assert resolve(path="matmul").form == "matmul"
    widths = f"2,{VECTOR_MAX_WIDTH + 1},1"
    assert resolve(widths=widths).path_used == "matmul"
    with pytest.warns(SymjaxWarning, match="matmul path was used instead"):
        res = verify(widths=widths, init="tied", optimizer="sgd", seeds=4, steps=3, quiet=True)
    assert res.batching["path_used"] == "matmul" and res.config["path"] == "exact"
    assert not res.summaries[0]["expected_preserved"] and "warning:" in res.table()


def test_defaults_are_the_main_experiment():
    plan = resolve()
    assert plan.config["seeds"] == 10000 and plan.config["steps"] == 1000
    assert plan.config["widths"] == [2, 2, 1] and plan.config["dataset"] == "xor"
    assert len(plan.inits) == 13 and [o.name for o in plan.optimizers] == ["sgd", "adam"]
    assert plan.path_used == "exact" and DEFAULTS["dtype"] == "float32"


# -- the command line --------------------------------------------------------------------------
def test_cli_runs_and_writes(cli, tmp_path):
    proc = cli("verify", "--seeds", 20, "--steps", 10, "--init", "tied,he_normal", "--optimizer",
               "adam", "--lr", "0.01", "--quiet", "--out", tmp_path, "--save-params")
    assert proc.returncode == 0, proc.stderr
    assert "tied" in proc.stdout and "he_normal" in proc.stdout and "HOLDS" in proc.stdout
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["config"]["lr"] == [0.01] and doc["config"]["init"] == ["tied", "he_normal"]
    assert doc["provenance"]["xla"]["applied"] is True  # the CLI set the fast-path flags
    assert (tmp_path / "params.npz").exists() and (tmp_path / "per_seed.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--init", "foo"], "unknown init scheme 'foo'; allowed: zeros, constant, tied"),
    (["--seeds", "0"], "seeds 0 must be between 1 and"),
    (["--lr", "nan"], "learning rate nan"),
    (["--widths", "2,3,2"], "dataset 'xor' has 2 inputs and 1 output(s)"),
    (["--save-params"], "--save-params needs --out"),
])
def test_cli_bad_input_is_one_line_and_exit_2(cli, args, message):
    proc = cli("verify", "--quiet", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_module_does_not_import_jax():
    code = "import sys, symjax.cli.verify; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- XLA flags ---------------------------------------------------------------------------------
def _run(code, env=None):
    import os

    full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    full.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                         check=True)
    return out.stdout.strip().splitlines()


def test_configure_xla_sets_flags_before_jax():
    code = ("import symjax, os; r = symjax.configure_xla(devices=3); import jax; "
            "print(r['applied'], len(jax.devices())); print(os.environ['XLA_FLAGS'])")
    applied, flags = _run(code)
    assert applied == "True 3"
    assert "xla_cpu_small_while_loop_byte_threshold" in flags
    assert "--xla_cpu_prefer_vector_width=512" in flags


def test_configure_xla_keeps_the_users_device_count_and_warns_late():
    code = "import symjax; r = symjax.configure_xla(); import jax; print(len(jax.devices()))"
    assert _run(code, {"JAX_NUM_CPU_DEVICES": "1"}) == ["1"]
    assert _run(code, {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}) == ["1"]
    late = ("import warnings, jax, symjax\nwith warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); r = symjax.configure_xla()\n"
            "print(r['applied'], len(w))")
    assert _run(late) == ["False 1"]
    with pytest.raises(InputError, match="devices must be a positive integer"):
        symjax.configure_xla(devices=0)


def _all_equivariant(monkeypatch):
    """Make the checker believe that perturbed optimizers are equivariant: their runs are then
    covered by the theorem and break their ties, as a real violation would."""
    from symjax.numeric.optimizers import OptimizerSpec

    monkeypatch.setattr(OptimizerSpec, "equivariant", property(lambda self: True))


VIOLATING = ("--init", "tied", "--optimizer", "sgd,sgd:grad_noise=0.01", "--seeds", 8,
             "--steps", 5, "--quiet")


def _cli(argv, capsys):
    import warnings

    from symjax.cli import main

    with warnings.catch_warnings():
        # JAX is already imported in this process, so the CLI's XLA flags come too late.
        warnings.filterwarnings("ignore", message=r"symjax\.configure_xla\(\) was called after")
        code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_broken_tie_under_the_theorem_is_violated_and_exits_1(monkeypatch, capsys, tmp_path):
    _all_equivariant(monkeypatch)
    res = verify(init="tied", optimizer="sgd,sgd:grad_noise=0.01", seeds=8, steps=5, quiet=True)
    noisy = [s for s in res.summaries if s["optimizer"] == "sgd:grad_noise=0.01"][0]
    assert noisy["expected_preserved"] and noisy["seeds_broken"] == 8
    assert noisy["invariant_holds"] is False and res.ok is False
    plain = [s for s in res.summaries if s["optimizer"] == "sgd"][0]
    assert plain["invariant_holds"] is True  # the other run still holds
    assert "tied inits stay bitwise tied under equivariant optimizers: VIOLATED (2 of 2" in (
        res.table())

    code, out, err = _cli(["verify", *VIOLATING, "--out", tmp_path / "run"], capsys)
    assert code == 1, err
    assert "VIOLATED" in out and "HOLDS" not in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert results["ok"] is False
    assert [s["invariant_holds"] for s in results["summaries"]] == [True, False]


def test_the_same_run_without_the_false_belief_holds_and_exits_0(capsys):
    """Negative control of the test above: uncovered perturbed runs never fail the verdict."""
    code, out, err = _cli(["verify", *VIOLATING], capsys)
    assert code == 0, err
    assert "HOLDS (1 of 2 runs covered by the theorem)" in out


def test_verify_config_is_the_one_declaration_of_the_options():
    """The CLI, the results schema and the record all come from VerifyConfig's fields; an option
    declared with since_default is recorded only away from its default."""
    import dataclasses

    from symjax.cli import build_parser
    from symjax.results.config import VerifyConfig, option, real

    fields = VerifyConfig.fields()
    help_text = build_parser().parse_args(["verify"]).__dict__
    assert set(fields) <= set(help_text)  # every field is a CLI option (dest = field name)
    schema = VerifyConfig.schema()
    assert set(schema["properties"]) == set(fields)
    assert "chunk" not in schema["required"] and "seeds" in schema["required"]
    with pytest.raises(InputError, match="unknown option 'sedes'; allowed: widths"):
        VerifyConfig.complete({"sedes": 3})
    with pytest.raises(InputError, match="seeds 0 must be between 1 and"):
        VerifyConfig.check_plain({"seeds": 0})

    @dataclasses.dataclass(frozen=True)
    class Extended(VerifyConfig):
        label_noise: float = option(0.0, "flip labels", {"type": "number"}, check=real(0.0),
                                    since_default=True)

    resolved = {**Extended.defaults(), "widths": [2, 2, 1]}
    assert "label_noise" not in Extended.record(resolved)  # earlier run IDs stay the same
    assert Extended.record({**resolved, "label_noise": 0.1})["label_noise"] == 0.1
    assert Extended.from_record(VerifyConfig.record(resolved), "old.json")  # old records read
    with pytest.raises(InputError, match="missing seeds"):
        Extended.from_record({k: v for k, v in resolved.items() if k != "seeds"}, "x.json")
    with pytest.raises(InputError, match="label_noise '-1' must be finite and >= 0"):
        Extended.check_plain({"label_noise": "-1"})
