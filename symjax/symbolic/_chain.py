"""The chain rule as data: every gradient as a sum over paths (and samples) of ordered factors.

For the 2-2-1 network the gradient of ``J`` with respect to ``w1`` is one product, read from ``J``
back to ``w1``::

    dJ/dw1 = dJ/da3 * da3/dz3 * dz3/da1 * da1/dz1 * dz1/dw1
           = l_1(a3, y) * phi'(z3) * w5 * sigma'(z1) * x1

Deeper networks, several outputs and several samples give a sum of such products, one per path
from the parameter to an output and per sample. Factor values are written in short form (in the
``z``/``a`` symbols); :meth:`ChainRule.check` expands them and proves the sum equal to
``sympy.diff(J, p)``. :func:`compare_chains` aligns two chains factor by factor and names the
factors, and the symbols, through which they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from textwrap import indent

import sympy as sp

from ..base.layout import split_signed
from . import _render as render
from ._network import SymbolicMLP, canonical, exactly_zero


@dataclass(frozen=True)
class Factor:
    """One link ``d num / d den`` of a chain, with its value in short form."""

    num: str
    den: str
    value: sp.Expr

    @property
    def name(self) -> str:
        """``"dz3/da1"``."""
        return render.partial_text(self.num, self.den)

    @property
    def name_latex(self) -> str:
        return render.partial_latex(self.num, self.den)

    def text(self) -> str:
        """``"dz3/da1 = w5"``."""
        return f"{self.name} = {render.text(self.value)}"

    def latex(self) -> str:
        return f"{self.name_latex} = {render.latex(self.value)}"


@dataclass(frozen=True)
class ChainRule:
    """``dJ/dp`` as a sum of products of factors, each product ordered from ``J`` back to ``p``.

    Attributes:
      net: the network the chain belongs to.
      param: the parameter name.
      terms: one tuple of factors per (sample, path).
    """

    net: SymbolicMLP = field(repr=False, compare=False)
    param: str
    terms: tuple[tuple[Factor, ...], ...]

    @property
    def name(self) -> str:
        return render.partial_text("J", self.param)

    @property
    def name_latex(self) -> str:
        return render.partial_latex("J", self.param)

    @property
    def short(self) -> sp.Expr:
        """The sum of products in the ``z``/``a`` symbols."""
        return sp.Add(*[sp.Mul(*[f.value for f in term]) for term in self.terms])

    def expanded(self) -> sp.Expr:
        """The sum of products in parameters and data."""
        return self.net.expand(self.short)

    def check(self) -> bool:
        """Whether the sum of products equals ``sympy.diff(J, p)``, shown by exact rewriting."""
        return exactly_zero(self.expanded() - canonical(self.net.grad(self.param)))

    def text(self) -> str:
        """Two blocks: the factors by name, then their values."""
        head = f"{self.name} = "
        pad = " " * (len(head) - 2) + "+ "
        names = [" * ".join(f.name for f in term) for term in self.terms]
        values = [render.product_text(f.value for f in term) for term in self.terms]
        lines = [head + names[0], *(pad + n for n in names[1:])]
        lines += [" " * (len(head) - 2) + "= " + values[0], *(pad + v for v in values[1:])]
        return "\n".join(lines)

    def latex(self) -> str:
        """An ``aligned`` environment (put it inside ``\\[ \\]``)."""
        names = [" ".join(f.name_latex for f in term) for term in self.terms]
        values = [render.product_latex(f.value for f in term) for term in self.terms]
        rows = [f"{self.name_latex} &= {names[0]}", *(f"&\\quad + {n}" for n in names[1:])]
        rows += [f"&= {values[0]}", *(f"&\\quad + {v}" for v in values[1:])]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _paths(net: SymbolicMLP, layer: int, unit: int, sample: int) -> list[tuple[Factor, ...]]:
    """Factors from ``J`` down to ``da_u/dz_u`` for unit ``unit`` of ``layer``, one per path."""
    u = net.layout.unit_number(layer, unit)
    z, a = net.z(u, sample), net.a(u, sample)
    act = Factor(str(a), str(z), net.activation_derivative(layer, z))
    if layer == net.layout.n_layers:
        d_loss = net.loss_derivative(unit, net.outputs(sample), net.targets(sample))
        return [(Factor("J", str(a), net.sample_weight * d_loss), act)]
    out = []
    for nxt in range(1, net.widths[layer + 1] + 1):
        weight = net.params[net.layout.weight(layer + 1, nxt, unit)]
        z_next = net.z(net.layout.unit_number(layer + 1, nxt), sample)
        link = Factor(str(z_next), str(a), weight * net.mask(layer, unit, sample))
        out += [(*path, link, act) for path in _paths(net, layer + 1, nxt, sample)]
    return out


def chain_rule(net: SymbolicMLP, param: str) -> ChainRule:
    """The chain rule for ``dJ/d param``: a sum over samples and paths of ordered products.

    >>> rule = chain_rule(SymbolicMLP((2, 2, 1)), "w1")
    >>> print(rule.text())
    dJ/dw1 = dJ/da3 * da3/dz3 * dz3/da1 * da1/dz1 * dz1/dw1
           = l_1(a3, y) * phi'(z3) * w5 * sigma'(z1) * x1
    """
    info = net.layout.info(param)
    terms = []
    for s in net.samples_range:
        z = net.z(net.layout.unit_number(info.layer, info.unit), s)
        local = net.source(info.layer, info.source, s) if info.kind == "w" else sp.S.One
        last = Factor(str(z), param, local)
        terms += [(*path, last) for path in _paths(net, info.layer, info.unit, s)]
    return ChainRule(net, param, tuple(terms))


@dataclass(frozen=True)
class FactorDifference:
    """Two aligned factors whose values differ."""

    left: Factor
    right: Factor

    def _sides(self) -> tuple[list[sp.Expr], list[sp.Expr]]:
        fl, fr = self.left.value.free_symbols, self.right.value.free_symbols
        if fl == fr:
            return [self.left.value], [self.right.value]
        return sorted(fl - fr, key=sp.default_sort_key), sorted(fr - fl, key=sp.default_sort_key)

    @property
    def through(self) -> tuple[str, str]:
        """The symbols only one side has, e.g. ``("w5", "w6")``; the whole values if none."""
        return tuple(", ".join(map(render.text, side)) or "-" for side in self._sides())

    def through_latex(self) -> str:
        """``"$w_{5}$ vs $w_{6}$"``."""
        left, right = (", ".join(map(render.latex, side)) or "-" for side in self._sides())
        return f"${left}$ vs ${right}$"


@dataclass(frozen=True)
class ChainComparison:
    """Two chains aligned term by term and factor by factor (from ``J`` down).

    Attributes:
      left, right: the chains.
      rows: per aligned term, the pairs of factors at the same position.
      unmatched: factors with no counterpart (chains of different lengths or term counts).
    """

    left: ChainRule
    right: ChainRule
    rows: tuple[tuple[tuple[Factor, Factor], ...], ...]
    unmatched: tuple[Factor, ...]

    @property
    def differences(self) -> tuple[FactorDifference, ...]:
        """Aligned factor pairs whose values differ, in order."""
        return tuple(
            FactorDifference(fl, fr) for row in self.rows for fl, fr in row if fl.value != fr.value
        )

    @property
    def through(self) -> tuple[tuple[str, str], ...]:
        """Distinct symbol pairs the chains differ through: ``(("w5", "w6"), ("z1", "z2"))``."""
        return tuple(dict.fromkeys(d.through for d in self.differences))

    @property
    def identical(self) -> bool:
        return not self.differences and not self.unmatched

    def summary(self) -> str:
        """``"dJ/dw1 and dJ/dw3 differ only through w5 vs w6 and z1 vs z2."``"""
        pair = f"{self.left.name} and {self.right.name}"
        if self.identical:
            return f"{pair} have equal factors throughout, so they are equal."
        parts = [f"{a} vs {b}" for a, b in self.through]
        if self.unmatched:
            parts.append(f"{len(self.unmatched)} factors present in only one chain")
        return f"{pair} differ only through {_and(parts)}."

    def text(self) -> str:
        """The textbook explanation: every aligned factor pair, equal or different, then why."""
        lines = [f"{self.left.name} vs {self.right.name}:"]
        for i, row in enumerate(self.rows, 1):
            if len(self.rows) > 1:
                lines.append(f"  product {i}:")
            for fl, fr in row:
                if fl.value != fr.value:
                    a, b = FactorDifference(fl, fr).through
                    lines.append(f"    differ: {fl.text()}  vs  {fr.text()}   ({a} vs {b})")
                elif fl.name == fr.name:
                    lines.append(f"    same:   {fl.text()}")
                else:
                    lines.append(f"    equal:  {fl.text()}  and  {fr.text()}")
        lines += [f"    only in one chain: {f.text()}" for f in self.unmatched]
        lines.append(self.summary())
        return "\n".join(lines)

    def latex(self) -> str:
        """The summary sentence, then an ``itemize`` list of the differing factors."""
        head = f"${self.left.name_latex}$ and ${self.right.name_latex}$"
        if self.identical:
            return head + " have equal factors throughout.\n"
        through = _and(list(dict.fromkeys(d.through_latex() for d in self.differences)))
        items = [rf"\item ${d.left.latex()}$ vs ${d.right.latex()}$" for d in self.differences]
        items += [rf"\item only in one chain: ${f.latex()}$" for f in self.unmatched]
        body = "\\begin{itemize}\n" + "\n".join(items) + "\n\\end{itemize}\n"
        return f"{head} differ only through {through or 'their lengths'}:\n{body}"


def _and(parts: list[str]) -> str:
    """``"a, b and c"``."""
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def compare_chains(left: ChainRule, right: ChainRule) -> ChainComparison:
    """Align two chains term by term and factor by factor, from ``J`` down.

    >>> net = SymbolicMLP((2, 2, 1))
    >>> compare_chains(chain_rule(net, "w1"), chain_rule(net, "w3")).summary()
    'dJ/dw1 and dJ/dw3 differ only through w5 vs w6 and z1 vs z2.'
    """
    rows, unmatched = [], []
    for tl, tr in zip_longest(left.terms, right.terms, fillvalue=()):
        rows.append(tuple(zip(tl, tr)))
        n = min(len(tl), len(tr))
        unmatched += [*tl[n:], *tr[n:]]
    return ChainComparison(left, right, tuple(r for r in rows if r), tuple(unmatched))


def forward_text(net: SymbolicMLP, sample: int = 1) -> str:
    """The forward pass of one sample, one equation a line, ending with ``J``."""
    lines = [f"{lhs} = {render.text(rhs)}" for lhs, rhs in net.forward_equations(sample)]
    loss = net.sample_loss(net.outputs(sample), net.targets(sample))
    note = f"   (sample 1 of {net.samples}; J is the {net.reduction} over samples)"
    lines.append(f"J = {render.text(loss)}" + (note if net.samples > 1 else ""))
    return "\n".join(lines)


def forward_latex(net: SymbolicMLP, sample: int = 1) -> str:
    """The forward pass of one sample as an ``aligned`` environment."""
    rows = [
        f"{render.latex(lhs)} &= {render.latex(rhs)}" for lhs, rhs in net.forward_equations(sample)
    ]
    loss = net.sample_loss(net.outputs(sample), net.targets(sample))
    note = r"\quad\text{(sample 1)}" if net.samples > 1 else ""
    rows.append(f"J &= {render.latex(loss)}{note}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


@dataclass(frozen=True)
class Derivation:
    """What a tie proof rests on: the forward pass, the chain rules of the tied parameters, and
    the comparison of each tied pair's chains."""

    net: SymbolicMLP = field(repr=False)
    rules: tuple[ChainRule, ...]
    comparisons: tuple[ChainComparison, ...]

    def text(self) -> str:
        parts = ["Forward pass:", indent(forward_text(self.net), "  "), "", "Chain rule:"]
        parts += [indent(r.text(), "  ") for r in self.rules]
        if self.comparisons:
            parts += ["", "Why the tied gradients differ in general:"]
            parts += [indent(c.text(), "  ") for c in self.comparisons]
        return "\n".join(parts)

    def latex(self) -> str:
        """A LaTeX fragment (no preamble)."""
        out = ["Forward pass:", "\\[", forward_latex(self.net), "\\]", "Chain rule:"]
        for rule in self.rules:
            out += ["\\[", rule.latex(), "\\]"]
        out += [c.latex() for c in self.comparisons]
        return "\n".join(out) + "\n"


def derivation(net: SymbolicMLP, pairs) -> Derivation:
    """The chain rules of every tied parameter and the comparison of every tied pair."""
    pairs = [(p, split_signed(q)[1]) for p, q in net.layout.parse_ties(pairs, signed=True)]
    names = [n for n in net.layout.names if any(n in pair for pair in pairs)]
    rules = {n: chain_rule(net, n) for n in names}
    comparisons = tuple(compare_chains(rules[p], rules[q]) for p, q in pairs)
    return Derivation(net, tuple(rules.values()), comparisons)
