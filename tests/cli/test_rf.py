"""`convscope rf` from the command line, and the RF column of `convscope summary`."""
from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convscope.cli import app
from convscope.cli.rf import rf as rf_command

runner = CliRunner()
DOC = Path(__file__).resolve().parents[2] / "docs" / "receptive-field.md"


def invoke(*args):
    return runner.invoke(app, list(args))


def test_rf_table_of_resnet18():
    result = invoke("rf", "zoo:resnet18")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    assert header.split() == ["Layer", "Type", "Output", "shape", "RF", "Stride", "Padding",
                              "Centre", ">", "input", "Aligned"]
    cells = {line.split()[0]: line.split() for line in lines if line.strip()}
    # conv1 7x7/2 pad 3: r 7, S 2, P 3, centred on 0; the stem's 3x3/2 pool: 7 + 2*2 = 11
    assert cells["conv1"][-6:] == ["7", "2", "3", "0", "no", "yes"]
    assert cells["maxpool"][-6:] == ["11", "4", "5", "0", "no", "yes"]
    assert cells["fc"][-6:] == ["global", "-", "-", "-", "-", "yes"]
    assert re.search(r"Widest local field\s+435 s32 at layer4\.1\.conv2", result.stdout)


def test_rf_json_of_one_layer():
    result = invoke("rf", "zoo:vgg16", "--layer", "features.30", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "convscope.rf/1" and len(data["rows"]) == 1
    field = data["rows"][0]["rf"]
    assert (field["size"], field["stride"], field["padding"]) == ([212, 212], [32, 32], [90, 90])
    assert field["aligned"] and field["exact"] and not field["global"]
    assert data["not_followed"] == {} and data["assumed_elementwise"] == {}


def test_rf_layer_that_is_a_module_without_a_row_is_folded_into_one():
    result = invoke("rf", "zoo:resnet18", "--layer", "layer3", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("| Layer | Type | Output shape | RF |")
    assert "| layer3 | Sequential | [1, 256, 14, 14] | 211 | 16 | 105 | 0 | no | yes |" in (
        result.stdout)


@pytest.mark.parametrize("args,words", [
    (["rf", "zoo:resnet18", "--layer", "layr3"], ["'layr3'", "Did you mean", "layer3"]),
    (["rf", "zoo:resnet18", "--format", "csv"], ["--format 'csv'", "table, markdown, json"]),
])
def test_rf_usage_errors_exit_2_and_teach(args, words):
    result = invoke(*args)
    assert result.exit_code == 2
    assert all(w in result.output for w in words), result.output


def test_rf_reports_misaligned_paths_and_ops_it_does_not_follow(tmp_path):
    source = tmp_path / "paths.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        import torch.nn.functional as F

        class Paths(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(1, 2, 2, stride=2)
                self.b = nn.Conv2d(1, 2, 3, stride=2, padding=1)

            def forward(self, x):
                y = self.a(x) + self.b(x)  # centres half a step apart
                return torch.flip(y, [3])
    """))
    result = invoke("rf", f"{source}:Paths", "--input", "1x16x16", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["name"]: r["rf"] for r in data["rows"]}
    # a: [0, 1] at unit 0, centre 0.5; b: [-1, 1], centre 0: misaligned, union [-1, 1]
    assert rows["add"]["aligned"] is False and rows["add"]["size"] == [3, 3]
    assert rows["flip"]["known"] is False
    assert data["not_followed"] == {"aten.flip.default": 1}


def test_summary_shows_the_rf_column():
    result = invoke("summary", "zoo:simple_cnn", "--input", "1x28x28", "--no-memory")
    assert result.exit_code == 0, result.output
    assert re.search(r"Output memory\s+RF", result.stdout)
    assert re.search(r"1\.0\s+Conv2d.*\s7 s4\n", result.stdout)  # seed 003: 3 + 2*2
    data = json.loads(invoke("summary", "zoo:simple_cnn", "--input", "1x28x28", "--no-memory",
                             "--format", "json").stdout)
    assert data["rows"][0]["rf"]["size"] == [3, 3] and data["rows"][-1]["rf"]["global"]


def _examples(text: str) -> list[list[str]]:
    commands = re.findall(r"^\s*convscope (rf zoo:[^\n]*)$", text, flags=re.M)
    assert commands
    return [shlex.split(c) for c in commands]


@pytest.mark.parametrize("args", _examples(rf_command.__doc__) + _examples(DOC.read_text()),
                         ids=" ".join)
def test_every_documented_example_runs(args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output


def test_every_key_of_the_rf_json_is_documented_in_its_section_of_docs_json_schema():
    # the convscope.rf/1 object (schema, rows, assumed_elementwise, not_followed) was documented
    # nowhere; a script reading it could not tell what the two op tables mean
    text = (Path(__file__).resolve().parents[2] / "docs" / "json-schema.md").read_text()
    section = text[text.index("schema `convscope.rf/1`"):text.index("## CSV")]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    data = json.loads(invoke("rf", "zoo:simple_cnn", "--format", "json").stdout)
    keys = set(data) | {k for row in data["rows"] for k in row}
    assert keys - documented == set()
    assert data["schema"] == "convscope.rf/1"


def test_the_widest_field_on_a_tie_of_the_widest_side_is_the_one_wider_on_the_other(tmp_path):
    # 1x5 then 3x5: both 5 wide, and the first was named
    source = tmp_path / "tie.py"
    source.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential("
                      "nn.Conv2d(1, 1, (1, 5)), nn.Conv2d(1, 1, (3, 1)), nn.ReLU())\n")
    result = invoke("rf", f"{source}:build", "--input", "1x16x16")
    assert result.exit_code == 0, result.output
    # the ReLU sees what the second conv sees: on a full tie, the layer that made the field
    assert re.search(r"Widest local field\s+3x5 s1 at 1\s*\n", result.stdout)
