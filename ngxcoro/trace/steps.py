"""The recorded steps of a run (`Steps`, what `Snapshots` records into) and
`walk`, which goes through any sequence of snapshots by its changes.

A step is a plain tuple: its own values, the parts it shares with its
neighbours, and the coroutine entries that changed; a full coroutine list is
kept every CHECKPOINT steps, so a step's dict is rebuilt from the checkpoint
before it (trace/snapshot.py says what a step holds)."""
from __future__ import annotations

CHECKPOINT = 64                          # a full coroutine list every CHECKPOINT steps


class Steps:
    """The recorded steps as a read-only sequence of snapshot dicts, each
    rebuilt when asked for (`len`, `[k]`, `[a:b]`, iteration).  A step is a
    plain tuple; the coroutine list of step k is the last checkpoint's with
    the changes of the steps since applied.  The dicts share their parts
    with their neighbours: read them, do not change them."""

    def __init__(self):
        self._steps = []                 # (head, parts, co_changes, n_cos)
        self._checkpoints = []           # the entry list at steps 0, CHECKPOINT, ...

    def __len__(self):
        return len(self._steps)

    def __bool__(self):
        return bool(self._steps)

    def __iter__(self):
        cos = []
        for k, step in enumerate(self._steps):
            for i, entry in step[2]:
                if i == len(cos):
                    cos.append(entry)
                else:
                    cos[i] = entry
            yield self._dict(k, step, list(cos))

    def walk(self):
        """The run step by step, by its changes: (k, snapshot k, the places of
        the coroutine entries that are new or changed at step k, ascending).
        Linear in (steps + changes): the snapshot's "coroutines" is ONE list,
        updated in place from step to step (the dict is new each step) -- read
        it before the next step, never keep it (`iter` gives copies)."""
        cos = []
        for k, step in enumerate(self._steps):
            changed = []
            for i, entry in step[2]:
                if i == len(cos):
                    cos.append(entry)
                else:
                    cos[i] = entry
                changed.append(i)
            yield k, self._dict(k, step, cos), changed

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self._steps):
            raise IndexError("snapshot index out of range")
        base = k - k % CHECKPOINT
        cos = list(self._checkpoints[base // CHECKPOINT])
        for step in self._steps[base + 1:k + 1]:
            for i, entry in step[2]:
                if i == len(cos):
                    cos.append(entry)
                else:
                    cos[i] = entry
        return self._dict(k, self._steps[k], cos)

    def __eq__(self, other):
        return isinstance(other, (list, Steps)) and list(self) == list(other)

    def __repr__(self):
        return f"<Steps: {len(self)} snapshots>"

    def append(self, head, parts, changes, cos):
        """Record one step: `cos` is the whole entry list after `changes`."""
        if len(self._steps) % CHECKPOINT == 0:
            self._checkpoints.append(tuple(cos))
        self._steps.append((head, parts, tuple(changes)))

    @staticmethod
    def _dict(k, step, cos):
        (event, data, explain, where, t_ms, phase, focus, focus_index, executing, rc,
         log_lines, what_if) = step[0]
        (requests, timers, semaphores, sockets, posted, output, shared_dicts) = step[1]
        return {"step": k, "event": event, "data": data, "explain": explain, "where": where,
                "t_ms": t_ms, "phase": phase, "focus": focus, "focus_index": focus_index,
                "executing": executing, "requests": requests, "coroutines": cos,
                "timers": timers, "semaphores": semaphores, "sockets": sockets,
                "posted_events": posted, "rc": rc, "output": output,
                "log_lines": log_lines, "shared_dicts": shared_dicts,
                # a what-if switch's name when the run is NOT nginx (ngxcoro/whatif.py), else None
                "what_if": what_if}


def walk(snapshots):
    """`Steps.walk()` for any sequence of snapshot dicts: (k, snapshot, the
    places of the coroutine entries that are new or changed since the step
    before).  A plain list is compared entry by entry (equal entries are not
    changed); `changed` is None when a step's coroutine list is shorter than
    the step before's (not a recorded run): everything may have changed."""
    if isinstance(snapshots, Steps):
        yield from snapshots.walk()
        return
    before = []
    for k, s in enumerate(snapshots):
        cos = s.get("coroutines") or []
        if len(cos) < len(before):
            changed = None
        else:
            changed = [i for i, c in enumerate(cos)
                       if i >= len(before) or (c is not before[i] and c != before[i])]
        before = cos
        yield k, s, changed
