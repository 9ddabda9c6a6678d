"""Package discovery only (metadata lives in pyproject.toml).

`src/` is installed as `accounts_sync`: every folder under it becomes a (namespace) package, so
a new subpackage, template folder or migration is in the wheel without editing a list, and
setuptools has no "Package would be ignored" data folder to warn about.
"""

from setuptools import find_namespace_packages, setup

SUBPACKAGES = find_namespace_packages(where="src", exclude=["*__pycache__*"])

setup(
    package_dir={"accounts_sync": "src"},
    packages=["accounts_sync", *(f"accounts_sync.{name}" for name in SUBPACKAGES)],
)
