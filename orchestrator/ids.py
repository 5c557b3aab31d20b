"""Fixed names: the START and END sentinels of every graph, and the id types of runs and tasks."""

from __future__ import annotations

from typing import Final, NewType

#: The virtual node every graph is entered from: ``add_edge(START, "first")``.
START: Final = "__start__"
#: The virtual node a branch finishes at: ``add_edge("last", END)``.
END: Final = "__end__"

RunId = NewType("RunId", str)
TaskId = NewType("TaskId", str)
