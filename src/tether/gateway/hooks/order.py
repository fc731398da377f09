"""The pipeline's order: declared, not implied. Each hook may name hooks it runs after or
before; the hooks are sorted topologically (graphlib), and among hooks free to run the
one written first in the config goes first, so an order nobody declared still reads
top to bottom."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from tether.config import ConfigError


@dataclass(frozen=True)
class Declared:
    name: str
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()


def sort_hooks(hooks: Sequence[Declared]) -> list[int]:
    """Indexes of `hooks` in the order they run. Raises ConfigError naming a repeated
    name, an unknown name, or the hooks of a cycle."""
    index: dict[str, int] = {}
    for i, hook in enumerate(hooks):
        if hook.name in index:
            raise ConfigError(
                f"gateway.hooks[{i}]: two hooks are named {hook.name!r}; give one a name:"
            )
        index[hook.name] = i
    graph: dict[str, set[str]] = {hook.name: set() for hook in hooks}
    for i, hook in enumerate(hooks):
        for field, names in (("after", hook.after), ("before", hook.before)):
            for name in names:
                if name not in index:
                    known = ", ".join(index)
                    raise ConfigError(
                        f"gateway.hooks[{i}].{field}: no hook named {name!r} (known: {known})"
                    )
                if field == "after":
                    graph[hook.name].add(name)
                else:
                    graph[name].add(hook.name)
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as exc:
        # graphlib lists the cycle so that each hook must run before the next.
        raise ConfigError(
            f"gateway.hooks: the declared order has a cycle: {' → '.join(exc.args[1])} "
            "(each must run before the next)"
        ) from None
    order: list[int] = []
    ready: list[str] = []
    while sorter.is_active():
        # get_ready() hands each hook out once: those not taken yet wait in `ready`.
        ready = sorted([*ready, *sorter.get_ready()], key=index.__getitem__)
        first = ready.pop(0)
        order.append(index[first])
        sorter.done(first)
    return order
