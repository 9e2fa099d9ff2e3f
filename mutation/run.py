"""Mutation testing of symjax's checker code: do the tests fail when the checker is wrong?

Usage (from the repository root, with the test extra installed)::

    python mutation/run.py              # every mutant of mutation/mutants.py
    python mutation/run.py --check      # only check that every mutant still applies (seconds)
    python mutation/run.py -k reproduce # mutants whose name contains "reproduce"
    python mutation/run.py --list

For each mutant the repository (git's tracked and untracked, not ignored, files) is copied to a
temporary directory, the one source edit is applied there (never in the working tree), and the
mutant's tests run in the copy with ``python -m pytest -x -q`` (the copy's ``symjax`` first on
``PYTHONPATH``). A mutant is *killed* when those tests fail, *survives* when they pass. A mutant
whose source text is missing, or found more than once, stops the run before anything is tested
(exit 2): the catalogue must follow the code. Exit status: 0 every mutant killed, 1 some survived
(or timed out), 2 a broken catalogue or copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutants import MUTANTS, Mutant  # noqa: E402


def check(mutants: list[Mutant], root: Path = ROOT) -> list[str]:
    """One line per mutant that cannot be applied (source text missing or not unique)."""
    problems = []
    names = [m.name for m in MUTANTS]
    for m in mutants:
        if names.count(m.name) != 1:
            problems.append(f"{m.name}: the name is used {names.count(m.name)} times")
        path = root / m.path
        if not path.is_file():
            problems.append(f"{m.name}: {m.path} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(m.original)
        if count != 1:
            problems.append(f"{m.name}: source text found {count} times in {m.path} "
                            f"(expected once): {m.original!r}")
        if m.original == m.replacement:
            problems.append(f"{m.name}: the replacement equals the original")
        for t in m.tests:
            if t.startswith("tests/") and not (root / t.split("::")[0]).is_file():
                problems.append(f"{m.name}: test file {t} does not exist")
    return problems


def copy_repository(dest: Path) -> None:
    """Copy git's tracked and untracked-but-not-ignored files of the repository to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_mutant(m: Mutant, copy: Path, timeout: float) -> tuple[str, float, str]:
    """``(outcome, seconds, last lines of output)``; outcome is killed, survived, timeout or an
    error (pytest could not run the tests)."""
    path = copy / m.path
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace(m.original, m.replacement, 1), encoding="utf-8")
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
            cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    finally:
        path.write_text(source, encoding="utf-8")
    seconds = time.monotonic() - start
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    outcome = {0: "survived", 1: "killed"}.get(done.returncode, f"error (pytest exit "
                                                                f"{done.returncode})")
    return outcome, seconds, tail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="pattern", help="only mutants whose name contains this")
    parser.add_argument("--check", action="store_true",
                        help="only check that every mutant applies; run no tests")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds per mutant (default 900)")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.pattern or args.pattern in m.name]
    if args.list:
        for m in mutants:
            print(f"{m.name:36s} {m.path}: {m.bug}")
        return 0
    problems = check(mutants)
    if problems:
        print("mutation catalogue out of date with the code:", file=sys.stderr)
        print("\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return 2
    if args.check:
        print(f"all {len(mutants)} mutants apply")
        return 0
    if not mutants:
        print(f"no mutant name contains {args.pattern!r}", file=sys.stderr)
        return 2
    results = []
    # a terminated run still removes its copy
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="symjax-mutation-") as tmp:
        copy = Path(tmp)
        copy_repository(copy)
        probe = subprocess.run([sys.executable, "-c", "import symjax; print(symjax.__file__)"],
                               cwd=copy, env=_env(copy), capture_output=True, text=True)
        if not probe.stdout.strip().startswith(str(copy)):
            print(f"the copy's symjax is not the one imported ({probe.stdout.strip()!r}"
                  f"{probe.stderr.strip()[-300:]}); is the test extra installed?",
                  file=sys.stderr)
            return 2
        for m in mutants:
            outcome, seconds, tail = run_mutant(m, copy, args.timeout)
            results.append((m, outcome))
            print(f"{outcome:9s} {seconds:6.1f} s  {m.name}: {m.bug}", flush=True)
            if outcome != "killed":
                print(f"          {tail}".replace("\n", "\n          "), flush=True)
    killed = sum(o == "killed" for _, o in results)
    print(f"\nmutation score: {killed}/{len(results)} killed")
    for m, o in results:
        if o != "killed":
            print(f"  {o}: {m.name} ({m.path})")
    errors = [o for _, o in results if o.startswith("error")]
    return 2 if errors else (0 if killed == len(results) else 1)


if __name__ == "__main__":
    sys.exit(main())
