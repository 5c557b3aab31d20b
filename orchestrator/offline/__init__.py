"""Deterministic offline stand-in for an LLM behind the Agents SDK ``Model`` interface.

It routes, calls tools and fills output schemas from keyword heuristics; every text is "[offline]".
"""

from __future__ import annotations

from .model import OfflineModel, OfflineProvider
from .text import OFFLINE_PREFIX

__all__ = ["OFFLINE_PREFIX", "OfflineModel", "OfflineProvider"]
