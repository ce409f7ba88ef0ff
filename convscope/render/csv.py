"""One CSV line per row, raw numbers (no units), for spreadsheets."""
from __future__ import annotations

import csv
import io

from .json import row_dict

COLUMNS = ["name", "type", "depth", "output_shape", "params", "trainable_params", "macs",
           "other_flops", "flops", "output_bytes"]


def render_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        data = row_dict(row)
        writer.writerow([" ".join(map(str, data[c])) if c == "output_shape" else data[c]
                         for c in COLUMNS])
    return buffer.getvalue()
