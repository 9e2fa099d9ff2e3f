"""Data sets: deterministic, in memory, matched to the widths."""

from __future__ import annotations

import numpy as np
import pytest

from symjax import InputError
from symjax.numeric.datasets import MAX_PARITY_BITS, make_dataset


@pytest.mark.parametrize("name, targets", [
    ("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])])
def test_boolean_tables(name, targets):
    d = make_dataset(name, "2,2,1")
    assert d.x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert d.y[:, 0].tolist() == targets
    assert d.task == "classification" and d.spec == name and d.x.dtype == np.float64


def test_parity_follows_the_input_width():
    d = make_dataset("parity", "3,4,1")
    assert d.n_samples == 8
    np.testing.assert_array_equal(d.y[:, 0], d.x.sum(axis=1) % 2)
    assert make_dataset("parity:bits=4", "4,2,1").n_samples == 16


@pytest.mark.parametrize("spec, widths", [
    ("moons", "2,3,1"), ("circles:noise=0.1", "2,3,1"), ("teacher:samples=20", "3,4,2")])
def test_generated_sets_are_deterministic(spec, widths):
    a, b = make_dataset(spec, widths), make_dataset(spec, widths)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.spec == spec
    other = make_dataset(spec + ":seed=1", widths)
    assert not np.array_equal(a.x, other.x)


def test_shapes_labels_and_tasks():
    moons = make_dataset("moons:samples=65", "2,2,1")
    assert moons.x.shape == (65, 2) and moons.y.shape == (65, 1)
    assert set(np.unique(moons.y)) == {0.0, 1.0} and abs(moons.y.sum() - 32.5) <= 0.5
    circles = make_dataset("circles:noise=0", "2,2,1")
    radius = np.linalg.norm(circles.x, axis=1)
    np.testing.assert_allclose(radius[circles.y[:, 0] == 0], 1.0)
    np.testing.assert_allclose(radius[circles.y[:, 0] == 1], 0.5)
    teacher = make_dataset("teacher", "3,5,2")
    assert teacher.task == "regression" and teacher.x.shape == (64, 3)
    assert teacher.y.shape == (64, 2)


@pytest.mark.parametrize("spec, widths, message", [
    ("xor", "3,2,1", r"dataset 'xor' has 2 inputs and 1 output\(s\), but widths 3,2,1"),
    ("xor", "2,2,2", "have 2 and 2"),
    ("moons", "2,2,3", "moons"),
    ("spiral", "2,2,1", "unknown dataset 'spiral'; allowed: xor, and, or, parity"),
    ("moons:samples=1", "2,2,1", "samples=1 must be between 2"),
    ("moons:samples=2.5", "2,2,1", "must be an integer"),
    ("moons:noise=-1", "2,2,1", "noise=-1.0 must be >= 0"),
    ("circles:factor=2", "2,2,1", "factor=2.0 must be between 0 and 1"),
    (f"parity:bits={MAX_PARITY_BITS + 1}", "2,2,1", "must be between 1 and"),
    ("teacher:hidden=0", "2,2,1", "hidden=0 must be >= 1"),
    ("xor:samples=3", "2,2,1", "unknown option 'samples' for dataset 'xor'; allowed: none"),
])
def test_bad_datasets(spec, widths, message):
    with pytest.raises(InputError, match=message):
        make_dataset(spec, widths)
