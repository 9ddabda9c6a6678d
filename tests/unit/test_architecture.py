"""The layer rule (DESIGN.md) is checked, not remembered."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _imports(package: str) -> set[str]:
    names: set[str] = set()
    for path in (SRC / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the package
                    parts = path.relative_to(SRC).parts[:-node.level]
                    names.add(".".join(("accounts_sync", *parts, node.module or "")).rstrip("."))
                else:
                    names.add(node.module or "")
    return names


def test_domain_imports_only_the_standard_library():
    outside = {n for n in _imports("domain") if n.split(".")[0] not in sys.stdlib_module_names
               and not n.startswith("accounts_sync.domain")}
    assert outside == set()


def test_application_imports_only_the_domain_and_the_standard_library():
    outside = {n for n in _imports("application")
               if n.split(".")[0] not in sys.stdlib_module_names
               and not n.startswith(("accounts_sync.domain", "accounts_sync.application"))}
    assert outside == set()


def test_import_linter_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], capture_output=True, text=True,
                            cwd=SRC.parent)
    assert result.returncode == 0, result.stdout + result.stderr
