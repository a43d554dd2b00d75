"""The README's Python code blocks run, so they cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tinkex.emulator.run.process import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    with EmulatorProcess(tmp_path_factory.mktemp("readme")) as emulator:
        yield emulator.base_url


def test_readme_has_code_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, base_url, tmp_path):
    code = BLOCKS[index]
    tests = re.findall(r"^def (test_\w+)\((\w+)\)", code, re.M)
    for name, arg in tests:  # a pytest example: call it with the emulator's URL
        code += f"\n{name}({arg}={base_url!r})\n"
    script = tmp_path / f"block{index}.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, TINKER_BASE_URL=base_url, TINKER_API_KEY="tml-readme")
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
