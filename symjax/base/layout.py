"""Parameter names and order shared by the symbolic and the numeric halves.

Neither SymPy nor JAX is imported here: both halves, and every file the package writes, use this
one module to name parameters.

The rule: units are numbered globally over the non-input layers, layer by layer
(for 2-2-1: h1 = unit 1, h2 = unit 2, the output = unit 3). Weights are numbered layer by layer,
unit by unit, and for each unit in the order of its inputs; then biases, one per unit, in unit
order. For 2-2-1 this gives::

    w1: x1->h1  w2: x2->h1  w3: x1->h2  w4: x2->h2  w5: h1->out  w6: h2->out  b1  b2  b3

and the parameter vector is ``[w1, ..., w6, b1, b2, b3]``.
"""

from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from functools import cached_property

from .errors import InputError

#: Largest number of parameters accepted anywhere (a guard against typos like 2,2000000,1).
MAX_PARAMETERS = 1_000_000

_NAME = re.compile(r"^([wb])([1-9][0-9]*)$")
_DIGITS = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class ParamInfo:
    """Where one parameter sits in the network.

    ``kind`` is ``"w"`` or ``"b"``; ``layer`` counts from 1 (the first non-input layer);
    ``unit`` is the 1-based unit index within that layer; ``source`` is the 1-based index of the
    input unit in the previous layer for a weight, ``None`` for a bias; ``index`` is the position
    in the shared parameter vector.
    """

    name: str
    kind: str
    layer: int
    unit: int
    source: int | None
    index: int

    @property
    def role(self) -> tuple[str, int]:
        """Two parameters have the same role when they share kind and layer."""
        return (self.kind, self.layer)


def parse_widths(widths) -> tuple[int, ...]:
    """``"2,2,1"``, ``[2, 2, 1]`` or ``(2, 2, 1)`` -> ``(2, 2, 1)``; InputError naming the
    widths as given for fewer than two layers, empty items, non-integers or widths < 1."""
    if isinstance(widths, str):
        parts = [p.strip() for p in widths.split(",")]
        if not all(_DIGITS.match(p) for p in parts):
            raise InputError(
                f"widths {widths!r} must be comma-separated positive integers, e.g. 2,2,1"
            )
        try:
            values = [int(p) for p in parts]
        except ValueError:  # more digits than int() converts
            raise InputError(f"widths {widths!r} are too large") from None
    else:
        if isinstance(widths, (bytes, bytearray, Mapping, Set)):
            raise InputError(f"widths {widths!r} must be a sequence of positive integers")
        try:
            values = list(widths)
        except TypeError:
            raise InputError(f"widths {widths!r} must be a sequence of positive integers") from None
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InputError(f"widths {widths!r} must contain integers, got {v!r}")
        values = [int(v) for v in values]
    if len(values) < 2:
        raise InputError(
            f"widths {widths!r} need at least an input and an output layer, e.g. 2,2,1"
        )
    bad = [v for v in values if v < 1]
    if bad:
        raise InputError(f"widths must be positive integers, got {bad[0]} in {widths!r}")
    return tuple(values)


@dataclass(frozen=True)
class Layout:
    """Names, order and roles of the parameters of an MLP with the given widths."""

    widths: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "widths", parse_widths(self.widths))
        if self.n_params > MAX_PARAMETERS:
            raise InputError(
                f"widths {','.join(map(str, self.widths))} give {self.n_params} parameters; "
                f"the limit is {MAX_PARAMETERS}"
            )

    # -- sizes -----------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of non-input layers L."""
        return len(self.widths) - 1

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.widths[:-1], self.widths[1:]))

    @property
    def n_biases(self) -> int:
        return sum(self.widths[1:])

    @property
    def n_params(self) -> int:
        return self.n_weights + self.n_biases

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        """1-based indices of the hidden layers (1 .. L-1)."""
        return tuple(range(1, self.n_layers))

    # -- units -----------------------------------------------------------------------------
    def unit_number(self, layer: int, unit: int) -> int:
        """Global 1-based number of unit ``unit`` of layer ``layer`` (h1, h2, ..., output)."""
        return sum(self.widths[1:layer]) + unit

    # -- names -----------------------------------------------------------------------------
    @cached_property
    def params(self) -> tuple[ParamInfo, ...]:
        out: list[ParamInfo] = []
        w = 0
        for layer in range(1, self.n_layers + 1):
            for unit in range(1, self.widths[layer] + 1):
                for src in range(1, self.widths[layer - 1] + 1):
                    w += 1
                    out.append(ParamInfo(f"w{w}", "w", layer, unit, src, len(out)))
        b = 0
        for layer in range(1, self.n_layers + 1):
            for unit in range(1, self.widths[layer] + 1):
                b += 1
                out.append(ParamInfo(f"b{b}", "b", layer, unit, None, len(out)))
        return tuple(out)

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Parameter names in the shared order: ``("w1", ..., "b1", ...)``."""
        return tuple(p.name for p in self.params)

    @cached_property
    def _by_name(self) -> dict[str, ParamInfo]:
        return {p.name: p for p in self.params}

    @cached_property
    def _by_position(self) -> dict[tuple, ParamInfo]:
        return {(p.kind, p.layer, p.unit, p.source): p for p in self.params}

    def info(self, name: str) -> ParamInfo:
        """The :class:`ParamInfo` of a parameter name; a clear error for unknown names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise InputError(
                f"unknown parameter {name!r} for widths {self.widths_str}; "
                f"allowed: {self.names_summary()}"
            ) from None

    def weight(self, layer: int, unit: int, source: int) -> str:
        """Name of the weight from unit ``source`` of layer-1 into unit ``unit`` of ``layer``."""
        return self._by_position[("w", layer, unit, source)].name

    def bias(self, layer: int, unit: int) -> str:
        return self._by_position[("b", layer, unit, None)].name

    @property
    def widths_str(self) -> str:
        return "-".join(map(str, self.widths))

    def names_summary(self) -> str:
        return f"w1..w{self.n_weights}, b1..b{self.n_biases}"

    # -- groups and ties -------------------------------------------------------------------
    def unit_params(self, layer: int, unit: int) -> dict[str, tuple[str, ...]]:
        """The parameters attached to one unit: incoming weights, its bias, outgoing weights."""
        incoming = tuple(
            self.weight(layer, unit, s) for s in range(1, self.widths[layer - 1] + 1)
        )
        outgoing = ()
        if layer < self.n_layers:
            outgoing = tuple(
                self.weight(layer + 1, t, unit) for t in range(1, self.widths[layer + 1] + 1)
            )
        return {"in": incoming, "bias": (self.bias(layer, unit),), "out": outgoing}

    def permutation_map(self, layer: int, perm) -> dict[str, str]:
        """How a permutation of the units of a hidden layer acts on parameter names.

        ``perm`` maps unit i to unit perm[i] (1-based dict, or a 0-based sequence that is a
        permutation of range(width)). Returns ``{name: image}`` for every parameter.
        """
        if layer not in self.hidden_layers:
            raise InputError(
                f"layer {layer} is not a hidden layer of {self.widths_str}; "
                f"hidden layers: {list(self.hidden_layers)}"
            )
        width = self.widths[layer]
        if isinstance(perm, dict):
            p = {int(k): int(v) for k, v in perm.items()}
            for i in range(1, width + 1):
                p.setdefault(i, i)
        else:
            p = {i + 1: int(v) + 1 for i, v in enumerate(perm)}
        if sorted(p) != list(range(1, width + 1)) or sorted(p.values()) != sorted(p):
            raise InputError(
                f"{perm!r} is not a permutation of the {width} units of hidden layer {layer}"
            )
        out = {}
        for info in self.params:
            kind, lay, unit, src = info.kind, info.layer, info.unit, info.source
            if lay == layer:
                unit = p[unit]
            elif kind == "w" and lay == layer + 1:
                src = p[src]
            out[info.name] = self._by_position[(kind, lay, unit, src)].name
        return out

    def permutation_pairs(self, layer: int, perm) -> tuple[tuple[str, str], ...]:
        """The tie set fixed by a permutation: pairs ``(p, perm(p))`` with ``p != perm(p)``.

        Each orbit of length k contributes k-1 pairs (a chain p = g p = g^2 p = ...).
        """
        m = self.permutation_map(layer, perm)
        pairs, seen = [], set()
        for name in self.names:
            if name in seen:
                continue
            orbit = [name]
            nxt = m[name]
            while nxt != name:
                orbit.append(nxt)
                nxt = m[nxt]
            seen.update(orbit)
            orbit.sort(key=self.names.index)
            pairs.extend(zip(orbit[:-1], orbit[1:]))
        return tuple(pairs)

    def swap_pairs(self, layer: int = 1, i: int = 1, j: int = 2) -> tuple[tuple[str, str], ...]:
        """Tie set of the transposition of units ``i`` and ``j`` of hidden ``layer``."""
        return self.permutation_pairs(layer, {i: j, j: i})

    def parse_ties(self, text, *, signed: bool = False) -> tuple[tuple[str, str], ...]:
        """Parse ``"w1=w3,w2=w4,b1=b2,w5=w6"`` (chains ``w1=w3=w5`` allowed) or a list of pairs.

        Every name must exist and both sides of a pair must have the same role (kind and layer).
        With ``signed=True`` a side may carry a minus sign (``w1=-w3``: a sign-flip tie, the
        fixed set of flipping a unit); a pair is then ``("w1", "-w3")``, the sign always on
        its second member (see :func:`split_signed`).
        """
        if isinstance(text, str):
            pairs = []
            for chunk in (c.strip() for c in text.split(",")):
                if not chunk:
                    continue
                sides = [s.strip() for s in chunk.split("=")]
                if len(sides) < 2 or any(not s for s in sides):
                    raise InputError(
                        f"tie {chunk!r} must look like w1=w3 (pairs separated by commas)"
                    )
                pairs.extend(zip(sides[:-1], sides[1:]))
        else:
            if isinstance(text, (bytes, bytearray, Mapping)):
                raise InputError(f"ties {text!r} must be a string such as 'w1=w3,w2=w4' or a "
                                 f"list of pairs of parameter names")
            try:
                pairs = [p if isinstance(p, str) else tuple(p) for p in text]
            except TypeError:
                raise InputError(f"ties {text!r} must be a string such as 'w1=w3,w2=w4' or a "
                                 f"list of pairs of parameter names") from None
        out = []
        for pair in pairs:
            if isinstance(pair, str) or len(pair) != 2:
                raise InputError(f"tie {pair!r} must be a pair of parameter names")
            (sa, a), (sb, b) = (split_signed(str(s).strip()) for s in pair)
            if (sa < 0 or sb < 0) and not signed:
                raise InputError(
                    f"tie {pair[0]}={pair[1]} has a sign; sign-flip ties are accepted by "
                    "symjax prove (e.g. w1=-w3), here only ties such as w1=w3"
                )
            ia, ib = self.info(a), self.info(b)
            if a == b:
                raise InputError(f"tie {pair[0]}={pair[1]} ties a parameter to itself")
            if ia.role != ib.role:
                raise InputError(
                    f"tie {a}={b} ties parameters of different roles "
                    f"({_role_str(ia)} vs {_role_str(ib)}); only weights of the same layer or "
                    f"biases of the same layer can be tied"
                )
            a, b = (a, b) if ia.index < ib.index else (b, a)
            out.append((a, b if sa * sb > 0 else "-" + b))
        out = tuple(dict.fromkeys(out))
        self.tie_signs(out)  # refuses contradictory signs
        return out

    def tie_signs(self, pairs) -> dict[str, tuple[str, int]]:
        """Each parameter -> (the first member of its tie class, the sign relating them).

        On the tied subspace ``value(name) = sign * value(representative)``. InputError when
        the signs contradict each other (``w1=w3,w1=-w3`` forces zero).
        """
        parent: dict[str, tuple[str, int]] = {n: (n, 1) for n in self.names}

        def find(x: str) -> tuple[str, int]:
            sign = 1
            while parent[x][0] != x:
                x, s = parent[x]
                sign *= s
            return x, sign

        for a, signed_b in pairs:
            sign, b = split_signed(signed_b)
            (ra, sa), (rb, sb) = find(a), find(b)
            if ra == rb:
                if sa != sign * sb:
                    raise InputError(
                        f"the ties give {a} two opposite values at once ({a}={signed_b} "
                        "contradicts the other ties: it forces them to zero)"
                    )
                continue
            first, second = sorted((ra, rb), key=self.names.index)
            # value(b) = sign value(a): value(rb) sb = sign sa value(ra)
            parent[second] = (first, sign * sa * sb)
        return {n: find(n) for n in self.names}

    def tie_classes(self, pairs) -> tuple[tuple[str, ...], ...]:
        """Equivalence classes (size >= 2) generated by the pairs (signs aside), each in the
        shared order, ordered by their first members."""
        classes: dict[str, list[str]] = {}
        for name, (first, _) in self.tie_signs(pairs).items():
            classes.setdefault(first, []).append(name)
        return tuple(tuple(c) for c in classes.values() if len(c) > 1)

    def all_transpositions(self):
        """Every transposition of two units in every hidden layer: ``(layer, i, j)``."""
        for layer in self.hidden_layers:
            for i, j in itertools.combinations(range(1, self.widths[layer] + 1), 2):
                yield layer, i, j


def _role_str(info: ParamInfo) -> str:
    kind = "weight" if info.kind == "w" else "bias"
    return f"{info.name} is a layer-{info.layer} {kind}"


def split_signed(name: str) -> tuple[int, str]:
    """``"-w3"`` -> ``(-1, "w3")``; ``"w3"`` -> ``(1, "w3")``."""
    if name.startswith("-"):
        return -1, name[1:].strip()
    return 1, name


def has_sign_flip(pairs) -> bool:
    """Whether some pair ``(a, b)`` of ``pairs`` is a sign flip (``b`` written ``-name``)."""
    return any(split_signed(b)[0] < 0 for _, b in pairs)


def format_ties(pairs) -> str:
    """Inverse of :meth:`Layout.parse_ties` for pairs: ``"w1=w3,w2=w4"``."""
    return ",".join(f"{a}={b}" for a, b in pairs)


def parse_permutation(text: str) -> tuple[int, dict[int, int]]:
    """``"1:2,3,1"`` -> ``(1, {1: 2, 2: 3, 3: 1})``; InputError unless LAYER:IMAGES."""
    layer, sep, images = text.partition(":")
    try:
        if sep and images:
            return int(layer), {i: int(v) for i, v in enumerate(images.split(","), 1)}
    except ValueError:
        pass
    raise InputError(
        f"permutation {text!r} must look like LAYER:IMAGES with 1-based units, e.g. 1:2,3,1"
    )


def tied_subspace_pairs(layout: Layout) -> tuple[tuple[str, str], ...]:
    """The pairs of the fully tied subspace of every hidden layer.

    For each hidden layer of width ``H >= 2``, the pairs fixed by the cycle ``1 -> 2 -> ... -> H
    -> 1`` of its units (:meth:`Layout.permutation_pairs`): each unit's incoming weights, bias
    and outgoing weights equal the next unit's. For 2-2-1: ``w1=w3, w2=w4, w5=w6, b1=b2``.
    """
    pairs: list[tuple[str, str]] = []
    for layer in layout.hidden_layers:
        width = layout.widths[layer]
        if width >= 2:
            cycle = [(i + 1) % width for i in range(width)]
            pairs.extend(layout.permutation_pairs(layer, cycle))
    return tuple(dict.fromkeys(pairs))


#: Above this many (units^2 x unit size) elements a layer's distances use the Gram matrix.
_DIRECT_DISTANCE_MAX = 1 << 16


def unit_rows(layout: Layout) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """Per hidden layer of width >= 2: per unit, the flat indices of its (incoming weights,
    bias, outgoing weights)."""
    out = []
    for layer in layout.hidden_layers:
        if layout.widths[layer] < 2:
            continue
        units = []
        for unit in range(1, layout.widths[layer] + 1):
            p = layout.unit_params(layer, unit)
            units.append(tuple(layout.info(n).index for n in p["in"] + p["bias"] + p["out"]))
        out.append(tuple(units))
    return tuple(out)


def min_unit_distance(layout: Layout, params, xp):
    """Smallest Euclidean distance between two units of the same hidden layer, over the last
    axis of ``params`` (flat parameters), with the array namespace ``xp`` (``numpy`` or
    ``jax.numpy``).

    A unit is the vector (incoming weights, bias, outgoing weights). Zero exactly when two units
    are tied; NaN when no hidden layer has two units. The engine computes it in the run's dtype
    on every seed, the report in float64 on recorded trajectories.
    """
    rows_all = unit_rows(layout)
    lead = params.shape[:-1]
    if not rows_all:
        return xp.full(lead, xp.nan, params.dtype)
    best = xp.full(lead, xp.inf, params.dtype)
    for rows in rows_all:
        index = xp.asarray(rows, dtype=xp.int32)
        v = params[..., index]  # (..., H, D)
        h, d = len(rows), len(rows[0])
        if h * h * d <= _DIRECT_DISTANCE_MAX:
            d2 = xp.sum((v[..., :, None, :] - v[..., None, :, :]) ** 2, axis=-1)
        else:
            sq = xp.sum(v * v, axis=-1)
            precise = {} if xp.__name__ == "numpy" else {"precision": "highest"}
            gram = xp.matmul(v, xp.swapaxes(v, -1, -2), **precise)
            d2 = xp.maximum(sq[..., :, None] + sq[..., None, :] - 2 * gram, 0)
        off_diag = ~xp.eye(h, dtype=bool)
        best = xp.minimum(best, xp.min(xp.where(off_diag, d2, xp.inf), axis=(-2, -1)))
    return xp.sqrt(best)
