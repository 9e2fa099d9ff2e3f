"""Results files: round trip, schema, content hash, atomic writes, provenance."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from symjax import InputError
from symjax.results.document import (
    RESULTS_FILE,
    collect_provenance,
    load_schema,
    read_results,
    to_json_value,
    write_results,
)

CONFIG = {"widths": [2, 2, 1], "optimizer": "adam", "steps": 500, "seeds": 8}
LAYOUT = {"chunk_size": 4, "devices": 1}
RESULTS = {"tied_bitwise": 8, "max_gap": 0.0, "per_seed_gap": [0.0] * 8}


def _write(path, **overrides):
    kwargs = dict(kind="verify", config=CONFIG, layout=LAYOUT, results=RESULTS)
    kwargs.update(overrides)
    return write_results(path, **kwargs)


def _edit(path, change):
    """Load the stored JSON, apply ``change`` to it and write it back (an edit by hand)."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def _read_error(path) -> str:
    """The message of the InputError that reading ``path`` raises; it must be one line."""
    with pytest.raises(InputError) as info:
        read_results(path)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# -- round trip ----------------------------------------------------------------------------
def test_round_trip_directory(tmp_path):
    written = _write(tmp_path / "run")
    assert (tmp_path / "run" / RESULTS_FILE).is_file()
    assert read_results(tmp_path / "run") == written
    assert read_results(tmp_path / "run" / RESULTS_FILE) == written
    assert written["schema"] == "symjax-results" and written["schema_version"] == 1
    assert written["kind"] == "verify"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", written["content_hash"])
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", written["run_id"])
    assert written["run_id"] != written["content_hash"][: len("sha256:") + 16]  # no layout
    assert written["config"] == CONFIG and written["layout"] == LAYOUT


def test_round_trip_json_file_path(tmp_path):
    target = tmp_path / "nested" / "verify.json"
    written = _write(target)
    assert target.is_file()
    assert read_results(target) == written


def test_numpy_values_and_non_finite_floats(tmp_path):
    results = {
        "gaps": np.array([0.5, np.nan, np.inf, -np.inf], dtype=np.float32),
        "count": np.int64(7),
        "ok": np.bool_(True),
        "matrix": np.arange(4, dtype=np.int32).reshape(2, 2),
        "pair": (np.float64(1.25), None),
        "worst": float("nan"),
    }
    written = _write(tmp_path, results=results)
    stored = read_results(tmp_path)["results"]
    assert stored == written["results"]
    assert stored == {
        "gaps": [0.5, "nan", "inf", "-inf"],
        "count": 7,
        "ok": True,
        "matrix": [[0, 1], [2, 3]],
        "pair": [1.25, None],
        "worst": "nan",
    }
    back = np.array([float(v) for v in stored["gaps"]], dtype=np.float32)  # float() undoes it
    np.testing.assert_array_equal(back, results["gaps"])  # NaN matches NaN here


def test_file_is_standard_json(tmp_path):
    _write(tmp_path, results={"x": float("inf")})

    def no_constants(name):
        raise AssertionError(f"{name} literal in a results file")

    json.loads((tmp_path / RESULTS_FILE).read_text(), parse_constant=no_constants)


def test_jax_arrays_are_stored():
    import jax.numpy as jnp

    value = to_json_value({"a": jnp.asarray([1.0, 2.0], dtype=jnp.float32)}, "results")
    assert value == {"a": [1.0, 2.0]}


def test_unstorable_value_names_its_position(tmp_path):
    with pytest.raises(TypeError, match=r"results\.seeds\[1\]: cannot store set"):
        _write(tmp_path, results={"seeds": [1, {2, 3}]})
    with pytest.raises(TypeError, match=r"config: keys must be strings, got 1"):
        _write(tmp_path, config={1: "a"})
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_is_rejected(tmp_path):
    with pytest.raises(InputError, match="unknown results kind 'train'; allowed: verify, prove"):
        _write(tmp_path, kind="train")


# -- run id --------------------------------------------------------------------------------
def test_run_id_is_pinned(tmp_path):
    """The canonical form must never change silently: published run ids depend on it."""
    doc = write_results(
        tmp_path, kind="verify", config={"b": 1, "a": [1.5, "x"]}, layout={}, results={"n": 0}
    )
    # sha256 of '{"config":{"a":[1.5,"x"],"b":1},"kind":"verify","layout":{},"results":{"n":0},'
    #            '"schema":"symjax-results","schema_version":1}'
    expected = "440d332423a37c74a6102e5aac83a0447e40fcd99e0476ea7a95b7141441ea47"
    assert doc["content_hash"] == "sha256:" + expected
    # the run ID hashes the same less the layout: sha256 of
    # '{"config":{"a":[1.5,"x"],"b":1},"kind":"verify","results":{"n":0},'
    # '"schema":"symjax-results","schema_version":1}'
    assert doc["run_id"] == "sha256:a699ccdf876c186b"


def test_run_id_ignores_provenance_and_key_order(tmp_path):
    early = collect_provenance(jax_info=False)
    late = dict(early, hostname="elsewhere", start_time="2031-01-01T00:00:00+00:00")
    reordered = dict(reversed(list(CONFIG.items())))
    a = _write(tmp_path / "a", provenance=early)
    b = _write(tmp_path / "b", config=reordered, provenance=late)
    assert a["provenance"] != b["provenance"]
    assert a["run_id"] == b["run_id"] and a["content_hash"] == b["content_hash"]


@pytest.mark.parametrize(
    "change",
    [
        {"config": dict(CONFIG, steps=501)},
        {"results": dict(RESULTS, max_gap=1e-7)},
        {"kind": "prove"},
    ],
)
def test_run_id_changes_with_hashed_content(tmp_path, change):
    assert _write(tmp_path / "a")["run_id"] != _write(tmp_path / "b", **change)["run_id"]


def test_layout_changes_the_content_hash_not_the_run_id(tmp_path):
    """One result, one ID: the same config and results on another layout (device count,
    chunk) keep the run ID; the content hash still sees the layout, so an edit is caught."""
    a = _write(tmp_path / "a")
    b = _write(tmp_path / "b", layout=dict(LAYOUT, chunk_size=8, devices=2))
    assert a["run_id"] == b["run_id"] and a["content_hash"] != b["content_hash"]


def test_a_run_id_of_symjax_0_2_still_reads(tmp_path):
    """0.2.x wrote the content hash's first 16 hex digits as the run ID."""
    import json

    doc = _write(tmp_path)
    old = dict(doc, run_id=doc["content_hash"][: len("sha256:") + 16])
    (tmp_path / RESULTS_FILE).write_text(json.dumps(old))
    assert read_results(tmp_path)["run_id"] == old["run_id"]
    (tmp_path / RESULTS_FILE).write_text(json.dumps(dict(doc, run_id="sha256:" + "1" * 16)))
    with pytest.raises(InputError, match="content hash mismatch"):
        read_results(tmp_path)


# -- provenance ----------------------------------------------------------------------------
def test_write_fills_times_without_modifying_the_argument(tmp_path):
    prov = collect_provenance(jax_info=False)
    doc = _write(tmp_path, provenance=prov)
    assert prov["end_time"] is None and prov["wall_time_s"] is None
    stored = doc["provenance"]
    assert stored["start_time"] == prov["start_time"] <= stored["end_time"]
    assert stored["wall_time_s"] >= 0


def test_collect_provenance_with_jax():
    import jax

    prov = collect_provenance()
    info = prov["jax"]
    assert info["enable_x64"] is True  # set in conftest
    assert info["backend"] == jax.default_backend()
    assert info["device_count"] == jax.device_count() >= 1
    assert info["process_count"] == 1
    assert info["default_prng_impl"] == jax.config.jax_default_prng_impl
    assert info["threefry_partitionable"] == jax.config.jax_threefry_partitionable
    assert prov["env"]["JAX_PLATFORMS"] == os.environ["JAX_PLATFORMS"]
    assert prov["versions"]["jax"] == jax.__version__
    assert prov["python"] == ".".join(map(str, sys.version_info[:3]))
    jsonschema.validate(prov, load_schema()["properties"]["provenance"])


def test_collect_provenance_without_jax_does_not_import_it():
    code = (
        "import sys; from symjax.results.document import collect_provenance; "
        "p = collect_provenance(jax_info=False); print('jax' in sys.modules, p['jax'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "None"]


def test_git_info_of_this_checkout_or_none():
    git = collect_provenance(jax_info=False)["git"]
    if git is not None:
        assert re.fullmatch(r"[0-9a-f]{40,64}", git["commit"])
        assert isinstance(git["dirty"], bool)


def test_git_missing_gives_null(monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert collect_provenance(jax_info=False)["git"] is None


# -- atomic write --------------------------------------------------------------------------
def test_write_leaves_no_temporary_files(tmp_path):
    _write(tmp_path)
    _write(tmp_path)  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == [RESULTS_FILE]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    old = _write(tmp_path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path, results=dict(RESULTS, tied_bitwise=7))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [RESULTS_FILE]
    assert read_results(tmp_path) == old


# -- reading bad files ---------------------------------------------------------------------
def test_missing_file_and_directory(tmp_path):
    assert _read_error(tmp_path / "nope") == f"results path {tmp_path / 'nope'} does not exist"
    assert "does not exist" in _read_error(tmp_path / "nope.json")
    assert _read_error(tmp_path) == f"no {RESULTS_FILE} in directory {tmp_path}"


def test_truncated_file(tmp_path):
    _write(tmp_path)
    path = tmp_path / RESULTS_FILE
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    message = _read_error(tmp_path)
    assert message.startswith(f"{path}: not valid JSON (line ")
    assert "truncated" in message


def test_empty_file(tmp_path):
    (tmp_path / RESULTS_FILE).write_text("")
    assert _read_error(tmp_path) == f"{tmp_path / RESULTS_FILE}: results file is empty"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": 1e999}', "overflows a float"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("[1, 2]", "not a symjax results file"),
        ('{"schema": "other"}', "not a symjax results file (schema 'other'"),
    ],
)
def test_not_a_results_file(tmp_path, text, problem):
    (tmp_path / RESULTS_FILE).write_text(text)
    message = _read_error(tmp_path)
    assert message.startswith(str(tmp_path / RESULTS_FILE)) and problem in message


def test_other_schema_version(tmp_path):
    _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, lambda d: d.update(schema_version=2))
    message = _read_error(tmp_path)
    assert "schema_version 2 is not supported" in message and "reads version 1" in message


@pytest.mark.parametrize("key", ["layout", "run_id", "provenance"])
def test_schema_rejects_a_missing_key(tmp_path, key):
    _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, lambda d: d.pop(key))
    message = _read_error(tmp_path)
    assert "fails the results schema" in message and repr(key) in message


def test_schema_rejects_a_missing_provenance_key(tmp_path):
    """Provenance is not hashed; the schema still guards its shape."""
    _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, lambda d: d["provenance"].pop("hostname"))
    assert "$.provenance: 'hostname' is a required property" in _read_error(tmp_path)


def test_schema_rejects_an_unknown_top_level_key(tmp_path):
    _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, lambda d: d.update(comment="hi"))
    assert "fails the results schema" in _read_error(tmp_path)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["results"].update(tied_bitwise=9),
        lambda d: d["results"]["per_seed_gap"].__setitem__(3, 1e-300),
        lambda d: d["config"].update(steps=499),
        lambda d: d["layout"].update(devices=4),
        lambda d: d.update(kind="prove"),
        lambda d: d.update(run_id="sha256:" + "0" * 16),
    ],
)
def test_tampering_is_detected(tmp_path, change):
    _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, change)
    message = _read_error(tmp_path)
    assert message.startswith(f"{tmp_path / RESULTS_FILE}: content hash mismatch")
    assert "changed after it was written" in message


def test_reformatting_by_hand_is_not_tampering(tmp_path):
    written = _write(tmp_path)
    _edit(tmp_path / RESULTS_FILE, lambda d: None)  # same content, other whitespace
    assert read_results(tmp_path) == written


# -- the schema file -----------------------------------------------------------------------
def test_schema_is_valid_and_documented():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 1
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    for name, prop in schema["properties"]["provenance"]["properties"].items():
        assert prop.get("description"), name
