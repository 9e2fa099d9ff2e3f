"""Bad results and config files: exit status 2 and one line naming the file, never a traceback.

Hypothesis mutates a real ``symjax verify`` results directory (random byte edits, truncation,
JSON structure edits with and without a recomputed content hash) and a ``symjax prove --json``
file, and feeds them to :func:`symjax.read_results`, ``symjax cite``, ``symjax report`` and
``symjax reproduce``, all in this process. A mutation either leaves what is hashed unchanged
(whitespace, provenance), or the file is refused with one line that names it; ``report`` leaves
no report files behind, and ``reproduce`` never starts the re-run of a refused file.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_bad_input import (  # noqa: E402
    ReachedTheRun,
    call,
    error_line,
    no_training,  # noqa: F401 - a fixture
)

from symjax import InputError  # noqa: E402
from symjax.results.document import content_hash, read_results, write_results  # noqa: E402

EXAMPLES = settings(max_examples=30)
REPORT_FILES = ("report.md", "table_symmetry.tex", "summary.csv", "methods.txt", "methods.tex")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny real verify run with trajectories and parameters."""
    import warnings

    import symjax

    out = tmp_path_factory.mktemp("bad-files") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        symjax.verify(seeds=4, steps=3, init="tied,normal", optimizer="sgd", trajectory_every=1,
                      out=out, save_params=True, quiet=True)
    return out


@pytest.fixture(scope="module")
def proof_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad-files") / "proof.json"
    code, _, err = call(["prove", "--json", out])
    assert code == 0, err
    return out


def _hashed(document) -> str | None:
    try:
        return content_hash(document)
    except (KeyError, TypeError, ValueError):
        return None


# -- byte mutations ----------------------------------------------------------------------------
@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with a few random edits: truncation, byte flips, insertions, deletions."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "replace"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "truncate":
            del out[at:]
        elif kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del out[at:at + draw(st.integers(1, 8))]
        else:
            token = draw(st.sampled_from([b"NaN", b"Infinity", b"1e999", b"null", b'"x"', b"[]",
                                          b"{}", b"-1", b"\xff\xfe", b"\x00", b'"a":1,"a":2']))
            out[at:at + len(token)] = token
    return bytes(out)


def _same_hashed_part(data: bytes, original: dict) -> bool:
    """Whether the mutated file still parses to a document with the same hashed content."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and _hashed(doc) == _hashed(original) is not None


@EXAMPLES
@given(data=st.data())
def test_read_results_byte_mutations(run_dir, tmp_path_factory, data):
    original = (run_dir / "results.json").read_bytes()
    bad = data.draw(mutated(original))
    target = tmp_path_factory.mktemp("mut") / "results.json"
    target.write_bytes(bad)
    try:
        read_results(target)
    except InputError as err:
        message = str(err)
        assert "\n" not in message and str(target) in message, message
    else:
        assert _same_hashed_part(bad, json.loads(original)), "an edited file was accepted"


def _copy(run_dir: Path, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("copy") / "run"
    shutil.copytree(run_dir, dst)
    return dst


def _all_refused(run: Path, tmp_path_factory, named: str) -> None:
    """cite, report and reproduce refuse ``run`` with one line naming ``named``."""
    report_out = tmp_path_factory.mktemp("report")
    for argv in (["cite", "--results", run], ["report", run, "--out", report_out, "--no-figures"],
                 ["reproduce", run, "--quiet"]):
        code, out, err = call(argv)
        line = error_line(code, err)
        assert named in line, f"{argv[0]}: {named!r} is not named in {line!r}"
    left = [p.name for p in report_out.iterdir()]
    assert not left, f"report left {left} after refusing its input"


@settings(max_examples=20)
@given(data=st.data())
def test_commands_refuse_corrupt_results(no_training, run_dir, tmp_path_factory, data):  # noqa: F811
    original = (run_dir / "results.json").read_bytes()
    bad = data.draw(mutated(original))
    assume(not _same_hashed_part(bad, json.loads(original)))
    run = _copy(run_dir, tmp_path_factory)
    (run / "results.json").write_bytes(bad)
    _all_refused(run, tmp_path_factory, str(run / "results.json"))


# -- structure mutations -----------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
              st.sampled_from(["nan", "inf", "float16", "x=1", "w1=w99", "sgd", "tied"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every path into ``value`` (dict keys and list indices), ``value`` itself first."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


@st.composite
def edited_document(draw, document: dict) -> dict:
    """``document`` with one value under config, layout or results replaced or deleted."""
    doc = json.loads(json.dumps(document))
    part = draw(st.sampled_from(["config", "layout", "results"]))
    paths = [p for p in _paths(doc[part]) if p]
    path = draw(st.sampled_from(paths))
    parent = doc[part]
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return doc


def _rewrite(run: Path, doc: dict) -> bool:
    """Write ``doc`` with a valid hash; False if write_results refuses it."""
    try:
        write_results(run, kind=doc["kind"], config=doc["config"], layout=doc["layout"],
                      results=doc["results"], provenance=doc["provenance"])
    except InputError:
        return False
    return True


@settings(max_examples=40)
@given(data=st.data())
def test_report_and_reproduce_survive_edited_documents(no_training, run_dir,  # noqa: F811
                                                       tmp_path_factory, data):
    """A document edited and re-hashed (so it passes the hash check) is either fine or refused
    with one line; never a traceback. ``reproduce`` may only reach the re-run (the guard) for a
    document whose config is a valid one."""
    original = json.loads((run_dir / "results.json").read_text())
    doc = data.draw(edited_document(original))
    assume(_hashed(doc) != _hashed(original))
    run = _copy(run_dir, tmp_path_factory)
    assume(_rewrite(run, doc))
    report_out = tmp_path_factory.mktemp("report")
    code, _, err = call(["report", run, "--out", report_out, "--no-figures"])
    if code != 0:
        error_line(code, err)
        left = [p.name for p in report_out.iterdir()]
        assert not left, f"report left {left} after refusing its input"
    else:  # accepted: a complete report of the edited document, not of the original
        assert "Traceback" not in err, err
        assert sorted(REPORT_FILES) == sorted(p.name for p in report_out.iterdir()
                                              if p.name in REPORT_FILES)
        edited = read_results(run)
        # the run ID hashes config and results (not the layout); the content hash all three
        assert edited["content_hash"] != original["content_hash"]
        if {k: doc.get(k) for k in ("config", "results")} != {
                k: original.get(k) for k in ("config", "results")}:
            assert edited["run_id"] != original["run_id"]
        assert edited["run_id"] in (report_out / "report.md").read_text(encoding="utf-8")
    try:
        code, _, err = call(["reproduce", run, "--quiet"])
    except ReachedTheRun:
        from symjax.experiments.verify import resolve

        resolve(**doc["config"])  # the re-run may start only for a valid config
    else:
        error_line(code, err)


# -- named cases -------------------------------------------------------------------------------
def _document(run_dir) -> dict:
    return json.loads((run_dir / "results.json").read_text())


CASES = {
    "empty": lambda d: b"",
    "whitespace": lambda d: b"  \n",
    "not utf-8": lambda d: b"\xff\xfe{}",
    "a list": lambda d: b"[]",
    "a string": lambda d: b'"symjax-results"',
    "truncated": lambda d: json.dumps(d).encode()[:-40],
    "NaN literal": lambda d: json.dumps({**d, "x": float("nan")}).encode(),
    "duplicate key": lambda d: json.dumps(d).encode()[:-1] + b', "kind": "verify"}',
    "other schema": lambda d: json.dumps({**d, "schema": "other"}).encode(),
    "schema version 2": lambda d: json.dumps({**d, "schema_version": 2}).encode(),
    "schema version string": lambda d: json.dumps({**d, "schema_version": "1"}).encode(),
    "missing provenance": lambda d: json.dumps({k: v for k, v in d.items()
                                                if k != "provenance"}).encode(),
    "edited seeds": lambda d: json.dumps({**d, "config": {**d["config"], "seeds": 5}}).encode(),
    "bad run id": lambda d: json.dumps({**d, "run_id": "sha256:zz"}).encode(),
    "huge number": lambda d: json.dumps(d).encode().replace(b'"seeds": 4', b'"seeds": 1e999'),
    "deep nesting": lambda d: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_named_corruptions(no_training, run_dir, tmp_path_factory, case):  # noqa: F811
    run = _copy(run_dir, tmp_path_factory)
    (run / "results.json").write_bytes(CASES[case](_document(run_dir)))
    _all_refused(run, tmp_path_factory, str(run / "results.json"))
    with pytest.raises(InputError, match=re.escape(str(run / "results.json"))):
        read_results(run)


@pytest.mark.parametrize("what", ["no results.json", "a directory as results.json",
                                  "prove results", "per_seed.csv missing",
                                  "per_seed.csv truncated", "params.npz corrupt"])
def test_wrong_files(no_training, run_dir, proof_file, tmp_path_factory, what):  # noqa: F811
    run = _copy(run_dir, tmp_path_factory)
    named = str(run)
    if what == "no results.json":
        (run / "results.json").unlink()
    elif what == "a directory as results.json":
        (run / "results.json").unlink()
        (run / "results.json").mkdir()
    elif what == "prove results":
        shutil.copy(proof_file, run / "results.json")
    elif what == "per_seed.csv missing":
        (run / "per_seed.csv").unlink()
        named = "per_seed.csv"
    elif what == "per_seed.csv truncated":
        text = (run / "per_seed.csv").read_text()
        (run / "per_seed.csv").write_text(text[: len(text) // 2])
        named = "per_seed.csv"
    else:
        (run / "params.npz").write_bytes(b"PK\x03\x04 not a zip")
        named = "params.npz"
    report_out = tmp_path_factory.mktemp("report")
    commands = [["report", run, "--out", report_out, "--no-figures"], ["reproduce", run]]
    if what in ("no results.json", "a directory as results.json"):
        commands.append(["cite", "--results", run])
    if what == "params.npz corrupt":
        commands = commands[1:]  # report does not read params.npz
    for argv in commands:
        code, _, err = call(argv)
        assert named in error_line(code, err)
    assert not [p.name for p in report_out.iterdir()]


# -- the proof file of report --proof ----------------------------------------------------------
@settings(max_examples=30)
@given(data=st.data())
def test_report_proof_file(run_dir, proof_file, tmp_path_factory, data):
    """``symjax report --proof FILE`` with a corrupted or reshaped proof: exit 0 (the proof still
    matches the run: its appendix regenerated) or 2 with one line naming the file; never a
    traceback."""
    original = proof_file.read_bytes()
    how = data.draw(st.sampled_from(["bytes", "json"]))
    if how == "bytes":
        bad = data.draw(mutated(original))
    else:
        theorem = json.loads(original)
        theorem.pop("schema", None)  # a bare theorem, as Theorem.to_dict writes it
        path = data.draw(st.sampled_from([p for p in _paths(theorem) if p]))
        parent = theorem
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(JSON_VALUES)
        bad = json.dumps(theorem).encode()
    proof = tmp_path_factory.mktemp("proof") / "proof.json"
    proof.write_bytes(bad)
    out = tmp_path_factory.mktemp("report")
    code, _, err = call(["report", run_dir, "--out", out, "--no-figures", "--proof", proof])
    if code != 0:
        assert str(proof) in error_line(code, err)
        assert not [p.name for p in out.iterdir()]
        return
    # Accepted: the report is complete, and says what became of the proof.
    assert "Traceback" not in err, err
    assert all((out / name).is_file() for name in REPORT_FILES)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    appendix = out / "appendix_proof.tex"
    # an accepted proof matches the run and is proven: its appendix is regenerated, never copied
    assert appendix.read_text(encoding="utf-8").startswith("% Proof appendix of run ")
    assert "Proof appendix: `appendix_proof.tex` (from proof.json" in markdown
    assert ", regenerated)" in markdown
    assert "write18" not in appendix.read_text(encoding="utf-8")


def test_report_proof_file_missing(run_dir, tmp_path):
    code, _, err = call(["report", run_dir, "--out", tmp_path / "r", "--proof", tmp_path / "no"])
    assert str(tmp_path / "no") in error_line(code, err)
