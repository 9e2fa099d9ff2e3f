"""Bounded memory, clean stops on SIGINT/SIGTERM, and bad environments refused in one line.

Fast tests check the pieces in this process (estimates, validators, the signal module) and a few
command lines that fail before any work; the tests that start runs and interrupt them at random
moments are ``slow``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symjax.base.errors import InputError


def _one_line_error(proc, pattern: str) -> None:
    import re

    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


# -- memory ------------------------------------------------------------------------------------
def _largest_dimension(jaxpr) -> int:
    """The largest array dimension of any value in a (closed) jaxpr, sub-jaxprs included."""
    seen = 0

    def visit(j):
        nonlocal seen
        j = getattr(j, "jaxpr", j)  # a ClosedJaxpr holds its Jaxpr
        for eqn in j.eqns:
            for v in [*eqn.invars, *eqn.outvars]:
                shape = getattr(getattr(v, "aval", None), "shape", ())
                seen = max([seen, *shape])
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else [value]:
                    if hasattr(getattr(sub, "jaxpr", sub), "eqns"):
                        visit(sub)

    visit(jaxpr)
    return seen


@pytest.mark.parametrize("every", [0, 250_000_000])
def test_steps_are_never_an_array_of_their_count(every):
    import jax
    import jax.numpy as jnp

    from symjax.experiments.verify import resolve
    from symjax.numeric.train import run_block

    plan = resolve(seeds=4, steps=1_000_000_000, init="tied", optimizer="sgd",
                   trajectory_every=every)
    cfg = plan.train_configs()[0]
    flat0 = jnp.zeros((4, cfg.net.n_params), jnp.float32)
    x, y = plan.data.x.astype(np.float32), plan.data.y.astype(np.float32)
    traced = jax.make_jaxpr(lambda f, s: run_block(cfg, f, s, x, y))(
        flat0, jnp.zeros(4, jnp.uint32))
    assert _largest_dimension(traced) < 1000  # seeds, parameters, samples, trajectory records
    # Negative control: the measure sees an array of the step count.
    steps = jax.make_jaxpr(lambda: jnp.arange(1, cfg.steps + 1, dtype=jnp.int32))()
    assert _largest_dimension(steps) == cfg.steps


def test_merge_is_counted_and_huge_runs_refused_before_any_file(tmp_path, monkeypatch):
    import symjax.numeric.sweep as sweep
    from symjax import verify
    from symjax.experiments.verify import resolve

    plan = resolve(seeds=1_000_000, init="tied", optimizer="sgd")
    cfg = plan.train_configs()[0]
    batching = sweep.plan_batching(16384, 2)
    small = sweep.estimate_memory(cfg, batching, 1_000, False, True, 1_000)
    big = sweep.estimate_memory(cfg, batching, 1_000_000, False, True, 1_000_000)
    assert big["merge"] == 1000 * small["merge"] > 50 << 20  # measured: ~150 MiB per 1M seeds
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"about 7[0-9]{2}\.[0-9] GiB .*merge included.*fewer "
                                         r"seeds"):
        verify(seeds=2**32, init="tied", optimizer="sgd", out=out, quiet=True)
    assert not out.exists()
    # Negative control: a machine with enough memory takes the estimate.
    monkeypatch.setattr(sweep, "available_memory", lambda: 4 << 40)
    sweep.check_memory(cfg, batching, 2**32, False, True, 2**32)


def test_dynamics_refuses_big_or_bad_runs_before_work(monkeypatch):
    from symjax.experiments import dynamics as _dynamics
    from symjax.numeric.xla import available_memory

    monkeypatch.setattr("symjax.numeric.xla.available_memory", lambda: 8 << 30)
    with pytest.raises(InputError, match=r"laws part would hold about [0-9.]+ GiB .*1 seeds x "
                                         r"1000000000 steps.*of the 8.0 GiB"):
        _dynamics.measure(["laws"], laws={"seeds": 1, "steps": 10**9})
    with pytest.raises(InputError, match="seeds must be at most 4294967296"):
        _dynamics.check_options(["rounding"], {"rounding": {"seeds": 10**12}})
    with pytest.raises(InputError, match=r"eps must be a finite number > 0, got -1"):
        _dynamics.check_options(["stability"], {"stability": {"eps": (1e-3, -1)}})
    with pytest.raises(InputError, match=r"lr 1e-50 rounds to 0 in float32"):
        _dynamics.check_options(["laws"], {"laws": {"lr": 1e-50, "dtype": "float32"}})
    # Negative controls: float64 holds 1e-50, and the default sizes fit.
    _dynamics.check_options(["laws"], {"laws": {"lr": 1e-50, "dtype": "float64"}})
    monkeypatch.setattr("symjax.numeric.xla.available_memory", available_memory)
    _dynamics.check_options(list(_dynamics.PARTS), {})


def test_verify_refuses_values_that_round_to_zero():
    from symjax.experiments.verify import resolve

    with pytest.raises(InputError, match=r"lr of sgd 1e-50 rounds to 0 in float32"):
        resolve(lr="1e-50", optimizer="sgd")
    with pytest.raises(InputError, match=r"eps 1e-50 rounds to 0 in float32"):
        resolve(eps=1e-50, init="tied_eps")
    resolve(lr="1e-50", optimizer="sgd", dtype="float64")  # negative control


# -- environment -------------------------------------------------------------------------------
def test_device_counts_are_checked(monkeypatch):
    from symjax.numeric import xla as _xla

    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    assert _xla._device_count("") is None
    assert _xla._device_count("--xla_force_host_platform_device_count=3") == 3
    for bad in ("abc", "0", "-2", "1.5"):
        monkeypatch.setenv("JAX_NUM_CPU_DEVICES", bad)
        with pytest.raises(InputError, match=rf"JAX_NUM_CPU_DEVICES '{bad}' must be a positive"):
            _xla._device_count("")
    monkeypatch.setenv("JAX_NUM_CPU_DEVICES", "4")
    assert _xla._device_count("") == 4
    monkeypatch.setattr(_xla, "available_memory", lambda: 8 << 30)
    with pytest.raises(InputError, match=r"100000 CPU devices would need about 97.7 GiB.*use at "
                                         r"most 4096"):
        _xla.check_device_count(100_000)
    _xla.check_device_count(4096)  # negative control


def test_xla_flags_are_asked_of_xla():
    from symjax.numeric import xla as _xla

    with pytest.raises(InputError, match=r"XLA does not accept XLA_FLAGS: Unknown flag in "
                                         r"XLA_FLAGS: --xla_no_such_flag=1; remove or correct"):
        _xla.check_flags("--xla_no_such_flag=1 --xla_cpu_prefer_vector_width=512")
    _xla.check_flags("--xla_cpu_enable_fast_math=false")  # negative control: a real flag


@pytest.mark.parametrize("env, pattern", [
    ({"JAX_NUM_CPU_DEVICES": "abc"}, r"JAX_NUM_CPU_DEVICES 'abc' must be a positive integer"),
    ({"XLA_FLAGS": "--xla_no_such_flag=1"}, r"Unknown flag in XLA_FLAGS: --xla_no_such_flag"),
], ids=["devices", "flags"])
def test_bad_environment_is_one_line_and_exit_2(cli, env, pattern):
    _one_line_error(cli("verify", "--seeds", "4", env=env, timeout=120), pattern)


def test_lr_checked_before_the_proofs(cli):
    from symjax.cli.stability import check_lr

    for bad in ("1e1000000", "1e-1000000", "0", "-1/2", "1/0", "abc"):
        with pytest.raises(InputError, match=rf"--lr '{bad}' must be (positive|an exact)"):
            check_lr(bad)
    for good in ("1/2", "0.5", "2", "1e-50", "3/1e2"):
        check_lr(good)
    start = time.monotonic()
    _one_line_error(cli("stability", "--lr", "1e1000000", timeout=120),
                    r"between 1e-300 and 1e\+300")
    assert time.monotonic() - start < 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_coordinator_gives_up_with_a_message(cli, tmp_path):
    start = time.monotonic()
    proc = cli("verify", "--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2",
               "--process-id", "1", "--coordinator-timeout", "2", "--out", tmp_path / "run",
               timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "waiting up to 2 s" in lines[0]
    assert len(lines) == 2 and "could not reach the coordinator 127.0.0.1:" in lines[1]
    assert "within 2 s" in lines[1] and "--coordinator-timeout" in lines[1]
    assert time.monotonic() - start < 60


# -- signals -----------------------------------------------------------------------------------
def test_check_and_wait_raise_after_a_signal():
    import jax.numpy as jnp

    from symjax.base import signals as _signals

    with _signals.guard(), _signals.hint(lambda: "3 units saved"):
        _signals.check()  # nothing arrived yet
        _signals.wait(jnp.ones(3) + 1)
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(_signals.RunInterrupted, match="interrupted by SIGTERM; 3 units") as e:
            _signals.wait(jnp.ones(3) + 1)
        assert e.value.exit_status == 143
    _signals.check()  # the guard is left: the signal belonged to that run


#: A stand-in for a numeric subcommand, run inside ``cli.main``'s signal handling with JAX loaded
#: (so the handler must not raise): it prints "ready", then runs BODY.
def test_signal_during_the_csv_write_leaves_no_partial_file(tmp_path):
    from symjax import verify
    from symjax.base import signals as _signals

    res = verify(seeds=8, steps=2, init="tied", optimizer="sgd", quiet=True)
    with _signals.guard(), _signals.hint(lambda: "resume with: here"):
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(_signals.RunInterrupted, match="SIGINT; resume with: here"):
            res.write_csv(tmp_path / "per_seed.csv")
    assert list(tmp_path.iterdir()) == []
    res.write_csv(tmp_path / "per_seed.csv")  # negative control: without a signal it is written
    assert len((tmp_path / "per_seed.csv").read_text().splitlines()) == 9


_HARNESS = """
import sys, time
import jax
from symjax import cli
from symjax.base import signals as _signals

def run(argv):
    _signals.defer()
    with _signals.hint(lambda: "resume with: X"):
        print("ready", flush=True)
        BODY
    return 0

cli._run = run
sys.exit(cli.main([]))
"""


@pytest.mark.parametrize("body, took", [
    # main thread at safe points: it stops by itself at once
    ("while True: _signals.check(); time.sleep(0.01)", (0, 1.5)),
    # main thread stuck (as in a compilation or a compiled call): ended after the grace period
    ("time.sleep(60)", (1.5, 10)),
], ids=["safe-point", "stuck"])
def test_signal_stops_the_process_within_seconds(body, took):
    proc = subprocess.Popen([sys.executable, "-c", _HARNESS.replace("BODY", body)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 130, err
    assert err.strip() == "symjax: interrupted by SIGINT; resume with: X"
    assert took[0] <= elapsed < took[1], elapsed


def _jax_loading(pid: int) -> bool:
    try:
        return "_jax" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_signal_while_jax_loads_is_not_swallowed(tmp_path):
    """A signal that lands while JAX is imported (where its GC callback used to swallow it)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "symjax", "verify", "--seeds", "200000",
                             "--out", tmp_path / "run", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not _jax_loading(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]]
    assert err.strip().startswith("symjax: interrupted by SIGINT")
    assert "Exception ignored" not in err and "Traceback" not in err


# -- slow: interrupt at random moments, resume, compare ---------------------------------------
_RUN = ["--seeds", "3072", "--chunk", "512", "--init", "normal,tied", "--optimizer", "sgd,adam",
        "--steps", "1500", "--quiet"]


def _verify(*args, **kw):
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "symjax", "verify", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **kw)


def _alive(tag: str) -> list[int]:
    """Process ids whose command line holds ``tag``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if tag in (p / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(p.name))
            except OSError:
                pass
    return out


@pytest.mark.slow
def test_twenty_random_interruptions_then_resume_bitwise(tmp_path):
    ref = tmp_path / "reference"
    done = _verify(*_RUN, "--out", ref)
    _, err = done.communicate(timeout=1200)
    assert done.returncode == 0, err
    full = time.monotonic()
    out = tmp_path / "interrupted"
    rng = random.Random(20261206)
    statuses = []
    first = True
    for i in range(20):
        how = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        proc = _verify(*(_RUN if first else []), *(("--out", out) if first else
                                                   ("--resume", out, "--quiet")))
        delay = rng.uniform(0.1, 12.0)
        time.sleep(delay)
        if proc.poll() is None:
            sent = time.monotonic()
            proc.send_signal(how)
            _, err = proc.communicate(timeout=60)
            stopped_in = time.monotonic() - sent
            assert stopped_in < 5, (i, delay, stopped_in, err)
            assert proc.returncode in (128 + how, 0), (i, delay, proc.returncode, err)
        else:
            _, err = proc.communicate()
        assert proc.returncode != -signal.SIGSEGV and proc.returncode != 139, err
        assert "Traceback" not in err and "Exception ignored" not in err, err
        statuses.append(proc.returncode)
        if proc.returncode in (130, 143) and (out / "run.json").exists() and delay > 2:
            assert "symjax verify --resume" in err.strip().splitlines()[-1], err
        first = first and not (out / "run.json").exists()
        assert not _alive(str(out)), "a process was left behind"
    if first:
        proc = _verify(*_RUN, "--out", out)
    else:
        proc = _verify("--resume", out, "--quiet")
    _, err = proc.communicate(timeout=1200)
    assert proc.returncode == 0, err
    assert (out / "per_seed.csv").read_bytes() == (ref / "per_seed.csv").read_bytes()
    a = json.loads((out / "results.json").read_text())
    b = json.loads((ref / "results.json").read_text())
    assert a["run_id"] == b["run_id"]
    print(f"statuses: {statuses}; {time.monotonic() - full:.0f} s")
