"""Data: the built-in generator and reading user files."""
