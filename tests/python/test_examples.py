"""Every example script runs to completion (smoke test; the numerics are tested elsewhere)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))

# Examples whose default run takes minutes get a fast mode here ("{out}": a temporary folder).
FAST_ARGS = {"demo.py": ["--steps", "2", "--model", "tiny", "--out", "{out}", "--quiet"]}


def test_examples_are_indexed():
    index = (ROOT / "examples" / "README.md").read_text()
    missing = [name for name in EXAMPLES if f"`{name}`" not in index]
    assert not missing, f"examples/README.md does not list {missing}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    args = [a.format(out=tmp_path / "out") for a in FAST_ARGS.get(name, [])]
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)] + args, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert len(proc.stdout.strip().splitlines()) >= 3, f"{name} printed almost nothing"
    if name == "demo.py":
        out = tmp_path / "out"
        assert f"Plot of validation loss against tokens: {out / 'val_loss.png'}" in proc.stdout
        assert (out / "val_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for label in ("fp32", "mxfp4_all", "nvfp4_2d_rht16"):
            assert f"| {label} |" in proc.stdout and (out / "runs" / label / "log.jsonl").exists()


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
