"""Plain-text and LaTeX rendering of the symbolic network's expressions.

Text is SymPy's ``sstr`` (``sigma'(z1)``, ``l_1(a3, y)``). LaTeX follows textbook notation:
``sigma'`` prints as ``\\sigma'``, and per-sample symbols carry the sample as a parenthesised
superscript (``x1_2`` -> ``x_{1}^{(2)}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

_PER_SAMPLE = re.compile(r"^([A-Za-z]+[0-9]*)_([0-9]+)$")


class _Latex(LatexPrinter):
    """LaTeX with primes on derivative functions and sample superscripts."""

    def _hprint_Function(self, func: str) -> str:
        base = func.rstrip("'")
        return super()._hprint_Function(base) + "'" * (len(func) - len(base))

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        match = _PER_SAMPLE.match(expr.name)
        if match is None:
            return super()._print_Symbol(expr, style)
        stem = super()._print_Symbol(sp.Symbol(match.group(1)), style)
        return f"{stem}^{{({match.group(2)})}}"


def text(expr) -> str:
    """One-line plain text of an expression."""
    return sp.sstr(expr)


def latex(expr) -> str:
    """LaTeX of an expression (no surrounding ``$``)."""
    return _Latex().doprint(expr)


def _needs_parens(expr: sp.Expr) -> bool:
    return precedence(expr) < PRECEDENCE["Mul"] or isinstance(expr, sp.Piecewise)


def product_text(values: Iterable[sp.Expr]) -> str:
    """``a * (b + c) * d``: the factors in the given order, not SymPy's canonical order."""
    return " * ".join(f"({text(v)})" if _needs_parens(v) else text(v) for v in values)


def product_latex(values: Iterable[sp.Expr]) -> str:
    r"""``a \cdot \left(b + c\right) \cdot d`` in the given order."""
    return r" \cdot ".join(
        rf"\left({latex(v)}\right)" if _needs_parens(v) else latex(v) for v in values
    )


def partial_text(num, den) -> str:
    """``dJ/da3``."""
    return f"d{num}/d{den}"


def partial_latex(num, den) -> str:
    r"""``\frac{\partial J}{\partial a_{3}}``."""
    top, bottom = latex(sp.Symbol(str(num))), latex(sp.Symbol(str(den)))
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
