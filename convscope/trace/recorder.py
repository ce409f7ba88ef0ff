"""The dispatch-level recorder: sees every aten op and writes one ``Node`` per op."""
from __future__ import annotations

import functools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..graph import Node, Ref, TensorMeta
from ..tensors import flat_tensors
from .fastpaths import run_kernel, run_op
from .overlap import refuse_shared_writes


_SCALARS = frozenset({int, float, bool, str, type(None)})
_Tensor = torch.Tensor


@functools.cache  # a handful of values, met by every op that makes a tensor
def _text(value) -> str:
    return str(value).removeprefix("torch.")


@functools.lru_cache(maxsize=4096)  # most ops of a network repeat a few (shape, dtype) pairs
def _meta_of(shape: torch.Size, dtype: torch.dtype) -> TensorMeta:
    return TensorMeta(tuple(shape), _text(dtype), dtype.itemsize)


def tensor_meta(t: torch.Tensor) -> TensorMeta:
    return _meta_of(t.shape, t.dtype)


def _plain(value):
    """A torch value as plain Python: dtypes, devices and layouts become strings."""
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return _text(value)
    return value


# ops whose output shares its argument's storage though their schemas do not say so: reshape's
# view of a tensor nothing else holds (a matmul of a 3-D input, a transposed tensor's reshape)
_UNANNOTATED_VIEWS = frozenset({"aten._unsafe_view.default"})

# id(op overload) -> (name, in place, view, the overload): OpOverload hashes in Python (~0.4 us
# a lookup), its id does not; the overload is kept in the entry so its id stays its own
_KINDS: dict[int, tuple[str, bool, bool, object]] = {}


def _op_kind(func) -> tuple[str, bool, bool, object]:
    """(name, writes in place into an argument, returns a view of an argument, func), from the
    op's schema: the same for every call of the op, so worked out once per process."""
    found = _KINDS.get(id(func))
    if found is None:
        schema = func._schema
        inplace = any(a.alias_info is not None and a.alias_info.is_write
                      for a in schema.arguments)
        name = str(func)
        view = not inplace and (any(r.alias_info is not None for r in schema.returns)
                                or name in _UNANNOTATED_VIEWS)
        found = _KINDS[id(func)] = (name, inplace, view, func)
    return found


class EagerMode(TorchDispatchMode):
    """A dispatch mode that never runs under torch.compile. PyTorch wraps a mode's
    ``__torch_dispatch__`` in a guard that keeps torch.compile out of it, ~8 us an op once
    TorchDynamo is imported (the optimizer and ``backward`` import it), unless the mode opts out."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


class Recorder(EagerMode):
    """Runs each op, then records it with references to the ops that produced its inputs.

    Tensor identity is ``id()``: every tensor we have seen is kept alive in ``_keep`` so an id is
    never reused during one trace (the tensors are shape-only, so keeping them costs nothing).
    With ``keep_alive=False`` (memory simulation, where lifetimes must stay real) a tensor is
    forgotten when it dies instead.
    """

    def __init__(self, stack, sources: dict[int, Ref], keep_alive: bool = True,
                 shape_only: bool = True):
        """``sources``: the Refs of the tensors no op makes (parameters, buffers, inputs) by id,
        as ``state.sources_of`` gives them; they stay alive for the whole trace.
        ``shape_only``: the tensors are meta or fake, so an op may be answered by its fast path
        (an empty tensor of the right shape); False for real tensors, whose values the model may
        read, so every op runs its real kernel."""
        super().__init__()
        self._run = run_op if shape_only else run_kernel
        self._shape_only = shape_only  # a real kernel refuses a write into shared memory itself
        self.stack = stack
        self.nodes: list[Node] = []
        self.failure: Node | None = None  # the op that raised, with its arguments
        self._producers: dict[int, Ref] = dict(sources)  # an in-place op makes a new producer
        self._keep: list[torch.Tensor] = []
        self._constants = 0
        self._keep_alive = keep_alive
        self._watch: dict[int, weakref.ref] = {}

    def ref(self, t: torch.Tensor) -> Ref:
        key = id(t)
        found = self._producers.get(key)
        if found is not None:
            return found
        # no op made it and it is no parameter, buffer or input: a plain tensor attribute,
        # numbered in the order they are met
        found = Ref("const", self._constants, 0, tensor_meta(t))
        self._constants += 1
        self._remember(t, found)
        return found

    def add_source(self, t: torch.Tensor, ref: Ref) -> None:
        """``t`` stands for ``ref`` from now on: a parameter's copy made during the forward
        (``state.copied_on_read``), kept alive by its maker for the trace."""
        self._producers[id(t)] = ref

    def _remember(self, t: torch.Tensor, ref: Ref) -> None:
        key = id(t)
        self._producers[key] = ref
        if self._keep_alive:
            self._keep.append(t)
        elif key not in self._watch:
            self._watch[key] = weakref.ref(t, lambda _, k=key: self._forget(k))

    def _forget(self, key: int) -> None:
        self._producers.pop(key, None)
        self._watch.pop(key, None)

    def producer_index(self, t: torch.Tensor) -> int | None:
        """The index of the node that produced ``t``, or None for inputs and parameters."""
        found = self._producers.get(id(t))
        return found.source if found is not None and found.kind == "node" else None

    def ref_outputs(self, tensors) -> tuple[Ref, ...]:
        return tuple(self.ref(t) for t in tensors)

    def module_output(self, value) -> tuple[Ref, ...]:
        """The refs of the tensors in a module's output (most often one tensor)."""
        if type(value) is _Tensor:
            return (self._producers.get(id(value)) or self.ref(value),)
        return self.ref_outputs(flat_tensors(value))

    def _convert(self, value, refs: list):
        """An argument with tensors replaced by their Refs (each also added to ``refs``)."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is _Tensor or isinstance(value, _Tensor):
            found = self._producers.get(id(value)) or self.ref(value)
            refs.append(found)
            return found
        if kind is list or kind is tuple:
            for item in value:
                if type(item) not in _SCALARS:
                    break
            else:  # sizes, strides, paddings: nothing to convert, and no copy
                return value
            converted = [self._convert(v, refs) for v in value]
            return converted if kind is list else tuple(converted)
        if isinstance(value, (list, tuple)):
            return kind(self._convert(v, refs) for v in value)
        return _plain(value)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            if self._shape_only and (_KINDS.get(id(func)) or _op_kind(func))[1]:
                refuse_shared_writes(func, args)
            out = self._run(func, args, kwargs)
        except Exception:
            self.failure = self._failed_node(func, args, kwargs)
            raise
        if func.namespace != "prim":  # prim.device and friends only read metadata
            self.record(func, args, kwargs, out)
        return out

    def _failed_node(self, func, args, kwargs) -> Node:
        op, inplace, view, _ = _op_kind(func)
        refs: list[Ref] = []
        return Node(len(self.nodes), op, tuple([self._convert(a, refs) for a in args]),
                    {k: self._convert(v, refs) for k, v in kwargs.items()}, (),
                    self.stack.current, inplace, view, tuple(refs))

    def record(self, func, args, kwargs, out):
        """One node for ``func(*args, **kwargs)`` that returned ``out``: every dispatched op.

        Written as one flat loop: it runs for every op, and each helper call or comprehension
        would cost as much as the test it saves."""
        op, inplace, view, _ = _KINDS.get(id(func)) or _op_kind(func)
        producers, refs, converted = self._producers, [], []
        for value in args:
            kind = type(value)
            if kind is _Tensor:
                found = producers.get(id(value)) or self.ref(value)
                refs.append(found)
                converted.append(found)
            elif kind in _SCALARS:
                converted.append(value)
            else:
                converted.append(self._convert(value, refs))
        plain_kwargs = {k: self._convert(v, refs) for k, v in kwargs.items()} if kwargs else {}
        index = len(self.nodes)
        stack = self.stack.stack
        call = stack[-1] if stack else None
        if type(out) is _Tensor:  # most ops: one output
            meta = _meta_of(out.shape, out.dtype)
            self.nodes.append(Node(index, op, tuple(converted), plain_kwargs, (meta,), call,
                                   inplace, view, tuple(refs)))
            self._remember(out, Ref("node", index, 0, meta))
            return
        metas = []  # batch norm's three outputs, max pooling's two; None outputs skipped
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, _Tensor):
                meta = _meta_of(t.shape, t.dtype)
                self._remember(t, Ref("node", index, len(metas), meta))
                metas.append(meta)
        self.nodes.append(Node(index, op, tuple(converted), plain_kwargs, tuple(metas), call,
                               inplace, view, tuple(refs)))

    def record_lowered(self, func, args: tuple, tensors: int, out, kwargs=None,
                       unread: tuple[TensorMeta, ...] = ()) -> None:
        """``record`` for an op of a lowered module (``lowering``), which reaches here without
        the dispatcher: its first ``tensors`` arguments are tensors or None, the others and
        ``kwargs`` plain Python already (ints, floats, bools, lists of ints, strings), so only
        those tensors need converting (a lowered convolution's four lists and batch norm's
        reserve are most of what ``record`` would convert). ``out``: the output the module's
        caller may read, or None; ``unread``: the metas of its outputs after it, which no code
        can read (batch norm's saved statistics, its reserve), so no tensor is made for them."""
        op, inplace, view, _ = _KINDS.get(id(func)) or _op_kind(func)
        producers, refs, converted = self._producers, [], [*args]
        for i in range(tensors):
            value = args[i]
            if value is not None:
                found = producers.get(id(value)) or self.ref(value)
                refs.append(found)
                converted[i] = found
        index = len(self.nodes)
        stack = self.stack.stack
        call = stack[-1] if stack else None
        if out is None:
            metas = unread
        else:
            meta = _meta_of(out.shape, out.dtype)
            self._remember(out, Ref("node", index, 0, meta))
            metas = (meta, *unread)
        self.nodes.append(Node(index, op, tuple(converted), {**kwargs} if kwargs else {}, metas,
                               call, inplace, view, tuple(refs)))
