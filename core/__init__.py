"""ccms kernel: orgs, people, permissions, audit, settings and the plugin contract.

Plugins import :mod:`core.api` only; everything else here may change.
"""

__version__ = "0.1.0"
