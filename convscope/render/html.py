"""An HTML table for Jupyter's ``_repr_html_``."""
from __future__ import annotations

from html import escape

from .cells import CONVENTION_NOTE, headers, row_cells, total_lines


def render_html(report) -> str:
    shown = headers(report)
    head = "".join(f"<th>{escape(h)}</th>" for h in shown)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row_cells(r, shown, "\u00a0\u00a0"))
        + "</tr>" for r in report.rows
    )
    totals = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in total_lines(report))
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<ul>{totals}</ul><p><small>{escape(CONVENTION_NOTE)}</small></p>")
