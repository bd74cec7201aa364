"""Built-in plugins, one folder each (``plugins/<id>/plugin.json``)."""
