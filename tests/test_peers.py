"""Scripted peers (ngxcoro/peers.py, ngxcoro/oracle/peer.py): the language, the
model's peer on the virtual clock, and the oracle's real loopback server.

Reasoning, not recordings: the expected timings follow from the loopback
network's rule (nginx/event_connect.py: what one end sends is readable by the
other in the next turn, and a turn takes no virtual time) and from each
script's waits; the real server is checked with a plain Python socket
client.  What nginx itself does with these peers is recorded in the
scenarios 1040-1069 (`# peer:` lines).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT
import ngxcoro
from ngxcoro import peers
from ngxcoro.nginx.event_connect import ECONNREFUSED, PeerConnection, connect_peer, find_peer
from ngxcoro.nginx.loop import Loop
from ngxcoro.oracle.peer import start_peers


# ------------------------------------------------------------------------------ the language
def test_parse_steps():
    p = peers.parse_peer('127.0.0.1:1990 accept; recv-line; wait 100; send "a\\r\\n\\x41\\";b";'
                         ' recv 3; recv-until "\\r\\n\\r\\n"; close')
    assert (p.host, p.port, p.address) == ("127.0.0.1", 1990, "127.0.0.1:1990")
    assert p.steps == (("recv-line", None), ("wait", 100), ("send", b'a\r\nA";b'), ("recv", 3),
                       ("recv-until", b"\r\n\r\n"), ("close", None))
    assert not p.refuse and peers.parse_peer("127.0.0.1:7 refuse").refuse
    assert peers.parse_peer("127.0.0.1:7").steps == ()          # no steps: it holds
    assert peers.parse_peer("127.0.0.1:7 send \"x\";").steps == (("send", b"x"),)
    assert peers.parse_peer('127.0.0.1:7 send "é"').steps == (("send", "é".encode()),)


@pytest.mark.parametrize("script, words", [
    ("1990 close", "expected \"HOST:PORT"),
    ("localhost:1990 close", "expected \"HOST:PORT"),
    ("127.0.0.1:70000 close", "port 70000 is not in 1..65535"),
    ("127.0.0.1:1990 sleep 5", "unknown step 'sleep'"),
    ('127.0.0.1:1990 send "abc', "a string is not closed"),
    ("127.0.0.1:1990 send abc", "expected a double-quoted string"),
    ('127.0.0.1:1990 send "\\q"', "unknown escape \\q"),
    ("127.0.0.1:1990 wait soon", "wait needs a whole number (milliseconds)"),
    ("127.0.0.1:1990 recv 0", "recv needs at least 1 byte"),
    ('127.0.0.1:1990 recv-until ""', "recv-until needs a non-empty string"),
    ("127.0.0.1:1990 close x", "close takes no argument"),
    ("127.0.0.1:1990 close; send \"x\"", "nothing can follow close"),
    ("127.0.0.1:1990 send \"x\"; repeat", "repeat needs a recv step before it"),
    ("127.0.0.1:1990 wait 1; refuse", "refuse is a peer's only step"),
    ("127.0.0.1:1990 wait 1;; close", "an empty step"),
    ("127.0.0.1:1990 recv-line; accept", "accept can only be the first step"),
])
def test_parse_errors_are_one_line(script, words):
    with pytest.raises(peers.PeerScriptError) as e:
        peers.parse_peer(script)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, ngxcoro.RequestError)       # run() and the CLIs say it so


def test_two_scripts_for_one_address():
    with pytest.raises(peers.PeerScriptError, match="two peer scripts for 127.0.0.1:1990"):
        peers.parse_peers(["127.0.0.1:1990 close", "127.0.0.1:1990 hold"])


# --------------------------------------------------------------- the model, on the virtual clock
class _W:
    def __init__(self, scripts):
        self.loop, self.peers = Loop(), {}
        peers.install(self, scripts)


def _connect(w, port=1990, on_connect=b""):
    """A cosocket's connection as nginx's end sees it: each read event logs
    (virtual ms, what is buffered, EOF seen); `on_connect` is sent when the
    connect completes."""
    pc = PeerConnection(w, 1, 5, "127.0.0.1", port)
    seen = []
    pc.read_handler = lambda: seen.append((w.loop.now_ms, bytes(pc.rbuf), pc.eof, pc.error))

    def connected():
        seen.append((w.loop.now_ms, "connected"))
        if on_connect:
            pc.send(on_connect)
    pc.write_handler = connected
    connect_peer(w, pc)
    return pc, seen


def _by_time(seen):
    """What nginx's end could read at each virtual ms (the last read event of that ms):
    how many read events a turn's arrivals make is the loopback network's business."""
    out = {}
    for x in seen:
        out[x[0]] = x[1:]
    return [(ms,) + v for ms, v in out.items()]


def _run(w, until_ms=None):
    while w.loop.run_once():
        if until_ms is not None and w.loop.now_ms >= until_ms:
            break


def test_wait_send_close_timings():
    # connect (turn 1, 0 ms): connected, nginx sends "hi\n"; the peer accepts and the line
    # arrives (turns 2-3, 0 ms); wait 100 -> "hello\nwor" readable at 100 ms; wait 100 ->
    # "ld\n" at 200 ms; close -> EOF, still at 200 ms
    w = _W(['127.0.0.1:1990 recv-line; wait 100; send "hello\\nwor"; wait 100; send "ld\\n"; '
            'close'])
    pc, seen = _connect(w, on_connect=b"hi\n")
    _run(w)
    assert _by_time(seen) == [(0, "connected"), (100, b"hello\nwor", False, None),
                              (200, b"hello\nworld\n", True, None)]
    assert pc.peer.state == "closed"


def test_recv_waits_for_all_its_bytes():
    # recv 5 takes nothing until the fifth byte arrives (at 50 ms): the answer comes then
    w = _W(['127.0.0.1:1990 recv 5; send "got5"; hold'])
    pc, seen = _connect(w, on_connect=b"abc")
    w.loop.add_timer(50, lambda: pc.send(b"de"))
    _run(w)
    assert seen[1:] == [(50, b"got5", False, None)]
    assert pc.peer.state == "holding" and not pc.eof


def test_repeat_serves_each_request_on_one_connection():
    # keepalive: two requests on one connection, each answered when its "\r\n\r\n" is in
    w = _W(['127.0.0.1:1990 recv-until "\\r\\n\\r\\n"; wait 10; send "ok\\n"; repeat'])
    pc, seen = _connect(w, on_connect=b"GET / HTTP/1.1\r\n\r\n")
    w.loop.add_timer(100, lambda: pc.send(b"GET /2 HTTP/1.1\r\n\r\n"))
    _run(w, until_ms=500)
    assert seen[1:] == [(10, b"ok\n", False, None), (110, b"ok\nok\n", False, None)]


def test_echo_and_nginx_closing_first():
    w = _W(["127.0.0.1:1990 echo"])
    pc, seen = _connect(w, on_connect=b"ping")
    w.loop.add_timer(30, pc.close)
    _run(w)
    assert seen[1:] == [(0, b"ping", False, None)] and pc.peer.state == "closed"


def test_nginx_closing_ends_a_recv_step():
    w = _W(['127.0.0.1:1990 recv-line; send "late"'])
    pc, seen = _connect(w, on_connect=b"no newline")
    w.loop.add_timer(40, pc.close)
    _run(w)
    assert pc.peer.state == "closed" and seen == [(0, "connected")]


def test_a_wait_is_a_cancelable_peer_timer():
    # the peer's timers are not the worker's: they keep no exiting worker alive
    w = _W(['127.0.0.1:1990 wait 300; close'])
    _connect(w)
    _run(w, until_ms=0)
    w.loop.run_once()
    assert [(t.kind, t.owner, t.deadline, t.cancelable) for t in w.loop.pending()] == [
        ("peer wait", "peer", 300, True)]


def test_refuse_and_unknown_ports_are_refused():
    # "refuse" names an address where nothing listens; any other port is refused too
    # (this fake worker has no server of its own)
    w = _W(["127.0.0.1:1991 refuse"])
    assert find_peer(w, "127.0.0.1", 1991) is None and ("127.0.0.1", "1991") in w.peers
    pc, seen = _connect(w, port=1991)
    _run(w)
    assert seen == [(0, b"", False, ECONNREFUSED)] and not pc.connected


def test_install_keys_the_port_as_number_and_digits():
    w = _W(['127.0.0.1:1990 close'])
    assert find_peer(w, "127.0.0.1", 1990) is find_peer(w, "127.0.0.1", "1990") is not None


def test_run_and_cli_refuse_a_bad_script(tmp_path):
    with pytest.raises(ngxcoro.RequestError, match="bad peer script"):
        ngxcoro.run("location /t { return 200; }", peers=["127.0.0.1:1 frobnicate"])
    conf = tmp_path / "t.conf"
    conf.write_text("location /t { return 200; }\n")
    out = subprocess.run([sys.executable, "-m", "ngxcoro", "run", "--config", str(conf),
                          "--peer", "127.0.0.1:1 frobnicate"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "unknown step 'frobnicate'" in out.stderr


def test_run_with_a_peer_that_nobody_calls_is_unchanged():
    res = ngxcoro.run("location /t { return 200 \"x\\n\"; }", peers=["127.0.0.1:1990 close"])
    assert (res.status, res.body) == (200, "x\n")


# ---------------------------------------------------------- the oracle's real loopback server
def _client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(2)
    return s


def _read_all(s):
    out = b""
    while True:
        data = s.recv(4096)
        if not data:
            return out
        out += data


def test_real_peer_runs_the_script_in_real_time():
    ps = start_peers(['127.0.0.1:1990 recv-line; wait 100; send "hello\\n"; close'])
    try:
        real = ps.port_map[1990]
        assert real != 1990 or True
        s = _client(real)
        t0 = time.monotonic()
        s.sendall(b"hi\n")
        assert _read_all(s) == b"hello\n"               # then EOF: the peer closed
        assert time.monotonic() - t0 >= 0.09              # after its wait of 100 ms
        s.close()
    finally:
        ps.stop()


def test_real_peer_repeat_and_fresh_connections():
    ps = start_peers(['127.0.0.1:1990 recv 2; send "ok"; repeat'])
    try:
        port = ps.port_map[1990]
        a, b = _client(port), _client(port)           # each connection from the start
        for s in (a, b, a):
            s.sendall(b"xy")
            assert s.recv(10) == b"ok"
        a.close()
        b.close()
    finally:
        ps.stop()


def test_real_peer_refuse_hold_and_stop():
    ps = start_peers(["127.0.0.1:1991 refuse", "127.0.0.1:1992 hold"])
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ps.port_map[1991]), timeout=2)
        s = _client(ps.port_map[1992])
        s.settimeout(0.2)
        with pytest.raises(socket.timeout):            # holds: no answer, no close
            s.recv(10)
    finally:
        t0 = time.monotonic()
        ps.stop()
        assert time.monotonic() - t0 < 1.0            # stopping does not wait on the hold
    assert all(not t.is_alive() for p in ps.peers for t in p.threads)
    s.settimeout(2)
    assert s.recv(10) == b""                          # stopped: the connection is closed
    s.close()


def test_ports_in_and_out_of_the_config():
    ps = start_peers(["127.0.0.1:1990 close"])
    try:
        real = ps.port_map[1990]
        text = 'sock:connect("127.0.0.1", 1990) -- 11990 19901 "127.0.0.1:1990"'
        assert ps.to_real(text) == (f'sock:connect("127.0.0.1", {real}) -- 11990 19901 '
                                    f'"127.0.0.1:{real}"')
        assert ps.unport([f"connect to 127.0.0.1:{real} failed", f"port {real}"]) == [
            "connect to 127.0.0.1:1990 failed", f"port {real}"]
    finally:
        ps.stop()


def test_a_send_after_the_peer_closed_meets_a_reset():
    # scenario 1047-peer-send-after-close (real nginx): the peer closed; nginx's first send
    # afterwards succeeds (8 bytes), its kernel gets a reset back at once on loopback, and the
    # next send fails with "send() failed (32: Broken pipe)"
    from ngxcoro.nginx.core import NGX_ERROR
    from ngxcoro.nginx.event_connect import EPIPE
    w = _W(["127.0.0.1:1999 close"])
    pc, seen = _connect(w, port=1999)
    _run(w)
    assert seen[-1][2] and pc.peer.closed and not pc.reset          # the FIN arrived
    assert pc.send(b"anyone?\n") == 8 and pc.reset and pc.error is None
    assert pc.send(b"hello?\n") == NGX_ERROR and pc.error == EPIPE and pc.sent == 8


@pytest.mark.nginx
def test_real_nginx_talks_to_a_real_peer(real_nginx):
    # the config names the script's port (1990); nginx gets the real one, and what it
    # says after "127.0.0.1:" comes back as 1990; a bare number stays the real port
    text = ('location = /t {\n    content_by_lua_block {\n'
            '        local sock = ngx.socket.tcp()\n'
            '        sock:settimeout(1000)\n'
            '        ngx.say("to 127.0.0.1:", 1990, " ", sock:connect("127.0.0.1", 1990))\n'
            '        sock:send("hi\\n")\n'
            '        ngx.say(sock:receive())\n'
            '        ngx.say(sock:receive())\n'
            '    }\n}\n')
    res = real_nginx(text, "GET /t", peers=['127.0.0.1:1990 recv-line; wait 50; '
                                            'send "hello\\n"; close'])
    assert (res["status"], res["body"]) == (200, "to 127.0.0.1:1990 1\nhello\nnilclosed\n")


@pytest.mark.nginx
def test_real_nginx_refuses_a_bad_script_before_it_starts(real_nginx):
    with pytest.raises(peers.PeerScriptError, match="unknown step"):
        real_nginx("location /t { return 200; }", "GET /t", peers=["127.0.0.1:1990 dance"])


def test_real_peer_sends_more_than_the_socket_buffers_hold():
    # 8 MB is more than loopback's socket buffers take at once: the peer's send waits
    # while the client does not read (200 ms, ten of its 20 ms polls), then goes on
    big = 8 * 2**20
    ps = start_peers([f'127.0.0.1:1990 send "{"x" * big}"; close'])
    try:
        s = _client(ps.port_map[1990])
        time.sleep(0.2)
        assert len(_read_all(s)) == big
        s.close()
    finally:
        ps.stop()


def test_drop_peer_never_completes_a_connect():
    # model: the SYN is dropped, neither the write event (connected) nor the read event
    # (refused) comes; nginx's connect timer decides (scenario 1065-peer-connect-timeout)
    assert peers.parse_peer("127.0.0.1:1969 drop").drop
    with pytest.raises(peers.PeerScriptError, match="drop is a peer's only step"):
        peers.parse_peer("127.0.0.1:1969 wait 5; drop")
    w = _W(["127.0.0.1:1969 drop"])
    pc, seen = _connect(w, port=1969)
    _run(w)
    assert seen == [] and not pc.connected and pc.error is None and pc.peer is None
    # real: the connect stays in progress (a non-blocking connect is not writable)
    import select
    ps = start_peers(["127.0.0.1:1969 drop"])
    try:
        s = socket.socket()
        s.setblocking(False)
        assert s.connect_ex(("127.0.0.1", ps.port_map[1969])) in (115, 11)   # EINPROGRESS
        assert select.select([], [s], [], 0.2)[1] == []
        s.close()
    finally:
        ps.stop()
