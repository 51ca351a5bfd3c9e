"""Scripted peers for real nginx: a loopback TCP server per peer script.

The same scripts as the model's (ngxcoro.peers: the language), run in real
time: `start_peers(scripts)` starts one server per script on 127.0.0.1, on a
free port, each connection served by a thread of its own that runs the
script from its start (a wait step sleeps that many milliseconds).  A
`refuse` peer gets a port bound by a socket that never listens (connects are
refused, and nobody else can take the port meanwhile); a `drop` peer listens
with a queue of one that a connection of its own fills, so that Linux drops
the SYN of nginx's connects.  `PeerSet.port_map` maps each script's port to
its real one, `PeerSet.to_real(text)` writes the real ports into a config
and `PeerSet.unport(x)` writes the script's ports back into what nginx said
(after ``127.0.0.1:``).  `PeerSet.stop()` ends every thread (each blocking
call has a short timeout and looks at the stop flag) and closes every
socket.

A `close` step first takes what nginx sent and the script did not read
(so that Linux sends a FIN, not a reset), then closes.
"""

from __future__ import annotations

import re
import socket
import threading

from ..peers import RECV_OPS, parse_peers, take

__all__ = ["PeerSet", "start_peers"]

POLL = 0.02          # seconds: how often a blocked peer looks at the stop flag
JOIN = 2.0           # seconds: how long stop() waits for each thread


class _Peer:
    def __init__(self, script, stop):
        self.script, self.stop_flag = script, stop
        self.listener = None
        self.threads = []
        self.conns = []
        if script.refuse:
            # bound, never listening: connects are refused, and no one else takes the port
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
            return
        if script.drop:
            # a listen queue of one, filled by a connection of our own that is never
            # accepted: Linux drops the SYN of every further connect
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(0)
            self.port = self.listener.getsockname()[1]
            filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            self.conns.append(filler)
            return
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(POLL)
        self.port = self.listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True,
                             name=f"peer {self.script.address}")
        self.threads.append(t)
        t.start()

    def _accept_loop(self):
        while not self.stop_flag.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(POLL)
            self.conns.append(conn)
            self._spawn(self._serve, conn)

    # ---------------------------------------------------------------- one connection
    def _serve(self, conn):
        try:
            self._run(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _recv_some(self, conn):
        """Bytes that arrived, b"" at nginx's EOF, None when nothing (yet) or stopping."""
        try:
            return conn.recv(65536)
        except socket.timeout:
            return None

    def _send(self, conn, data):
        """Send it all, however long nginx takes to read it (until stopped)."""
        view = memoryview(data)
        while view and not self.stop_flag.is_set():
            try:
                view = view[conn.send(view):]
            except socket.timeout:
                continue

    def _run(self, conn):
        steps, i, buf = self.script.steps, 0, bytearray()
        stop = self.stop_flag
        while not stop.is_set():
            if i >= len(steps):                    # out of steps: hold
                stop.wait()
                return
            op, arg = steps[i]
            if op == "wait":
                if stop.wait(arg / 1000):
                    return
            elif op == "send":
                self._send(conn, arg)
            elif op in RECV_OPS:
                while take(buf, op, arg) is None:
                    if stop.is_set():
                        return
                    data = self._recv_some(conn)
                    if data == b"":                # nginx closed: so does the peer
                        return
                    if data:
                        buf += data
                del buf[:take(buf, op, arg)]
            elif op == "close":
                conn.setblocking(False)            # what is unread would make it a reset
                try:
                    while conn.recv(65536):
                        pass
                except (BlockingIOError, OSError):
                    pass
                return
            elif op == "hold":
                stop.wait()
                return
            elif op == "echo":
                if buf:
                    self._send(conn, bytes(buf))
                while not stop.is_set():
                    data = self._recv_some(conn)
                    if data == b"":
                        return
                    if data:
                        self._send(conn, data)
                return
            elif op == "repeat":
                i = 0
                continue
            i += 1

    def stop(self):
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(JOIN)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class PeerSet:
    """The running peers of one nginx run."""

    def __init__(self, scripts):
        self.stop_flag = threading.Event()
        self.peers = []
        try:
            for s in parse_peers(scripts):
                self.peers.append(_Peer(s, self.stop_flag))
        except BaseException:
            self.stop()
            raise
        self.port_map = {p.script.port: p.port for p in self.peers}

    def to_real(self, text):
        """The config with every script port (a whole number in it) as the real port."""
        for mine, real in self.port_map.items():
            text = re.sub(rf"(?<!\d){mine}(?!\d)", str(real), text)
        return text

    def unport(self, x):
        """The script's port back after ``127.0.0.1:`` in a str, or in a list of them."""
        if isinstance(x, list):
            return [self.unport(y) for y in x]
        if isinstance(x, str):
            for mine, real in self.port_map.items():
                x = re.sub(rf"(?<=127\.0\.0\.1:){real}(?!\d)", str(mine), x)
        return x

    def stop(self):
        self.stop_flag.set()
        for p in self.peers:
            p.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_peers(scripts) -> PeerSet:
    """Start a real loopback server for each peer script (stop it with .stop())."""
    return PeerSet(scripts)
