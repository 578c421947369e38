"""Manifest templates: interpolation of manifest strings, the Jinja sandbox they render in, its
macros and its budgets."""
