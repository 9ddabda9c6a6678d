"""The README's examples run here, so they cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_opens_with_exactly_the_two_set_up_commands():
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_the_use_case_example_runs_against_a_seeded_winery(tmp_path):
    from accounts_sync.adapters.erp_sql.engine import make_engine
    from accounts_sync.demo.setup import prepare_demo

    url = f"sqlite:///{tmp_path / 'readme.sqlite3'}"
    engine = make_engine(url)
    prepare_demo(engine, today=date.today(), scale=0.2)
    engine.dispose()
    example = next(block for block in python_blocks() if "build_container" in block)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                            env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr
    count = int(re.match(r"(\d+) sales orders worth", result.stdout).group(1))
    assert count > 0 and "journals" in result.stdout
