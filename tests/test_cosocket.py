"""TCP cosockets (ngx_lua/socket_tcp*.py) and the loopback network under them
(nginx/event_connect.py).

What real nginx answers is in the recorded scenarios 930-949 (test_differential.py,
test_error_log.py).  Here, with the expected values reasoned in each test: what the
stepper gets for a socket (the snapshot's plain data, the step text naming the event
that resumed a coroutine, a box per socket in the graph), the refusals of what is not
modelled, the port a scenario writes as __PORT__, and the keepalive pool's order."""
from __future__ import annotations

import ngxcoro
from ngxcoro.nginx.event_connect import MODEL_PORT
from ngxcoro.viz.graph import frames_dot

SELF_HTTP10 = """
location = /hello { echo hello; }
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        sock:settimeout(250)
        assert(sock:connect("127.0.0.1", __PORT__))
        sock:send("GET /hello HTTP/1.0\\r\\n\\r\\n")
        ngx.say(sock:receive())
        sock:close()
    }
}
"""


def _snaps(config, **kw):
    res = ngxcoro.run(config, "GET /t", snapshots=True, **kw)
    assert res.message is None, res.message
    return res


def test_snapshot_carries_each_socket():
    """The connect yields (EINPROGRESS): at that step the socket is "connecting" to
    this server's port, with the timeouts settimeout(250) set for all three, and the
    entry thread waits on it.  At the first receive the answer has not arrived yet
    (it comes a turn later), so the entry waits to read.  After close() it is closed."""
    res = _snaps(SELF_HTTP10)
    assert res.body == "HTTP/1.1 200 OK\n"
    by_event = {}
    for s in res.snapshots:
        by_event.setdefault(s["event"], s)
    connecting = by_event["sock_wake"]["sockets"][0]       # woken from the connect
    assert connecting["name"] == "socket #1"
    assert connecting["peer"] == f"127.0.0.1:{MODEL_PORT}"
    assert connecting["timeouts"] == {"connect": 250, "send": 250, "read": 250}
    waiting = by_event["sock_read_yield"]["sockets"][0]
    assert waiting["state"] == "waiting to read" and waiting["waiting"] == "entry"
    assert waiting["buffered"] == 0
    last = res.snapshots[-1]["sockets"][0]
    assert last["state"] == "closed" and last["waiting"] is None


def test_snapshot_shows_what_is_buffered():
    """receive() takes the status line; the rest of the answer (headers and body,
    one read) stays in the socket's buffer: the snapshot counts it and previews its
    start ("Server: nginx/1.22.1", the next header line)."""
    res = _snaps(SELF_HTTP10)
    after = [s for s in res.snapshots if s["event"] == "sock_receive_retval"][0]
    sock = after["sockets"][0]
    assert sock["buffered"] > 0
    assert sock["preview"].startswith("Server: nginx")


def test_step_text_names_the_resuming_event():
    """Each wake-up says which event on which socket resumed which coroutine: the
    connect's write event, then the read event that brought the status line."""
    res = _snaps(SELF_HTTP10)
    texts = [s["explain"] for s in res.snapshots if s["event"] == "sock_wake"]
    assert texts == ["conn event on socket #1 resumed co entry",
                     "read event on socket #1 resumed co entry"]


def test_graph_draws_a_box_per_socket():
    """The graph of a step with a reader has the socket's box and a dashed edge from
    the waiting coroutine to it."""
    res = _snaps(SELF_HTTP10)
    dots = frames_dot(res.snapshots)
    i = next(k for k, s in enumerate(res.snapshots) if s["event"] == "sock_read_yield")
    dot = dots[i]
    assert "sock_0 [" in dot and "cosocket" in dot
    assert "waiting to read" in dot
    assert any("-> sock_0" in line and "dashed" in line for line in dot.splitlines())


def test_sslhandshake_is_refused_in_one_line():
    """No TLS peer exists on the loopback network: the run stops and says so."""
    res = ngxcoro.run_lua("""
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", __PORT__))
        sock:sslhandshake()
    """)
    assert res.refused
    assert res.message == ("sock:sslhandshake() is not modelled by ngxcoro (the loopback "
                           "network has no TLS peers)")


def test_unix_socket_and_udp_are_refused():
    res = ngxcoro.run_lua('local sock = ngx.socket.tcp() sock:connect("unix:/tmp/x.sock")')
    assert res.refused and "unix domain socket" in res.message
    res = ngxcoro.run_lua("local u = ngx.socket.udp()")
    assert res.refused and res.message == "ngx.socket.udp (a real ngx_lua API) is not modelled by ngxcoro"


def test_port_placeholder_is_this_server():
    """A scenario's __PORT__ (in the config and in Lua) is the model's own port, and
    the model writes it back as __PORT__ after 127.0.0.1: in what it answers, as
    the oracle does with the real port."""
    res = ngxcoro.run("""
        location = /t {
            set $p __PORT__;
            content_by_lua_block {
                local sock = ngx.socket.tcp()
                local ok = sock:connect("127.0.0.1", ngx.var.p)
                ngx.say("127.0.0.1:", ngx.var.p, " ", ok, " ", ngx.var.server_port == ngx.var.p)
            }
        }
    """)
    assert res.body == "127.0.0.1:__PORT__ 1 true\n"


def test_pool_reuse_is_last_in_first_out():
    """The pool's head is the connection pooled last (ngx_queue_insert_head) and a
    connect takes the head (ngx_http_lua_get_keepalive_peer).  Connection A is
    pooled and reused once (its count is 1), B is new (0); pooling B then A puts A
    at the head: the next connect reuses A a second time, getreusedtimes() = 2.
    (Pooling A then B would give 1.)  Checked against real nginx with
    `python -m ngxcoro compare` while writing this test."""
    res = ngxcoro.run(POOL_ORDER)
    assert res.body == "a 1, b 0, next 2\n"


POOL_ORDER = """
keepalive_timeout 10s;
location = /t {
    content_by_lua_block {
        local function open()
            local s = ngx.socket.tcp()
            assert(s:connect("127.0.0.1", __PORT__))
            return s
        end
        local first = open()
        first:setkeepalive()
        local a = open()              -- the pooled connection again
        local b = open()              -- the pool is empty: a new one
        local ra, rb = a:getreusedtimes(), b:getreusedtimes()
        b:setkeepalive()
        a:setkeepalive()
        local c = open()
        ngx.say("a ", ra, ", b ", rb, ", next ", c:getreusedtimes())
    }
}
"""


def test_stap_of_a_killed_reader():
    """The GC script's lines (t/StapThread.pm) for scenario 938: the entry thread (1)
    spawns a light thread (2) that blocks in receive("*a"); killing it deletes it
    without a terminate line (the coroutine never returned: ngx_http_lua_del_thread
    only), and closes the socket; then the entry thread ends normally.  The server
    side's request is answered by Lua only after the kill (it sleeps 0.3 s): its own
    entry thread's lines, if any, come after these five."""
    from ngxcoro.oracle import SCENARIO_DIR
    text = (SCENARIO_DIR / "938-cosock-kill-reader.ngx").read_text()
    res = ngxcoro.run(text, "GET /t")
    assert res.stap[:5] == ["create 2 in 1", "spawn user thread 2 in 1", "delete thread 2",
                            "terminate 1: ok", "delete thread 1"]
