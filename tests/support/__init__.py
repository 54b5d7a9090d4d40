"""Helpers shared by the tests of several parts (not test modules)."""
