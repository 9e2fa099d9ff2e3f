"""``symjax cite`` and CITATION.cff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from symjax import __version__
from symjax.cli import main
from symjax.cli.cite import AUTHORS, REPOSITORY, TITLE, YEAR
from symjax.results.document import RESULTS_FILE, write_results

ROOT = Path(__file__).resolve().parent.parent
_ENTRY = re.compile(r"@(\w+)\{([^,\s]+),\n(.*?)\n\}", re.S)
_FIELD = re.compile(r"^  (\w+)\s*= \{(.*)\},$")


def parse_bibtex(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """Entries ``(type, key, fields)``; fails on unbalanced braces or malformed fields."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "unbalanced braces"
    assert depth == 0, "unbalanced braces"
    entries = []
    for entry_type, key, body in _ENTRY.findall(text):
        fields = {}
        for line in body.splitlines():
            match = _FIELD.match(line)
            assert match, f"malformed BibTeX field line {line!r}"
            fields[match[1]] = match[2]
        entries.append((entry_type, key, fields))
    assert text.count("@") == len(entries)
    return entries


@pytest.fixture
def run_dir(tmp_path):
    write_results(
        tmp_path, kind="verify", config={"seeds": 4}, layout={"devices": 1}, results={"tied": 4}
    )
    return tmp_path


def test_software_entry(capsys):
    assert main(["cite"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    [(entry_type, key, fields)] = parse_bibtex(out)
    assert (entry_type, key) == ("software", "symjax2026")
    assert fields["title"] == TITLE.replace("symjax", "{symjax}", 1)
    assert fields["author"] == "{The symjax developers}"
    assert fields["year"] == "2026"
    assert fields["version"] == __version__
    assert __version__ in fields["note"]
    assert fields["url"] == REPOSITORY and "doi" not in fields


def test_run_entry_names_the_run_id(capsys, run_dir):
    doc = json.loads((run_dir / RESULTS_FILE).read_text())
    assert main(["cite", "--results", str(run_dir)]) == 0
    software, (entry_type, key, fields) = parse_bibtex(capsys.readouterr().out)
    assert software[0] == "software"
    assert entry_type == "misc"
    assert key == "symjax-run-" + doc["run_id"].removeprefix("sha256:")
    assert doc["run_id"] in fields["title"]
    assert doc["run_id"] in fields["note"] and doc["content_hash"] in fields["note"]
    assert "symjax verify" in fields["note"]
    assert fields["version"] == doc["provenance"]["version"] and fields["url"] == REPOSITORY


@pytest.mark.parametrize("problem", ["missing", "tampered"])
def test_bad_results_exit_2_with_one_line(capsys, tmp_path, run_dir, problem):
    target = tmp_path / "nope" if problem == "missing" else run_dir
    if problem == "tampered":
        path = run_dir / RESULTS_FILE
        path.write_text(path.read_text().replace('"tied": 4', '"tied": 5'))
    assert main(["cite", "--results", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("symjax: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_exit_status_in_a_fresh_process(cli, tmp_path):
    missing = tmp_path / "missing.json"
    proc = cli("cite", "--results", missing)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"symjax: error: results path {missing} does not exist\n"


def test_latex_special_characters_are_escaped():
    from symjax.cli.cite import software_entry

    [(_, _, fields)] = parse_bibtex(software_entry("1.0_dev#2"))
    assert fields["version"] == r"1.0\_dev\#2"


def _cff_scalars(text: str) -> dict[str, str]:
    """Top-level ``key: value`` pairs of a CFF file (enough for the plain scalars used there)."""
    pairs = re.findall(r"^([a-z-]+):[ \t]*(.*)$", text, re.M)
    return {key: value.strip().strip('"') for key, value in pairs}


def test_citation_cff_agrees_with_cite():
    text = (ROOT / "CITATION.cff").read_text()
    cff = _cff_scalars(text)
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert cff["license"] == "MIT"
    assert cff["title"] == TITLE
    assert cff["version"] == __version__
    assert re.fullmatch(rf"{YEAR}-[01][0-9]-[0-3][0-9]", cff["date-released"])
    assert {"message", "authors", "keywords", "abstract"} <= cff.keys()
    assert f"  - name: {AUTHORS}\n" in text
    assert cff["repository-code"] == REPOSITORY
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(__version__)}"$', pyproject, re.M)
    assert f'Repository = "{REPOSITORY}"' in pyproject
