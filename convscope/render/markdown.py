"""A GitHub-flavoured Markdown table and a totals list."""
from __future__ import annotations

from .cells import CONVENTION_NOTE, HEADERS, row_cells, total_lines


def _line(cells) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(report) -> str:
    show_rf = any(r.rf is not None for r in report.rows)
    headers = HEADERS if show_rf else HEADERS[:-1]
    lines = [_line(headers), _line(["---"] * len(headers))]
    lines += [_line(row_cells(row, indent="\u00a0\u00a0")[: len(headers)]) for row in report.rows]
    lines.append("")
    lines += [f"- **{label}**: {value}" for label, value in total_lines(report)]
    lines += ["", f"_{CONVENTION_NOTE}_", ""]
    return "\n".join(lines)
