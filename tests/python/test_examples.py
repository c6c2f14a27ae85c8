"""Every example script runs to completion (smoke test; the numerics are tested elsewhere)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def test_examples_are_indexed():
    index = (ROOT / "examples" / "README.md").read_text()
    missing = [name for name in EXAMPLES if f"`{name}`" not in index]
    assert not missing, f"examples/README.md does not list {missing}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert len(proc.stdout.strip().splitlines()) >= 3, f"{name} printed almost nothing"


def test_readme_quickstart_runs():
    """The README's Python quickstart is executed as written."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quickstart")
    block = text[text.index("```python", start) + len("```python"):]
    code = block[:block.index("```")]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
