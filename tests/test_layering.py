"""The pipeline points one way: model -> trace -> graph -> analyses -> renderers (STYLE.md, "Shape").

Every ``import`` in ``convscope/**/*.py`` is read with ``ast`` (nothing is imported, so a broken
module cannot hide a violation) and resolved to an absolute module name. Each layer has an
allow-list: the convscope modules it may import, and whether it may import torch. Imports inside
functions count (a lazy import is still a dependency), and so do imports under
``if TYPE_CHECKING:``: the rules are about what a reader of a layer has to know, not only about
what runs.

A violation names the file, the line and the import, and says how to fix it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "convscope"
SOURCE = Path(__file__).resolve().parents[1] / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # absolute name of what it imports: a module, or the module an attribute is in
    line: int

    def where(self) -> str:
        path = MODULES[self.module].relative_to(SOURCE.parent)
        return f"{path}:{self.line} imports {self.target}"


def _targets(module: str, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    # ``from . import units`` imports a module; ``from ..graph import Node`` an attribute of one
    names = [f"{base}.{a.name}" if base else a.name for a in node.names]
    return [name if name in MODULES else base for name in names]


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    return [Import(module, target, node.lineno)
            for node in ast.walk(tree) for target in _targets(module, node)]


def _within(target: str, module: str) -> bool:
    return target == module or target.startswith(module + ".")


@dataclass(frozen=True)
class Rule:
    """``layer`` (a module, or a package and everything in it) may import, of convscope, only the
    modules in ``allowed``; and torch only when ``torch`` is true. An allow-list, so a new
    top-level module that runs the tracer (``api``, ``memory``, ``probe``, ...) is off limits to
    the layers without being named here; ``import convscope`` itself (which imports ``api``) is
    off limits too."""

    layer: str
    allowed: tuple[str, ...]
    torch: bool
    why: str

    def modules(self) -> list[str]:
        return [m for m in MODULES if _within(m, self.layer)]

    def breaks(self, target: str) -> bool:
        if _within(target, "torch"):
            return not self.torch
        return _within(target, PACKAGE) and not any(_within(target, a) for a in self.allowed)

    def describe(self) -> str:
        allowed = ", ".join(self.allowed)
        return f"{self.layer} may import only {allowed}{'' if self.torch else ', and no torch'}"


RULES = [
    Rule("convscope.graph", ("convscope.graph",), torch=False,
         why="graph.py holds plain frozen records that anyone can read without torch; convert "
             "torch values to plain Python in trace/recorder.py before they reach a Node"),
    Rule("convscope.rules", ("convscope.rules", "convscope.graph", "convscope.errors"),
         torch=False,
         why="a cost rule is a pure function of a graph.Node: shapes and arguments are plain "
             "Python"),
    # No analysis runs torch, and none has an exception. A measurement that needs torch (the
    # receptive field measured from input gradients, convscope/receptive_field.py) lives
    # outside analyses/ and hands them plain records.
    Rule("convscope.analyses",
         ("convscope.analyses", "convscope.graph", "convscope.rules", "convscope.errors"),
         torch=False,
         why="analyses are pure functions Graph -> result; read the Graph (or a plain record "
             "the tracer produced), and leave formatting to render/: a renderer reads an "
             "analysis result, an analysis never calls a renderer"),
    Rule("convscope.render",
         ("convscope.render", "convscope.analyses", "convscope.graph", "convscope.errors"),
         torch=False,
         why="renderers turn a result into text and compute nothing; take what you need from "
             "the Report or the analysis result you are given, never from the tracer, the cost "
             "rules or the zoo"),
    Rule("convscope.trace",
         ("convscope.trace", "convscope.graph", "convscope.errors", "convscope.tensors"),
         torch=True,
         why="trace emits plain records and knows nothing of what later stages do with them"),
    Rule("convscope.train",
         ("convscope.train", "convscope.errors", "convscope.loading", "convscope.zoo",
          "convscope.probe", "convscope.trace.inputs", "convscope.trace.optimizers"), torch=True,
         why="training runs real torch on real data; it reuses model loading, the shape "
             "check (a meta trace) and the optimizer recipe the simulated step takes, never a "
             "renderer: progress is drawn by whoever passes a Progress (render/training.py for "
             "the CLI)"),
    Rule("convscope.show",
         ("convscope.show", "convscope.errors", "convscope.receptive_field",
          "convscope.analyses.field", "convscope.tensors"), torch=True,
         why="pictures take a model and an image tensor; loading runs and data is the "
             "command's job (cli/show.py), so show/ works on any nn.Module"),
    Rule("convscope.zoo", ("convscope.zoo", "convscope.errors"), torch=True,
         why="zoo builders return plain nn.Modules; convscope analyses them, not the other way "
             "round"),
]


@pytest.mark.parametrize("rule", RULES, ids=[r.layer for r in RULES])
def test_layer_imports_only_what_comes_before_it(rule):
    modules = rule.modules()
    assert modules, f"no module matches {rule.layer}: update RULES if it was renamed"
    bad = [imp.where() for m in modules for imp in imports_of(m) if rule.breaks(imp.target)]
    assert not bad, f"{rule.describe()}: {rule.why}.\n  " + "\n  ".join(bad)


def test_only_the_command_line_imports_the_command_line():
    bad = [imp.where() for m in MODULES if not _within(m, "convscope.cli")
           and m != "convscope.__main__" for imp in imports_of(m)
           if _within(imp.target, "convscope.cli")]
    assert not bad, ("convscope.cli wires the stages together; no stage may import it.\n  "
                     + "\n  ".join(bad))


def test_the_import_reader_resolves_relative_lazy_and_attribute_imports():
    # guards the rules above against passing because imports were not seen at all
    assert {"convscope.graph", "convscope.rules", "convscope.analyses.rows",
            "convscope.render.json"} <= set(MODULES)
    report = {i.target for i in imports_of("convscope.report")}
    assert {"convscope.render.json", "convscope.render.table",  # lazy, inside methods
            "convscope.analyses.rows", "convscope.graph"} <= report
    rules = {i.target for i in imports_of("convscope.rules")}
    assert {"convscope.graph", "convscope.rules.conv", "math"} <= rules
    assert {"torch", "convscope.graph"} <= {i.target for i in imports_of("convscope.trace")}
    render = next(r for r in RULES if r.layer == "convscope.render")
    assert render.breaks("torch.nn") and render.breaks("convscope.trace.inputs")
    assert render.breaks(PACKAGE)  # ``from convscope import analyze``: the public API
    assert not render.breaks("torchinfo") and not render.breaks("rich.table")
    assert not render.breaks("convscope.render.units")
