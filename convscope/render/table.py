"""The terminal table (rich): indented names, human units, a totals footer."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from .cells import CONVENTION_NOTE, headers, row_cells, total_lines


def build_table(report) -> Table:
    title = f"{report.model_name}" if report.model_name else None
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    shown = headers(report)
    for i, header in enumerate(shown):
        table.add_column(header, justify="left" if i < 3 else "right", overflow="fold")
    for row in report.rows:
        table.add_row(*row_cells(row, shown))
    return table


def build_footer(report) -> Table:
    footer = Table.grid(padding=(0, 2))
    footer.add_column(style="bold")
    footer.add_column()
    for label, value in total_lines(report):
        footer.add_row(label, value)
    return footer


def print_report(report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(build_table(report))
    console.print(build_footer(report))
    console.print(CONVENTION_NOTE, style="dim")


def render_text(report, width: int = 120) -> str:
    """The table as plain text: fixed width, no colour (also used for golden tests)."""
    console = Console(width=width, record=True, color_system=None, force_terminal=False,
                      file=_Null())
    print_report(report, console)
    return console.export_text()


class _Null:
    def write(self, text):
        return len(text)

    def flush(self):
        pass
