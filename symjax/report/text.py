"""A run in words, numbers and tables: the methods paragraph, definitions and the summary tables,
in plain text, Markdown and LaTeX."""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..base.text import latex_tabular, tex_escape, tex_number
from ..base.text import markdown_table as pipe_table
from .run import _PRETTY, RunData
from .stats import wilson_interval


# -- words and numbers -------------------------------------------------------------------------
def pretty(name: str) -> str:
    """A name as a paper would write it (``sgd`` -> ``SGD``); unknown names unchanged."""
    return _PRETTY.get(name, name)


#: Optimizer hyperparameters (optax keyword names) as a paper writes them in LaTeX. Greek
#: letters, so that Adam's ``b1``/``b2`` never read like the network's biases ``b1``/``b2``.
_HYPER_TEX = {"b1": r"\beta_1", "b2": r"\beta_2", "eps": r"\epsilon",
              "eps_root": r"\epsilon_{\mathrm{root}}", "learning_rate": r"\eta", "lr": r"\eta",
              "momentum": r"\mu", "weight_decay": r"\lambda", "decay": r"\rho",
              "initial_accumulator_value": r"G_0", "dropout": "p", "grad_noise": r"\sigma"}


def spec_words(spec: str, markup: Markup | None = None, extra: Sequence[str] = ()) -> str:
    r"""``adam:b1=0.8`` -> ``Adam (b1=0.8)``; in LaTeX ``Adam ($\beta_1 = 0.8$)``; ``extra``
    (already in ``markup``) is appended inside the parentheses."""
    name, *options = spec.split(":")
    if markup in (None, PLAIN):
        parts = [*options, *extra]
        return pretty(name) + (f" ({', '.join(parts)})" if parts else "")
    parts = []
    for option in options:
        key, _, value = option.partition("=")
        symbol = _HYPER_TEX.get(key, rf"\texttt{{{tex_escape(key)}}}")
        try:
            number = tex_number(fmt_number(float(value))).strip("$")
        except ValueError:
            number = rf"\texttt{{{tex_escape(value)}}}"
        parts.append(f"${symbol} = {number}$")
    parts += extra
    return tex_escape(pretty(name)) + (" (" + ", ".join(parts) + ")" if parts else "")


def fmt_number(value: Any) -> str:
    """A table number: integers as they are, floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _and(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


class Markup(NamedTuple):
    """How the methods paragraph and the tables write text, code and numbers in one format."""

    text: Callable[[str], str]  # plain words
    code: Callable[[str], str]  # a name from the command line (init scheme, run ID)
    number: Callable[[str], str]  # a formatted number
    dash: str  # a range of seeds
    math: Callable[[str, str], str]  # (plain words, LaTeX math) -> one of them


PLAIN = Markup(text=str, code=str, number=str, dash="–", math=lambda plain, tex: plain)
LATEX = Markup(text=tex_escape, code=lambda s: rf"\texttt{{{tex_escape(s)}}}",
               number=tex_number, dash="--", math=lambda plain, tex: f"${tex}$")


def _percent(x: float) -> str:
    """A fraction in percent: one decimal, two below 1%."""
    return f"{100 * x:.2f}" if 0 < 100 * x < 1 else f"{100 * x:.1f}"


def proportion(k: int, n: int, markup: Markup = PLAIN) -> str:
    """``k of n (p%, 95% CI lo–hi%)``."""
    lo, hi = wilson_interval(k, n)
    t, pct = markup.text, markup.text("%")
    return (t(f"{k} of {n} (") + _percent(k / n) + pct + t(", 95") + pct + t(" CI ")
            + _percent(lo) + markup.dash + _percent(hi) + pct + t(")"))


def _task(run: RunData) -> str:
    spec = run.results["dataset"]["spec"]
    return pretty(spec) if spec in ("xor", "and", "or") else "the task"


def definitions(run: RunData, markup: Markup = PLAIN) -> str:
    """The definitions of every measured quantity, as one paragraph."""
    t, m = markup.text, markup.math
    one_hot = run.config["widths"][-1] > 1
    solved = (t("A network solved the task when, after training, the largest output was the "
                "correct class for at least 95% of the samples.")
              if run.results["dataset"]["task"] == "classification" and one_hot else
              t("A network solved the task when, after training, every output was on the "
                "correct side of 0.5 for every sample.")
              if run.results["dataset"]["task"] == "classification" else
              t("A network solved the task when, after training, ")
              + m("R^2 >= 0.99", r"R^2 \geq 0.99")
              + t(" on the training data."))
    return " ".join([
        t("Definitions. The symmetry of a seed is broken when the two parameters of some tied "
          "pair differ in their bit patterns at some step, step 0 (the initialization) "
          "included; its first break is the first such step."),
        t("The ULP distance of a pair is the number of representable floating-point numbers "
          "between its two values; max ULP is its largest value over pairs, steps and seeds."),
        solved,
        t("The unit distance is the Euclidean distance between the vectors (incoming weights, "
          "bias, outgoing weights) of two hidden units of one layer, minimized over the pairs "
          "of units; medians are over seeds."),
        t("Every proportion is given with its 95% Wilson score interval (CI)."),
    ])


def _group_sentence(run: RunData, s: dict, markup: Markup) -> str:
    """One sentence about one init x optimizer run: ties, outcome, all with intervals."""
    t, c = markup.text, markup.code
    n = s["seeds"]
    lr = markup.math(f"learning rate {fmt_number(float(s['lr']))}",
                     r"\eta = " + tex_number(fmt_number(float(s["lr"]))).strip("$"))
    opt_spec = next((o for o in run.config["optimizer"] if o.split(":")[0] == s["optimizer"]
                     or o == s["optimizer"]), s["optimizer"])
    head = c(s["init"]) + t(" with ") + spec_words(opt_spec, markup, [lr])
    if s["expected_preserved"]:
        ties = (t("covered by the invariance theorem, the tied pairs stayed bitwise equal in ")
                + t(f"{s['seeds_all_pairs_preserved']} of {n} seeds"))
        if s["seeds_broken"]:
            ties += t(f" (the invariance was violated in {s['seeds_broken']})")
    else:
        ties = t("symmetry was broken in ") + proportion(s["seeds_broken"], n, markup)
        if s["seeds_broken"]:
            at0, later = s["broken_at_step_0"], s["seeds_broken"] - s["broken_at_step_0"]
            if not later:
                ties += t(", every one at step 0 (by the initialization)")
            else:
                col = run.per_seed[(s["init"], s["optimizer"])]["first_break_step"]
                col = col[col > 0]
                ties += t(f", {at0} at step 0 and {later} later (median step "
                          f"{np.median(col):g}, range {col.min()}") + markup.dash + t(
                    f"{col.max()})")
    solved = t(f"; {_task(run)} was solved in ") + proportion(s["solved"], n, markup)
    loss = ("" if s["final_loss_median"] is None else
            t("; median final loss ") + markup.number(fmt_number(float(s["final_loss_median"]))))
    nonfinite = t(f"; {s['nonfinite']} seeds reached a non-finite value") if s["nonfinite"] else ""
    return head + t(": ") + ties + solved + loss + nonfinite + t(".")


def methods_paragraph(run: RunData, markup: Markup = PLAIN) -> str:
    """What was run and what was found, every number from the results: the setup, one sentence
    per init x optimizer run (never a number pooled over runs that test different hypotheses),
    then the definitions, as paragraphs separated by a blank line; in ``markup`` :data:`PLAIN`
    (for ``methods.txt`` and ``report.md``) or :data:`LATEX`."""
    cfg, layout, res, doc = run.options, run.layout, run.results, run.document
    t, c, num = markup.text, markup.code, markup.number
    prov = doc["provenance"]
    n_seeds, steps = cfg["seeds"], cfg["steps"]
    widths = "-".join(map(str, cfg["widths"]))
    data = res["dataset"]
    dataset = (t(pretty(data["spec"])) if data["spec"] in _PRETTY else
               t("the data set ") + c(data["spec"]))
    opts = [spec_words(o, markup) for o in cfg["optimizer"]]
    inits = [c(i) for i in cfg["init"]]
    size = fmt_number(float(cfg["eps"]))
    eps = (t(", with perturbation size ") + markup.math(size, r"\delta = "
                                                       + tex_number(size).strip("$"))
           + t(" for ") + c("tied_eps") + t(",") if "tied_eps" in cfg["init"] else "")
    path_used = layout["path_used"]
    path = (t("on the exact fixed-order path (elementwise arithmetic with a fixed order of "
              "sums)") if path_used == "exact" else
            t("on the matrix-product path (x @ W.T)"))
    if cfg["path"] != path_used:
        path += t(f" (the {cfg['path']} path was requested; the run fell back to {path_used})")
    perturb = [t(before) + num(fmt_number(float(cfg[key]))) + t(after)
               for key, before, after in (
                   ("dropout", "dropout of rate ", " on the hidden units"),
                   ("grad_noise", "Gaussian gradient noise of scale ", ""),
                   ("input_noise", "Gaussian input noise of scale ", " on every step"),
                   ("weight_decay", "L2 weight decay ", ""))
               if cfg[key]]
    if cfg["schedule"] != "constant":
        perturb.append(t("the learning-rate schedule ") + c(cfg["schedule"]))
    batch = cfg["batch_size"]
    kind = (f"steps of mini-batches of {batch} (a fresh shuffle of the samples every epoch)"
            if batch else "full-batch steps")
    over = f"{batch} samples of each batch" if batch else f"{data['samples']} samples"
    devices = f"{layout['devices']} {layout['platform'].upper()} device" + (
        "s" if layout["devices"] != 1 else "")
    first = cfg["first_seed"]
    setup = [
        t(f"{n_seeds} seeds (seed numbers {first}") + markup.dash + t(f"{first + n_seeds - 1}) "
          f"of a {widths} network with {pretty(cfg['activation'])} hidden units and a "
          f"{pretty(cfg['output_activation'])} output, {pretty(cfg['loss'])} loss "
          f"({cfg['reduction']} over the {over}) on ") + dataset +
        t(f", were trained for {steps} {kind} with ") + _and(opts) +
        (t(", with ") + _and(perturb) if perturb else "") +
        t(f", from each of {len(inits)} initialization scheme{'s' if len(inits) > 1 else ''} (")
        + t(", ").join(inits) + t(")") + eps + t(" ") + path +
        t(f" in {cfg['dtype']}, on {devices}."),
        t("The tied parameter pairs ") + c(res["ties"].replace(",", ", ") or "none") +
        t(f" were compared bit for bit at every step from 0 to {steps}."),
        t("The invariance theorem covers a run when its initialization is symmetric, its "
          "optimizer permutation-equivariant and its path exact."),
    ]
    groups = [_group_sentence(run, s, markup) for s in run.summaries]
    versions = prov.get("versions", {})
    stack = ", ".join(f"{p} {versions[p]}" for p in ("jax", "jaxlib", "optax") if p in versions)
    closing = (t(f"Computed with symjax {prov['version']}" + (f" ({stack})" if stack else "")
                 + "; run ID ") + c(run.run_id) + t("."))
    return "\n\n".join([" ".join(setup), " ".join([*groups, closing]),
                        definitions(run, markup)])


# -- tables ------------------------------------------------------------------------------------
def _first_break_cell(s: dict) -> str:
    return ("never" if s["first_break_median"] is None else
            f"{s['first_break_median']:g} [{s['first_break_min']}, {s['first_break_max']}]")


def _theorem_cell(s: dict) -> str:
    if not s["expected_preserved"]:
        return "not covered"
    return "holds" if s["invariant_holds"] else "VIOLATED"


def _opt_float(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}g}"


def _ci_cell(s: dict) -> str:
    lo, hi = wilson_interval(s["solved"], s["seeds"])
    return f"{_percent(lo)}–{_percent(hi)}"


def _ulp_cell(s: dict) -> str:
    return str(s["max_ulp"]) if s["max_ulp"] < 10**6 else f"{float(s['max_ulp']):.1e}"


#: key -> (Markdown header, LaTeX header, LaTeX alignment, cell of a summary).
TABLE_COLUMNS: dict[str, tuple[str, str, str, Callable[[dict], str]]] = {
    "init": ("init", "Init", "l", lambda s: s["init"]),
    "optimizer": ("optimizer", "Opt.", "l", lambda s: s["optimizer"]),
    "lr": ("lr", r"$\eta$", "r", lambda s: fmt_number(float(s["lr"]))),
    "seeds": ("seeds", "Seeds", "r", lambda s: str(s["seeds"])),
    "broken": ("broken", "Broken", "r", lambda s: str(s["seeds_broken"])),
    "at0": ("broken at step 0", "At step 0", "r", lambda s: str(s["broken_at_step_0"])),
    "first": ("first break: median [min, max]", "First break", "l", _first_break_cell),
    "pairs": ("tied pairs kept", "Pairs kept", "r",
              lambda s: f"{s['pairs_preserved']}/{s['pairs_total']}"),
    "ulp": ("max ULP", "Max ULP", "r", lambda s: str(s["max_ulp"])),
    "ulp3": ("max ULP", "Max ULP", "r", _ulp_cell),
    "solved": ("solved", "Solved", "r", lambda s: str(s["solved"])),
    "solved_of": ("solved of seeds", "Solved", "r", lambda s: f"{s['solved']}/{s['seeds']}"),
    "ci": ("solved, 95% CI (%)", r"95\,\% CI", "r", _ci_cell),
    "loss": ("median final loss", "Loss", "r", lambda s: _opt_float(s["final_loss_median"])),
    "dist": ("median min unit distance", "Unit dist.", "r",
             lambda s: _opt_float(s["min_unit_distance_median"])),
    "nonfinite": ("nonfinite", "Non-fin.", "r", lambda s: str(s["nonfinite"])),
    "theorem": ("theorem", "Theorem", "l", _theorem_cell),
    # short forms for the LaTeX tables (3 significant digits; "n/a": not covered)
    "loss3": ("median final loss", "Loss", "r", lambda s: _opt_float(s["final_loss_median"], 3)),
    "dist3": ("median min unit distance", "Unit dist.", "r",
              lambda s: _opt_float(s["min_unit_distance_median"], 3)),
    "thm": ("theorem", "Thm.", "l",
            lambda s: "n/a" if not s["expected_preserved"] else _theorem_cell(s)),
}
#: The LaTeX tables (one file each, each narrow enough for one column of a two-column paper):
#: file stem -> (columns, what the table shows).
LATEX_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "table_symmetry": (("init", "optimizer", "broken", "first", "ulp3", "thm"),
                       "Symmetry: seeds broken (some tied pair differs at some step, step 0 "
                       "included), first-break step median [min, max] over broken seeds, "
                       "largest ULP distance within a tied pair, and whether the invariance "
                       "theorem held in the runs it covers (n/a: not covered)."),
    "table_training": (("init", "optimizer", "solved_of", "ci", "loss3", "dist3"),
                       "Training: seeds that solved the task, with the 95% Wilson interval of "
                       "the solved fraction (in percent), median final loss and median "
                       "smallest hidden-unit distance after training."),
}


#: The columns of the Markdown table (``report.md``): every quantity once.
MARKDOWN_COLUMNS = ("init", "optimizer", "lr", "seeds", "broken", "at0", "first", "pairs", "ulp",
                    "solved", "ci", "loss", "dist", "nonfinite", "theorem")


def table_rows(run: RunData, keys: Sequence[str] = MARKDOWN_COLUMNS) -> list[list[str]]:
    """The table's cells, one row per init x optimizer, as plain text."""
    return [[TABLE_COLUMNS[k][3](s) for k in keys] for s in run.summaries]


def markdown_table(run: RunData) -> str:
    """The summary table in Markdown (GitHub pipe table), every quantity."""
    cols = [TABLE_COLUMNS[k] for k in MARKDOWN_COLUMNS]
    return pipe_table([[h for h, *_ in cols], *table_rows(run)],
                      "".join(a for _, _, a, _ in cols)) + "\n"


def latex_table(run: RunData, name: str = "table_symmetry") -> str:
    r"""One of :data:`LATEX_TABLES` as a booktabs ``tabular`` (in ``\footnotesize``), to
    ``\input`` inside a ``table`` environment. Each init scheme is a heading row with its
    optimizers below it, so that the table fits one column of a two-column paper."""
    keys, about = LATEX_TABLES[name]
    cols = [TABLE_COLUMNS[k] for k in keys[1:]]  # the init column becomes heading rows
    align = "".join(a for _, _, a, _ in cols)
    rows, previous = [["Init / opt.", *(h for _, h, _, _ in cols[1:])]], None
    for row in table_rows(run, keys):
        init = row[0]
        if init != previous:  # a heading row per init scheme, a little space above the next
            space = r"\addlinespace " if previous is not None else ""
            rows.append([rf"{space}\multicolumn{{{len(cols)}}}{{@{{}}l}}{{{LATEX.code(init)}}}"])
        rows.append([r"\quad " + tex_escape(pretty(row[1])), *(_tex_cell(v) for v in row[2:])])
        previous = init
    version = run.document["provenance"]["version"]
    return latex_tabular(rows, align, comments=(
        f"symjax report: run {run.run_id}, symjax {version}.", *textwrap.wrap(about, 95)))


def _tex_cell(value: str) -> str:
    if value.startswith("never") or not any(ch.isdigit() for ch in value):
        return tex_escape(value)
    return " ".join(tex_number(part) if re.fullmatch(r"-?[0-9.]+e[-+]?[0-9]+", part)
                    else tex_escape(part) for part in value.split(" "))


def summary_csv(run: RunData) -> str:
    """Every summary field of every run, at full precision (floats as Python ``repr``, which
    reads back exactly; ``None`` empty; booleans ``true``/``false``)."""
    keys = list(run.summaries[0])
    return csv_text([["run_id", *keys],
                     *([run.run_id, *(_csv_cell(s.get(k)) for k in keys)] for s in run.summaries)])


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` as CSV text, lines ending in ``\\n``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# -- re-running with trajectories --------------------------------------------------------------
def verify_command(run: RunData, *, trajectory_every: int, out: str = "DIR") -> str:
    """The ``symjax verify`` command line that re-runs ``run`` with trajectories recorded."""
    from ..results.config import DEFAULTS

    parts = ["symjax verify"]
    for name, default in DEFAULTS.items():
        value = run.options[name]
        if name == "trajectory_every":
            value = trajectory_every
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if default is None or text != str(default):
            parts.append(f"--{name.replace('_', '-')} {_shell_word(text)}")
    parts.append(f"--out {out}")
    return " ".join(parts)


def _shell_word(text: str) -> str:
    safe = all(ch.isalnum() or ch in ",.:=_-+@/" for ch in text)
    return text if safe and text else "'" + text.replace("'", "'\\''") + "'"
