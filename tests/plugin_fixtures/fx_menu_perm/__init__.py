"""Fixture: a manifest menu entry naming an undeclared permission."""
