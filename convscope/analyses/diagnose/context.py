"""What a message may quote besides the failure: the layer as it was built, the parameters'
dtypes, the input shapes given, and the smallest input that works (found only when asked for).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..validate import dims


@dataclass(frozen=True)
class Context:
    model: object
    input_shapes: list
    smallest: Callable | None
    one_input: bool = False  # the caller feeds one tensor (training), not a shape per argument

    def module(self, name: str):
        """The module of that qualified name ("" is the model), or None."""
        return dict(self.model.named_modules()).get(name) if self.model is not None else None

    def built(self, name) -> str:
        """The layer as it was built: ``Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))``."""
        module = self.module(name) if name is not None else None
        return repr(module).split("\n")[0] if module is not None else ""

    def dtypes(self, layer: str | None) -> list[str]:
        """The floating dtypes of the parameters of ``layer`` (None: of the whole model)."""
        module = self.module(layer if layer is not None else "")
        found = {str(p.dtype).removeprefix("torch.") for p in module.parameters()
                 if p.is_floating_point()} if module is not None else set()
        return sorted(found)

    def smallest_text(self) -> str:
        found = self.smallest() if self.smallest is not None else None
        return f"the smallest input that works is {dims(found)}" if found else (
            "no square input (side x side) up to 4096 works; the size this layer needs may not "
            "be square")
