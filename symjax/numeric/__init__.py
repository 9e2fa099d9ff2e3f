"""The numeric engine, pure JAX functions: the network (``net``), one training step with the
per-step tie checks (``train``), sharded sweeps over seeds (``sweep``), inits, optimizers, data
sets and XLA flags. Imports ``base`` and, to write chunk files, ``results``.
"""
