"""Which module is running: a stack of module calls, kept by wrapping each module's forward.

Each known module gets, for the duration of the trace, an instance attribute ``forward`` that
pushes a call record, runs the class's forward and pops it. ``nn.Module.__call__`` looks
``forward`` up on the instance, so every call through it is seen, and so is a direct
``.forward()`` call. Global forward hooks would see the same calls, but registering any hook
sends every module call down PyTorch's slow path: ~3-5 ms a trace on a few hundred modules.
A module's own hooks still run, outside the call: ops they run count for the caller, and what a
forward hook returns is the call's output (``_see_hooked_output``).
"""
from __future__ import annotations

from torch import nn

from .lowering import NOT_LOWERED, lowered_forward


OUTPUT = 6  # where a call record keeps the refs of its outputs


class ModuleStack:
    """Pushes a call record when a known module's forward starts, pops it when it returns.

    ``calls`` keeps every call in order, each as a list of ``graph.ModuleCall``'s fields after
    its index, in order (name, type, parent, is_leaf, call_number, first_node), then the refs
    of its outputs (None until it returns): the graph makes each call in one step from it.
    """

    def __init__(self, modules: tuple[tuple[str, nn.Module], ...]):
        """``modules``: the model's ``named_modules()``, as ``state.walk`` found them."""
        self.modules = modules
        self.calls: list[list] = []
        self.stack: list[int] = []
        self._call_counts: dict[int, int] = {}
        self._on_output = self._node_count = self._record = None
        self._wrapped: list[tuple[nn.Module, object]] = []
        self._hooks: list = []  # handles of the hooks ``_see_hooked_output`` added
        # (call index, refs of its tensor arguments) of the innermost call that raised
        self.failed: tuple[int, tuple] | None = None

    def attach(self, on_output, node_count, record=None) -> None:
        """What the recorder answers, once it exists (it needs this stack to be made):
        ``on_output(value)``, the refs of a call's output; ``node_count()``, the ops so far;
        ``record``, given only where leaf modules may be lowered: the entry through which
        ``lowering.lowered_forward`` records their ops without running their forward."""
        self._on_output, self._node_count, self._record = on_output, node_count, record

    @property
    def current(self) -> int | None:
        return self.stack[-1] if self.stack else None

    def __enter__(self):
        try:
            for name, module in self.modules:
                self._wrap(name, module)
        except BaseException:
            self._unwrap()
            raise
        return self

    def __exit__(self, *exc):
        self._unwrap()
        # the callbacks reach the recorder, which holds this stack: dropped, so that no cycle
        # leaves the recorder and every tensor it kept to the garbage collector
        self._on_output = self._node_count = self._record = None

    def _wrap(self, name: str, module: nn.Module) -> None:
        # a forward set on the instance (a ScriptModule's compiled one) is wrapped, and put back
        own = module.__dict__.get("forward")
        forward = own if own is not None else module.forward
        key, kind = id(module), type(module).__name__
        children = module._modules
        leaf = not children or all(m is None for m in children.values())
        calls, stack, counts = self.calls, self.stack, self._call_counts
        # None also for a module with a forward of its own, as lowered_forward checks
        lowered = lowered_forward(module, self._record) if self._record is not None else None

        def traced_forward(*args, **kwargs):
            number = counts.get(key, 0)
            counts[key] = number + 1
            calls.append([name, kind, stack[-1] if stack else None, leaf, number,
                          self._node_count(), None])
            stack.append(len(calls) - 1)
            try:  # free in Python 3.11 while nothing raises
                output = NOT_LOWERED
                if lowered is not None and len(args) == 1 and not kwargs:
                    output = lowered(args[0])
                if output is NOT_LOWERED:
                    output = forward(*args, **kwargs)
            except Exception:
                self._failed(args)
                raise
            calls[stack.pop()][OUTPUT] = self._on_output(output)
            return output

        traced_forward.__wrapped__ = forward  # inspect.signature(module.forward) still reads it
        self._wrapped.append((module, own))
        module.__dict__["forward"] = traced_forward
        if module._forward_hooks:
            self._see_hooked_output(name, module)

    def _failed(self, args) -> None:
        """Keep the tensor arguments of the innermost call that raised (the first to see the
        exception): a check that fails before any op is dispatched (``F.max_pool1d`` checks its
        output size first) leaves no failing op whose arguments name the layer's input."""
        if self.failed is None and self.stack and self._on_output is not None:
            self.failed = (self.stack[-1], self._on_output(args))

    def _see_hooked_output(self, name: str, module: nn.Module) -> None:
        """A module with forward hooks of its own: they run after its forward and may replace
        its output. One more hook, run last, records what the caller really gets. Only such
        modules get it: a hook on every module would send each call down PyTorch's slow path."""
        calls = self.calls

        def hooked_output(_, args, output):
            latest = next(i for i in reversed(range(len(calls))) if calls[i][0] == name)
            calls[latest][OUTPUT] = self._on_output(output)

        self._hooks.append(module.register_forward_hook(hooked_output))

    def _unwrap(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        for module, own in reversed(self._wrapped):
            if own is None:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = own
        self._wrapped.clear()
