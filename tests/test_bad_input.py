"""Bad input everywhere ends in exit status 2 and one line naming the value: property-based.

Hypothesis generates bad values for every option of every subcommand (wrong types, negative and
huge numbers, NaN and infinity, unknown names, empty lists, malformed specs, odd unicode) and
for the keyword arguments of :func:`symjax.verify`. Each example runs the CLI in this process
(:func:`symjax.cli.main`) and checks: exit status 2; stderr exactly one line ``symjax: error:
...`` with no traceback; the line names the bad value (and, for a finite set of choices, every
allowed choice); with ``--out DIR`` / ``--json FILE`` nothing that looks like a result is left.
Bad input must be refused before any training or compilation: the ``no_training`` guard makes
reaching the run itself an error. A few real subprocesses confirm that the command behaves the
same outside pytest, and negative controls show that the checks catch a real traceback.
Results and config files are fuzzed in ``test_bad_input_files.py``.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import sys
import warnings
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from symjax import InputError  # noqa: E402
from symjax.base.choices import ACTIVATIONS, LOSS_ALIASES, LOSSES, REDUCTIONS  # noqa: E402
from symjax.cli import main  # noqa: E402
from symjax.numeric.datasets import DATASETS  # noqa: E402

EXAMPLES = settings(max_examples=30)
FEW = settings(max_examples=15)
PREFIX = "symjax: error: "
#: Files whose presence would make a directory look like a finished ``symjax verify`` run.
RESULT_FILES = ("results.json", "per_seed.csv", "params.npz", "trajectories.npz")


class ReachedTheRun(BaseException):
    """Raised by the ``no_training`` guard: the input was accepted and the run was about to start.

    A ``BaseException`` so that no ``except Exception`` on the way swallows it.
    """


# -- the checks --------------------------------------------------------------------------------
def call(argv) -> tuple[int, str, str]:
    """``symjax ARGV`` in this process: ``(exit status, stdout, stderr)``.

    An exception escaping :func:`symjax.cli.main` is a traceback the user would see: it fails the
    test as it is.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        # JAX is already imported in this process, so the CLI's XLA flags come too late.
        warnings.filterwarnings("ignore", message=r"symjax\.configure_xla\(\) was called after")
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def error_line(code: int, err: str) -> str:
    """The one error line of a refused command; fails unless exit 2, one line, no traceback."""
    assert code == 2, f"exit status {code}, expected 2; stderr: {err!r}"
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.startswith(PREFIX) and line[len(PREFIX):].strip(), line
    return line


def spellings(value) -> set[str]:
    """The ways a message may write ``value``: as given, stripped, repr'd, or as a number."""
    text = str(value)
    out = {text, text.strip(), repr(text), repr(text.strip()), repr(text)[1:-1],
           repr(text.strip())[1:-1]}
    with contextlib.suppress(ValueError, OverflowError):
        number = float(text)
        out |= {repr(number), f"{number:g}"}
        if number.is_integer() and re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            out.add(str(int(text)))
    return {s for s in out if s}


def assert_names(line: str, value) -> None:
    """The message names ``value`` (some spelling of it; ``''`` for the empty string)."""
    if str(value).strip() == "":
        shown = {repr(str(value)), repr(str(value).strip()), '""'}
        assert any(s in line for s in shown), f"the blank value is not named in {line!r}"
        return
    assert any(s in line for s in spellings(value)), f"{value!r} is not named in {line!r}"


def assert_choices(line: str, allowed) -> None:
    """The message lists every allowed choice after ``allowed:``."""
    assert "allowed:" in line, f"no 'allowed:' list in {line!r}"
    listed = {c.strip() for c in line.split("allowed:", 1)[1].split(",")}
    missing = [a for a in allowed if a not in listed]
    assert not missing, f"allowed choices {missing} are not listed in {line!r}"


def refused(argv, value=None, *, allowed=(), named=()) -> str:
    """Run ``argv``; check exit 2, one line, the value and every choice named; the line."""
    code, _, err = call(argv)
    line = error_line(code, err)
    if value is not None:
        assert_names(line, value)
    for fragment in named:
        assert fragment in line, f"{fragment!r} is not named in {line!r}"
    if allowed:
        assert_choices(line, allowed)
    return line


def assert_nothing_valid(out: Path) -> None:
    """No file that makes ``out`` look like a finished run."""
    left = [n for n in RESULT_FILES if (out / n).exists()]
    assert not left, f"bad input left {left} in {out}"


@pytest.fixture
def no_training(monkeypatch):
    """Make the start of a run (provenance is collected right after the options are resolved)
    and the sweep itself raise :class:`ReachedTheRun`; count XLA compilations."""
    import symjax.experiments.verify
    import symjax.results.document

    def reached(*args, **kwargs):
        raise ReachedTheRun("the options were accepted and the run started")

    monkeypatch.setattr(symjax.results.document, "collect_provenance", reached)
    monkeypatch.setattr(symjax.experiments.verify, "run_sweep", reached, raising=False)
    compiles = _compile_counter()
    before = compiles[0]
    yield
    assert compiles[0] == before, "bad input was compiled by XLA before it was refused"


_COMPILES = [0]
_LISTENING = []


def _compile_counter() -> list[int]:
    """A counter of XLA backend compilations in this process (``jax.monitoring`` events)."""
    if not _LISTENING:
        from jax import monitoring

        def listen(event: str, duration: float, **kwargs) -> None:
            if "backend_compile" in event:
                _COMPILES[0] += 1

        monitoring.register_event_duration_secs_listener(listen)
        _LISTENING.append(listen)
    return _COMPILES


# -- negative controls: the checks catch what they must ----------------------------------------
def test_checks_catch_a_traceback(cli, tmp_path):
    """A process that dies with a traceback fails ``error_line``; so does a second line."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", "raise ValueError('seeds -1')"],
                          capture_output=True, text=True)
    with pytest.raises(AssertionError, match="Traceback|expected 2|one line"):
        error_line(2, done.stderr)
    with pytest.raises(AssertionError, match="expected 2"):
        error_line(done.returncode, PREFIX + "x\n")
    with pytest.raises(AssertionError, match="one line"):
        error_line(2, PREFIX + "seeds -1 must be >= 1\nre-running run ...\n")
    with pytest.raises(AssertionError):
        error_line(2, "")
    # a good refusal passes, and the value check fails for a message that does not name it
    line = error_line(2, PREFIX + "seeds -1 must be >= 1\n")
    assert_names(line, "-1")
    with pytest.raises(AssertionError, match="not named"):
        assert_names(line, "-7")
    with pytest.raises(AssertionError, match="not listed"):
        assert_choices(PREFIX + "unknown dtype 'x'; allowed: float32", ["float32", "float64"])
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(AssertionError, match="left"):
        assert_nothing_valid(tmp_path)


def test_in_process_call_lets_a_traceback_through(monkeypatch):
    """An exception that is not an InputError escapes ``call`` (it would be a traceback)."""
    import symjax.cli.cite

    def boom(args):
        raise ZeroDivisionError("deep inside")

    monkeypatch.setattr(symjax.cli.cite, "run", boom)
    with pytest.raises(ZeroDivisionError):
        call(["cite"])


def test_guard_catches_an_accepted_run(no_training):
    """Good options reach the run, which the guard turns into ReachedTheRun."""
    with pytest.raises(ReachedTheRun):
        call(["verify", "--seeds=2", "--steps=1", "--init=tied", "--optimizer=sgd", "--quiet"])


def test_compile_counter_counts():
    """The guard's compile counter sees a fresh XLA compilation."""
    import jax
    import jax.numpy as jnp

    counter = _compile_counter()
    before = counter[0]
    jax.jit(lambda x: x * 3 + 1)(jnp.arange(5, dtype=jnp.float32))
    assert counter[0] > before


# -- strategies --------------------------------------------------------------------------------
ODD_TEXT = st.sampled_from([
    "", " ", "\t", "nan", "NaN", "inf", "-inf", "+inf", "infinity", "1e400", "-1e400", "0x10",
    "1_000", "1e3", "3.5", "-0", "--1", "½", "２", "١٢", "ⅷ", "\u200b", "e\u0301", "🙂", "None",
    "null", "[]", "{}", "true", "a,b", "x=1", "'", '"', "\\", "%s", "{0}", "$HOME", "💥" * 3,
])
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                min_size=1, max_size=12)
NOT_INTEGER = st.one_of(
    ODD_TEXT.filter(lambda t: not re.fullmatch(r"\s*[+-]?[0-9]+\s*", t)),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not x.is_integer()
                                                          if math.isfinite(x) else True)
    .map(repr),
    WORDS.filter(lambda t: not re.fullmatch(r"\s*[+-]?[0-9]+\s*", t)),
)
NEGATIVE_INT = st.integers(max_value=-1).map(str)
HUGE_INT = st.integers(min_value=2**64, max_value=10**40).map(str)
NOT_FINITE = st.sampled_from(["nan", "inf", "-inf", "NaN", "Infinity", "1e400", "-1e999"])
NEGATIVE_FLOAT = st.floats(max_value=-1e-12, allow_infinity=False).map(repr)
UNKNOWN_NAME = st.one_of(WORDS, ODD_TEXT).map(str.strip).filter(bool)


def _opt(name: str, value: str) -> str:
    """``--name=value``: the ``=`` form, so that values starting with '-' are values."""
    return f"--{name}={value}"


# -- symjax verify -----------------------------------------------------------------------------
INTEGER_OPTIONS = {  # option -> smallest allowed
    "seeds": 1, "first-seed": 0, "steps": 0, "chunk": 1, "trajectory-every": 0,
}
NAMED_OPTIONS = {
    "activation": ACTIVATIONS,
    "output-activation": ACTIVATIONS,
    "loss": LOSSES + tuple(LOSS_ALIASES),
    "reduction": REDUCTIONS,
    "dtype": ("float32", "float64"),
    "path": ("exact", "matmul"),
}


@pytest.fixture
def verify_out(tmp_path):
    return tmp_path / "out"


def _verify(verify_out, *options):
    return ["verify", *options, "--out", verify_out, "--quiet"]


@EXAMPLES
@given(name=st.sampled_from(sorted(INTEGER_OPTIONS)),
       value=st.one_of(NOT_INTEGER, NEGATIVE_INT, HUGE_INT))
def test_verify_integer_options(no_training, verify_out, name, value):
    maximum = {"seeds": 2**32, "first-seed": 2**32 - 10_000, "chunk": math.inf}.get(
        name, 2**31 - 2)
    if re.fullmatch(r"\s*\+?[0-9]+\s*", value):
        assume(not INTEGER_OPTIONS[name] <= int(value) <= maximum)
    refused(_verify(verify_out, _opt(name, value)), value, named=[name.replace("-", "_")])
    assert_nothing_valid(verify_out)


@EXAMPLES
@given(name=st.sampled_from(["lr", "eps", "dropout", "grad-noise"]),
       value=st.one_of(NOT_FINITE, NEGATIVE_FLOAT, ODD_TEXT.filter(lambda t: t.strip() != ""),
                       WORDS))
def test_verify_number_options(no_training, verify_out, name, value):
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number) and number > 0:
        assume(name == "dropout" and number >= 1)  # the only positive numbers that are bad
    if name == "lr":
        assume("=" not in value and "," not in value)  # per-optimizer forms: tested below
    if number == 0 and name != "lr":
        assume(False)  # zero eps, dropout and noise are allowed
    refused(_verify(verify_out, _opt(name, value)), value)
    assert_nothing_valid(verify_out)


@EXAMPLES
@given(name=st.sampled_from(sorted(NAMED_OPTIONS)), value=UNKNOWN_NAME)
def test_verify_named_options(no_training, verify_out, name, value):
    allowed = NAMED_OPTIONS[name]
    assume(value not in allowed)
    refused(_verify(verify_out, _opt(name, value)), value, allowed=allowed)
    assert_nothing_valid(verify_out)


WIDTHS_BAD = st.one_of(
    st.lists(st.integers(-3, 4), min_size=2, max_size=5)
    .filter(lambda ws: min(ws) < 1).map(lambda ws: ",".join(map(str, ws))),
    st.sampled_from(["2,,1", ",2,2,1", "2,2,1,", "2;2;1", "2 2 1", "2,2.0,1", "2,1e1,1", "2",
                     "", ",", "two,2,1", "2,２,1", "2,nan,1", "2,-2,1", "2,0,1",
                     "2,10000000,1", "2," + "9" * 5000 + ",1"]),
)


@EXAMPLES
@given(value=WIDTHS_BAD)
def test_verify_widths(no_training, verify_out, value):
    line = refused(_verify(verify_out, _opt("widths", value)))
    assert "widths" in line
    if len(value) < 100:
        assert_names(line, value)
    assert_nothing_valid(verify_out)


INIT_NAMES = ("zeros", "constant", "tied", "tied_eps", "normal", "uniform", "glorot_normal",
              "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
              "orthogonal")
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adam", "adamw", "nadam", "nadamw", "amsgrad",
                   "adamax", "adamaxw", "adabelief", "adan", "radam", "yogi", "rmsprop",
                   "adagrad", "adadelta", "lion", "sign_sgd", "signum", "rprop",
                   "optimistic_gradient_descent")
IDENT = st.from_regex(r"\A[a-z_][a-z0-9_]{0,8}\Z")


def _spec_cases(names, keys: dict[str, tuple[str, ...]]):
    """Bad ``name:key=value`` specs and what the message must name: ``(spec, fragment,
    allowed)``."""
    unknown_name = UNKNOWN_NAME.filter(lambda t: ":" not in t and "," not in t
                                       and t not in names and t != "all").map(
        lambda t: (t, t, names))
    unknown_key = st.tuples(st.sampled_from(names), IDENT).filter(
        lambda nk: nk[1] not in keys.get(nk[0], ())).map(
        lambda nk: (f"{nk[0]}:{nk[1]}=1", nk[1], keys.get(nk[0], ())))
    keyed = [(n, k) for n in names for k in keys.get(n, ())]
    bad_value = st.tuples(st.sampled_from(keyed), st.sampled_from(
        ["abc", "nan", "inf", "-inf", "1e400", "", "½", "0x1", "[1]", "1e3x"])).map(
        lambda nkv: (f"{nkv[0][0]}:{nkv[0][1]}={nkv[1]}", nkv[0][1], ()))
    malformed = st.sampled_from(names).flatmap(lambda n: st.sampled_from([
        (f"{n}:", n, ()), (f"{n}::", n, ()), (f"{n}:=1", n, ()), (f"{n}:key", "key", ()),
        (f"{n}:Key=1", "Key", ()), (f"{n}:1x=2", "1x", ())]))
    return st.one_of(unknown_name, unknown_key, malformed, *([bad_value] if keyed else []))


def _init_keys():
    from symjax.numeric.inits import get_init

    return {n: tuple(k for k, _ in get_init(n).defaults) for n in INIT_NAMES}


def _optimizer_keys():
    from symjax.numeric.optimizers import PERTURBATIONS, _option_defaults

    return {n: (*_option_defaults(n), *PERTURBATIONS) for n in OPTIMIZER_NAMES}


def _dataset_keys():
    from symjax.numeric.datasets import _OPTIONS

    return {n: tuple(_OPTIONS.get(n, {})) for n in DATASETS}


@EXAMPLES
@given(case=_spec_cases(INIT_NAMES, _init_keys()))
def test_verify_init_specs(no_training, verify_out, case):
    spec, fragment, allowed = case
    refused(_verify(verify_out, _opt("init", spec)), fragment, allowed=allowed)
    assert_nothing_valid(verify_out)


@EXAMPLES
@given(case=_spec_cases(OPTIMIZER_NAMES, _optimizer_keys()))
def test_verify_optimizer_specs(no_training, verify_out, case):
    spec, fragment, allowed = case
    refused(_verify(verify_out, _opt("optimizer", spec)), fragment, allowed=allowed)
    assert_nothing_valid(verify_out)


@EXAMPLES
@given(case=_spec_cases(DATASETS, _dataset_keys()))
def test_verify_dataset_specs(no_training, verify_out, case):
    spec, fragment, allowed = case
    refused(_verify(verify_out, _opt("dataset", spec)), fragment, allowed=allowed)
    assert_nothing_valid(verify_out)


#: Specs whose values are out of range, of the wrong kind (bool for number, number for bool),
#: duplicated, or listed twice; and the fragment the message must name.
BAD_SPEC_VALUES = [
    ("init", "normal:scale=-1", "scale=-1"), ("init", "uniform:scale=true", "scale=true"),
    ("init", "tied_eps:eps=-0.5", "eps=-0.5"), ("init", "constant:value=false", "value=false"),
    ("init", "normal:scale=1:scale=2", "scale"), ("init", "normal,normal", "normal,normal"),
    ("init", ",", "','"), ("init", "all,tied", "all"),
    ("optimizer", "adam:b1=2", "b1=2"), ("optimizer", "adam:b2=1", "b2=1"),
    ("optimizer", "adam:eps=-1e-8", "eps=-1e-08"), ("optimizer", "sgd:momentum=-0.5",
                                                    "momentum=-0.5"),
    ("optimizer", "sgd:momentum=true", "momentum=true"), ("optimizer", "sgd:nesterov=1",
                                                          "nesterov=1"),
    ("optimizer", "rmsprop:decay=1.5", "decay=1.5"), ("optimizer", "sgd:dropout=1", "dropout 1"),
    ("optimizer", "sgd:dropout=-0.1", "dropout -0.1"),
    ("optimizer", "sgd:grad_noise=-1", "grad_noise -1"), ("optimizer", "sgd,sgd", "sgd"),
    ("optimizer", "adam:b1=0.5:b1=0.6", "b1"), ("optimizer", ",,", "',,'"),
    ("dataset", "moons:samples=1", "samples=1"), ("dataset", "moons:samples=1.5", "samples=1.5"),
    ("dataset", "moons:samples=true", "samples=true"), ("dataset", "moons:noise=-1", "noise=-1"),
    ("dataset", "moons:noise=true", "noise=true"), ("dataset", "moons:seed=-1", "seed=-1"),
    ("dataset", "circles:factor=2", "factor=2"), ("dataset", "teacher:hidden=0", "hidden=0"),
    ("dataset", "teacher:hidden=99999999999", "hidden=99999999999"),
    ("dataset", "parity:bits=100", "bits=100"), ("dataset", "parity:bits=3", "3 inputs"),
    ("dataset", "teacher:samples=" + "9" * 30, "9" * 30), ("dataset", "xor:samples=4", "samples"),
    ("lr", "sgd=0.1,sgd=0.2", "sgd"), ("lr", "sgd=0.1,rmsprop=1", "rmsprop"),
    ("lr", "1,2,3", "1,2,3"), ("lr", "0", "0"), ("lr", "sgd=abc", "abc"),
    ("ties", "w1=w99", "w99"), ("ties", "w1=b1", "w1=b1"), ("ties", "w1=w1", "w1=w1"),
    ("ties", "w1==w3", "w1==w3"), ("ties", "x1=x2", "x1"), ("ties", "w1=w3=b9", "b9"),
    ("ties", "w1", "'w1'"), ("ties", "w1=w5", "w1=w5"),
]


@pytest.mark.parametrize("option, value, fragment", BAD_SPEC_VALUES)
def test_verify_bad_spec_values(no_training, verify_out, option, value, fragment):
    refused(_verify(verify_out, _opt(option, value)), named=[fragment])
    assert_nothing_valid(verify_out)


@EXAMPLES
@given(ties=st.lists(st.tuples(st.sampled_from("wbx"), st.integers(0, 40)), min_size=2,
                     max_size=4))
def test_verify_ties_naming_missing_parameters(no_training, verify_out, ties):
    names = [f"{k}{i}" for k, i in ties]
    valid = {f"w{i}" for i in range(1, 7)} | {"b1", "b2", "b3"}
    bad = [n for n in names if n not in valid]
    assume(bad)
    text = ",".join(f"{a}={b}" for a, b in zip(names[:-1], names[1:]))
    line = refused(_verify(verify_out, _opt("ties", text)))
    assert any(repr(n) in line or n in line for n in bad + names), line


@pytest.mark.parametrize("argv, fragment", [
    (["--save-params"], "--out"),
    (["--bogus"], "--bogus"),
    (["--seeds"], "--seeds"),
    (["--seeds", "1", "--seeds"], "--seeds"),
])
def test_verify_argparse_errors(no_training, argv, fragment):
    refused(["verify", *argv], named=[fragment])


def test_unknown_command_lists_the_commands():
    from symjax.cli import SUBCOMMANDS

    refused(["bogus"], "bogus", named=[repr(c) for c in SUBCOMMANDS if c != "dynamics"])


# -- the Python API ----------------------------------------------------------------------------
WRONG_TYPES = st.one_of(
    st.none(), st.booleans(), st.complex_numbers(), st.binary(max_size=4),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
    st.sets(st.integers(), max_size=2), st.builds(object), st.just(Path("/")),
    st.just(float("nan")), st.just(-1), st.just(10**100),
)
API_BAD = {
    "widths": st.one_of(WRONG_TYPES.filter(lambda v: not isinstance(v, list)),
                        st.lists(st.one_of(st.floats(), st.text(max_size=2), st.none()),
                                 min_size=1, max_size=3),
                        st.lists(st.integers(-5, 0), min_size=2, max_size=4)),
    "activation": WRONG_TYPES, "output_activation": WRONG_TYPES, "loss": WRONG_TYPES,
    "reduction": WRONG_TYPES, "dataset": WRONG_TYPES, "dtype": WRONG_TYPES, "path": WRONG_TYPES,
    "init": WRONG_TYPES.filter(lambda v: v != []),
    "optimizer": WRONG_TYPES,
    "lr": st.one_of(st.booleans(), st.complex_numbers(), st.binary(min_size=1, max_size=3),
                    st.just(float("nan")), st.just(-1), st.just(0),
                    st.dictionaries(st.sampled_from(["sgd", "adam", "nope"]),
                                    st.one_of(st.none(), st.text(max_size=2), st.just(-1.0)),
                                    min_size=1, max_size=2)),
    "seeds": WRONG_TYPES, "first_seed": WRONG_TYPES, "steps": WRONG_TYPES,
    "chunk": WRONG_TYPES.filter(lambda v: v != 10**100),  # any positive chunk is allowed
    "trajectory_every": WRONG_TYPES,
    "ties": WRONG_TYPES.filter(lambda v: v not in ([], None, set())),  # no ties / the default
    "eps": WRONG_TYPES.filter(lambda v: v != 10**100),  # a finite eps >= 0 is allowed
    "dropout": WRONG_TYPES, "grad_noise": WRONG_TYPES.filter(lambda v: v != 10**100),
}


@settings(max_examples=50)
@given(data=st.data(), name=st.sampled_from(sorted(API_BAD)))
def test_api_verify_rejects_wrong_types(no_training, data, name):
    import symjax

    value = data.draw(API_BAD[name], label=name)
    if name == "lr" and isinstance(value, dict):
        assume(any(k == "nope" or not isinstance(v, float) or v <= 0 for k, v in value.items()))
    options = dict(seeds=2, steps=1, init="tied", optimizer="sgd", quiet=True)
    with pytest.raises(InputError) as info:
        symjax.verify(**{**options, name: value})
    message = str(info.value)
    assert "\n" not in message and message.strip()
    if name not in ("lr",):
        shown = repr(value)
        assert (name.replace("_", " ") in message or name in message
                or shown[:20] in message or "widths" in message), message


@pytest.mark.parametrize("bad, fragment", [
    (dict(seeds=1.5), "1.5"), (dict(seeds="1e3"), "1e3"),
    (dict(seeds="１０"), "１０"), (dict(seeds=2**40), str(2**40)), (dict(steps=10**30), "steps"),
    (dict(trajectory_every=2**31), "trajectory_every"), (dict(eps=-1.0), "-1.0"),
    (dict(eps=10**400), "eps"), (dict(ties=5), "5"), (dict(ties=[5]), "5"),
    (dict(ties=[("w1",)]), "w1"), (dict(loss={}), "{}"), (dict(loss=[]), "[]"),
    (dict(widths=b"2,2,1"), "b'2,2,1'"), (dict(widths="2,2,1,"), "2,2,1,"),
    (dict(widths={2: 1}), "{2: 1}"), (dict(dtype=["float32"]), "float32"),
    (dict(init=[]), "[]"), (dict(optimizer=()), "()"), (dict(lr=[]), "[]"),
    (dict(lr="sgd=1,sgd=2"), "sgd"), (dict(lr={"sgd": "x"}), "'x'"),
])
def test_api_verify_named_cases(no_training, bad, fragment):
    import symjax

    options = dict(seeds=2, steps=1, init="tied", optimizer="sgd", quiet=True)
    with pytest.raises(InputError, match=re.escape(fragment)):
        symjax.verify(**{**options, **bad})


def test_api_unknown_keyword():
    """An unknown keyword is an InputError naming it and the allowed names, in ``verify`` and in
    ``resolve`` (which ``symjax reproduce`` uses on recorded configs)."""
    import symjax
    from symjax.experiments.verify import resolve

    with pytest.raises(InputError,
                       match=r"unknown option 'bogus'; allowed: widths, .*, progress, force$"):
        symjax.verify(bogus=1, seeds=1, steps=0)
    with pytest.raises(InputError, match="'bogus'; allowed: widths, activation"):
        resolve(bogus=1)
    # control: the same call without the unknown name runs
    assert symjax.verify(seeds=1, steps=0, init="tied", optimizer="sgd", quiet=True).ok


def test_api_numpy_values_are_refused_cleanly(no_training):
    import numpy as np

    import symjax

    for bad, message in ((dict(dtype=np.array(["float32", "float64"])),
                          r"unknown dtype array\(.*\); allowed: float32, float64"),
                         (dict(eps=np.array([1.0, 2.0])), r"eps array\(.*\) is not a number"),
                         (dict(activation=np.array(["tanh"])),
                          r"unknown activation array\(.*\); allowed: identity, tanh")):
        with pytest.raises(InputError, match=message):
            symjax.verify(**bad, seeds=2, steps=1, quiet=True)


# -- symjax prove ------------------------------------------------------------------------------
PROVE_NAMED = {
    "activation": ACTIVATIONS + ("sigma",),
    "output-activation": ACTIVATIONS + ("phi",),
    "loss": LOSSES + ("l",) + tuple(LOSS_ALIASES),
    "reduction": REDUCTIONS,
    "dropout": ("none", "shared", "independent"),
}


@FEW
@given(name=st.sampled_from(sorted(PROVE_NAMED)), value=UNKNOWN_NAME)
def test_prove_named_options(tmp_path_factory, name, value):
    allowed = PROVE_NAMED[name]
    assume(value not in allowed and value not in LOSS_ALIASES)
    out = tmp_path_factory.mktemp("prove") / "proof.json"
    refused(["prove", _opt(name, value), "--json", out], value, allowed=allowed)
    assert not out.exists()


@pytest.mark.parametrize("argv, fragment", [
    (["--widths=2,,1"], "2,,1"), (["--widths=2,0,1"], "0"), (["--widths=2"], "'2'"),
    (["--widths=50,50,50"], "50-50-50"), (["--ties=w1=w99"], "w99"), (["--ties=w1=b1"], "w1=b1"),
    (["--ties=="], "'='"), (["--permutation=x"], "'x'"), (["--permutation=1:"], "'1:'"),
    (["--permutation=-1:2,1"], "-1"), (["--permutation=3:2,1"], "layer 3"),
    (["--permutation=1:1,1"], "1: 1, 2: 1"), (["--permutation=1:0,1"], "1: 0"),
    (["--samples=0"], "0"), (["--samples=-3"], "-3"), (["--samples=99999999"], "99999999"),
    (["--samples=abc"], "'abc'"), (["--samples=1.5"], "'1.5'"), (["--timeout=nan"], "nan"),
    (["--timeout=inf"], "inf"), (["--timeout=-1"], "-1"), (["--timeout=0"], "0"),
    (["--timeout=abc"], "'abc'"), (["--optimizer=foo"], "'foo'"),
    (["--optimizer=sgd+foo"], "'foo'"), (["--optimizer=adam:b1=2"], "adam:b1=2"),
    (["--ties=w1=w3", "--permutation=1:2,1"], "--permutation"),
    (["--lattice", "--optimizer=sgd"], "--optimizer"),
])
def test_prove_bad_options(tmp_path, argv, fragment):
    out = tmp_path / "proof.json"
    tex = tmp_path / "proof.tex"
    refused(["prove", *argv, "--json", out, "--latex", tex], named=[fragment])
    assert not out.exists() and not tex.exists()


@FEW
@given(perm=st.lists(st.integers(-2, 5), min_size=1, max_size=4), layer=st.integers(-1, 3))
def test_prove_permutations(perm, layer):
    width = 2
    assume(not (layer == 1 and sorted(perm) == list(range(1, width + 1))))
    assume(not (layer == 1 and perm == [1]))  # the identity on the first unit: no ties
    text = f"{layer}:{','.join(map(str, perm))}"
    code, _, err = call(["prove", f"--permutation={text}"])
    error_line(code, err)


# -- symjax laws and symjax stability ----------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["--widths=2,,1"], "2,,1"), (["--widths=2,2"], "2-2"), (["--widths=2,2,2,1"], "2-2-2-1"),
    (["--widths=9,9,9"], "9-9-9"), (["--widths=a"], "'a'"), (["--activation=sigma"], "'sigma'"),
    (["--activation=foo"], "'foo'"), (["--seed=abc"], "'abc'"), (["--seed=1.5"], "'1.5'"),
])
def test_laws_bad_options(tmp_path, argv, fragment):
    out = tmp_path / "laws.json"
    line = refused(["laws", *argv, "--json", out], named=[fragment])
    if "activation" in argv[0]:
        assert_choices(line, ACTIVATIONS)
    assert not out.exists()


@pytest.fixture
def no_stability_proof(monkeypatch):
    from symjax.symbolic import _stability

    def reached(*args, **kwargs):
        raise ReachedTheRun("the options were accepted and the proof started")

    monkeypatch.setattr(_stability, "prove_block_diagonal", reached)


RATIONAL_BAD = st.one_of(
    st.sampled_from(["abc", "nan", "inf", "-inf", "oo", "zoo", "pi", "x", "1/0", "0/0", "1/3/0",
                     "", "1,2", "½", "１", "10**9", "E", "I", "1+I", "sqrt(2)", "[1]"]),
    WORDS,
).filter(lambda t: not _rational(t))


def _rational(text: str) -> bool:
    """Whether SymPy reads ``text`` as an exact rational (then it is a valid value)."""
    import sympy

    try:
        return isinstance(sympy.Rational(text.strip()), sympy.Rational)
    except (TypeError, ValueError, ZeroDivisionError, sympy.SympifyError):
        return False


@FEW
@given(value=RATIONAL_BAD)
def test_stability_lr(no_stability_proof, tmp_path_factory, value):
    out = tmp_path_factory.mktemp("stability") / "s.json"
    refused(["stability", _opt("lr", value), "--json", out], value)
    assert not out.exists()


@FEW
@given(name=st.sampled_from(["w1", "w2", "b1", "w5", "b3", "w3"]), value=RATIONAL_BAD)
def test_stability_point(no_stability_proof, name, value):
    assume("," not in value and "=" not in value)
    assume(value.strip())  # an empty value is its own case below
    refused(["stability", _opt("point", f"{name}={value}")], value)


@pytest.mark.parametrize("argv, fragment", [
    (["--lr=-1"], "'-1'"), (["--lr=0"], "'0'"), (["--point=foo"], "'foo'"),
    (["--point=w1="], "'w1='"), (["--point=w9=1"], "'w9'"), (["--point=w1=1,w1=2"], "w1"),
    (["--point=w1=1,w3=2"], "w3=2"), (["--activation=foo"], "'foo'"),
    (["--output-activation=tanh"], "'tanh'"),
])
def test_stability_bad_options(no_stability_proof, tmp_path, argv, fragment):
    out = tmp_path / "s.json"
    refused(["stability", *argv, "--json", out], named=[fragment])
    assert not out.exists()


# -- symjax reproduce, report and cite options (the files themselves: test_bad_input_files) ---
@pytest.mark.parametrize("argv, fragment", [
    (["reproduce", "/nonexistent/run", "--tolerance=nan"], "nan"),
    (["reproduce", "/nonexistent/run", "--tolerance=-1"], "-1"),
    (["reproduce", "/nonexistent/run", "--tolerance=inf"], "inf"),
    (["reproduce", "/nonexistent/run", "--tolerance=abc"], "'abc'"),
    (["reproduce", "/nonexistent/run"], "/nonexistent/run"),
    (["reproduce"], "RESULTS"),
    (["report", "/nonexistent/run"], "/nonexistent/run"),
    (["report"], "DIR"),
    (["cite", "--results", "/nonexistent/run"], "/nonexistent/run"),
    (["cite", "--results"], "--results"),
])
def test_file_commands_bad_options(no_training, argv, fragment):
    refused(argv, named=[fragment])


# -- real processes: the same as in this process -----------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["verify", "--seeds=-1", "--quiet"], "seeds -1"),
    (["verify", "--init=normal:std=abc", "--quiet"], "'std'"),
    (["prove", "--activation=foo"], "'foo'"),
    (["stability", "--lr=1/0"], "'1/0'"),
])
def test_real_process_refuses_like_in_process(cli, tmp_path, argv, fragment):
    done = cli(*argv)
    line = error_line(done.returncode, done.stderr)
    assert fragment in line
    assert done.stdout == ""
    code, out, err = call(argv)
    assert (code, err) == (done.returncode, done.stderr)
