"""Nothing lost: chunk files, resume after kill -9 / SIGTERM / SIGINT, damaged chunks, the lock,
and a two-process run over ``jax.distributed``.

Every check compares with an uninterrupted run of the same command (same layout): the per-seed
CSV must be byte-identical and the run ID equal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symjax.base.errors import InputError
from symjax.base.files import atomic_write_text
from symjax.results.rundir import ChunkStore, DirectoryLock, read_manifest

#: A run of 12 chunks (x 1 optimizer) that takes a few seconds, so a signal lands mid-run.
SLOW = ["--seeds", "6144", "--chunk", "512", "--init", "normal,tied", "--optimizer", "sgd",
        "--steps", "6000", "--quiet"]
#: The same run, quick (few steps): for tests that do not need to catch it mid-run.
QUICK = ["--seeds", "600", "--chunk", "128", "--init", "normal,tied", "--optimizer", "sgd,adam",
         "--steps", "30", "--quiet"]
ENV = {"JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}


def _cmd(*args):
    return [sys.executable, "-m", "symjax", "verify", *map(str, args)]


def _env():
    env = dict(os.environ)
    env.update(ENV)
    return env


def _run(*args, timeout=600):
    return subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(),
                          timeout=timeout)


def _run_id(directory: Path) -> str:
    return json.loads((directory / "results.json").read_text())["run_id"]


def _same_results(a: Path, b: Path) -> None:
    assert (a / "per_seed.csv").read_bytes() == (b / "per_seed.csv").read_bytes()
    assert _run_id(a) == _run_id(b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted SLOW and QUICK runs."""
    base = tmp_path_factory.mktemp("reference")
    out = {}
    for name, args in (("slow", SLOW), ("quick", QUICK)):
        proc = _run(*args, "--out", base / name)
        assert proc.returncode == 0, proc.stderr
        out[name] = base / name
    return out


def _start_and_stop(out: Path, how: int, after_chunks: int = 2) -> subprocess.CompletedProcess:
    """Start the SLOW run, wait until ``after_chunks`` chunk files exist, send signal ``how``."""
    proc = subprocess.Popen(_cmd(*SLOW, "--out", out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 300
    chunks = out / "chunks"
    while time.monotonic() < deadline and proc.poll() is None:
        if chunks.is_dir() and len(list(chunks.glob("*.npz"))) >= after_chunks:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: make SLOW slower"
    proc.send_signal(how)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=["kill-9", "SIGTERM", "SIGINT"])
def test_interrupted_run_resumes_bitwise(tmp_path, reference, how):
    out = tmp_path / "run"
    stopped = _start_and_stop(out, how)
    done = sorted(p.name for p in (out / "chunks").glob("*.npz"))
    assert 0 < len(done) < 12, done  # really stopped mid-run
    assert not (out / "results.json").exists()
    if how == signal.SIGKILL:
        assert stopped.returncode == -signal.SIGKILL
    else:
        assert stopped.returncode == 128 + how, stopped.stderr
        line = stopped.stderr.strip().splitlines()[-1]
        assert f"interrupted by {signal.Signals(how).name}" in line
        assert f"symjax verify --resume {out}" in line
        assert "Traceback" not in stopped.stderr
    # A new run into the directory refuses; --resume finishes it.
    again = _run(*SLOW, "--out", out)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _run("--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((out / "results.json").read_text())
    timing = results["provenance"]["timing"]
    assert timing["units_reused"] >= len(done) and timing["units_computed"] <= 12 - len(done)
    _same_results(out, reference["slow"])


def test_damaged_chunks_are_recomputed_never_merged(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference["quick"], out)
    chunks = sorted((out / "chunks").glob("*.npz"))
    assert len(chunks) == 10  # 5 seed chunks x 2 optimizers
    truncated, flipped, gone = chunks[1], chunks[4], chunks[7]
    truncated.write_bytes(truncated.read_bytes()[:200])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    gone.unlink()
    (out / "results.json").unlink()  # as if killed before the end
    resumed = _run("--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{truncated} is truncated or unreadable" in resumed.stderr
    assert f"{flipped} is" in resumed.stderr
    timing = json.loads((out / "results.json").read_text())["provenance"]["timing"]
    assert timing["units_computed"] == 3 and timing["units_reused"] == 7
    _same_results(out, reference["quick"])


def test_a_finished_run_is_replaced_and_resume_of_it_recomputes_nothing(tmp_path, reference):
    out = tmp_path / "run"
    assert _run(*QUICK, "--out", out).returncode == 0
    resumed = _run("--resume", out, "--quiet")
    assert resumed.returncode == 0
    assert json.loads((out / "results.json").read_text())["provenance"]["timing"][
        "units_computed"] == 0
    _same_results(out, reference["quick"])
    other = _run(*QUICK[:-1], "--first-seed", "5", "--quiet", "--out", out)  # new config
    assert other.returncode == 0, other.stderr
    assert _run_id(out) != _run_id(reference["quick"])


def test_second_run_into_a_locked_directory_refuses(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with DirectoryLock(out):
        proc = _run(*QUICK, "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "is in use by another symjax run" in proc.stderr
    assert f"pid {os.getpid()}" in proc.stderr
    assert not (out / "results.json").exists() and not (out / "run.json").exists()


def test_lock_in_process_and_released_by_death(tmp_path):
    lock = DirectoryLock(tmp_path).acquire()
    with pytest.raises(InputError, match="in use"):
        DirectoryLock(tmp_path).acquire()
    lock.release()
    DirectoryLock(tmp_path).acquire().release()
    # A process killed with -9 while holding the lock leaves no stale lock behind.
    code = ("import sys, time; from symjax.results.rundir import DirectoryLock; "
            f"lock = DirectoryLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(InputError, match=f"in use by another symjax run \\(pid {holder.pid} "):
        DirectoryLock(tmp_path).acquire()
    holder.kill()
    holder.communicate()
    DirectoryLock(tmp_path).acquire().release()


@pytest.mark.parametrize("extra, message", [
    ([], "no symjax verify run to resume"),
    (["--seeds", "5"], "drop --seeds"),
])
def test_resume_refusals(tmp_path, extra, message):
    proc = _run("--resume", tmp_path, *extra)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_in_a_fresh_process_adopts_the_recorded_device_count(tmp_path, reference):
    """``symjax.resume_verify`` in a fresh process without ``configure_xla`` (1 CPU device by
    default, here forced by the environment) runs on the 2 devices the run recorded: bitwise
    the reference."""
    out = tmp_path / "run"
    shutil.copytree(reference["quick"], out)
    (out / "results.json").unlink()
    env = _env()
    env["JAX_NUM_CPU_DEVICES"] = "1"
    code = f"import symjax; symjax.resume_verify({str(out)!r}, quiet=True)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    _same_results(out, reference["quick"])


def test_resume_where_jax_already_runs_on_other_devices_says_what_to_do(tmp_path, reference):
    import jax

    from symjax import InputError, resume_verify

    assert jax.local_device_count() != 2  # this test process: JAX already initialised
    out = tmp_path / "run"
    shutil.copytree(reference["quick"], out)
    (out / "results.json").unlink()
    with pytest.raises(InputError, match=r"was run on 2 CPU devices and this process already "
                                         r"uses 1; resume it in a fresh process"):
        resume_verify(out, quiet=True)


def test_one_result_one_run_id_across_device_counts(tmp_path, reference):
    """The same command on 1 CPU device and on 2 (the reference): identical per-seed numbers,
    so one run ID; the layouts (and content hashes) differ."""
    env = _env()
    env["JAX_NUM_CPU_DEVICES"] = "1"
    proc = subprocess.run(_cmd(*QUICK, "--out", tmp_path / "one"), capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    one, two = (json.loads((d / "results.json").read_text())
                for d in (tmp_path / "one", reference["quick"]))
    assert (one["layout"]["devices"], two["layout"]["devices"]) == (1, 2)
    assert one["content_hash"] != two["content_hash"]
    _same_results(tmp_path / "one", reference["quick"])  # per_seed.csv bytes and run ID


def test_chunk_store_detects_every_kind_of_damage(tmp_path):
    store = ChunkStore(tmp_path, {"config": {}, "layout": {}, "run_key": "k"})
    store.write_manifest()
    meta = {"seeds": 3}
    arrays = {"0.final_loss": np.arange(3, dtype=np.float32)}
    store.write_chunk(0, 0, meta, arrays)
    got, why = store.read_chunk(0, 0, meta)
    assert why == "" and np.array_equal(got["0.final_loss"], arrays["0.final_loss"])
    assert store.read_chunk(0, 0, {"seeds": 4}) == (None, "written by a different run")
    assert store.read_chunk(1, 0, meta) == (None, "missing")
    path = store.chunk_path(0, 0)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    assert store.read_chunk(0, 0, meta)[1].startswith("truncated or unreadable")
    # A flipped bit inside the array data: the zip CRC or the digest catches it.
    data = bytearray(raw)
    offset = raw.index(arrays["0.final_loss"].tobytes())
    data[offset + 5] ^= 0x01
    path.write_bytes(bytes(data))
    assert store.read_chunk(0, 0, meta)[0] is None
    # Negative control: the undamaged bytes read back fine.
    path.write_bytes(raw)
    assert store.read_chunk(0, 0, meta)[1] == ""
    assert read_manifest(tmp_path)["run_key"] == "k"


def test_chunk_store_digest_catches_changes_that_the_zip_accepts(tmp_path):
    """A chunk rewritten as a valid zip (right CRCs) with its old digest: changed values, or the
    same bytes under another dtype or shape, are corrupted; the rewrite itself is not (control)."""
    store = ChunkStore(tmp_path, {"config": {}, "layout": {}, "run_key": "k"})
    store.write_manifest()
    meta = {"seeds": 4}
    store.write_chunk(0, 0, meta, {"0.final_loss": np.arange(4, dtype=np.float32),
                                   "0.first_break": np.array([[-1, 3], [0, -1], [2, 2], [-1, 1]],
                                                             np.int32)})
    path = store.chunk_path(0, 0)
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}

    def rewritten(**changes):
        np.savez(path, **{**members, **changes})
        return store.read_chunk(0, 0, meta)

    got, why = rewritten()
    assert why == "" and np.array_equal(got["0.final_loss"], members["0.final_loss"])
    edited = members["0.final_loss"].copy()
    edited[-1] = np.nextafter(edited[-1], np.float32(np.inf))
    assert rewritten(**{"0.final_loss": edited}) == (None, "corrupted (checksum mismatch)")
    same_bytes = members["0.final_loss"].view(np.int32)
    assert rewritten(**{"0.final_loss": same_bytes}) == (None, "corrupted (checksum mismatch)")
    reshaped = members["0.first_break"].reshape(4, 1, 2)  # the same bytes, another shape
    assert rewritten(**{"0.first_break": reshaped}) == (None, "corrupted (checksum mismatch)")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    from symjax.base.files import atomic_open

    with pytest.raises(Boom), atomic_open(path, "w") as f:
        f.write("new, half written")
        raise Boom
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary left


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_on_localhost_merge_to_the_single_process_results(tmp_path, reference):
    """``jax.distributed`` with 2 processes x 2 CPU devices: same per-seed results as one
    process (the per-seed CSV byte for byte; the run ID differs: process_count is layout)."""
    out = tmp_path / "run"
    port = _free_port()
    procs = [subprocess.Popen(
        _cmd(*QUICK, "--out", out, "--coordinator", f"localhost:{port}", "--num-processes", 2,
             "--process-id", i),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr
    # Process 0 prints the table; process 1 only says where its chunks went. (Not "stdout
    # empty": the CPU collectives may print connection notes of their own.)
    assert "HOLDS" in outs[0][0], outs[0]
    assert "pairs kept" not in outs[1][0] and "process 1: chunks written" in outs[1][1], outs[1]
    results = json.loads((out / "results.json").read_text())
    assert results["layout"]["process_count"] == 2
    assert results["layout"]["global_devices"] == 4 and results["layout"]["devices"] == 2
    assert (out / "per_seed.csv").read_bytes() == (reference["quick"] / "per_seed.csv").read_bytes()
    single = json.loads((reference["quick"] / "results.json").read_text())
    assert results["results"]["summaries"] == single["results"]["summaries"]
    # Each process trained its own chunks: 5 seed chunks, process 0 took 0, 2, 4.
    timing = results["provenance"]["timing"]
    assert timing["units_computed"] == 6


def test_multi_process_options_are_checked_before_anything_runs(tmp_path):
    proc = _run(*QUICK, "--coordinator", "localhost:1", "--num-processes", "2")
    assert proc.returncode == 2 and "missing --process-id" in proc.stderr
    proc = _run(*QUICK, "--coordinator", "localhost:1", "--num-processes", "2",
                "--process-id", "2", "--out", tmp_path)
    assert proc.returncode == 2 and "must be below --num-processes 2" in proc.stderr
    proc = _run(*QUICK, "--distributed")
    assert proc.returncode == 2 and "needs --out DIR" in proc.stderr


def test_same_config_twice_is_bitwise_identical_times_and_hosts_not_hashed(tmp_path, reference):
    out = tmp_path / "again"
    assert _run(*QUICK, "--out", out).returncode == 0
    _same_results(out, reference["quick"])
    a = json.loads((out / "results.json").read_text())
    b = json.loads((reference["quick"] / "results.json").read_text())
    assert a["provenance"]["start_time"] != b["provenance"]["start_time"]
    assert "hostname" in a["provenance"]
    # Negative control: the run ID does see the results (a changed number changes it).
    from symjax.results.document import run_id_of

    assert run_id_of(a) == a["run_id"]
    a["results"]["summaries"][0]["solved"] += 1
    assert run_id_of(a) != a["run_id"]


def test_a_run_too_big_for_memory_is_refused_before_any_file(tmp_path, monkeypatch):
    import symjax.numeric.sweep as sweep
    from symjax import verify

    monkeypatch.setattr(sweep, "available_memory", lambda: 64 << 20)  # a 64 MiB machine
    with pytest.raises(InputError, match=r"about [0-9.]+ GiB of results in memory.*--out DIR"):
        verify(seeds=2_000_000, quiet=True)
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"one call would return|GiB"):
        verify(seeds=2_000_000, chunk=2_000_000, out=out, quiet=True)
    assert not out.exists() or not any(out.iterdir())
    # Negative control: the same machine takes a small run.
    assert verify(seeds=8, steps=2, init="tied", optimizer="sgd", quiet=True).ok


def test_out_that_cannot_be_created_is_one_line(tmp_path):
    from symjax import verify

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(InputError, match="exists and is not a directory"):
        verify(seeds=4, steps=2, out=blocker, quiet=True)
    with pytest.raises(InputError, match=r"cannot create --out .*a-file/sub"):
        verify(seeds=4, steps=2, out=blocker / "sub", quiet=True)


def test_progress_bar_with_time_left_in_a_log(tmp_path):
    """--progress shows the bar (calls done, time left) even when stderr is a pipe; without it a
    pipe gets none."""
    args = ["--seeds", "600", "--chunk", "128", "--init", "tied", "--optimizer", "sgd",
            "--steps", "30"]
    shown = _run(*args, "--progress")
    assert shown.returncode == 0
    # calls done of all, elapsed < time left, e.g. "verify:  60%|...| 3/5 [00:01<00:02, ..."
    assert re.search(r"verify: +[1-9]\d*%.*[1-5]/5 \[\d\d:\d\d<\d\d:\d\d", shown.stderr)
    plain = _run(*args)
    assert plain.returncode == 0 and "verify:" not in plain.stderr
