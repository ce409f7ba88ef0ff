"""A GitHub-flavoured Markdown table and a totals list."""
from __future__ import annotations

from .cells import CONVENTION_NOTE, headers, row_cells, total_lines


def _line(cells) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(report) -> str:
    shown = headers(report)
    lines = [_line(shown), _line(["---"] * len(shown))]
    lines += [_line(row_cells(row, shown, indent="\u00a0\u00a0")) for row in report.rows]
    lines.append("")
    lines += [f"- **{label}**: {value}" for label, value in total_lines(report)]
    lines += ["", f"_{CONVENTION_NOTE}_", ""]
    return "\n".join(lines)
