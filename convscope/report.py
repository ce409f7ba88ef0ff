"""The result of ``analyze``: rows, totals and uncounted ops, with ways to show them."""
from __future__ import annotations

from dataclasses import dataclass, field

from .analyses.rows import Row
from .analyses.totals import Totals
from .graph import Graph


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    totals: Totals
    uncounted: dict[str, int]
    graph: Graph = field(repr=False)
    model_name: str = ""
    dtype: str = "float32"

    @property
    def input_shapes(self) -> list[list[int]]:
        return [list(m.shape) for m in self.graph.inputs]

    def weight_layers(self) -> tuple[str, ...]:
        """The layers on the longest chain of weight layers (convs and matrix products with a
        weight) from the input to an output, by name: its length is the network's depth as
        papers count it (AlexNet 8, VGG16 16, GoogLeNet 22, ResNet-50 50)."""
        from .analyses.depth import layer_names, weight_layers

        return layer_names(self.graph, weight_layers(self.graph))

    def to_dict(self) -> dict:
        from .render.json import report_dict

        return report_dict(self)

    def to_json(self) -> str:
        from .render.json import render_json

        return render_json(self)

    def to_markdown(self) -> str:
        from .render.markdown import render_markdown

        return render_markdown(self)

    def to_csv(self) -> str:
        from .render.csv import render_csv

        return render_csv(self)

    def __str__(self) -> str:
        from .render.table import render_text

        return render_text(self)

    def _repr_html_(self) -> str:
        from .render.html import render_html

        return render_html(self)
