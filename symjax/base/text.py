"""Text shared by every output: LaTeX escaping and tables in plain text, Markdown and LaTeX."""

from __future__ import annotations

from collections.abc import Sequence

#: LaTeX for characters that are special in LaTeX or missing from its default text fonts.
_TEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "–": "--", "×": r"$\times$", "≥": r"$\geq$", "²": r"$^2$",
}


def tex_escape(text) -> str:
    """``text`` as LaTeX that prints it verbatim (in text mode)."""
    return "".join(_TEX.get(c, c) for c in str(text))


def tex_number(text: str) -> str:
    """A formatted number as LaTeX: ``1.2e-06`` -> ``$1.2\\times 10^{-6}$``, others unchanged."""
    mantissa, e, exponent = text.partition("e")
    return f"${mantissa}\\times 10^{{{int(exponent)}}}$" if e else text


def tex_comment(text) -> str:
    """``text`` for a LaTeX comment line: printable ASCII only, so that nothing (a line break in
    an unhashed provenance field, say) can end the comment and become LaTeX."""
    return "".join(c if " " <= c <= "~" else "?" for c in str(text))


def text_table(rows: Sequence[Sequence[str]], *, rule: bool = True, gap: int = 2) -> str:
    """Rows of cells as left-aligned plain-text columns; the first row is the header, followed
    by a line of dashes when ``rule``."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]

    def line(cells: Sequence[str]) -> str:
        return (" " * gap).join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(rows[0])]
    if rule:
        out.append(line(["-" * w for w in widths]))
    return "\n".join(out + [line(r) for r in rows[1:]])


def markdown_table(rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """Rows of cells as a Markdown table; the first row is the header. ``align``: one letter
    per column, ``l`` or ``r``."""
    align = align or "l" * len(rows[0])
    marks = ["---:" if a == "r" else ":---" for a in align]
    return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], marks, *rows[1:]])


def latex_tabular(rows: Sequence[Sequence[str]], align: str, *,
                  comments: Sequence[str] = ()) -> str:
    r"""Rows of LaTeX cells as a booktabs ``tabular`` in ``\footnotesize``, to ``\input`` inside
    a ``table`` environment; the first row is the header. ``comments`` go first, as ``%``
    lines (:func:`tex_comment`)."""
    lines = [f"% {tex_comment(text)}" for text in comments]
    lines += [r"% Needs \usepackage{booktabs}; \input inside a table environment.",
              r"\footnotesize\setlength{\tabcolsep}{4pt}",
              rf"\begin{{tabular}}{{@{{}}{align}@{{}}}}", r"\toprule",
              " & ".join(rows[0]) + r" \\", r"\midrule",
              *(" & ".join(r) + r" \\" for r in rows[1:]), r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)
