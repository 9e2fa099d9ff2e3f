"""What symjax measures, on the engine: ``verify`` (seeds x inits x optimizers, ties checked bit
for bit), ``dynamics`` (conservation laws, stability, rounding), ``own_model`` (users' JAX
models) and ``bridge`` (the symbolic gradients against JAX's).
"""
