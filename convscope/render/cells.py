"""The cells every human-readable renderer shows, as strings: one place decides the wording."""
from __future__ import annotations

from ..analyses.totals import unused_params
from . import units

CONVENTION_NOTE = ("MACs: multiply-accumulates of convolutions and matrix products, bias "
                   "excluded. FLOPs = 2 x MACs + other FLOPs (bias, norm, pooling, activations). "
                   "Memory in KiB/MiB/GiB (1024-based), counts in K/M/G (1000-based).")


def params_cell(row) -> str:
    """``1,168``; ``224 (frozen)`` when none train; ``1,408 (224 frozen)`` when some do not."""
    if row.shared:
        return "(shared)"
    if not row.params:
        return "-"
    if row.frozen_params == row.params:
        return f"{row.params:,} (frozen)"
    if row.frozen_params:
        return f"{row.params:,} ({row.frozen_params:,} frozen)"
    return f"{row.params:,}"


def rf_cell(row) -> str:
    return row.rf.short() if hasattr(row.rf, "short") else ""


def _name(row, indent: str) -> str:
    return indent * max(row.depth - 1, 0) + row.name


COLUMNS = [
    ("Layer", None),
    ("Type", lambda row: row.type),
    ("Output shape", lambda row: units.shape(row.output_shape)),
    ("Params", params_cell),
    ("MACs", lambda row: units.count(row.macs) if row.macs else "-"),
    ("Output memory", lambda row: units.nbytes(row.output_bytes)),
    ("Saved for backward", lambda row: units.nbytes(row.saved_bytes) if row.saved_bytes else "-"),
    ("RF", rf_cell),
]


def headers(report) -> list[str]:
    """The columns this report fills: the saved-bytes and RF columns only when computed."""
    shown = []
    for header, _ in COLUMNS:
        if header == "RF" and all(r.rf is None for r in report.rows):
            continue
        if header == "Saved for backward" and all(r.saved_bytes is None for r in report.rows):
            continue
        shown.append(header)
    return shown


def row_cells(row, shown: list[str], indent: str = "  ") -> list[str]:
    cells = dict(COLUMNS)
    return [_name(row, indent) if h == "Layer" else cells[h](row) for h in shown]


def total_lines(report) -> list[tuple[str, str]]:
    t = report.totals
    lines = [
        ("Input shape", ", ".join(units.shape(s) for s in report.input_shapes)),
        ("Total params", f"{t.params:,} ({units.count(t.params)})"),
        ("Trainable params", f"{t.trainable_params:,}"),
        ("Non-trainable params", f"{t.non_trainable_params:,}"),
        ("MACs", f"{t.macs:,} ({units.count(t.macs)})"),
        ("FLOPs", f"{t.flops:,} ({units.count(t.flops)}), other FLOPs {units.count(t.other_flops)}"),
        ("Input size", units.nbytes(t.input_bytes)),
        ("Forward activations", units.nbytes(t.activation_bytes)),
        ("Params size", units.nbytes(t.param_bytes)),
        ("Buffers size", units.nbytes(t.buffer_bytes)),
        ("Estimated total size", units.nbytes(t.total_bytes)),
    ]
    count, owners = unused_params(report.graph)
    if count:
        named = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
        lines.insert(4, ("Unused params", f"{count:,} of {named}: in Total params, read by no op "
                                          "of this forward"))
    if t.train_peak_bytes is not None:
        lines.append(("Training step peak", units.nbytes(t.train_peak_bytes)))
    if report.uncounted:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(report.uncounted.items()))
        lines.append(("Not counted", listed))
    return lines
