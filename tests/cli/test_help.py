"""Every command's --help keeps its Examples one per line, as written (click rewraps paragraphs
unless told not to)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from convscope.cli import app

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]


def test_every_command_is_listed():
    assert {"summary", "zoo", "explain", "memory", "rf", "train", "evaluate", "show"} <= set(
        COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_each_example_on_its_own_line(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("  Examples:")
    block = lines[start + 1:lines.index("", start)]
    examples = [line.strip() for line in block]
    assert examples and all(e.split()[0] in ("convscope", "torchrun") for e in examples)
    assert all(e.count("convscope ") == 1 for e in examples), examples
