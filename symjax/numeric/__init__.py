"""symjax.numeric."""
