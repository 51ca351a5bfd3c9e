"""Scripted peers: the far end of a cosocket, described in one line.

A lesson about timeouts, partial reads or keepalive needs a server that
answers slowly, stops half way, or serves two requests on one connection.
A peer script says what such a server does, one line per peer:

    127.0.0.1:1990 recv-line; wait 100; send "HTTP/1.0 200 OK\\r\\n\\r\\nhello"; close

The address (an IPv4 literal, 127.0.0.1 for the real runs, and a port)
comes first; then steps separated by `;`, run in order on every connection
the peer accepts (each connection runs the script from its start):

    accept              optional first word: the peer accepts (always implicit)
    wait MS             do nothing for MS milliseconds
    send "TEXT"         send these bytes (escapes: \\r \\n \\t \\0 \\\\ \\" \\xHH)
    recv N              wait until N bytes of what nginx sent have arrived, and take them
    recv-line           ... through the next "\\n"
    recv-until "TEXT"   ... through the next TEXT
    close               close the connection (nginx reads EOF); the script ends
    hold                answer nothing more, keep the connection open; the script ends
    echo                send back everything nginx sends, until it closes; the script ends
    repeat              start over on the same connection (keepalive); needs a recv
                        step before it, so that each round waits for a request
    refuse              (the only step) nothing listens there: connects are refused
    drop                (the only step) nothing answers a connect (its SYN is dropped,
                        as when the listen queue is full): connects time out

A script that runs out of steps holds.  When nginx closes the connection
while the peer waits in a recv step, the peer closes its end and stops.
What the peer received and did not take yet stays for the next recv step.
Pick a port number that appears nowhere else in the config: the oracle runs
the peer as a real loopback server on a free port (ngxcoro/oracle/peer.py)
and writes that port into the config wherever the script's port number
stands, and the script's port back into what it returns.

The model runs the same script on the virtual clock (`ScriptedPeer`, on
the loopback network of ngxcoro/nginx/event_connect.py): a wait is a loop
timer, what it sends is readable by nginx in the next turn.  `install`
puts a run's peers into `w.peers`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .nginx.http_parse import RequestError

__all__ = ["PeerScriptError", "PeerScript", "parse_peer", "parse_peers", "ScriptedPeer",
           "install", "RECV_OPS"]

RECV_OPS = ("recv", "recv-line", "recv-until")
_NO_ARG = ("accept", "recv-line", "close", "hold", "echo", "repeat", "refuse", "drop")
_TERMINAL = ("close", "hold", "echo", "repeat", "refuse", "drop")
_ALONE = ("refuse", "drop")
_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"'}


class PeerScriptError(RequestError):
    """A peer script ngxcoro cannot read (a one-line message)."""


@dataclass(frozen=True)
class PeerScript:
    host: str
    port: int
    steps: tuple          # (op, arg): arg an int (wait, recv), bytes (send, recv-until) or None
    text: str

    @property
    def refuse(self):
        return self.steps == (("refuse", None),)

    @property
    def drop(self):
        return self.steps == (("drop", None),)

    @property
    def address(self):
        return f"{self.host}:{self.port}"


def _bad(text, why):
    raise PeerScriptError(f"bad peer script {text!r}: {why}")


def _split_steps(text, body):
    """The steps of `body`, split at `;` outside double quotes."""
    steps, cur, quoted, esc = [], [], False, False
    for ch in body:
        if quoted:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            cur.append(ch)
        elif ch == ";":
            steps.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if quoted:
        _bad(text, "a string is not closed (missing \")")
    steps.append("".join(cur).strip())
    if steps and steps[-1] == "":          # a trailing ";" is fine
        steps.pop()
    return steps


def _string(text, arg):
    """The bytes of a double-quoted string with its escapes."""
    if len(arg) < 2 or arg[0] != '"' or arg[-1] != '"':
        _bad(text, f'expected a double-quoted string, got {arg!r}')
    out, s, i = bytearray(), arg[1:-1], 0
    if "\\" not in s:
        return s.encode()
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = s[i + 1:i + 2]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 2:i + 4]):
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            _bad(text, f"unknown escape \\{nxt} in {arg}")
    return bytes(out)


def parse_peer(text):
    """One peer script -> PeerScript; PeerScriptError (one line) when it is bad."""
    if isinstance(text, PeerScript):
        return text
    if not isinstance(text, str):
        raise PeerScriptError(f"bad peer script {text!r}: expected a string")
    line = text.strip()
    m = re.match(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d+)(?:\s+|$)(.*)$", line, re.S)
    if not m:
        _bad(text, 'expected "HOST:PORT step; step; ..." with HOST an IPv4 address, '
                   'e.g. "127.0.0.1:1990 send \\"hi\\"; close"')
    host, port, body = m.group(1), int(m.group(2)), m.group(3)
    if not 1 <= port <= 65535:
        _bad(text, f"port {port} is not in 1..65535")
    steps = []
    for raw in _split_steps(text, body):
        if not raw:
            _bad(text, "an empty step (two ';' in a row)")
        op, _, arg = raw.partition(" ")
        op, arg = op.lower(), arg.strip()
        if op in _NO_ARG:
            if arg:
                _bad(text, f"{op} takes no argument (got {arg!r})")
            value = None
        elif op in ("wait", "recv"):
            if not re.fullmatch(r"\d+", arg):
                unit = "milliseconds" if op == "wait" else "bytes"
                _bad(text, f"{op} needs a whole number ({unit}), got {arg!r}")
            value = int(arg)
            if op == "recv" and value == 0:
                _bad(text, "recv needs at least 1 byte")
        elif op in ("send", "recv-until"):
            value = _string(text, arg)
            if op == "recv-until" and not value:
                _bad(text, "recv-until needs a non-empty string")
        else:
            _bad(text, f"unknown step {op!r} (steps: accept, wait MS, send \"TEXT\", recv N, "
                       "recv-line, recv-until \"TEXT\", close, hold, echo, repeat, refuse, drop)")
        if op == "accept":
            if steps:
                _bad(text, "accept can only be the first step")
            continue
        if steps and steps[-1][0] in _TERMINAL:
            _bad(text, f"nothing can follow {steps[-1][0]}")
        if op in _ALONE and (steps or raw != body.strip()):
            _bad(text, f"{op} is a peer's only step")
        if op == "repeat" and not any(o in RECV_OPS for o, _ in steps):
            _bad(text, "repeat needs a recv step before it (each round waits for a request)")
        steps.append((op, value))
    return PeerScript(host, port, tuple(steps), line)


def parse_peers(scripts):
    """A list of scripts -> PeerScripts, one address each."""
    out, seen = [], set()
    for s in scripts or ():
        p = parse_peer(s)
        if (p.host, p.port) in seen:
            raise PeerScriptError(f"two peer scripts for {p.address}")
        seen.add((p.host, p.port))
        out.append(p)
    return out


def take(buf, op, arg):
    """How many bytes of `buf` a recv step takes, or None while they have not all arrived."""
    if op == "recv":
        return arg if len(buf) >= arg else None
    sep = b"\n" if op == "recv-line" else arg
    at = bytes(buf).find(sep)
    return None if at < 0 else at + len(sep)


class ScriptedPeer:
    """The model's far end (a peer of nginx/event_connect.py): runs a
    PeerScript on one connection, on the virtual clock."""

    def __init__(self, script, pc):
        self.script, self.pc = script, pc
        self.loop = pc.w.loop
        self.i = 0                   # the next step
        self.buf = bytearray()       # received from nginx, not taken by a recv step yet
        self.timer = None            # a wait step's timer
        self.nginx_closed = False
        self.state = "accepting"     # what it does now, in words (pictures)
        self.done = False
        self.echoing = False
        self.closed = False          # its socket is closed: what nginx sends now meets a reset

    # ---------------------------------------------------- what the network tells it
    def accepted(self, pc):
        self.state = "running"
        self.step()

    def data(self, pc, data):
        if self.done and not self.echoing:
            return
        if self.echoing:
            pc.deliver(data)
            return
        self.buf += data
        self.step()

    def eof(self, pc):
        self.nginx_closed = True
        if self.echoing:
            self._finish("closed")
        else:
            self.step()

    # ----------------------------------------------------------------- the script
    def step(self):
        """Run steps until one has to wait (time, bytes) or the script ends."""
        if self.state == "accepting" or self.timer is not None:
            return                       # not accepted yet (what came is kept), or waiting
        steps = self.script.steps
        while not self.done:
            if self.i >= len(steps):
                self._finish("holding")
                return
            op, arg = steps[self.i]
            if op == "wait":
                self.state = f"waiting {arg} ms"
                self.timer = self.loop.add_timer(arg, self._waited,
                                                 label=f"peer {self.script.address}",
                                                 kind="peer wait", owner="peer", cancelable=True)
                return
            if op == "send":
                self.pc.deliver(arg)
            elif op in RECV_OPS:
                n = take(self.buf, op, arg)
                if n is None:
                    if self.nginx_closed:         # nginx closed: the peer closes too
                        self._finish("closed")
                    else:
                        self.state = f"reading ({op}, {len(self.buf)} bytes buffered)"
                    return
                del self.buf[:n]
            elif op == "close":
                self.pc.deliver_eof()
                self._finish("closed")
                return
            elif op == "hold":
                self._finish("holding")
                return
            elif op == "echo":
                self.echoing = True
                if self.buf:
                    self.pc.deliver(bytes(self.buf))
                    self.buf.clear()
                if self.nginx_closed:
                    self._finish("closed")
                else:
                    self.state = "echoing"
                return
            elif op == "repeat":
                self.i = 0
                continue
            self.i += 1

    def _waited(self):
        self.timer = None
        self.i += 1
        self.step()

    def _finish(self, state):
        self.done, self.state = True, state
        if state == "closed":
            self.echoing, self.closed = False, True


def install(w, peers):
    """Put a run's peers into w.peers: `peers` is a list of scripts (str or
    PeerScript) or a dict {(host, port): factory} kept as it is.  A
    `refuse` peer is an address where nothing listens (no factory); a
    `drop` peer's factory is `silent`: the connect never completes."""
    if not peers:
        return []
    if isinstance(peers, dict):
        w.peers.update(peers)
        return []
    scripts = parse_peers(peers)
    for p in scripts:
        factory = None if p.refuse else (lambda pc, p=p: ScriptedPeer(p, pc))
        if p.drop:
            factory.silent = True
        # the port as Lua gave it: a number, or a string of digits
        w.peers[(p.host, p.port)] = w.peers[(p.host, str(p.port))] = factory
    return scripts
