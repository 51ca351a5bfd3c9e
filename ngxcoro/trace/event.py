"""One entry of the event registry (`Event`), and the helpers its entries
format with; the registry itself is `events.py` (first ring) with
`events_ring2.py` (second ring)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    name: str
    fields: tuple = ()
    explain: str = ""
    probe: str = ""
    stap: str = ""
    words: object = None              # a str.format template over the fields, or f(fields)
    nginx: tuple = ()                 # ((regex, words template), ...)
    compared: bool = False
    keep: bool = False
    quiet: bool = False
    line: object = None               # nginx's debug line: a template, a tuple of them, or f(fields)
    cycle: bool = False               # written to the cycle log (no "*N")


def _uri(u):
    """nginx logs "uri?args": drop the '?' when args are empty."""
    return u[:-1] if u.endswith("?") else u


def fake_pointer(state):
    """A stable stand-in for the address of lua_State number `state` (nginx
    prints %p: 16 hex digits)."""
    return f"{0x00007F0000001000 + 0x180 * int(state):016X}"
