"""Seeds sharded over 4 CPU devices give the same verdicts as one device (fresh processes)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import sys
import jax
import numpy as np
jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
from symjax.experiments.verify import verify
res = verify(init="tied,normal,tied_eps", optimizer="sgd,adam:dropout=0.1", seeds=203,
             steps=80, chunk=100, save_params=True, quiet=True)
arrays = {"devices": np.array(res.layout["devices"]), "ok": np.array(res.ok)}
for (init, opt), r in res.runs.items():
    for field in ("first_break", "nonfinite_step", "solved", "final_params"):
        arrays[f"{init}|{opt}|{field}"] = getattr(r, field)
np.savez(sys.argv[2], **arrays)
"""


def _run(devices: int, path) -> dict:
    subprocess.run([sys.executable, "-c", SCRIPT, str(devices), str(path)], check=True,
                   capture_output=True, text=True, timeout=600)
    with np.load(path) as data:
        return dict(data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharding")
    return _run(4, tmp / "four.npz"), _run(1, tmp / "one.npz")


def test_four_devices_were_used(runs):
    four, one = runs
    assert int(four["devices"]) == 4 and int(one["devices"]) == 1
    assert bool(four["ok"]) and bool(one["ok"])


def test_same_verdicts_on_four_devices_and_one(runs):
    four, one = runs
    verdicts = [k for k in four if k.endswith(("first_break", "nonfinite_step"))]
    assert len(verdicts) == 12
    for key in verdicts:
        np.testing.assert_array_equal(four[key], one[key], key)
    broken_later = four["tied|adam:dropout=0.1|first_break"]
    assert (broken_later >= 1).all()  # dropout breaks the ties at a random step, not at 0
    for key in (k for k in four if k.endswith("final_params")):
        np.testing.assert_allclose(four[key], one[key], rtol=1e-4, atol=1e-5, err_msg=key)


MODEL_SCRIPT = """
import sys
import jax
import jax.numpy as jnp
import numpy as np
jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
from symjax import verify_model
from symjax.symbolic.jaxpr import dense_units

def loss(p, x, y):
    h = jnp.tanh(x @ p["W1"].T + p["b1"])
    return jnp.mean((h @ p["W2"].T + p["b2"] - y) ** 2)

params = {"W1": jnp.ones((3, 2)), "b1": jnp.ones(3), "W2": jnp.ones((1, 3)), "b2": jnp.ones(1)}
x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
pairs = dense_units("W1", "b1", "W2", (3, 2), (1, 3), 0, 2)
wrong = [("W1[0,0]", "W1[1,1]")]
res = verify_model(loss, params, pairs, x, y, seeds=301, steps=30, chunk=100, out=sys.argv[3])
bad = verify_model(loss, params, wrong, x, y, seeds=301, steps=30, chunk=100)
import json
layout = json.load(open(sys.argv[3] + "/results.json"))["layout"]
np.savez(sys.argv[2], first=res.first_break, ulp=res.max_ulp, bad=bad.first_break,
         devices=layout["devices"], per_call=layout["seeds_per_call"])
"""


def test_users_models_are_sharded_over_devices_with_the_same_per_seed_results(tmp_path):
    """verify_model splits every call's seeds over the local devices; each seed's numbers are
    those of a one-device run, and broken ties stay broken."""
    out = {}
    for devices in (2, 1):
        path = tmp_path / f"{devices}.npz"
        subprocess.run([sys.executable, "-c", MODEL_SCRIPT, str(devices), str(path),
                        str(tmp_path / f"run{devices}")], check=True, capture_output=True,
                       text=True, timeout=600)
        with np.load(path) as data:
            out[devices] = dict(data)
    two, one = out[2], out[1]
    assert int(two["devices"]) == 2 and int(one["devices"]) == 1
    assert int(two["per_call"]) % 2 == 0
    assert (one["first"] == -1).all() and (one["bad"] >= 0).all()
    for key in ("first", "ulp", "bad"):
        np.testing.assert_array_equal(two[key], one[key])
