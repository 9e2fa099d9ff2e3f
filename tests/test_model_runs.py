"""Users' models through symjax's run machinery: an Equinox model end to end (symmetry check,
proof, bitwise verification), results directories of ``verify_model(..., out=DIR)`` (results
document of kind ``model``, per-seed CSV under the run ID, resume, refusals) and their report."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_own_model import PARAMS, SWAP, X, Y, elementwise

import symjax
from symjax import InputError
from symjax.cli import main
from symjax.experiments import own_model
from symjax.experiments.own_model import check_symmetry, verify_model
from symjax.results.document import read_results, write_results
from symjax.results.rundir import holds_model_run, holds_verify_run
from symjax.symbolic.jaxpr import dense_units, prove_model_ties


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


# -- an Equinox model through its pure-function form -------------------------------------------
@pytest.fixture(scope="module")
def mlp():
    eqx = pytest.importorskip("equinox", reason="Equinox models need the models extra: "
                              "pip install symjax-proofs[models]")
    model = eqx.nn.MLP(2, 1, 3, 1, activation=jnp.tanh, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)

    def loss(p, x, y):
        return jnp.mean((jax.vmap(eqx.combine(p, static))(x) - y) ** 2)

    swap = dense_units("layers_0_weight", "layers_0_bias", "layers_1_weight", (3, 2), (1, 3),
                       0, 2)
    # hidden unit 1 swapped with unit 3 on the way in, but with unit 2 on the way out
    wrong = swap[:3] + [("layers_1_weight[0,0]", "layers_1_weight[0,1]")]
    return loss, params, swap, wrong


def test_an_equinox_mlp_swap_is_checked_proven_and_verified(mlp):
    loss, params, swap, wrong = mlp
    assert check_symmetry(loss, params, swap, X, Y) < 1e-12
    with pytest.raises(InputError, match="not a symmetry of the loss.*leaf.*layers_1_weight"):
        check_symmetry(loss, params, wrong, X, Y)
    assert prove_model_ties(loss, params, swap, X, Y).verdict == "proven"
    refuted = prove_model_ties(loss, params, wrong, X, Y)
    assert refuted.verdict == "refuted" and float(refuted.witness["value"]) != 0
    held = verify_model(loss, params, swap, X, Y, optimizer="sgd", lr=0.1, seeds=64, steps=20)
    assert held.held.all() and (held.max_ulp == 0).all()


# -- results directories -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    """The same 300 seeds in one call and in three calls written to a directory."""
    out = tmp_path_factory.mktemp("model") / "run"
    kwargs = dict(optimizer="adam", lr=0.1, seeds=300, steps=30)
    whole = verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **kwargs)
    written = verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **kwargs, chunk=100, out=out)
    return whole, written, out, kwargs


def test_a_model_run_directory_holds_a_results_document_and_per_seed_csv(model_run):
    whole, written, out, _ = model_run
    # chunked and written: the same per-seed results, bit for bit
    assert np.array_equal(_bits(whole.first_break), _bits(written.first_break))
    assert np.array_equal(_bits(whole.max_ulp), _bits(written.max_ulp))
    doc = read_results(out)  # schema, content hash and run ID checked
    assert doc["kind"] == "model" and doc["run_id"] == written.run_id
    assert doc["layout"]["calls"] == 3 and doc["layout"]["seeds_per_call"] == 100
    assert doc["config"]["model_jaxpr_sha256"].startswith("sha256:")
    assert doc["results"]["seeds_held"] == 0  # half a swap is not a symmetry
    assert [s["broken"] for s in doc["results"]["pairs"]] == [300, 300]
    assert doc["provenance"]["jax"]["backend"] == "cpu"
    with open(out / "per_seed.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["seed", "held", "first_break_step", "max_ulp"]
    assert rows[0][4] == "first_break W1[0,0]=W1[2,0]" and len(rows) == 301
    assert [int(r[4]) for r in rows[1:]] == written.first_break[:, 0].tolist()
    assert holds_model_run(out) and not holds_verify_run(out)


def test_a_changed_per_seed_file_or_document_is_refused(model_run, tmp_path, capsys):
    import shutil

    _, written, out, _ = model_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert main(["report", str(copy)]) == 0
    table = (copy / "report" / "table.txt").read_text()
    assert table == written.table() + "\n"
    assert "0/300" in table
    doc = read_results(copy)  # summaries that disagree with the (intact) per-seed file
    doc["results"]["pairs"][0]["held"] = 1
    write_results(copy, **{k: doc[k] for k in ("kind", "config", "layout", "results",
                                              "provenance")})
    capsys.readouterr()
    assert main(["report", str(copy), "--out", str(tmp_path / "r2")]) == 2
    assert "per-pair summaries differ" in capsys.readouterr().err
    text = (copy / "per_seed.csv").read_text()
    (copy / "per_seed.csv").write_text(text.replace("\n1,", "\n9,", 1))
    capsys.readouterr()
    assert main(["report", str(copy)]) == 2
    assert "per_seed.csv: SHA-256" in capsys.readouterr().err
    doc = json.loads((copy / "results.json").read_text())
    doc["results"]["seeds_held"] = 1
    (copy / "results.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="content hash mismatch"):
        read_results(copy)
    assert main(["reproduce", str(out)]) == 2  # needs a verify run: it names the kind
    assert "holds model results" in capsys.readouterr().err
    with pytest.raises(InputError, match="holds no symjax verify run"):
        symjax.verify(out=out, seeds=4, steps=1, quiet=True)


def test_an_interrupted_run_resumes_from_its_chunks_and_other_settings_are_refused(
        model_run, tmp_path, monkeypatch):
    _, written, _, kwargs = model_run
    out = tmp_path / "run"
    real, done = own_model._ModelRun.write_chunk, []

    def stop_after_one(self, *args):
        if done:
            raise KeyboardInterrupt
        done.append(real(self, *args))

    monkeypatch.setattr(own_model._ModelRun, "write_chunk", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **kwargs, chunk=100, out=out)
    monkeypatch.undo()
    assert not (out / "results.json").exists() and len(list((out / "chunks").iterdir())) == 1
    with pytest.raises(InputError, match="unfinished model run with other settings"):
        verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **{**kwargs, "steps": 31},
                     chunk=100, out=out)
    resumed = verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **kwargs, chunk=100, out=out)
    assert resumed.run_id == written.run_id
    assert read_results(out)["provenance"]["calls_reused"] == 1
    assert (out / "per_seed.csv").read_bytes() == (written.directory / "per_seed.csv").read_bytes()
    # a finished run is replaced by one with other settings (one call: compiled already)
    assert main(["report", str(out), "--no-figures"]) == 0
    other = verify_model(elementwise, PARAMS, SWAP[:2], X, Y, **kwargs, chunk=300, out=out)
    assert other.run_id == written.run_id  # the layout is not part of the run ID
    assert read_results(out)["layout"]["calls"] == 1
    assert not (out / "report").exists() and len(list((out / "chunks").iterdir())) == 1


def test_foreign_directories_and_bad_model_documents_are_refused(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds no symjax model run.*notes.txt.*force=True"):
        verify_model(elementwise, PARAMS, SWAP, X, Y, seeds=4, steps=1, out=foreign)
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="exists and is not a directory"):
        verify_model(elementwise, PARAMS, SWAP, X, Y, seeds=4, steps=1, out=tmp_path / "file")
    with pytest.raises(InputError, match="chunk must be an integer"):
        verify_model(elementwise, PARAMS, SWAP, X, Y, chunk=0)
    with pytest.raises(InputError, match="fails the results schema.*'files' is a required"):
        write_results(tmp_path / "doc", kind="model", layout={}, provenance=None,
                      config={k: 0 for k in ("loss", "model_jaxpr_sha256", "data_sha256",
                                             "pairs", "optimizer", "seeds", "steps", "seed",
                                             "dtype")},
                      results={"seeds": 1, "seeds_held": 1, "pairs": []})


@pytest.mark.slow
def test_100000_seeds_run_in_chunks_with_bounded_memory(tmp_path):
    result = verify_model(elementwise, PARAMS, SWAP, X, Y, optimizer="sgd", lr=0.1,
                          seeds=100_000, steps=20, chunk=8192, out=tmp_path / "run")
    assert result.held.all() and result.seeds == 100_000
    doc = read_results(tmp_path / "run")
    assert doc["layout"]["calls"] == 13 and doc["results"]["seeds_held"] == 100_000
