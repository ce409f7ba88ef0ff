"""One CSV line per row, raw numbers (no units), for spreadsheets."""
from __future__ import annotations

import csv
import io

from .json import row_dict

# saved_bytes last: added with the training-memory column of the table (empty when not computed)
COLUMNS = ["name", "type", "depth", "output_shape", "params", "trainable_params", "macs",
           "other_flops", "flops", "output_bytes", "saved_bytes"]


def _shape(row) -> str:
    """``64 1 28 28``; several outputs ``64 4 14 14; 64 4 14 14``."""
    shapes = [list(s) for s in row.output_shapes]
    return "; ".join(" ".join(map(str, s)) for s in shapes)


def render_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        data = row_dict(row)
        writer.writerow([_shape(row) if c == "output_shape" else
                         "" if data[c] is None else data[c] for c in COLUMNS])
    return buffer.getvalue()
