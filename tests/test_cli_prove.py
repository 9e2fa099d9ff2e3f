"""``symjax prove``: output, exit codes, JSON and LaTeX files, one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
import sympy as sp

from symjax.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["prove", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_proves_the_two_two_one_swap(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert "dJ/dw1 = dJ/da3 * da3/dz3 * dz3/da1 * da1/dz1 * dz1/dw1" in out
    assert "dJ/dw1 and dJ/dw3 differ only through w5 vs w6 and z1 vs z2." in out
    assert "ties w1=w3,w2=w4,w5=w6,b1=b2" in out
    assert out.rstrip().endswith("Verdict: PROVEN")


def test_refuted_tie_exits_1_and_writes_a_witness(capsys, tmp_path):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, "--ties", "w1=w2", "--json", path)
    assert code == 1 and "Verdict: REFUTED" in out
    assert "dJ/dw1 and dJ/dw2 differ only through x1 vs x2." in out
    data = json.loads(path.read_text())
    assert data["verdict"] == "refuted"
    assert data["witness"]["difference"] == "dJ/dw1 - dJ/dw2"
    assert data["versions"]["sympy"] == sp.__version__ and data["versions"]["symjax"]
    assert data["kind"] == data["command"] == "prove" and data["run_id"].startswith("sha256:")
    assert {"claim", "hypotheses", "steps", "witness", "context"} <= set(data)


def test_json_and_latex_of_a_proof(capsys, tmp_path):
    js, tex = tmp_path / "p.json", tmp_path / "p.tex"
    code, _, _ = run(capsys, "--widths", "2,3,1", "--activation", "tanh", "--loss", "bce",
                     "--output-activation", "sigmoid", "--samples", "2", "--json", js,
                     "--latex", tex)
    assert code == 0
    data = json.loads(js.read_text())
    assert data["verdict"] == "proven" and data["witness"] is None
    assert data["context"]["widths"] == [2, 3, 1] and data["context"]["samples"] == 2
    content = tex.read_text()
    assert r"\frac{\partial J}{\partial w_{1}}" in content
    assert r"\begin{description}" in content and r"\textbf{proven}" in content


@pytest.mark.parametrize(
    "args, verdict",
    [
        (["--widths", "2,3,1", "--permutation", "1:2,3,1"], "PROVEN"),
        (["--widths", "2,2,2,1", "--permutation", "2:2,1"], "PROVEN"),
        (["--dropout", "independent"], "REFUTED"),
        (["--dropout", "shared"], "PROVEN"),
        (["--ties", ""], "PROVEN"),
    ],
)
def test_permutations_dropout_and_empty_ties(capsys, args, verdict):
    code, out, _ = run(capsys, *args)
    assert out.rstrip().endswith(f"Verdict: {verdict}")
    assert code == (0 if verdict == "PROVEN" else 1)


def test_lattice_classifies_sixteen_subsets(capsys, tmp_path):
    path = tmp_path / "lattice.json"
    code, out, _ = run(capsys, "--lattice", "--json", path)
    assert code == 0
    assert "exactly 2 are preserved" in out
    data = json.loads(path.read_text())
    assert len(data["lemmas"]) == 16
    assert data["context"]["invariant"] == ["", "w1=w3,w2=w4,w5=w6,b1=b2"]


def test_time_limit_gives_unknown_and_exit_3(capsys):
    code, out, _ = run(capsys, "--ties", "w1=w3", "--timeout", "1e-9")
    assert code == 3 and "Verdict: UNKNOWN" in out and "time limit" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ties", "w1=w9"], "unknown parameter 'w9' for widths 2-2-1; allowed: w1..w6, b1..b3"),
        (["--ties", "w1=b1"], "ties parameters of different roles"),
        (["--widths", "2,0,1"], "widths must be positive integers, got 0"),
        (["--widths", "2,-3,1"], "widths must be positive integers, got -3"),
        (["--widths", "2,30,30,1"], "the symbolic engine handles at most 160"),
        (["--widths", "2,5,5,5,5,1"], "the symbolic engine handles at most 256"),
        (["--activation", "swish"], "unknown activation 'swish'; allowed: identity, tanh"),
        (["--output-activation", "swish"], "unknown output activation 'swish'; allowed:"),
        (["--loss", "hinge"],
         "unknown loss 'hinge'; allowed: squared_error, bce, softmax_cross_entropy, l"),
        (["--reduction", "max"], "unknown reduction 'max'; allowed: mean, sum"),
        (["--dropout", "maybe"], "unknown dropout 'maybe'; allowed: none, shared, independent"),
        (["--samples", "0"], "samples must be an integer from 1 to 8, got 0"),
        (["--permutation", "1:2,2"], "is not a permutation of the 2 units of hidden layer 1"),
        (["--permutation", "2:1"], "layer 2 is not a hidden layer of 2-2-1"),
        (["--permutation", "one"], "permutation 'one' must look like LAYER:IMAGES"),
        (["--ties", "w1=w3", "--permutation", "1:2,1"], "not allowed with argument"),
        (["--timeout", "0"], "timeout must be a positive number of seconds"),
        (["--widths", "2,1"], "no hidden layer 1 with two units to swap"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("symjax: error: ")
    assert message in err


def test_prove_and_the_report_appendix_derive_the_same_claim(capsys, tmp_path):
    """``symjax prove`` and a report's proof appendix both go through ``prove_claim``: the
    claim it returns for the recorded options is the one the command wrote."""
    from symjax.symbolic._claim import prove_claim

    code, _, _ = run(capsys, "--optimizer", "momentum", "--json", tmp_path / "p.json")
    written = json.loads((tmp_path / "p.json").read_text())
    claim = prove_claim("2,2,1", optimizer="momentum", activation="tanh",
                        output_activation="sigmoid", loss="squared_error", samples=1,
                        reduction="mean", dropout="none")
    assert code == 0 and claim.theorem.proven
    assert (claim.theorem.claim, claim.theorem.verdict) == (written["claim"], written["verdict"])
    refuted = prove_claim("2,2,1", ties="w1=w3", activation="tanh", output_activation="sigmoid",
                          loss="squared_error", samples=1, reduction="mean", dropout="none")
    assert refuted.theorem.verdict == "refuted" and refuted.pairs == [("w1", "w3")]


def test_unwritable_output_file_is_bad_input(capsys, tmp_path):
    code, _, err = run(capsys, "--json", tmp_path / "missing" / "t.json")
    assert code == 2 and "cannot write --json" in err


def test_command_line_entry_point(cli):
    ok = cli("prove", "--ties", "w1=w3,w2=w4,b1=b2,w5=w6")
    assert ok.returncode == 0 and "Verdict: PROVEN" in ok.stdout
    bad = cli("prove", "--loss", "hinge")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "unknown loss 'hinge'" in bad.stderr and "Traceback" not in bad.stderr


def test_help_does_not_import_sympy():
    import subprocess

    code = ("import sys; from symjax.cli import build_parser; "
            "build_parser().parse_args(['prove', '--widths', '2,3,1']); "
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_json_carries_run_id_provenance_and_latex(tmp_path):
    import json

    from symjax.cli import main

    paths = [tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"]
    assert main(["prove", "--json", str(paths[0])]) == 0
    assert main(["prove", "--json", str(paths[1])]) == 0
    assert main(["prove", "--ties", "w1=w3", "--json", str(paths[2])]) == 1
    a, b, c = (json.loads(p.read_text()) for p in paths)
    assert a["run_id"].startswith("sha256:") and a["run_id"] == b["run_id"]
    assert c["run_id"] != a["run_id"]  # a different claim is a different run
    assert a["provenance"]["versions"]["sympy"] == a["versions"]["sympy"]
    assert "\\begin{description}" in a["latex"] and "dJ" in a["latex"]


@pytest.mark.parametrize("option", ["--json", "--latex"])
def test_output_files_of_others_are_never_replaced(capsys, tmp_path, option):
    """A file symjax did not write is refused before any work (exit 2, file unchanged);
    symjax's own file is replaced; --force replaces any regular file; a link is refused."""
    theirs = tmp_path / "theirs"
    theirs.write_text("keep me\n")
    code, out, err = run(capsys, option, theirs)
    assert code == 2 and out == "" and "not a symjax" in err
    assert theirs.read_text() == "keep me\n"
    ours = tmp_path / "ours"
    assert run(capsys, option, ours)[0] == 0
    first = ours.read_text()
    assert run(capsys, option, ours, "--ties", "w1=w3")[0] == 1  # ours: replaced
    assert ours.read_text() != first
    assert run(capsys, option, theirs, "--force")[0] == 0
    assert theirs.read_text() != "keep me\n"
    link = tmp_path / "link"
    link.symlink_to(ours)
    code, _, err = run(capsys, option, link)
    assert code == 2 and "symbolic link" in err


def test_laws_and_stability_records_carry_run_ids(tmp_path):
    from symjax.cli import main

    assert main(["laws", "--json", str(tmp_path / "l.json")]) == 0
    assert main(["laws", "--json", str(tmp_path / "m.json")]) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("l.json", "m.json"))
    assert a["kind"] == a["command"] == "laws" and a["run_id"] == b["run_id"]
    assert a["config"]["activation"] == "relu" and "sympy" in a["versions"]
