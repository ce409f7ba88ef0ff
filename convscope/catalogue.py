"""The zoo as a table: every model analysed at its default input (built on the meta device)."""
from __future__ import annotations

from dataclasses import dataclass

from . import zoo
from .api import analyze


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    input_size: tuple[int, ...]
    params: int
    macs: int
    summary: str
    depth: int  # weight layers on the longest path, as the papers count it (``analyses.depth``)


def catalogue(pattern: str = "*") -> list[Entry]:
    entries = []
    for name in zoo.names(pattern):
        info = zoo.info(name)
        with zoo.shapes_only():  # shapes are all we need
            model = zoo.create(name)
        report = analyze(model, info.input_size)
        entries.append(Entry(name, info.family, info.input_size, report.totals.params,
                             report.totals.macs, info.summary, len(report.weight_layers())))
    return entries
