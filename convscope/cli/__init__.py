"""The command line: one module per command, each only wiring loading, analyses and renderers.

Add a command by adding a module that registers on ``app`` and importing it below.
"""
from . import calc, evaluate, explain, memory, rf, show, sizes, summary, train, zoo  # noqa: F401  (each registers its command on the app)
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
