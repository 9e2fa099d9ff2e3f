"""Never touch what is not symjax's: output directories, links, crafted run and results files.

Results directories are shared, so each case here is one a user (or a shared directory) could
bring about: an empty ``--out``, a directory or file of someone else's, links inside a run
directory pointing at a user's files, a ``run.json`` or ``results.json`` edited to make symjax
do something, and chunk files changed between the check and the merge. Each ends in exit 2 and
one line with nothing touched, or in a run that wrote only inside its directory. Runs are tiny
and in this process (:func:`test_bad_input.call`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_bad_input import call, error_line  # noqa: E402

import symjax.experiments.verify as verifier  # noqa: E402
from symjax import InputError  # noqa: E402
from symjax.numeric.sweep import RunInterrupted  # noqa: E402
from symjax.results.rundir import ChunkStore, claim_directory, read_manifest  # noqa: E402

TINY = ["--seeds", 4, "--steps", 2, "--init", "tied,normal", "--optimizer", "sgd", "--quiet"]
SECRET = "a user's notes\n"


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` with its bytes (files) or link target (links)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            key = str(p.relative_to(root))
            out[key] = (f"-> {os.readlink(p)}" if p.is_symlink() else
                        p.read_bytes() if p.is_file() else "dir")
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny verify run."""
    out = tmp_path_factory.mktemp("safety") / "run"
    code, _, err = call(["verify", *TINY, "--out", out])
    assert code == 0, err
    return out


def _copy(src: Path, tmp_path: Path, name: str = "D") -> Path:
    dst = tmp_path / name
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _user_files(where: Path) -> None:
    """Files of a user with the names symjax writes."""
    (where / "chunks").mkdir(parents=True)
    np.savez(where / "chunks" / "any.npz", a=np.arange(3))
    np.savez(where / "chunks" / "c000000-o00.npz", a=np.arange(3))
    (where / "results.json").write_text('{"mine": true}\n')
    (where / "per_seed.csv").write_text("my,own,table\n")


# -- output directories ------------------------------------------------------------------------
def test_empty_paths_are_refused_and_nothing_is_deleted(tmp_path, monkeypatch):
    _user_files(tmp_path)
    before = _snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    for argv in (["verify", *TINY, "--out", ""], ["verify", "--resume", ""],
                 ["dynamics", "--seeds", 2, "--out", ""], ["dynamics", "--seeds", 2, "--json", ""]):
        line = error_line(*call(argv)[::2])
        assert "'' is empty" in line, line
    assert _snapshot(tmp_path) == before
    with pytest.raises(InputError, match="is empty"):
        verifier.verify(seeds=4, steps=2, out="", quiet=True)


def test_foreign_directories_and_files_are_refused_force_writes_beside_them(finished, tmp_path):
    foreign = tmp_path / "mine"
    _user_files(foreign)
    (foreign / "notes.txt").write_text(SECRET)
    before = _snapshot(foreign)
    line = error_line(*call(["verify", *TINY, "--out", foreign])[::2])
    assert "holds no symjax verify run" in line and "--force" in line
    line = error_line(*call(["reproduce", finished, "--quiet", "--out", foreign])[::2])
    assert "holds no symjax verify run" in line
    assert "'' is empty" in error_line(*call(["reproduce", finished, "--out", ""])[::2])
    line = error_line(*call(["dynamics", "--seeds", 2, "--out", foreign])[::2])
    assert "holds no symjax dynamics results" in line
    assert _snapshot(foreign) == before
    # The current directory is a directory like any other: refused when foreign.
    assert "holds no symjax" in error_line(*call(["verify", *TINY, "--out", foreign / "."])[::2])
    # An existing file is never replaced by a directory, nor by a dynamics results document.
    note = tmp_path / "notes.txt"
    note.write_text(SECRET)
    for argv in (["verify", *TINY, "--out", note], ["dynamics", "--seeds", 2, "--out", note],
                 ["dynamics", "--seeds", 2, "--json", note]):
        assert "exists and is not" in error_line(*call(argv)[::2])
    assert note.read_text() == SECRET
    # --force: written into, files with symjax's names replaced, every other file kept.
    code, _, err = call(["verify", *TINY, "--out", foreign, "--force"])
    assert code == 0, err
    assert (foreign / "notes.txt").read_text() == SECRET
    assert (foreign / "chunks" / "any.npz").read_bytes() == before["chunks/any.npz"]
    assert json.loads((foreign / "results.json").read_text())["kind"] == "verify"
    # Negative control: an empty directory and a new path are claimed without --force.
    (tmp_path / "empty").mkdir()
    assert claim_directory(tmp_path / "empty", option="--out", ours=lambda p: False,
                           what="run") == tmp_path / "empty"
    assert claim_directory(tmp_path / "new" / "sub", option="--out", ours=lambda p: False,
                           what="run").is_dir()


def test_a_finished_run_is_replaced_only_when_the_new_one_is_complete(finished, tmp_path,
                                                                      monkeypatch):
    out = _copy(finished, tmp_path)
    old = {n: (out / n).read_bytes() for n in ("results.json", "per_seed.csv")}
    seen = []
    real = verifier.run_sweep

    def sweep_then_look(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append({n: (out / n).read_bytes() for n in old})  # while the new run runs
        return result

    monkeypatch.setattr(verifier, "run_sweep", sweep_then_look)
    code, _, err = call(["verify", *TINY[:-1], "--first-seed", 7, "--quiet", "--out", out])
    assert code == 0, err
    # the first sweep is the run (a second one records the report's trajectory sample after
    # the results are written)
    assert seen[0] == old, "the finished run's results were deleted before the new run ended"
    assert (out / "results.json").read_bytes() != old["results.json"]
    assert read_manifest(out)["finished"] is True

    # Interrupted: the old results stay; the directory says it holds an unfinished run.
    replaced = {n: (out / n).read_bytes() for n in old}

    def interrupted(*args, **kwargs):
        raise RunInterrupted("interrupted by SIGINT", 130)

    monkeypatch.setattr(verifier, "run_sweep", interrupted)
    assert call(["verify", *TINY, "--out", out])[0] == 130
    assert {n: (out / n).read_bytes() for n in old} == replaced
    assert read_manifest(out)["finished"] is False
    assert "unfinished run" in error_line(*call(["verify", *TINY, "--out", out])[::2])

    # Resuming (here a finished run) never deletes the results first.
    monkeypatch.setattr(verifier, "run_sweep", sweep_then_look)
    seen.clear()
    assert call(["verify", "--resume", out, "--quiet"])[0] == 0
    assert seen[0] == replaced, "resuming deleted or changed the results before it ended"


# -- links -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [".lock", "chunks", "run.json", "results.json", "per_seed.csv"])
def test_no_link_inside_a_run_directory_is_followed(finished, tmp_path, name):
    victim = tmp_path / "victim"
    _user_files(victim)
    (victim / "notes.txt").write_text(SECRET)
    before = _snapshot(victim)
    target = {"chunks": victim / "chunks", ".lock": victim / "notes.txt",
              "run.json": finished / "run.json"}.get(name, victim / name)
    for argv in (["verify", "--resume", "{D}", "--quiet"], ["verify", *TINY, "--out", "{D}"]):
        out = _copy(finished, tmp_path / argv[1])
        if name != "results.json":
            (out / "results.json").unlink()  # an unfinished run: resumed, not replaced
        p = out / name
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        p.symlink_to(target)
        argv = [str(out) if a == "{D}" else a for a in argv]
        line = error_line(*call(argv)[::2])
        assert "symbolic link" in line or "holds no symjax" in line or "unfinished" in line, line
        assert _snapshot(victim) == before


def test_a_linked_chunk_file_is_recomputed_not_followed(finished, tmp_path):
    victim = tmp_path / "victim.npz"
    np.savez(victim, a=np.arange(3))
    before = victim.read_bytes()
    out = _copy(finished, tmp_path)
    (out / "results.json").unlink()
    chunk = out / "chunks" / "c000000-o00.npz"
    chunk.unlink()
    chunk.symlink_to(victim)
    code, _, err = call(["verify", "--resume", out, "--quiet"])
    assert code == 0, err
    assert "is a symbolic link; recomputing it" in err
    assert not chunk.is_symlink() and victim.read_bytes() == before
    assert (out / "per_seed.csv").read_bytes() == (finished / "per_seed.csv").read_bytes()


# -- chunks checked at the merge ---------------------------------------------------------------
@pytest.mark.parametrize("damage", ["foreign chunk", "flipped byte", "between two reads",
                                    "none"])
def test_chunks_are_checked_again_at_the_merge(finished, tmp_path, monkeypatch, damage):
    other = tmp_path / "other"
    assert call(["verify", *TINY[:-1], "--first-seed", 9, "--quiet", "--out", other])[0] == 0
    out = _copy(finished, tmp_path)
    (out / "results.json").unlink()
    chunk = out / "chunks" / "c000000-o00.npz"

    def damaged(real, flip: bool):
        def call_then_damage(*args, **kwargs):
            result = real(*args, **kwargs)
            if damage == "foreign chunk":
                shutil.copyfile(other / "chunks" / chunk.name, chunk)
            elif flip:  # in place, same size
                raw = bytearray(chunk.read_bytes())
                raw[len(raw) // 2] ^= 0x10
                chunk.write_bytes(bytes(raw))
            return result
        return call_then_damage

    # after the check at the start of the resume; or after the summaries read every chunk
    monkeypatch.setattr(verifier, "run_sweep",
                        damaged(verifier.run_sweep, damage == "flipped byte"))
    monkeypatch.setattr(verifier, "_summaries",
                        damaged(verifier._summaries, damage == "between two reads"))
    code, _, err = call(["verify", "--resume", out, "--quiet"])
    if damage == "none":  # negative control
        assert code == 0, err
        assert (out / "per_seed.csv").read_bytes() == (finished / "per_seed.csv").read_bytes()
        return
    line = error_line(code, err)
    assert "at the merge" in line and "--resume" in line, line
    assert not (out / "results.json").exists()


def test_chunk_members_are_checked_not_only_the_digest(tmp_path):
    store = ChunkStore(tmp_path, {"config": {}, "layout": {}, "run_key": "k"})
    store.write_manifest()
    meta = {"seeds": 3, "inits": ["tied"], "fields": ["final_loss"]}
    store.write_chunk(0, 0, meta, {"0.final_loss": np.zeros(3, np.float32)})
    assert store.read_chunk(0, 0, meta)[1] == ""
    assert np.array_equal(store.load_chunk(0, 0)["0.final_loss"], np.zeros(3))
    store.write_chunk(0, 0, meta, {"0.final_loss": np.zeros(2, np.float32)})  # digest fine
    assert store.read_chunk(0, 0, meta)[1].startswith("malformed")
    store.write_chunk(0, 0, meta, {"0.other": np.zeros(3, np.float32)})
    assert store.read_chunk(0, 0, meta)[1].startswith("incomplete")
    with pytest.raises(InputError, match="is incomplete .* at the merge"):
        store.load_chunk(0, 0)


# -- crafted run.json --------------------------------------------------------------------------
MANIFEST_CASES = {
    "config out": lambda m: m["config"].update(out="/elsewhere"),
    "config quiet": lambda m: m["config"].update(quiet=True),
    "config resume": lambda m: m["config"].update(resume=False),
    "config force": lambda m: m["config"].update(force=True),
    "config nested": lambda m: m["config"].update(seeds={"n": 4}),
    "layout a list": lambda m: m.update(layout=[1, 2]),
    "save_params no": lambda m: m.update(save_params="no"),
    "finished yes": lambda m: m.update(finished="yes"),
    "run_key a number": lambda m: m.update(run_key=7),
    "version 2": lambda m: m.update(version=2),
}


@pytest.mark.parametrize("case", [*MANIFEST_CASES, "deep nesting", "a link to a directory"])
def test_crafted_manifests_are_one_line(finished, tmp_path, case):
    out = _copy(finished, tmp_path)
    (out / "results.json").unlink()
    manifest = json.loads((out / "run.json").read_text())
    if case == "deep nesting":
        (out / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    elif case == "a link to a directory":
        (out / "run.json").unlink()
        (out / "run.json").symlink_to(tmp_path)
    else:
        MANIFEST_CASES[case](manifest)
        (out / "run.json").write_text(json.dumps(manifest))
    before = _snapshot(tmp_path)
    line = error_line(*call(["verify", "--resume", out, "--quiet"])[::2])
    assert "run.json" in line, line
    assert _snapshot(tmp_path) == before


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 6) | st.floats(-1, 3, allow_nan=False)
    | st.sampled_from(["", "2,2,1", "tied", "sgd", "float64", "cpu", "1e999", "x" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=2),
    max_leaves=5)


@st.composite
def crafted_manifest(draw, manifest: dict) -> dict:
    m = json.loads(json.dumps(manifest))
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.sampled_from(["config", "layout", "top"]))
        where = m if part == "top" or not isinstance(m.get(part), dict) else m[part]
        keys = sorted(where) + ["out", "quiet", "progress", "extra"]
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and key in where:
            del where[key]
        else:
            where[key] = draw(_VALUES)
    return m


@st.composite
def crafted_results(draw, document: dict) -> dict:
    """``document`` with a part replaced, removed or added, re-hashed or not."""
    from symjax.results.document import content_hash, run_id_of

    d = json.loads(json.dumps(document))
    part = draw(st.sampled_from(["config", "layout", "results", "provenance", "top"]))
    where = d if part == "top" or not isinstance(d.get(part), dict) else d[part]
    key = draw(st.sampled_from(sorted(where) + ["extra"]))
    if draw(st.booleans()) and key in where:
        del where[key]
    else:
        where[key] = draw(_VALUES)
    if draw(st.booleans()):
        try:
            d["content_hash"] = content_hash(d)
            d["run_id"] = run_id_of(d["content_hash"])
        except Exception:  # noqa: BLE001 - a document too broken to hash stays as it is
            pass
    return d


@settings(max_examples=30)
@given(data=st.data())
def test_fuzzed_run_files_refused_in_one_line_or_run_inside_the_directory(finished,
                                                                         tmp_path_factory, data):
    """Whatever run.json (resumed) or results.json (a directory a new run goes into) says:
    exit 2 and one line, or a run that wrote only inside its directory (the files outside it
    are as they were)."""
    base = tmp_path_factory.mktemp("fuzz")
    out = _copy(finished, base)
    (base / "outside.txt").write_text(SECRET)
    if data.draw(st.booleans(), label="crafted run.json"):
        (out / "results.json").unlink()
        manifest = data.draw(crafted_manifest(json.loads((out / "run.json").read_text())))
        (out / "run.json").write_text(json.dumps(manifest))
        argv = ["verify", "--resume", out, "--quiet"]
    else:  # symjax 0.1 left results.json without run.json
        (out / "run.json").unlink()
        shutil.rmtree(out / "chunks")
        document = data.draw(crafted_results(json.loads((out / "results.json").read_text())))
        (out / "results.json").write_text(json.dumps(document))
        argv = ["verify", *TINY, "--out", out]
    outside = {k: v for k, v in _snapshot(base).items() if not k.startswith("D")}
    code, _, err = call(argv)
    if code == 2:
        error_line(code, err)
    else:
        assert code in (0, 1) and "Traceback" not in err, err
        assert (out / "results.json").is_file() and read_manifest(out)["finished"] is True
    assert {k: v for k, v in _snapshot(base).items() if not k.startswith("D")} == outside


# -- reproduce ---------------------------------------------------------------------------------
def test_reproduce_refuses_an_edited_per_seed_csv(finished, tmp_path):
    out = _copy(finished, tmp_path)
    rows = (out / "per_seed.csv").read_bytes().decode().split("\r\n")
    # The largest min_unit_distance_init of the normal runs, a little larger: the medians in
    # results.json stay as they are, so only the digest tells.
    normal = [i for i, r in enumerate(rows) if r.startswith("normal,")]
    i = max(normal, key=lambda i: float(rows[i].split(",")[-3]))
    cells = rows[i].split(",")
    cells[-3] = format(float(cells[-3]) * 1.001, ".9g")
    rows[i] = ",".join(cells)
    (out / "per_seed.csv").write_bytes("\r\n".join(rows).encode())
    code, stdout, err = call(["reproduce", out, "--quiet"])
    line = error_line(code, err)
    assert "per_seed.csv: SHA-256" in line and "changed after the run" in line, line
    assert not stdout
    # Negative control: the unedited run passes the digest check.
    from symjax.report.run import check_file_digests, load_run

    run = load_run(finished)
    check_file_digests(run.directory, run.document, names=("per_seed.csv",))


def test_per_seed_csv_is_never_read_through_a_link(finished, tmp_path):
    """A per_seed.csv replaced by a link (to an identical copy) is refused, not followed, by
    report and reproduce; the unlinked copy passes (negative control)."""
    out = _copy(finished, tmp_path)
    copy = tmp_path / "elsewhere.csv"
    copy.write_bytes((out / "per_seed.csv").read_bytes())
    (out / "per_seed.csv").unlink()
    (out / "per_seed.csv").symlink_to(copy)
    for command in (["reproduce", out, "--quiet"], ["report", out, "--no-figures"]):
        code, _, err = call(command)
        assert "symbolic link" in error_line(code, err), (command, err)
    from symjax.report.run import check_file_digests, load_run

    (out / "per_seed.csv").unlink()
    copy.rename(out / "per_seed.csv")
    run = load_run(out)
    check_file_digests(run.directory, run.document, names=("per_seed.csv",))


def test_reproduce_applies_no_flags_from_the_results_file(finished, tmp_path):
    out = _copy(finished, tmp_path)
    dump = tmp_path / "dump"
    doc = json.loads((out / "results.json").read_text())
    env = doc["provenance"]["env"]
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_dump_to={dump}".strip()
    (out / "results.json").write_text(json.dumps(doc))  # provenance is not hashed
    code, stdout, err = call(["reproduce", out, "--quiet"])
    assert code == 0, stdout + err
    assert f"note: the recorded run had XLA flags not set here (--xla_dump_to={dump})" in stdout
    assert stdout.rstrip().endswith("REPRODUCED bit for bit")
    # Before JAX loads (as on the command line): only the layout's flags are set.
    code = ("import json, os, sys; from symjax.report.reproduce import configure_like; "
            "configure_like(json.load(open(sys.argv[1]))); "
            "print(os.environ.get('XLA_FLAGS'), os.environ.get('JAX_NUM_CPU_DEVICES'))")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    done = subprocess.run([sys.executable, "-c", code, out / "results.json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "xla_dump_to" not in done.stdout
    assert ("--xla_force_host_platform_device_count=1" in done.stdout  # control: the layout's
            or done.stdout.split()[-1] == "1")  # device count was set
    assert not dump.exists()


# -- dynamics ---------------------------------------------------------------------------------
def _dynamics_args(**kw):
    import argparse

    return argparse.Namespace(**{"json": None, "out": None, "force": False, **kw})


def test_dynamics_claims_only_its_own_results_and_follows_no_link(tmp_path):
    from symjax.cli.dynamics import _claim_targets
    from symjax.results.document import write_results

    out = tmp_path / "dyn"
    assert _claim_targets(_dynamics_args(out=out)) == [out]  # new: created
    write_results(out, kind="dynamics", config={}, layout={}, results={"ok": True})
    # Its own results directory and file: claimed again (replaced when written).
    assert _claim_targets(_dynamics_args(out=out, json=out / "results.json")) == [out]
    other = tmp_path / "verify.json"
    write_results(other, kind="verify", config={}, layout={}, results={})
    with pytest.raises(InputError, match="is not a symjax dynamics results file.*--force"):
        _claim_targets(_dynamics_args(json=other))
    assert _claim_targets(_dynamics_args(json=other, force=True)) == [other]
    note = tmp_path / "notes.txt"
    note.write_text(SECRET)
    (out / "results.json").unlink()
    (out / "results.json").symlink_to(note)
    for args in (_dynamics_args(json=out / "results.json"), _dynamics_args(out=out)):
        with pytest.raises(InputError, match="symbolic link|holds no symjax dynamics"):
            _claim_targets(args)
    assert note.read_text() == SECRET


def test_dynamics_figures_replace_a_link_and_keep_its_target(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from symjax.cli.dynamics import figure_writer
    from symjax.report.plots import save_figure

    note = tmp_path / "notes.txt"
    note.write_text(SECRET)
    (tmp_path / "laws_change.png").symlink_to(note)
    save_figure(Figure(figsize=(1, 1)), "laws_change", figure_writer(tmp_path), "t")
    png = tmp_path / "laws_change.png"
    assert not png.is_symlink() and png.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "laws_change.pdf").read_bytes().startswith(b"%PDF")
    assert note.read_text() == SECRET
