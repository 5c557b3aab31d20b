"""The frontier: the tasks of the next step, built edge by edge at a barrier, with edge and node
caps enforced, plain edges into one node merged, and joins released once no live branch can
still reach them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import Failure
from .edge import EdgeKind
from .errors import CapExceededError
from .events import EdgeTaken
from .ids import END
from .node import Node
from .run import RunState, Task

if TYPE_CHECKING:
    from .scheduler import Emit, Scheduler


class Frontier:
    """The tasks of the next step, built edge by edge with caps and joins applied."""

    __slots__ = ("emit", "plain", "rs", "sched", "scheduled", "tasks")

    def __init__(self, sched: Scheduler, rs: RunState, emit: Emit) -> None:
        self.sched, self.rs, self.emit = sched, rs, emit
        self.tasks: list[Task] = []
        self.plain: set[str] | None = None  # nodes started by a plain edge, made on demand
        self.scheduled: dict[str, int] | None = None  # tasks per capped node, made on demand

    def go(
        self,
        source: str,
        target: str,
        kind: EdgeKind,
        label: str | None,
        payload: Any = None,
        error: Failure | None = None,
    ) -> None:
        rs, sched = self.rs, self.sched
        key = (source, target)
        cap = sched.caps.get(key)
        count = rs.edge_counts.get(key, 0)
        if cap is not None and count >= cap.limit:
            if cap.exit is None:
                raise CapExceededError(
                    f"edge {source!r} -> {target!r}",
                    cap.limit,
                    sched.cycle_of.get(source, (source, target)),
                    rs.visits,
                    rs.path,
                )
            self.go(source, cap.exit, EdgeKind.CAP_EXIT, f"cap {cap.limit}", payload=payload)
            return
        rs.edge_counts[key] = count + 1
        self.emit(EdgeTaken(rs.run_id, rs.step, source, target, kind, label))
        if target == END:
            return
        node = sched.nodes[target]
        if node.join:
            rs.joins.setdefault(target, []).append(source)
            return
        plain = payload is None and error is None
        if plain and self.tasks and self._started_plainly(target):
            return  # several plain edges into one node in one step: it runs once
        if node.max_visits is not None:
            # Tasks this frontier already has for the node count against its cap too. The
            # counts are only built once a second task is planned (one task is the common case).
            scheduled = self._scheduled(target) if self.tasks else 0
            if rs.visits.get(target, 0) + scheduled >= node.max_visits:
                if node.on_cap is None:
                    raise CapExceededError(
                        f"node {target!r}",
                        node.max_visits,
                        sched.cycle_of.get(target, (target,)),
                        rs.visits,
                        rs.path,
                    )
                self.go(
                    target,
                    node.on_cap,
                    EdgeKind.CAP_EXIT,
                    f"cap {node.max_visits}",
                    payload=payload,
                )
                return
            if self.scheduled is not None:
                self.scheduled[target] = scheduled + 1
        if plain and self.plain is not None:
            self.plain.add(target)
        seq = rs.seq = rs.seq + 1  # `_task`, inlined: this runs once per edge taken
        self.tasks.append(Task(target, seq, node.index << 40 | seq, payload, error))

    def _started_plainly(self, target: str) -> bool:
        """Whether a plain edge already started ``target`` in this frontier."""
        if self.plain is None:
            self.plain = {t.node for t in self.tasks if t.payload is None and t.error is None}
        return target in self.plain

    def _scheduled(self, target: str) -> int:
        """How many tasks this frontier has planned for ``target`` so far."""
        if self.scheduled is None:
            self.scheduled = {}
            for task in self.tasks:
                self.scheduled[task.node] = self.scheduled.get(task.node, 0) + 1
        return self.scheduled.get(target, 0)

    def _task(self, node: Node, payload: Any, error: Failure | None) -> None:
        rs = self.rs
        seq = rs.seq = rs.seq + 1
        self.tasks.append(Task(node.name, seq, node.index << 40 | seq, payload, error))

    def release_joins(self) -> None:
        """Start the joins no live branch can still reach; order the step's tasks."""
        rs = self.rs
        if rs.joins:
            live = {t.node for t in self.tasks}
            waiting = set(rs.joins)
            ancestors = self.sched.join_ancestors
            ready = [j for j in rs.joins if not ((live | (waiting - {j})) & ancestors[j])]
            if not ready and not self.tasks:
                ready = list(rs.joins)  # joins that only wait on each other: let them all go
            for name in ready:
                del rs.joins[name]
                self._task(self.sched.nodes[name], None, None)
        if len(self.tasks) > 1:
            self.tasks.sort(key=_order)


def _order(task: Task) -> int:
    return task.order
