"""The worker's graceful shutdown (src/os/unix/ngx_process_cycle.c: the
ngx_quit branch of ngx_worker_process_cycle and ngx_worker_process_exit;
src/core/ngx_connection.c: ngx_close_idle_connections).

`nginx -s quit` sends SIGQUIT to the master, which passes it on to its
worker (over the channel: ngx_quit = 1).  When the worker's loop turn ends
it logs "gracefully shutting down", sets ngx_exiting, closes its listening
sockets and calls the read handler of every idle connection (for
lua-nginx-module, its timer watcher: ngx_http_lua_abort_pending_timers).
Active requests go on to their end.  At the top of each later turn the
worker exits once no non-cancelable timer is left (lua timers and
ngx.sleep timers are not cancelable).

The model has one flag for the signal (`w.ngx_quit`, set by the quit's
loop timer) and looks at it between two turns of the loop (Worker.serve).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(eq=False)
class IdleConnection:
    """An idle connection of the worker's (ngx_connection_t with c->idle):
    its read handler, its fd and its slot in cycle->connections."""
    handler: object
    fd: int
    slot: int = 0
    number: int = 0


def signal_quit(w):
    """ngx_channel_handler, NGX_CMD_QUIT: the master passes the quit on; the
    worker looks at the flag when its loop turn is over."""
    w.ngx_quit = True
    w.fire("worker_quit_signal")


def worker_quit(w):
    """ngx_worker_process_cycle, its `if (ngx_quit)` branch: the graceful
    shutdown starts."""
    w.ngx_quit = False
    w.log_error("notice", "gracefully shutting down")
    if not w.exiting:
        w.exiting = True                     # ngx_exiting
        w.fire("worker_exiting")
        # ngx_close_listening_sockets: no new connection (the model has one request)
        close_idle_connections(w)


def close_idle_connections(w):
    """ngx_close_idle_connections: each idle connection gets c->close = 1
    and its read handler is called (the lua timer watcher is one)."""
    for c in list(w.idle_connections):
        c.handler()


def worker_process_exit(w):
    """ngx_worker_process_cycle's `if (ngx_exiting)` test passed
    (ngx_event_no_timers_left), then ngx_worker_process_exit: the worker
    process is gone."""
    w.log_error("notice", "exiting")
    w.exited = True
    w.fire("worker_exit")
    # a connection still open (a lua timer watcher made after the quit: no one
    # closed it) is reported; then ngx_debug_point (no debug_points: nothing)
    for c in w.idle_connections:
        w.log_error("alert", f"*{c.number} open socket #{c.fd} left in connection {c.slot}")
    if w.idle_connections:
        w.log_error("alert", "aborting")
    w.log_error("notice", "exit")
