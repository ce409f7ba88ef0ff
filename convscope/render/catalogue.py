"""The `convscope zoo` table."""
from __future__ import annotations

import csv
import io
import json

from rich import box
from rich.table import Table

from . import units

HEADERS = ["Model", "Family", "Input", "Params", "MACs", "Layers", "Description"]
NUMBERS = ("Params", "MACs", "Layers")  # right-aligned


def _cells(entry) -> list[str]:
    return [entry.name, entry.family, "x".join(map(str, entry.input_size)), f"{entry.params:,}",
            units.count(entry.macs), str(entry.depth), entry.summary]


def _raw(entry) -> dict:
    return {"name": entry.name, "family": entry.family, "input_size": list(entry.input_size),
            "params": entry.params, "macs": entry.macs, "summary": entry.summary,
            "weight_layers": entry.depth}


def render_catalogue(entries, fmt: str, console) -> None:
    if fmt == "json":
        console.file.write(json.dumps([_raw(e) for e in entries], indent=2) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(_raw(entries[0])), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**_raw(e), "input_size": "x".join(map(str, e.input_size))}
                         for e in entries)
        console.file.write(buffer.getvalue())
    elif fmt == "markdown":
        lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        lines += ["| " + " | ".join(_cells(e)) + " |" for e in entries]
        console.file.write("\n".join(lines) + "\n")
    else:
        rows = [_cells(e) for e in entries]
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for i, header in enumerate(HEADERS):
            fixed = header != "Description"  # only the description gives way on narrow screens
            table.add_column(header, justify="right" if header in NUMBERS else "left",
                             no_wrap=True, overflow="ellipsis",
                             min_width=max(len(header), *(len(r[i]) for r in rows))
                             if fixed else None)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        console.print("MACs at the default input, batch 1; convolutions and matrix products, "
                      "bias excluded. Layers: convs and Linears on the longest path, as papers "
                      "count depth.", style="dim")
