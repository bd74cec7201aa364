"""Package layout only (metadata lives in pyproject.toml).

The kernel folder ``core/`` installs as the package ``ccms`` and the built-in plugins folder
``plugins/`` as ``ccms.plugins``, so the distribution owns one top-level name. Folders without
``__init__.py`` (templates, locales, migrations) are namespace packages so their files ship as
package data.
"""

from setuptools import find_namespace_packages, setup

EXCLUDE = ["*.__pycache__", "*.__pycache__.*", "*.tests", "*.tests.*"]


def under(folder: str, name: str) -> list[str]:
    return [name] + [f"{name}.{p}" for p in find_namespace_packages(folder, exclude=EXCLUDE)]


setup(
    package_dir={"ccms": "core", "ccms.plugins": "plugins"},
    packages=under("core", "ccms") + under("plugins", "ccms.plugins"),
)
