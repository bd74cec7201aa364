"""Fixture: declares a permission whose id does not start with the plugin's id."""
