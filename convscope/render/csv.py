"""One CSV line per row, raw numbers (no units), for spreadsheets."""
from __future__ import annotations

import csv
import io

from ..analyses.costs import uncounted_among
from .json import row_dict

# saved_bytes: added with the training-memory column of the table (empty when not computed);
# uncounted: the row's ops convscope has no rule for ("aten.cumsum.default x1"),
# which the other formats list under the table: a 0 in flops is then no count
COLUMNS = ["name", "type", "depth", "output_shape", "params", "trainable_params", "macs",
           "other_flops", "flops", "output_bytes", "saved_bytes", "uncounted"]


def _shape(row) -> str:
    """``64 1 28 28``; several outputs ``64 4 14 14; 64 4 14 14``."""
    shapes = [list(s) for s in row.output_shapes]
    return "; ".join(" ".join(map(str, s)) for s in shapes)


def _uncounted(report, row) -> str:
    ops = uncounted_among(report.graph, row.nodes) if report.uncounted else {}
    return "; ".join(f"{op} x{n}" for op, n in sorted(ops.items()))


def render_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        data = row_dict(row) | {"uncounted": _uncounted(report, row)}
        writer.writerow([_shape(row) if c == "output_shape" else
                         "" if data[c] is None else data[c] for c in COLUMNS])
    return buffer.getvalue()
