"""An evaluation as text: accuracy, a per-class table and the confusion matrix."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .training import percent


def print_evaluation(result, title: str, console: Console) -> None:
    console.print(f"{title}: accuracy {percent(result.accuracy)} "
                  f"({int(result.confusion.diagonal().sum())}/{result.samples}), "
                  f"loss {result.loss:.4f}", markup=False)
    per_class = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title="per class")
    for header in ("class", "samples", "accuracy"):
        per_class.add_column(header, justify="left" if header == "class" else "right")
    for name, samples, accuracy in result.per_class:
        # Text: a class folder's name is printed as it is, "[old]" in it not read as a style
        per_class.add_row(Text(name), str(samples), "-" if samples == 0 else percent(accuracy))
    console.print(per_class)
    console.print(confusion_table(result))


def confusion_table(result) -> Table:
    """Rows: true class; columns: predicted class."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("true \\ predicted", justify="left")
    for name in result.classes:
        table.add_column(Text(name), justify="right")
    for name, counts in zip(result.classes, result.confusion.tolist()):
        table.add_row(Text(name), *[str(c) if c else "." for c in counts])
    return table
