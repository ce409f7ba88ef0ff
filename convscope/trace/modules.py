"""Which module is running: a stack of module calls kept by global forward hooks."""
from __future__ import annotations

import torch
from torch import nn


class ModuleStack:
    """Pushes a call record when a known module's forward starts, pops it when it returns.

    ``calls`` keeps every call in order, as the keyword arguments of ``graph.ModuleCall``.
    """

    def __init__(self, modules: tuple[tuple[str, nn.Module], ...], on_output, node_count):
        """``modules``: the model's ``named_modules()``, as ``state.walk`` found them."""
        self.names = {}
        self._leaf = {}
        for name, module in modules:
            self.names.setdefault(id(module), name)
            self._leaf[id(module)] = all(m is None for m in module._modules.values())
        self.calls: list[dict] = []
        self.stack: list[int] = []
        self._call_counts: dict[int, int] = {}
        self._on_output = on_output
        self._node_count = node_count
        self._handles = []

    def reset(self) -> None:
        """Forget every call, as if no forward had run yet."""
        self.calls.clear()
        self.stack.clear()
        self._call_counts.clear()

    @property
    def current(self) -> int | None:
        return self.stack[-1] if self.stack else None

    def current_name(self) -> str:
        return self.calls[self.current]["name"] if self.stack else ""

    def __enter__(self):
        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(self._pre),
            nn.modules.module.register_module_forward_hook(self._post),
        ]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        # the callbacks reach the recorder, which holds this stack: dropped, so that no cycle
        # leaves the recorder and every tensor it kept to the garbage collector
        self._on_output = self._node_count = None

    def _pre(self, module, args):
        key = id(module)
        if key not in self.names:
            return
        number = self._call_counts.get(key, 0)
        self._call_counts[key] = number + 1
        self.calls.append({
            "name": self.names[key],
            "type": type(module).__name__,
            "parent": self.current,
            "is_leaf": self._leaf[key],
            "call_number": number,
            "first_node": self._node_count(),
            "output": None,
        })
        self.stack.append(len(self.calls) - 1)

    def _post(self, module, args, output):
        if id(module) not in self.names or not self.stack:
            return
        index = self.stack.pop()
        self.calls[index]["output"] = self._on_output(output)


def flat_tensors(value) -> list[torch.Tensor]:
    """The tensors inside a module's output, in order (tuples, lists, dicts, dataclasses)."""
    if type(value) is torch.Tensor:  # most modules: no tree to walk
        return [value]
    leaves, _ = torch.utils._pytree.tree_flatten(value)
    return [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
