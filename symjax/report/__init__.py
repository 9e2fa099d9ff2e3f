"""symjax.report."""
