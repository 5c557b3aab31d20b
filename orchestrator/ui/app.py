"""The web UI as an ASGI application (Starlette): its routes, the session token every POST
must carry, the Host check that keeps other sites' pages out, and the mapping of every error
to a message on the page with a 4xx status (never a traceback).

    >>> from orchestrator.store import MemoryStore
    >>> app = create_app(MemoryStore(), token="t")  # serve with uvicorn, or see `serve`
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import OrchestratorError, RunNotFoundError
from ..store import Store
from . import pages, runpage
from .assets import POLICY
from .workspace import PageError, Workspace, parse_value

#: The largest form a page may post (a fork's edited state included).
MAX_FORM_BYTES = 5 * 1024 * 1024
#: Seconds between two looks at the store while a page follows a running run.
POLL_SECONDS = 0.25
#: Host names a server on the loopback interface answers to (a page of another site that
#: resolves its own name to 127.0.0.1 is refused: it could read the token otherwise).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")

_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(
    store: Store,
    *,
    graphs: Iterable[Any] = (),
    token: str | None = None,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    close_store: bool = False,
) -> Starlette:
    """The UI over ``store``. ``graphs`` are compiled graphs found by name (the graph of any
    other run is imported from the source it records). ``token`` is the session's secret
    (random when not given); ``allowed_hosts`` None answers any Host header."""
    ui = _UI(Workspace(store, graphs), token or secrets.token_urlsafe(24))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await ui.workspace.close()
        if close_store:
            await store.close()

    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(
        routes=[
            Route("/", ui.runs),
            Route("/runs/{run_id}", ui.run),
            Route("/runs/{run_id}/step/{step}", ui.step),
            Route("/runs/{run_id}/live", ui.live),
            Route("/runs/{run_id}/report", ui.report),
            Route("/runs/{run_id}/fork", ui.fork, methods=["POST"]),
            Route("/runs/{run_id}/resume", ui.resume, methods=["POST"]),
            Route("/runs/{run_id}/replay", ui.replay, methods=["POST"]),
        ],
        middleware=middleware,
        exception_handlers={
            PageError: ui.problem,
            OrchestratorError: ui.problem,
            HTTPException: ui.problem,
            Exception: ui.failure,
        },
        lifespan=lifespan,
    )
    app.state.ui = ui
    return app


class _UI:
    """The routes' handlers over one workspace and session token."""

    def __init__(self, workspace: Workspace, token: str) -> None:
        self.workspace = workspace
        self.token = token
        self.where = workspace.store.where

    # --- pages -------------------------------------------------------------------------------

    async def runs(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        graph = request.query_params.get("graph") or None
        limit = _int(request.query_params.get("limit") or "200", "limit")
        rows, graphs = await self.workspace.rows(status=status, graph=graph, limit=limit)
        live = any(self.workspace.is_live(row.record) for row in rows)
        if request.query_params.get("part") == "table":
            return _html(pages.runs_table(rows), headers={"X-Live": str(int(live))})
        return _html(
            pages.runs_page(rows, graphs, status=status, graph=graph, where=self.where, live=live)
        )

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        text = request.query_params.get("step")
        step = None if text is None or text == "" else _int(text, "step")
        data = await self.workspace.run_data(run_id)
        return _html(runpage.run_page(data, step, token=self.token, where=self.where))

    async def step(self, request: Request) -> Response:
        step = _int(request.path_params["step"], "step")
        data, index = await self.workspace.step(request.path_params["run_id"], step)
        return _html(runpage.step_view(data, index, self.token))

    async def live(self, request: Request) -> Response:
        """Server-sent events: the run's changing parts each time its record moves, until it
        stops by itself (completed, failed, waiting, interrupted)."""
        run_id = request.path_params["run_id"]
        await self.workspace.record(run_id)  # a 404 page, not an empty stream

        async def stream() -> AsyncIterator[str]:
            seen: tuple[Any, ...] | None = None
            quiet = 0.0
            while True:
                record = await self.workspace.record(run_id)
                live = self.workspace.is_live(record)
                moved = (record.status, record.steps, record.updated, live)
                if moved != seen:
                    seen, quiet = moved, 0.0
                    data = await self.workspace.run_data(run_id)
                    payload = {
                        "status": record.status,
                        "steps": record.steps,
                        "last_step": runpage.last_step(data),
                        "parts": runpage.live_parts(data, self.token),
                    }
                    yield f"event: run\ndata: {json.dumps(payload)}\n\n"
                if not live:
                    yield f"event: end\ndata: {json.dumps(record.status)}\n\n"
                    return
                if quiet >= 15:
                    quiet = 0.0
                    yield ": still running\n\n"  # keeps proxies and the browser connected
                await asyncio.sleep(POLL_SECONDS)
                quiet += POLL_SECONDS

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**_HEADERS, "X-Accel-Buffering": "no"},
        )

    async def report(self, request: Request) -> Response:
        import visualize

        data = await self.workspace.run_data(request.path_params["run_id"])
        if data.problem is not None or data.result is None:
            raise PageError(409, data.problem or "the run cannot be loaded")
        # The report sets its own policy (its script by its own hash) in a meta tag.
        headers = {k: v for k, v in _HEADERS.items() if k != "Content-Security-Policy"}
        return HTMLResponse(visualize.report_html(data.graph, data.result), headers=headers)

    # --- actions -----------------------------------------------------------------------------

    async def fork(self, request: Request) -> Response:
        form = await self._form(request)
        step = _int(form.get("step", ""), "step")
        fields = {k[len("set.") :]: v for k, v in form.items() if k.startswith("set.")}
        new_id = await self.workspace.fork(request.path_params["run_id"], step, fields)
        return RedirectResponse(pages.run_url(new_id), status_code=303)

    async def resume(self, request: Request) -> Response:
        form = await self._form(request)
        run_id = request.path_params["run_id"]
        action = form.get("action", "")
        if action == "continue":
            await self.workspace.resume(run_id, None)
            return RedirectResponse(pages.run_url(run_id), status_code=303)
        if action not in ("approve", "reject", "answer"):
            raise PageError(
                400, f"action must be approve, reject, answer or continue, not {action!r}"
            )
        record = await self.workspace.record(run_id)
        task_id = _int(form.get("task_id", ""), "task_id")
        wait = next((w for w in record.waiting if w.get("task_id") == task_id), None)
        if wait is None:
            waits = ", ".join(f"{w.get('node')} (task {w.get('task_id')})" for w in record.waiting)
            raise PageError(
                409,
                f"run {run_id} does not wait in task {task_id}; "
                + (f"it waits in {waits}" if waits else f"it is {record.status}"),
            )
        if action == "answer":
            text = form.get("value", "")
            if not text.strip():
                raise PageError(400, "write an answer first, or press Approve or Reject")
            value = parse_value(text, "the answer")
        else:
            graph = await self.workspace.graph_for(record)
            value = self.workspace.answer_for(graph, wait, action)
        await self.workspace.resume(run_id, task_id, value)
        return RedirectResponse(pages.run_url(run_id), status_code=303)

    async def replay(self, request: Request) -> Response:
        await self._form(request)
        data, report = await self.workspace.replay(request.path_params["run_id"])
        drawing = runpage.diagram(data.graph, report.result)
        return _html(pages.replay_page(data, report, drawing, where=self.where))

    async def _form(self, request: Request) -> dict[str, str]:
        """The posted form, once its session token checks out (403 otherwise)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise PageError(415, f"post the form as application/x-www-form-urlencoded, not {kind}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            raise PageError(413, f"the form is larger than {MAX_FORM_BYTES:,} bytes")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, f"the form is larger than {MAX_FORM_BYTES:,} bytes")
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise PageError(400, "the form is not UTF-8 text") from exc
        given = form.pop("token", None) or request.headers.get("x-orchestrator-token", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise PageError(
                403,
                "this action needs the session token of a page this server sent; reload the "
                "page (the server may have been restarted) and try again",
            )
        return form

    # --- errors ------------------------------------------------------------------------------

    async def problem(self, request: Request, exc: Exception) -> Response:
        status, message = _status_of(exc)
        return _html(pages.problem_page(status, message, where=self.where), status=status)

    async def failure(self, request: Request, exc: Exception) -> Response:
        message = f"{type(exc).__name__}: {exc}"
        return _html(pages.problem_page(500, message, where=self.where), status=500)


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, PageError):
        return exc.status, exc.message
    if isinstance(exc, RunNotFoundError):
        return 404, str(exc)
    if isinstance(exc, HTTPException):
        detail = exc.detail if exc.status_code != 404 else "there is no such page"
        return exc.status_code, str(detail)
    return 409, str(exc)


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PageError(400, f"{name} must be a whole number, not {text[:40]!r}") from None


def _html(
    text: str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={**_HEADERS, **(headers or {})})
