"""The plugin installs from its wheel into a clean virtualenv beside a host that is not this
repository, and works there: pages, CLI, migrations (they ship inside the package).

Builds the wheel from a copy of the source tree (so no stale build/ folder leaks into it),
installs it with its dependencies from the package index into a fresh venv, copies
examples/minimal_host/ elsewhere and runs its smoke checks with that venv's Python.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv", "build", "dist", "*.egg-info", "instance", "__pycache__",
                              ".git", ".pytest_cache", ".ruff_cache", "test-artifacts", "data")


def run(*args: str, cwd: Path, timeout: int = 600) -> str:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def test_the_wheel_installs_into_a_fresh_venv_and_serves_a_minimal_host(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=SKIP)

    build_log = run(sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-w", str(tmp_path / "dist"), str(source), cwd=tmp_path)
    assert "would be ignored" not in build_log and "Warning" not in build_log, build_log
    wheels = list((tmp_path / "dist").glob("accounts_sync-*.whl"))
    assert len(wheels) == 1

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, clear=True)  # no system site-packages
    python = env_dir / "bin" / "python"
    run(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        str(wheels[0]), cwd=tmp_path)
    files = run(str(python), "-c", "import importlib.metadata as m; "
                "print('\\n'.join(str(f) for f in m.files('accounts-sync')))", cwd=tmp_path)
    assert "accounts_sync/migrations/env.py" in files
    assert "accounts_sync/web/templates/accounts_sync/console.html" in files

    host = tmp_path / "minimal_host"
    shutil.copytree(ROOT / "examples" / "minimal_host", host, ignore=SKIP)
    output = run(str(python), "smoke.py", cwd=host)
    assert "all smoke checks passed" in output, output
