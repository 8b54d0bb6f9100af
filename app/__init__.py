"""The application layer: the `tutorloop` command (app.cli) and the desktop window (app.ui).

app.cli never imports Qt, and app.cli and app.ui never import each other (import-linter contracts
in pyproject.toml); app.entry is the one place that chooses between them.
"""
