"""Renderers: turn a result into text, Markdown, CSV, JSON or HTML. They compute nothing."""
