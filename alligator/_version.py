"""The package's version: one constant, read by ``alligator.__version__``
and by the build (pyproject's ``[tool.setuptools.dynamic]``), so importing
alligator never looks up package metadata."""

__version__ = "2.0.0"
