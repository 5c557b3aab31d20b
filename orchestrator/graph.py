"""`Graph`: the builder users define workflows with. ``compile()`` validates it and returns a
runnable `CompiledGraph`.

    >>> from pydantic import BaseModel
    >>> from orchestrator import Graph, START, END
    >>> class S(BaseModel):
    ...     n: int = 0
    >>> g = Graph(S, name="count")
    >>> _ = g.add_node("inc", lambda s: {"n": s.n + 1})
    >>> _ = g.add_edge(START, "inc").add_edge("inc", END)
    >>> g.compile().run_sync({"n": 1}).state.n
    2
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, is_typeddict

from pydantic import BaseModel

from .edge import Cap, Edge, EdgeKind, Route, return_annotation, route_values
from .errors import DuplicateNodeError, InvalidGraphError
from .ids import END, START
from .node import Node, NodeKind, RetryPolicy, normalise_call
from .state import StateSchema

if TYPE_CHECKING:
    from .cache import CachePolicy
    from .compiled import CompiledGraph

S = TypeVar("S", bound=BaseModel)


class _Auto:
    """Marks an option left to its default, where None means something else."""


_AUTO = _Auto()


class Graph(Generic[S]):
    """A typed directed graph over the state model ``S``."""

    def __init__(self, state: type[S], *, name: str | None = None, model: Any = None) -> None:
        """``model`` (a model name or an SDK Model) is the default of this graph's agent nodes
        that name none themselves; a run's ``model=`` still overrides it."""
        self.schema: StateSchema[S] = StateSchema(state)
        self.name = name or state.__name__
        self.model = model
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.routes: list[Route] = []
        self.caps: list[Cap] = []

    # --- nodes ---------------------------------------------------------------------------

    def add_node(
        self,
        name: str | Callable[..., Any],
        fn: Callable[..., Any] | None = None,
        *,
        join: bool = False,
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        max_visits: int | None = None,
        on_cap: str | None = None,
        on_error: str | None = None,
        goto: Iterable[str] = (),
        description: str = "",
        cache: CachePolicy | None = None,
    ) -> Graph[S]:
        """Add a code step ``fn(state)`` or ``fn(state, ctx)``, sync or async.

        It returns a dict of fields to update (or None). ``join=True`` makes it wait for every
        branch that can still reach it. ``retry`` (a policy, or a number of attempts),
        ``timeout`` (seconds), ``max_visits`` with ``on_cap`` (where to go once the cap is
        reached), ``on_error`` (where to go when it still fails after its retries) and ``goto``
        (targets a `Command` result may name) are enforced by the scheduler. ``cache`` (a
        `CachePolicy`) skips the node when its input was seen before and applies the write it
        made then (see `orchestrator.cache`).
        """
        if fn is None:
            if not callable(name):
                raise InvalidGraphError(f"add_node({name!r}) needs a function")
            fn, name = name, getattr(name, "__name__", "")
        assert isinstance(name, str)
        call, is_async, takes_ctx = normalise_call(name, fn)
        node = Node(
            name=name,
            kind=NodeKind.JOIN if join else NodeKind.CODE,
            call=call,
            is_async=is_async,
            takes_ctx=takes_ctx,
            join=join,
            writes=_declared_writes(fn),
            description=description or _first_line(fn.__doc__),
            meta={"function": getattr(fn, "__qualname__", repr(fn))},
        )
        return self._add(
            node,
            retry=retry,
            timeout=timeout,
            max_visits=max_visits,
            on_cap=on_cap,
            on_error=on_error,
            goto=goto,
            cache=cache,
        )

    def add_join(self, name: str, fn: Callable[..., Any] | None = None, **options: Any) -> Graph[S]:
        """Add a join: it runs once, after every branch that can still reach it has arrived."""
        return self.add_node(name, fn or _no_update, join=True, **options)

    def add_human(
        self,
        name: str,
        *,
        prompt: str | Callable[[Any], Any] = "",
        field: str | None = None,
        **options: Any,
    ) -> Graph[S]:
        """Add a node that pauses the run until a person resumes it with a value.

        The value resumed with is written to ``field`` (when given). ``prompt`` (text, or a
        function of the state) is what the paused run says it is waiting for.
        """

        def ask(state: Any, ctx: Any) -> dict[str, Any] | None:
            request = prompt(state) if callable(prompt) else prompt
            value = ctx.interrupt({"node": name, "prompt": request})
            return {field: value} if field else None

        node = Node(
            name=name,
            kind=NodeKind.HUMAN,
            call=ask,
            description=str(prompt) if prompt else "",
            writes=frozenset([field]) if field else None,
            meta={"field": field},
        )
        return self._add(node, **options)

    def add_subgraph(
        self,
        name: str,
        graph: CompiledGraph[Any],
        *,
        inputs: Mapping[str, str] | Sequence[str] = (),
        outputs: Mapping[str, str] | Sequence[str] = (),
        stateful: bool = False,
        parent_goto: Iterable[str] = (),
        **options: Any,
    ) -> Graph[S]:
        """Run another compiled graph as one node.

        ``inputs`` maps subgraph field <- parent field; ``outputs`` maps parent field <-
        subgraph field (a list of names means the same name on both sides). A `Send` payload
        (a dict of subgraph fields) is laid over the mapped inputs. Outputs go through the
        parent's reducers like any update.

        An interrupt (or human step) inside pauses this run; resuming goes back into the
        subgraph at the node that asked. ``stateful=True`` (LangGraph's ``checkpointer=True``
        on a subgraph) keeps the subgraph's own state across this node's calls within a run:
        each call starts from the state the last one ended with, the mapped inputs laid over
        it. ``parent_goto`` names the nodes of this graph that a node inside may send it to
        with ``Command(goto=..., graph=Command.PARENT)``.
        """
        from .subgraph import SubgraphCall

        ins = _as_mapping(inputs)
        outs = _as_mapping(outputs)
        for child in ins:
            if child not in graph.schema.fields:
                raise InvalidGraphError(
                    f"subgraph node {name!r}: input {child!r} is not a field of "
                    f"{graph.name!r}'s state"
                )
        for parent, child in outs.items():
            if child not in graph.schema.fields:
                raise InvalidGraphError(
                    f"subgraph node {name!r}: output {parent!r} reads {child!r}, which is not a "
                    f"field of {graph.name!r}'s state"
                )
        targets = (parent_goto,) if isinstance(parent_goto, str) else tuple(parent_goto)
        node = Node(
            name=name,
            kind=NodeKind.SUBGRAPH,
            call=SubgraphCall(graph, ins, outs, stateful=stateful, parent_goto=targets),
            is_async=True,
            writes=frozenset(outs),
            meta={
                "graph": graph,
                "inputs": ins,
                "outputs": outs,
                "stateful": stateful,
                "parent_goto": targets,
            },
        )
        if "goto" in options:
            raise InvalidGraphError(
                f"node {name!r}: goto is for code steps and handoffs; a subgraph node declares "
                "where its inner nodes may send this graph with parent_goto=[...]"
            )
        return self._add(node, goto=targets, **options)

    def add_agent(
        self,
        name: str,
        agent: Any,
        *,
        prompt: str | Callable[[Any], Any] | None = None,
        reads: Sequence[str] = (),
        history: bool = True,
        messages: str | _Auto | None = _AUTO,
        output: str | Callable[[Any], dict[str, Any]] | None = None,
        model: Any = None,
        max_turns: int = 10,
        stream: bool = False,
        description: str = "",
        join: bool = False,
        **options: Any,
    ) -> Graph[S]:
        """Add an OpenAI Agents SDK agent as a node.

        Input: the conversation in ``messages`` (default: the state's ``messages`` field, if
        any), followed by a user message from ``prompt`` (a format string over the state's
        fields, or a function of the state) or from the fields named in ``reads``. Output: the
        new conversation items are added to ``messages``, and the final output (text, or the
        agent's structured ``output_type``) is written to ``output``. Handoffs to agents that
        are nodes of this graph become handoff edges the scheduler follows. ``model`` (a name or
        an SDK Model) overrides the agent's; ``stream=True`` streams its text into the events.
        ``prompt`` may be a function ``(state)`` or ``(state, ctx)`` (a fan-out payload is
        ``ctx.payload``) or a format string over the state's fields and ``{payload}``;
        ``output`` may be a function of the final output returning an update dict;
        ``join=True`` makes the agent a join (it waits for every branch that can reach it).
        Other options (retry, timeout, max_visits, on_cap, on_error, cache) as for `add_node`.
        """
        from .agent import agent_node

        if isinstance(messages, _Auto):
            messages = "messages" if "messages" in self.schema.fields else None
        node = agent_node(
            name,
            agent,
            prompt=prompt,
            reads=reads,
            history=history,
            messages=messages,
            output=output,
            model=model,
            max_turns=max_turns,
            stream=stream,
            description=description,
        )
        node.join = join
        if "goto" in options:
            raise InvalidGraphError(f"node {name!r}: goto is for code steps and handoffs")
        return self._add(node, **options)

    def add(self, node: Node) -> Graph[S]:
        """Add a prebuilt node (agent nodes are made this way by `orchestrator.agent`)."""
        if node.name in self.nodes or node.name in (START, END):
            raise DuplicateNodeError(node.name)
        node.index = len(self.nodes)
        self.nodes[node.name] = node
        return self

    def _add(
        self,
        node: Node,
        *,
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        max_visits: int | None = None,
        on_cap: str | None = None,
        on_error: str | None = None,
        goto: Iterable[str] = (),
        cache: CachePolicy | None = None,
        **rest: Any,
    ) -> Graph[S]:
        """Add ``node`` with the policies every kind of node takes (see `add_node`)."""
        if rest:
            raise InvalidGraphError(f"node {node.name!r}: unknown option(s) {sorted(rest)}")
        if not node.name:
            raise InvalidGraphError("a node needs a non-empty name")
        if cache is not None:
            _check_cache(node, cache)
        node.cache = cache
        node.retry = RetryPolicy(max_attempts=retry) if isinstance(retry, int) else retry
        if timeout is not None and timeout <= 0:
            raise InvalidGraphError(f"node {node.name!r}: timeout must be positive")
        node.timeout = timeout
        if max_visits is not None and max_visits < 1:
            raise InvalidGraphError(f"node {node.name!r}: max_visits must be at least 1")
        node.max_visits, node.on_cap, node.on_error = max_visits, on_cap, on_error
        if on_cap is not None and max_visits is None:
            raise InvalidGraphError(f"node {node.name!r}: on_cap needs max_visits")
        node.goto = tuple(goto)
        return self.add(node)

    # --- edges ---------------------------------------------------------------------------

    def add_edge(
        self,
        source: str,
        target: str,
        *,
        when: Callable[[Any], bool] | None = None,
        label: str | None = None,
        cap: int | None = None,
        exit: str | None = None,
    ) -> Graph[S]:
        """Add ``source -> target``; with ``when``, only taken if ``when(state)`` is true.

        ``cap`` bounds how often the edge is taken; once reached, the run goes to ``exit``
        instead, or fails naming the cycle when no exit is given.
        """
        self._check_ends(source, target)
        kind = EdgeKind.CONDITIONAL if when is not None else EdgeKind.NORMAL
        if when is not None and label is None:
            label = getattr(when, "__name__", "condition")
        self.edges.append(Edge(source=source, target=target, kind=kind, when=when, label=label))
        if cap is not None:
            self.cap_edge(source, target, cap, exit=exit)
        elif exit is not None:
            raise InvalidGraphError(f"edge {source!r} -> {target!r}: exit needs a cap")
        return self

    def add_route(
        self,
        source: str,
        router: Callable[[Any], Any],
        targets: Mapping[Hashable, str] | Sequence[str] | None = None,
        *,
        name: str | None = None,
        fanout: bool | None = None,
    ) -> Graph[S]:
        """Route out of ``source`` with ``router(state)``.

        The possible targets come from ``targets`` (a mapping of return value to node, or a
        list of node names) or else from the router's return annotation: ``Literal["a", "b"]``,
        an Enum (member values are node names), or a list of them for fan-out. The router may
        return a value, a list of values (parallel branches), `Send` objects (fan-out with a
        payload), or END when END is declared (``Literal["a", "__end__"]``, ``Literal["a"] |
        None`` where None means END, or END among ``targets``).
        """
        label = name or str(getattr(router, "__name__", "route"))
        return self._route(source, router, targets, route_values(router), label, fanout)

    def add_field_route(
        self,
        source: str,
        path: str,
        targets: Mapping[Hashable, str] | Sequence[str] | None = None,
    ) -> Graph[S]:
        """Route out of ``source`` on a state field, e.g. ``"classification.department"``.

        The field's type (an Enum or a ``Literal``, possibly inside an agent's structured
        output model) declares the route values; compile checks that each names a node or is
        mapped to one by ``targets``. Enum values name nodes by their ``.value``.
        """
        parts = path.split(".")
        annotation = _field_annotation(self.schema.model, parts, path)

        def router(state: Any) -> Any:
            value = state
            for part in parts:
                value = getattr(value, part)
            return value

        router.__annotations__["return"] = annotation
        return self._route(source, router, targets, route_values(router), path)

    def _route(
        self,
        source: str,
        router: Callable[[Any], Any],
        targets: Mapping[Hashable, str] | Sequence[str] | None,
        declared: tuple[list[Hashable], bool] | None,
        label: str,
        fanout: bool | None = None,
    ) -> Graph[S]:
        if source == END:
            raise InvalidGraphError("END has no out-edges; route from a node instead")
        if fanout is None:  # only for drawing: any router may return several targets
            fanout = declared[1] if declared else False
        mapping: dict[Hashable, str]
        if targets is None:
            if declared is None:
                raise InvalidGraphError(
                    f"route {label!r} from {source!r} does not say where it can go: annotate "
                    "its return type with Literal[...] or an Enum, or pass targets="
                )
            mapping = {v: _value_name(v) for v in declared[0]}
        elif isinstance(targets, Mapping):
            mapping = dict(targets)
        else:
            mapping = {t: t for t in targets}
        implicit: set[Hashable] = set(mapping) if targets is None else set()
        if declared is not None:
            for value in declared[0]:
                # Annotated values missing from an explicit mapping stay declared, so compile
                # can report them (RouteTargetError) instead of failing at run time.
                if value not in mapping and _value_name(value) not in mapping:
                    mapping[value] = _value_name(value)
                    implicit.add(value)
        self.routes.append(
            Route(
                source=source,
                fn=router,
                mapping=mapping,
                name=label,
                fanout=fanout,
                implicit=frozenset(implicit),
            )
        )
        return self

    def cap_edge(
        self, source: str, target: str, limit: int, *, exit: str | None = None
    ) -> Graph[S]:
        """Allow ``source -> target`` (any kind of edge) at most ``limit`` times per run."""
        if limit < 0:
            raise InvalidGraphError(f"edge {source!r} -> {target!r}: cap must be >= 0")
        self.caps.append(Cap(source=source, target=target, limit=limit, exit=exit))
        return self

    def _check_ends(self, source: str, target: str) -> None:
        if source == END:
            raise InvalidGraphError(f"edge {source!r} -> {target!r}: END has no out-edges")
        if target == START:
            raise InvalidGraphError(f"edge {source!r} -> {target!r}: nothing may enter START")

    # --- compile -------------------------------------------------------------------------

    def compile(
        self,
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
    ) -> CompiledGraph[S]:
        """Validate the graph and return a runnable, immutable `CompiledGraph`.

        ``interrupt_before`` / ``interrupt_after`` (node names, or ``"*"`` for every node) are
        breakpoints for every run of it: the run pauses (status waiting) before or after those
        nodes run, and ``resume(run)`` with no value goes on. Runs may add their own.
        """
        from .compiled import CompiledGraph

        compiled = CompiledGraph(self)
        compiled.breakpoints = compiled.check_breakpoints(interrupt_before, interrupt_after)
        return compiled


def _field_annotation(model: type[BaseModel], parts: list[str], path: str) -> Any:
    """The annotation at a dotted field path of a model, through nested models and Optional."""
    import types

    current: Any = model
    for part in parts:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            owner = getattr(current, "__name__", current)
            raise InvalidGraphError(f"field route {path!r}: {part!r} is not a field of {owner}")
        current = fields[part].annotation
        if typing.get_origin(current) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if len(args) == 1:
                current = args[0]
    return current


def _value_name(value: Any) -> str:
    import enum

    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _as_mapping(names: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(names, Mapping):
        return dict(names)
    return {n: n for n in names}


def _no_update(state: Any) -> None:
    return None


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]


def _declared_writes(fn: Callable[..., Any]) -> frozenset[str] | None:
    """Update keys a node declares through its return annotation (a TypedDict or a model)."""
    ret = return_annotation(fn)
    args = [a for a in typing.get_args(ret) if a is not type(None)] if ret is not None else []
    if ret is not None and typing.get_origin(ret) in (typing.Union, type(int | None)) and args:
        ret = args[0] if len(args) == 1 else None
    if ret is None:
        return None
    if is_typeddict(ret):
        return frozenset(typing.get_type_hints(ret))
    if isinstance(ret, type) and issubclass(ret, BaseModel):
        return frozenset(ret.model_fields)
    return None


def _check_cache(node: Node, cache: object) -> None:
    from .cache import CachePolicy

    if not isinstance(cache, CachePolicy):
        raise InvalidGraphError(
            f"node {node.name!r}: cache takes a CachePolicy(key=..., ttl=...), not "
            f"{type(cache).__name__}"
        )
    if node.kind is NodeKind.HUMAN or node.meta.get("stateful"):
        what = "a human step's answer" if node.kind is NodeKind.HUMAN else "a stateful subgraph"
        raise InvalidGraphError(
            f"node {node.name!r}: {what} cannot be cached (what it does depends on more than "
            "its input); leave cache= out"
        )
