"""Every public name imports (cheap, and catches broken exports)."""

import importlib

import pytest

import symjax


@pytest.mark.parametrize("name", symjax.__all__)
def test_public_name_imports(name):
    assert getattr(symjax, name) is not None


def test_import_loads_neither_jax_nor_sympy():
    import subprocess
    import sys

    code = "import sys, symjax; print('jax' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_symbolic_does_not_import_numeric_half():
    import subprocess
    import sys

    code = "import sys, symjax.symbolic; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_help_lists_commands():
    cli = importlib.import_module("symjax.cli")
    text = cli.build_parser().format_help()
    assert "prove" in text and "verify" in text
