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


#: What proof scripts may import from symjax: the public modules.
PUBLIC_MODULES = {"symjax", "symjax.symbolic", "symjax.symbolic.jaxpr"}


@pytest.mark.parametrize("name", ALL)
def test_proof_scripts_import_only_public_names(name):
    import ast

    tree = ast.parse((PROOFS / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symjax"):
            assert node.module in PUBLIC_MODULES, f"{name} imports {node.module}"
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{name} imports {private} from {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("symjax") or alias.name in PUBLIC_MODULES


def test_proof_script_frame_fails_on_a_false_check_and_writes_fragments(tmp_path, capsys):
    from symjax.symbolic import ProofScript

    script = ProofScript("A test script.", ["--latex", str(tmp_path / "tex")])
    script.section("Claims")
    assert script.check("true claim", True) and not script.check("false claim", 0)
    script.fragment("a.tex", "x")
    assert script.finish() == 1  # one check came out otherwise than stated
    out = capsys.readouterr().out
    assert "[FAILED] false claim" in out and "[ok] true claim" in out
    assert (tmp_path / "tex" / "a.tex").read_text() == "x"
    passing = ProofScript(None, [])
    passing.check("only claim", True)
    assert passing.finish() == 0 and passing.args.latex is None
