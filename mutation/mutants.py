"""The kept catalogue of mutants: small, plausible bugs in symjax's checker code.

Each mutant names a file, one exact piece of its source (it must occur exactly once), the
replacement, and the tests that must fail when the bug is in (pytest arguments, run from the
repository root; keep them to the files that cover the code, so a run stays short on 2 cores).
When the code moves, ``python mutation/run.py --check`` fails naming every mutant whose source
text is gone or ambiguous: update the catalogue with the code.

Groups: bit patterns and tie checks (``numeric/train.py``), verdicts (``results/summary.py``,
``experiments/verify.py``, the CLI), reproduce comparisons (``report/reproduce.py``), digests
and tamper checks (``results/rundir.py``, ``results/document.py``), the prover's verdict logic
(``symbolic/``).
"""

from __future__ import annotations

from typing import NamedTuple


class Mutant(NamedTuple):
    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    bug: str


#: The tests of each property (pytest arguments). Each mutant runs only the tests that cover
#: the code it changes, so that the whole catalogue runs in well under an hour on 2 cores.
_BREAKS = ("tests/test_train.py", "-k", "break or negative_controls or not_invariant or zero_steps")
_NONFINITE = ("tests/test_train.py", "-k", "nonfinite or divergence or diverging")
_NET_ULP = ("tests/test_net.py", "-k", "ulp")
_VERDICT = ("tests/test_verify.py", "tests/test_train.py", "-k",
            "violated or false_belief or negative_controls or not_invariant or matmul_path")
_REPRO = ("tests/test_reproduce.py", "-k", "not environment and not xla_flags")
_STORE = ("tests/test_resume.py", "-k", "chunk_store")
_TIES = ("tests/test_symbolic_ties.py",)
_GUARD = ("tests/test_guard.py",)

MUTANTS: tuple[Mutant, ...] = (
    # -- bit patterns and tie checks --------------------------------------------------------
    Mutant(
        "train-nonfinite-last-step", "symjax/numeric/train.py",
        "broken = (checks.nonfinite_step < 0) & ~jnp.all(jnp.isfinite(params), axis=0)",
        "broken = ~jnp.all(jnp.isfinite(params), axis=0)",
        _NONFINITE, "records the last non-finite step instead of the first"),
    Mutant(
        "train-check-before-update", "symjax/numeric/train.py",
        "_update_checks(cfg, state.checks, params, t)), None",
        "_update_checks(cfg, state.checks, state.params, t - 1)), None",
        _BREAKS, "checks the parameters before each update, so the last update is never checked"),
    Mutant(
        "train-first-break-overwritten", "symjax/numeric/train.py",
        "jnp.where((first_break == _never(dist.dtype)) & differ,",
        "jnp.where(differ,",
        _BREAKS, "a later break overwrites the first break step"),
    Mutant(
        "train-max-ulp-last", "symjax/numeric/train.py",
        "pairs=jnp.stack([first_break, jnp.maximum(max_ulp, dist)]),",
        "pairs=jnp.stack([first_break, dist]),",
        _BREAKS, "max_ulp keeps the last step's distance, not the largest"),
    Mutant(
        "train-step0-unchecked", "symjax/numeric/train.py",
        "first_break = jnp.where(differ, jnp.zeros((), dist.dtype), _never(dist.dtype))",
        "first_break = jnp.where(differ, _never(dist.dtype), _never(dist.dtype))",
        _BREAKS, "the initial parameters (step 0) are not checked"),
    Mutant(
        "ulp-bits-differ-on-ordered-ints", "symjax/numeric/train.py",
        "return ia != ib, jnp.where(oa >= ob, ua - ub, ub - ua)",
        "return oa != ob, jnp.where(oa >= ob, ua - ub, ub - ua)",
        _NET_ULP, "+0 and -0 (0 ULP apart) count as bitwise equal"),
    Mutant(
        "ulp-sign-magnitude-mapping", "symjax/numeric/train.py",
        "oa = jnp.where(ia < 0, lowest - ia, ia)",
        "oa = jnp.where(ia < 0, -ia, ia)",
        _NET_ULP, "negative floats mapped to their magnitude: wrong ULP distance across zero"),
    Mutant(
        "ulp-signed-difference", "symjax/numeric/train.py",
        "jnp.where(oa >= ob, ua - ub, ub - ua)",
        "jnp.where(oa >= ob, ua - ub, ua - ub)",
        _NET_ULP, "ULP distance wraps around when b > a"),
    # -- verdicts ---------------------------------------------------------------------------
    Mutant(
        "verify-verdict-always-holds", "symjax/experiments/verify.py",
        '"invariant_holds": bool((r.first_break < 0).all()) if expected else None',
        '"invariant_holds": True if expected else None',
        _VERDICT, "the verify verdict can never fail"),
    Mutant(
        "verify-ok-any", "symjax/experiments/verify.py",
        'return all(s["invariant_holds"] is not False for s in self.summaries)',
        'return any(s["invariant_holds"] is not False for s in self.summaries)',
        _VERDICT, "one holding run makes the whole verdict hold"),
    Mutant(
        "verify-expected-ignores-subspace", "symjax/experiments/verify.py",
        'and plan.path_used == "exact" and in_subspace)',
        'and plan.path_used == "exact")',
        _VERDICT, "ties outside the fully tied subspace are expected to hold"),
    Mutant(
        "verify-expected-ignores-path", "symjax/experiments/verify.py",
        'and plan.path_used == "exact" and in_subspace)',
        "and in_subspace)",
        _VERDICT, "the matmul path is expected to keep ties bitwise"),
    Mutant(
        "verify-step0-break-ignored", "symjax/results/summary.py",
        "first = np.where(fb >= 0, fb, _NEVER).min(axis=1, initial=_NEVER)",
        "first = np.where(fb > 0, fb, _NEVER).min(axis=1, initial=_NEVER)",
        _VERDICT, "a tie broken at step 0 does not count as broken"),
    Mutant(
        "verify-cli-exit-0", "symjax/cli/verify.py",
        'print(f"wrote {out}", file=sys.stderr)\n    return 0 if results.ok else 1',
        'print(f"wrote {out}", file=sys.stderr)\n    return 0',
        ("tests/test_verify.py", "-k", "violated or false_belief or cli"),
        "symjax verify exits 0 on a violated verdict"),
    # -- reproduce comparisons --------------------------------------------------------------
    Mutant(
        "reproduce-npz-first-rows", "symjax/report/reproduce.py",
        "where = np.argwhere(result.compare(a, b, tolerance))",
        "where = np.argwhere(result.compare(a[:10], b[:10], tolerance))",
        _REPRO, "params.npz / trajectories.npz compared on the first 10 seeds only"),
    Mutant(
        "reproduce-csv-first-rows", "symjax/report/reproduce.py",
        "rows = np.flatnonzero(result.compare(a, b, tolerance))",
        "rows = np.flatnonzero(result.compare(a, b, tolerance)[:10])",
        _REPRO, "per_seed.csv compared on the first 10 seeds only"),
    Mutant(
        "reproduce-values-not-bits", "symjax/report/reproduce.py",
        "bitwise = _bits(a) == _bits(b) if a.dtype == b.dtype else a == b",
        "bitwise = (a == b) | (np.isnan(a) & np.isnan(b))",
        _REPRO, "floats compared by value: +0 and -0 pass as bitwise equal"),
    Mutant(
        "reproduce-tolerance-ignored", "symjax/report/reproduce.py",
        "    if tolerance is None:\n        return ~bitwise, 0",
        "    if True:\n        return ~bitwise, 0",
        _REPRO, "--tolerance is ignored (always bitwise)"),
    Mutant(
        "reproduce-status-always-match", "symjax/report/reproduce.py",
        "status = EXIT_DIFFER if any(c.n_differences for c in comparisons) else EXIT_MATCH",
        "status = EXIT_MATCH",
        _REPRO, "reproduce reports REPRODUCED whatever differs"),
    Mutant(
        "reproduce-summaries-ignored", "symjax/report/reproduce.py",
        "                same = a == b\n",
        "                same = True\n",
        _REPRO, "non-float summary fields are never compared"),
    # -- digests and tamper checks ----------------------------------------------------------
    Mutant(
        "store-digest-unchecked", "symjax/results/rundir.py",
        "if arrays_digest(members) != digest:",
        "if False:",
        _STORE, "a chunk whose arrays changed (valid zip CRC) is merged"),
    Mutant(
        "store-digest-without-dtype-shape", "symjax/results/rundir.py",
        'h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())',
        'h.update(f"{name}|".encode())',
        _STORE, "the digest does not cover dtypes and shapes"),
    Mutant(
        "store-meta-unchecked", "symjax/results/rundir.py",
        "    if meta != expect:",
        "    if False:",
        _STORE, "a chunk of a different run is merged"),
    Mutant(
        "results-hash-unchecked", "symjax/results/document.py",
        'if document["content_hash"] != expected or document["run_id"] not in run_ids:',
        'if document["run_id"] not in run_ids:',
        ("tests/test_provenance.py",), "an edited results.json passes its content hash check"),
    # -- the prover's verdict logic ---------------------------------------------------------
    Mutant(
        "prover-proven-by-sampling", "symjax/symbolic/_ties.py",
        "if witness is None and exactly_zero(diff):",
        "if witness is None:",
        _TIES, "proven because a few sample points found no witness"),
    Mutant(
        "prover-time-limit-proves", "symjax/symbolic/_ties.py",
        "return Theorem(claim, hyps, UNKNOWN, steps=steps, reason=reason, context=context)",
        "return Theorem(claim, hyps, PROVEN, steps=steps, reason=reason, context=context)",
        _TIES, "a proof cut short by its time limit is reported proven"),
    Mutant(
        "prover-combine-any", "symjax/symbolic/_theorem.py",
        "    if all(t.proven for t in lemmas):\n",
        "    if any(t.proven for t in lemmas):\n",
        _TIES + ("-k", "conjunction or transpositions"),
        "a conjunction is proven when one lemma is"),
    Mutant(
        "prover-case-split-one-branch", "symjax/symbolic/_network.py",
        "return all(_split_cases(expr.xreplace({cond: v}), depth + 1)",
        "return any(_split_cases(expr.xreplace({cond: v}), depth + 1)",
        ("tests/test_symbolic_network.py", "-k", "exactly_zero"),
        "a difference that vanishes on one side of a kink counts as zero"),
    Mutant(
        "prover-rational-zero-witness", "symjax/symbolic/_ties.py",
        "return expr if expr != 0 else None",
        "return expr",
        _TIES, "an exact rational 0 is accepted as a witness"),
    # -- the independent check of every "proven" --------------------------------------------
    Mutant(
        "guard-tie-never-contradicts", "symjax/symbolic/_guard.py",
        "                    if not zero:\n",
        "                    if False:\n",
        _GUARD, "the independent check of tie theorems never objects"),
    Mutant(
        "guard-identity-tolerance", "symjax/symbolic/_guard.py",
        "if abs(value) > RELATIVE_TOLERANCE * 10**6:",
        "if abs(value) > 10**6:",
        _GUARD, "the identity check accepts any value below a million"),
    Mutant(
        "guard-witness-off-subspace", "symjax/symbolic/_guard.py",
        "if point[n] != sign * point[first]:",
        "if point[n] != point[first]:",
        _GUARD, "a sign-flip witness is checked as if the tie had no sign"),
    Mutant(
        "guard-first-pair-only", "symjax/symbolic/_guard.py",
        "                for p, signed_q in pairs:\n"
        "                    q, sign = _signed(signed_q)\n                    for n in (p, q):",
        "                for p, signed_q in pairs[:1]:\n"
        "                    q, sign = _signed(signed_q)\n                    for n in (p, q):",
        _GUARD, "the independent check looks at the first tied pair only"),
    Mutant(
        "jaxpr-numeric-check-blind", "symjax/symbolic/jaxpr.py",
        "    if worst > 1e-9:",
        "    if worst > 1e9:",
        ("tests/test_jaxpr.py",), "jax.grad's float64 check of a model proof never objects"),
)
