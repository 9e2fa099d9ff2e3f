"""The installed version of symjax (distribution ``symjax-proofs``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: The distribution name: the PyPI name ``symjax`` belongs to an unrelated library.
DISTRIBUTION = "symjax-proofs"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"
