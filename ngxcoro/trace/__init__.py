"""Observation: the hooks the model fires, the one registry of its events,
and the listeners that turn them into stap lines, an event log, nginx's
debug-log words and snapshots."""
from .listeners import Hooks, StapTrace, EventLog, DebugTrace, trace_words

__all__ = ["Hooks", "StapTrace", "EventLog", "DebugTrace", "trace_words"]
