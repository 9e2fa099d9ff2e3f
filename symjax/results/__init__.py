"""symjax.results."""
