"""The ``convscope rf`` table: per layer size, stride, padding, centre, fit and alignment.

The wording of one field (``212 s32``, ``7x1 s1``, ``global``, ``~`` for an estimate,
``misaligned``, ``?``) and its JSON object are ``Field.short()`` and ``Field.to_dict()`` (they are
what the summary's RF column and JSON ``rf`` show); this module lays them out per layer.
"""
from __future__ import annotations

import json

from . import units

RF_SCHEMA = "convscope.rf/1"
RF_HEADERS = ["Layer", "Type", "Output shape", "RF", "Stride", "Padding", "Centre", "> input",
              "Aligned"]
LEGEND = ("Per axis (height x width when they differ): unit u sees input positions u*S - P ... "
          "u*S - P + r - 1, centred at u*S - P + (r - 1)/2. global: every unit sees the whole "
          "input; ~: an estimate (fractional or uneven strides); misaligned: paths with different "
          "strides or centres were merged and the union is shown; ?: not followed.")


def _aligned(field) -> str:
    return "yes" if field.aligned else "misaligned"


def rf_cells(row, indent: str = "  ") -> list[str]:
    base = [indent * max(row.depth - 1, 0) + row.name, row.type, units.shape(row.output_shape)]
    field = row.rf
    if field is None:
        return base + ["-"] * 6
    if not field.known:
        return base + ["?"] * 5 + [_aligned(field)]
    if field.is_global:
        return base + ["global", "-", "-", "-", "-", _aligned(field)]
    size = ("" if field.exact else "~") + field.column("size")
    exceeds = [("yes" if e else "no") for e in field.exceeds_input]
    return base + [size, field.column("stride"), field.column("padding"), field.column("centre"),
                   exceeds[0] if len(set(exceeds)) == 1 else "x".join(exceeds), _aligned(field)]


def rf_notes(report, fields) -> list[tuple[str, str]]:
    """Footer lines: the input, the widest field, and every op assumed or not followed."""
    lines = [("Input shape", ", ".join(units.shape(s) for s in report.input_shapes))]
    if fields.input_size is None:
        return lines + [("Receptive field", "no input has spatial dims (C x H x W or C x L)")]
    local = [r for r in report.rows if r.rf is not None and r.rf.known and not r.rf.is_global]
    if local:
        # the widest side first, then the others; on a full tie the layer that made the field
        widest = max(local, key=lambda r: sorted((a.size for a in r.rf.axes), reverse=True))
        lines.append(("Widest local field", f"{widest.rf.short()} at {widest.name}"))
    if fields.assumed:
        lines.append(("Assumed elementwise", _ops(fields.assumed)))
    if fields.unknown:
        lines.append(("Not followed", _ops(fields.unknown)))
    return lines


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items()))


def print_rf(report, fields, console) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=report.model_name or None, box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False)
    for i, header in enumerate(RF_HEADERS):
        table.add_column(header, justify="left" if i < 3 else "right", overflow="fold")
    for row in report.rows:
        table.add_row(*rf_cells(row))
    footer = Table.grid(padding=(0, 2))
    footer.add_column(style="bold")
    footer.add_column()
    for label, value in rf_notes(report, fields):
        footer.add_row(label, value)
    console.print(table)
    console.print(footer)
    console.print(LEGEND, style="dim")


def render_rf_markdown(report, fields) -> str:
    lines = ["| " + " | ".join(RF_HEADERS) + " |", "|" + "---|" * len(RF_HEADERS)]
    lines += ["| " + " | ".join(rf_cells(r, indent="")) + " |" for r in report.rows]
    lines += ["", *(f"- {label}: {value}" for label, value in rf_notes(report, fields)), "",
              LEGEND]
    return "\n".join(lines) + "\n"


def render_rf_json(report, fields) -> str:
    return json.dumps({
        "schema": RF_SCHEMA,
        "model": report.model_name,
        "input_shapes": report.input_shapes,
        "rows": [{"name": r.name, "type": r.type, "depth": r.depth, "kind": r.kind,
                  "output_shape": r.output_shape,
                  "rf": None if r.rf is None else r.rf.to_dict()} for r in report.rows],
        "assumed_elementwise": dict(sorted(fields.assumed.items())),
        "not_followed": dict(sorted(fields.unknown.items())),
    }, indent=2) + "\n"
