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
from .run import Arrival, RunState, Task

if TYPE_CHECKING:
    from .spec import Emit, Planner


class Frontier:
    """The tasks of the next step, built edge by edge with caps and joins applied."""

    __slots__ = ("arrived", "plain", "released", "rs", "sched", "scheduled", "taken", "tasks")

    def __init__(self, sched: Planner, rs: RunState) -> None:
        self.sched, self.rs = sched, rs
        self.tasks: list[Task] = []
        # The edges taken, announced by `commit` once the whole barrier succeeded.
        self.taken: list[Any] = []  # EdgeTaken events, or (source, target) when quiet
        self.plain: set[str] | None = None  # nodes started by a plain edge, made on demand
        self.scheduled: dict[str, int] | None = None  # tasks per capped node, made on demand
        self.arrived: list[str] | None = None  # joins an arrival was added to, in order
        self.released: list[tuple[str, list[Arrival]]] | None = None  # joins started

    def commit(self, emit: Emit) -> list[Task]:
        """The barrier succeeded: announce the edges taken; the next step's tasks."""
        if not self.rs.quiet:
            for event in self.taken:
                emit(event)
        return self.tasks

    def undo(self) -> None:
        """The barrier failed: take back what this frontier did to the run state (edge counts,
        join arrivals). ``seq`` is restored by the caller."""
        rs = self.rs
        counts = rs.edge_counts
        for event in self.taken:
            key = event if type(event) is tuple else (event.source, event.target)
            left = counts.get(key, 0) - 1
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)
        for name, arrivals in self.released or ():
            rs.joins[name] = arrivals
        for name in reversed(self.arrived or ()):
            arrivals = rs.joins[name]
            arrivals.pop()
            if not arrivals:
                del rs.joins[name]
        self.taken, self.tasks = [], []

    def go(
        self,
        source: str,
        target: str,
        kind: EdgeKind,
        label: str | None,
        payload: Any = None,
        error: Failure | None = None,
        exits: tuple[str, ...] = (),
    ) -> None:
        """Take the edge ``source -> target``: count it, apply its cap and the target's, and
        plan the task it starts (or the join arrival it makes). ``exits`` holds the nodes whose
        cap exits led here, so cap exits that lead to each other stop with a named error."""
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
            self._exit(source, cap.exit, cap.limit, payload, error, (*exits, source))
            return
        rs.edge_counts[key] = count + 1
        if rs.quiet:  # only counted (for `undo`), not announced
            self.taken.append(key)
        else:
            self.taken.append(EdgeTaken(rs.run_id, rs.step, source, target, kind, label))
        if target == END:
            return
        node = sched.nodes[target]
        if node.join:
            arrival: Arrival = (
                source
                if payload is None and error is None
                else (
                    source,
                    payload,
                    error,
                )
            )
            rs.joins.setdefault(target, []).append(arrival)
            if self.arrived is None:
                self.arrived = []
            self.arrived.append(target)
            return
        self.start(node, payload, error, exits)

    def start(
        self, node: Node, payload: Any, error: Failure | None, exits: tuple[str, ...] = ()
    ) -> None:
        """Plan a task of ``node``: every task of a run, joins included, is created here, so
        ``max_visits`` and ``on_cap`` hold for all of them."""
        rs, target = self.rs, node.name
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
                        self.sched.cycle_of.get(target, (target,)),
                        rs.visits,
                        rs.path,
                    )
                self._exit(target, node.on_cap, node.max_visits, payload, error, (*exits, target))
                return
            if self.scheduled is not None:
                self.scheduled[target] = scheduled + 1
        if plain and self.plain is not None:
            self.plain.add(target)
        seq = rs.seq = rs.seq + 1  # `_task`, inlined: this runs once per edge taken
        self.tasks.append(Task(target, seq, node.index << 40 | seq, payload, error))

    def _exit(
        self,
        source: str,
        target: str,
        limit: int,
        payload: Any,
        error: Failure | None,
        exits: tuple[str, ...],
    ) -> None:
        """Follow a cap exit, refusing a chain of cap exits that comes back on itself."""
        if target in exits:
            chain = " -> ".join((*exits, target))
            raise CapExceededError(
                f"cap exits {chain} (each node is capped and exits to the next, in a circle)",
                limit,
                exits,
                self.rs.visits,
                self.rs.path,
            )
        self.go(source, target, EdgeKind.CAP_EXIT, f"cap {limit}", payload, error, exits)

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

    def release_joins(self) -> None:
        """Start the joins no live branch can still reach; order the step's tasks.

        A join's task carries what its arrivals carried: ``ctx.payload`` is the one payload
        sent into it (a list when several were), ``ctx.error`` the first failure that reached
        it through an ``on_error`` edge."""
        rs = self.rs
        if rs.joins:
            live = {t.node for t in self.tasks}
            waiting = set(rs.joins)
            ancestors = self.sched.join_ancestors
            ready = [j for j in rs.joins if not ((live | (waiting - {j})) & ancestors[j])]
            if not ready and not self.tasks:
                ready = list(rs.joins)  # joins that only wait on each other: let them all go
            for name in ready:
                arrivals = rs.joins.pop(name)
                if self.released is None:
                    self.released = []
                self.released.append((name, arrivals))
                payload, error = _carried(arrivals)
                self.start(self.sched.nodes[name], payload, error)
        if len(self.tasks) > 1:
            self.tasks.sort(key=_order)


def _order(task: Task) -> int:
    return task.order


def _carried(arrivals: list[Arrival]) -> tuple[Any, Failure | None]:
    """The payload and the failure a join's arrivals bring to its task."""
    payloads: list[Any] = []
    error: Failure | None = None
    for arrival in arrivals:
        if isinstance(arrival, str):
            continue
        _, payload, failure = arrival
        if payload is not None:
            payloads.append(payload)
        if error is None:
            error = failure
    if not payloads:
        return None, error
    return (payloads[0] if len(payloads) == 1 else payloads), error
