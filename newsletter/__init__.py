"""Build and send the monthly newsletter of plain-language MS research summaries."""

# A constant, read by pyproject.toml too: importlib.metadata costs ~30 ms at every start.
__version__ = "0.1.0"
