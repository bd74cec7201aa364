"""ccms kernel: orgs, people, permissions, audit, settings and the plugin contract.

Plugins import :mod:`ccms.api` only; everything else here may change.
"""

__version__ = "0.1.0"
