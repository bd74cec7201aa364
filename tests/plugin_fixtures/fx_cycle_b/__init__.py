"""Fixture plugin without hooks."""
