"""symjax.experiments."""
