"""Fixtures as pytest plugin modules, registered once in tests/conftest.py (pytest_plugins)."""
