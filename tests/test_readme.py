"""Every `$ convscope ...` example in the README runs, and prints what the README shows."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convscope.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```\n\$ (convscope [^\n]+)\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("command,shown", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example_runs_and_matches(command, shown):
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    expected_code = 2 if shown.startswith("error:") else 0
    assert result.exit_code == expected_code, result.output
    # the README's first lines appear in the output word for word (line wrapping aside)
    output = " ".join(result.output.split())
    for line in shown.splitlines()[:4]:
        assert " ".join(line.split()) in output, (line, result.output[:2000])
