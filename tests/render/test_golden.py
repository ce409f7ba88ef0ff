"""Golden output of the renderers: text table, Markdown, CSV and JSON, compared exactly to files.

Each case below is rendered in every format and compared character for character with
``tests/render/golden/<case>.<ext>``. The text table is ``str(report)``: width 120, no colour.

When a change to the output is intended (a new column such as ``RF``, new JSON keys such as
``rf`` values or ``saved_bytes``, a rich upgrade that redraws the table), rewrite every golden
file in one go and review the diff as part of the change:

    CONVSCOPE_UPDATE_GOLDEN=1 python -m pytest -q tests/render/test_golden.py
    git diff tests/render/golden/

The text files keep the trailing spaces rich pads its lines with: do not let an editor strip them.
"""
from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest

import convscope
from convscope import Report, zoo
from tests.nets import Residual

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "json-schema.md"
UPDATE = os.environ.get("CONVSCOPE_UPDATE_GOLDEN") == "1"
HOW_TO_UPDATE = "CONVSCOPE_UPDATE_GOLDEN=1 python -m pytest -q tests/render/test_golden.py"

CASES = {
    # the fastai book's stride-2 MNIST CNN on a batch of 64: nested Sequentials, depth 2
    "simple_cnn": lambda: convscope.analyze(zoo.create("simple_cnn"), (1, 28, 28), batch_size=64),
    # two residual blocks folded at depth 1: a folded stem, functional add/relu/mean/view rows
    "residual_depth1": lambda: convscope.analyze(Residual(), (3, 32, 32), depth=1),
}
FORMATS = {"txt": str, "md": Report.to_markdown, "csv": Report.to_csv, "json": Report.to_json}


@functools.cache
def report(case: str) -> Report:
    return CASES[case]()


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_output_equals_golden_file(case, ext):
    text = FORMATS[ext](report(case))
    path = GOLDEN / f"{case}.{ext}"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, newline="")
    assert path.exists(), f"no golden file {path}; create it with {HOW_TO_UPDATE}"
    expected = path.read_text()  # universal newlines: a CRLF checkout still compares equal
    assert text == expected, (
        f"{case} as {ext} differs from {path.name}. If the change is intended, run "
        f"{HOW_TO_UPDATE} and review `git diff tests/render/golden/`."
    )


def test_text_table_has_no_colour_codes_and_fits_120_columns():
    for case in CASES:
        text = str(report(case))
        assert "\x1b[" not in text
        assert max(len(line) for line in text.splitlines()) <= 120


def _keys(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            found.add(key)
            _keys(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _keys(inner, found)
    return found


def test_every_json_key_is_documented_in_docs_json_schema():
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    for case in CASES:
        data = report(case).to_dict()
        keys = _keys({k: v for k, v in data.items() if k != "uncounted"}, set())
        assert keys - documented == set(), f"document these keys in {DOCS.name}"
        assert json.loads(report(case).to_json()) == data
