"""Graph runs in the Agents SDK's traces: one trace per run of a graph with agent nodes, a span
per node execution (agent nodes and code steps alike), a handoff span per handoff edge.

The SDK's own spans (agent, generation, function) nest inside the node that made them, because
the run's trace and the node's span are the current ones while the node runs. A run inside a
trace already open (``with agents.trace(...)``, or a subgraph inside its parent's run) becomes a
span of that trace. Processors registered with ``agents.add_trace_processor`` get every trace,
with or without an OpenAI key; the SDK's exporter to OpenAI gets only traces whose key is for
OpenAI's own endpoint (see `openai_export_allowed`).

A `RunTracer` listens to the run's events; nothing here runs in the scheduler's step.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .events import (
    EdgeTaken,
    Event,
    Interrupted,
    NodeFailed,
    NodeFinished,
    NodeRetried,
    NodeStarted,
    RunFinished,
    RunStarted,
)

if TYPE_CHECKING:
    from .spec import GraphSpec

#: The SDK's workflow name when a RunConfig names none: the graph's name is used instead.
_SDK_DEFAULT_WORKFLOW = "Agent workflow"


def run_tracer(graph: GraphSpec, settings: Any, run_id: str) -> RunTracer | None:
    """A tracer for one run of ``graph`` (None when there is nothing to trace: the Agents SDK
    is not in use, the graph has no agent node and no trace is open, or tracing is off)."""
    if "agents" not in sys.modules:
        return None  # the SDK is never imported for tracing alone
    from agents.tracing import custom_span, get_current_trace, trace
    from agents.tracing.spans import NoOpSpan
    from agents.tracing.traces import NoOpTrace

    has_agents = any(str(n.kind) == "agent" for n in graph.nodes.values())
    outer = get_current_trace()
    if not has_agents and outer is None:
        return None
    config = getattr(settings, "run_config", None)
    if isinstance(config, dict):
        from agents import RunConfig

        config = RunConfig(**config)
    if config is not None and config.tracing_disabled:
        return None
    metadata = {"graph": graph.name, "run_id": run_id}
    root: Any
    if outer is not None:  # a trace is open: the run is a span of it
        root = custom_span(f"graph {graph.name}", data=metadata)
    else:
        name = getattr(config, "workflow_name", None)
        if not name or name == _SDK_DEFAULT_WORKFLOW:
            name = graph.name
        root = trace(
            name,
            trace_id=getattr(config, "trace_id", None),
            group_id=getattr(config, "group_id", None) or run_id,
            metadata={**(getattr(config, "trace_metadata", None) or {}), **metadata},
            tracing=getattr(config, "tracing", None),
        )
    if isinstance(root, (NoOpTrace, NoOpSpan)):
        return None  # tracing is turned off
    gate_openai_export()
    return RunTracer(graph, run_id, root)


class RunTracer:
    """Turns one run's events into the SDK's trace, spans and handoff spans."""

    def __init__(self, graph: GraphSpec, run_id: str, root: Any) -> None:
        self.graph, self.run_id = graph, run_id
        self.root: Any = root  # the run's trace, or its span inside a trace already open
        self.started = False
        self.spans: dict[int, Any] = {}  # task id -> the span of its running attempt

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeStarted):
            self._start_node(event)
        elif isinstance(event, NodeFinished):
            self._end_node(event.task_id)
        elif isinstance(event, NodeRetried):
            self._end_node(event.task_id, f"attempt {event.attempt} failed: {event.error}")
        elif isinstance(event, NodeFailed):
            self._end_node(event.task_id, f"{event.error_type}: {event.error}")
        elif isinstance(event, Interrupted):
            self._end_node(event.task_id)
        elif isinstance(event, EdgeTaken):
            if event.kind == "handoff":
                self._handoff(event)
        elif isinstance(event, RunStarted):
            self._start_run(event)
        elif isinstance(event, RunFinished):
            self.close(event.error)

    def _start_run(self, event: RunStarted) -> None:
        if self.root is not None and not self.started:
            self.started = True
            self.root.start(mark_as_current=True)

    def _start_node(self, event: NodeStarted) -> None:
        from agents.tracing import custom_span

        node = self.graph.nodes.get(event.node)
        data = {
            "kind": str(node.kind) if node is not None else "node",
            "step": event.step,
            "attempt": event.attempt,
            "run_id": self.run_id,
        }
        if node is not None and node.meta.get("agent"):
            data["agent"] = node.meta["agent"]
        span = custom_span(event.node, data=data)
        span.start(mark_as_current=True)  # the SDK's spans of this node nest in it
        self.spans[event.task_id] = span

    def _end_node(self, task_id: int, error: str | None = None) -> None:
        span = self.spans.pop(task_id, None)
        if span is None:
            return
        if error is not None:
            from agents.tracing import SpanError

            span.set_error(SpanError(message=error, data=None))
        _finish(span)

    def _handoff(self, event: EdgeTaken) -> None:
        from agents.tracing import handoff_span

        source = self.graph.nodes.get(event.source)
        target = self.graph.nodes.get(event.target)
        span = handoff_span(
            from_agent=_agent(source, event.source), to_agent=_agent(target, event.target)
        )
        span.start()
        span.finish()

    def close(self, error: str | None = None) -> None:
        """End what is still open (the run stopped: finished, paused, failed or cancelled)."""
        for task_id in list(self.spans):
            self._end_node(task_id, "stopped")
        root, self.root = self.root, None
        if root is None or not self.started:
            return
        if error is not None and hasattr(root, "set_error"):
            from agents.tracing import SpanError

            root.set_error(SpanError(message=error, data=None))
        _finish(root)


def _agent(node: Any, name: str) -> str:
    return str(node.meta.get("agent") or name) if node is not None else name


def _finish(item: Any) -> None:
    """Finish a span or trace and stop it being the current one. A run whose events came
    from another context (an event loop thread) cannot reset it there: finish it only."""
    try:
        item.finish(reset_current=True)
    except ValueError:
        item.finish()


# --- export to OpenAI --------------------------------------------------------------------------


def openai_export_allowed() -> bool:
    """Whether traces may go to OpenAI: there is a key, and it is for OpenAI's own endpoint.

    The key is the one set in code for the SDK's exporter (``set_tracing_export_api_key``,
    ``set_default_openai_key``, ``set_default_openai_client``), else ``OPENAI_API_KEY``. The
    key of a default openai client set in code is for that client's host; any other key is
    for ``OPENAI_BASE_URL`` (unset: OpenAI). With a placeholder key for a local server nothing
    is sent anywhere."""
    from agents.models import _openai_shared
    from agents.tracing.processors import default_exporter

    key = getattr(default_exporter(), "_api_key", None) or os.environ.get("OPENAI_API_KEY")
    if not key:
        return False
    client = _openai_shared.get_default_openai_client()
    if client is not None and client.api_key == key:
        return _is_openai(str(client.base_url))
    base = os.environ.get("OPENAI_BASE_URL")
    return not base or _is_openai(base)


def _is_openai(url: str) -> bool:
    return urlparse(url).hostname == "api.openai.com"


def gate_openai_export() -> None:
    """Put the SDK's default processor (its exporter to OpenAI) behind `openai_export_allowed`
    (checked at every trace); processors the user registered are left as they are. Done when
    `orchestrator.agent` is imported (before any agent node can be built, so a trace the user
    opens around a graph run is gated too) and again at every traced run (in case the
    processors were set again since)."""
    from agents.tracing import get_trace_provider, set_trace_processors
    from agents.tracing.processors import default_processor

    processors = getattr(getattr(get_trace_provider(), "_multi_processor", None), "_processors", ())
    default = default_processor()
    if isinstance(processors, tuple) and any(p is default for p in processors):
        gated: list[Any] = [OpenAIExport(p) if p is default else p for p in processors]
        set_trace_processors(gated)


class OpenAIExport:
    """The SDK's exporting processor, fed only the traces (and their spans) that may go to
    OpenAI: a trace with its own export key, or any trace when `openai_export_allowed`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.traces: set[str] = set()

    def on_trace_start(self, trace: Any) -> None:
        if getattr(trace, "tracing_api_key", None) or openai_export_allowed():
            self.traces.add(trace.trace_id)
            self.inner.on_trace_start(trace)

    def on_trace_end(self, trace: Any) -> None:
        if trace.trace_id in self.traces:
            self.traces.discard(trace.trace_id)
            self.inner.on_trace_end(trace)

    def on_span_start(self, span: Any) -> None:
        if span.trace_id in self.traces:
            self.inner.on_span_start(span)

    def on_span_end(self, span: Any) -> None:
        if span.trace_id in self.traces:
            self.inner.on_span_end(span)

    def shutdown(self, timeout: float | None = None) -> None:
        self.inner.shutdown(timeout)

    def force_flush(self) -> None:
        self.inner.force_flush()
