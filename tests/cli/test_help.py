"""Every command's --help keeps its Examples one per line, as written (click rewraps paragraphs
unless told not to), and every option it lists is named in the README or docs/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
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


def test_every_option_is_named_in_the_readme_or_docs():
    """An option only --help knows of is one a reader of the docs never meets; an option renamed
    in the code leaves the docs naming one that is gone (the reverse check is each doc's examples,
    run by tests/test_readme.py and the tests of each command)."""
    root = Path(__file__).resolve().parents[2]
    docs = "".join(p.read_text() for p in [root / "README.md", *sorted(root.glob("docs/*.md"))])
    missing = {}
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:
            flags = [f for f in [*param.opts, *param.secondary_opts] if f.startswith("--")]
            if flags and "--help" not in flags and not any(
                    re.search(re.escape(f) + r"(?![\w-])", docs) for f in flags):
                missing.setdefault(name, []).append("/".join(flags))
    assert missing == {}, "name these options in README.md or docs/*.md"
