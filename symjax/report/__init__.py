"""From a run's files to a paper: the run read back and checked (``run``), statistics
(``stats``), words and tables (``text``), figures (``plots``, ``dynamics_plots``), the report
files (``writer``, ``output``), users' model runs (``model``) and ``reproduce``.
"""
