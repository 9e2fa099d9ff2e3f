"""What a run leaves behind: the verify options (``config``), the results document with its schema,
provenance and run ID (``document``), run summaries (``summary``), run directories with chunks
and locks (``rundir``) and the JSON records of the symbolic commands (``records``). Imports only
``base``.
"""
