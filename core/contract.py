"""The version of the plugin facade (:mod:`ccms.api`), as plugins declare it.

A kernel module on its own (no imports) so the plugin loader can compare a
manifest's ``requires_ccms`` with it without importing the facade. Raise the
minor number when the facade gains names; the major number when a name is
removed or changes meaning.
"""

FACADE_VERSION = "1.0"
