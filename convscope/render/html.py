"""An HTML table for Jupyter's ``_repr_html_``."""
from __future__ import annotations

from html import escape

from .cells import CONVENTION_NOTE, HEADERS, row_cells, total_lines


def render_html(report) -> str:
    show_rf = any(r.rf is not None for r in report.rows)
    headers = HEADERS if show_rf else HEADERS[:-1]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row_cells(r, "\u00a0\u00a0")[: len(headers)])
        + "</tr>" for r in report.rows
    )
    totals = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in total_lines(report))
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<ul>{totals}</ul><p><small>{escape(CONVENTION_NOTE)}</small></p>")
