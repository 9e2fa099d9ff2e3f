"""symjax.base."""
