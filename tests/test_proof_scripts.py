"""The proof scripts run as users run them (``python proofs/NAME.py``) and exit 0.

Each script exits 0 only when every verdict it prints is the one it states, so a prover change
that flips any of them fails here. The quick ones run by default, the rest with ``-m slow``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

PROOFS = pathlib.Path(__file__).resolve().parents[1] / "proofs"
QUICK = ("two_two_one.py", "optimizers.py")
ALL = sorted(p.name for p in PROOFS.glob("*.py"))


def _run(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROOFS / name)], capture_output=True, text=True, timeout=1800
    )


@pytest.mark.parametrize("name", QUICK)
def test_quick_proof_scripts_exit_0(name):
    result = _run(name)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PROVEN" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n not in QUICK])
def test_proof_scripts_exit_0(name):
    result = _run(name)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_proof_script_is_listed_in_the_readme():
    readme = (PROOFS.parent / "README.md").read_text()
    for name in ALL:
        assert f"proofs/{name}" in readme, name
