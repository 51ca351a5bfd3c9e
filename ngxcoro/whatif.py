"""What-if switches: the model with one line of the C changed, to show what
that line is for.  NOT nginx: a run with a switch on is marked so in
`Result.what_if` and `Result.notes`, the CLI output, every snapshot
(`"what_if"`) and the event log (the `what_if` event first, then a
`what_if_taken` event each time the changed line makes a difference).

Each switch is a flag check (`w.what_if == ...`) at the exact C line it
changes, in the module that mirrors that C file, with a comment there:

post-thread-prepends  ngx_http_lua_post_thread (ngx_lua/util.py) puts the
                      thread at the head of ctx->posted_threads, not the tail
no-destroyed-check    ngx_http_lua_run_posted_threads (ngx_lua/util.py) does
                      not test c->destroyed: it reads ctx->posted_threads out
                      of a freed request (use after free; the model stops
                      there and says so: what C would do next is undefined)
no-finalize-done      ngx_http_lua_finalize_request(r, NGX_DONE) (ngx_lua/util.py)
                      returns at once: the reference NGX_DONE stands for is
                      never given back, r->count never reaches 0, the request
                      and its connection leak (the client waits for its EOF)
"""
from __future__ import annotations

from .nginx.core import NGX_DONE
from .nginx.http_parse import RequestError

PREPENDS = "post-thread-prepends"
NO_DESTROYED_CHECK = "no-destroyed-check"
NO_FINALIZE_DONE = "no-finalize-done"

WHAT_IFS = {
    PREPENDS: "ngx_http_lua_post_thread inserts at the head of ctx->posted_threads "
              "(nginx appends at the tail)",
    NO_DESTROYED_CHECK: "ngx_http_lua_run_posted_threads ignores c->destroyed "
                        "(nginx returns at once when the connection is gone)",
    NO_FINALIZE_DONE: "ngx_http_lua_finalize_request(r, NGX_DONE) is skipped "
                      "(nginx gives the request's reference back)",
}


class UnknownWhatIf(RequestError):
    """A what-if name the model does not know."""


def check(name):
    """The switch's name, or None; an unknown name is a one-line UnknownWhatIf."""
    if name is None or name in WHAT_IFS:
        return name
    raise UnknownWhatIf(f"unknown what-if {name!r}: known ones are {', '.join(WHAT_IFS)}")


def banner(name):
    """The line that marks a run as not nginx."""
    return f"not nginx: what-if {name}: {WHAT_IFS[name]}"


def start(w, name):
    """Switch `name` on for worker `w` (before it serves anything)."""
    w.what_if = check(name)
    w.what_if_notes = []
    if name is not None:
        w.fire("what_if", name=name, text=WHAT_IFS[name])


def taken(w, text):
    """The changed line made a difference: an event, and a note (once per text)."""
    w.fire("what_if_taken", name=w.what_if, text=text)
    note = f"not nginx: what-if {w.what_if}: {text}"
    if note not in w.what_if_notes:
        w.what_if_notes.append(note)


# --- the changed lines' other halves (called from the module of the C file) ---
def prepend(r, ctx, pt):
    """ngx_http_lua_post_thread with the switch: the new posted thread goes first."""
    pt.next, ctx.posted_threads = ctx.posted_threads, pt
    taken(r.worker, f"post_thread put {pt.co_ctx.name} at the head of posted_threads")


def use_after_free(r, where, what):
    """A read of a freed request by ngx_http_lua_`where`: said, not done (what C does
    then is undefined: the pool's memory may hold anything)."""
    taken(r.worker, f"would use freed request {r.uri} (use after free): ngx_http_lua_{where} "
                    f"reads {what} after the request was freed; the model stops there")
    return NGX_DONE


def skip_finalize_done(r):
    """ngx_http_lua_finalize_request(r, NGX_DONE) with the switch: nothing happens."""
    taken(r.worker, f"finalize_request(r, NGX_DONE) skipped: the reference of {r.uri} "
                    "is not given back")


def summary(w, r):
    """The last note of a run: what the switch left behind."""
    if w.what_if == NO_FINALIZE_DONE and r is not None and not r.connection.destroyed:
        return (f"not nginx: what-if {w.what_if}: r->count stuck at {r.main.count}, the "
                "request never freed and the connection never closed (a leak)")
    return None


def notes(w, r):
    """Result.notes' what-if lines: the banner first."""
    if w.what_if is None:
        return []
    return [banner(w.what_if)] + w.what_if_notes + [n for n in (summary(w, r),) if n]
