"""The bottom layer, shared by every other: parameter names and ties (``layout``), names both
halves share (``choices``), the input-error type, TeX escaping and tables (``text``), atomic files
(``files``), signal handling and the version. No JAX, no SymPy.
"""
