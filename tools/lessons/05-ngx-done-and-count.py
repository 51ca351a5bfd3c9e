# %% [markdown]
# # 5 · NGX_DONE and r->count
#
# `r->main->count` is how many parties still hold the request. It starts at 1 (the client's
# own request), every piece of work that will come back later adds one, and each of them
# gives its reference back with `ngx_http_finalize_request(r, NGX_DONE)`. When
# `ngx_http_close_request` (`ngx_http_request.c`) takes it to 0 the request is freed, and
# with it the Lua ctx and every coroutine.
#
# The seed explains `NGX_DONE` this way: "somebody else took a reference and will finish
# the job". This lesson checks which of ngx_lua's operations really take one.
#
# **Previous:** [4 · The return codes](04-return-codes.ipynb) ·
# **Next:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb)

# %%
import sys

import ngxcoro
from ngxcoro.viz.lessons import (SVG, BlogBox, Predict, Tweak, count_chart_svg, count_history,
                                 pre, scenario)
from ngxcoro.nginx.core import rc_name


def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

# %% [markdown]
# ## One request that does everything
# Rewrite reads the body, access captures `/sub` (which sleeps), content sleeps and then
# `ngx.exec`s to `/target`.

# %%
conf = """
location /t {
    rewrite_by_lua_block {
        ngx.req.read_body()
    }
    access_by_lua_block {
        local res = ngx.location.capture("/sub")
        ngx.ctx.sub = res.body
    }
    content_by_lua_block {
        ngx.sleep(0.01)
        ngx.exec("/target", {sub = ngx.ctx.sub})
    }
}
location /sub {
    content_by_lua_block {
        ngx.sleep(0.01)
        ngx.print("fresh")
    }
}
location /target {
    content_by_lua_block {
        ngx.say("target got sub=", ngx.var.arg_sub)
    }
}
"""

# %% check
res = ngxcoro.run(conf, "POST /t", body="hello")
report(f"{res.status} {res.body!r}", count_history(res))

# %%
SVG(count_chart_svg(res, width=760))

# %% [markdown]
# Every step up has its step down:
#
# | +1 | taken by | given back by |
# |---|---|---|
# | body read | `ngx_http_read_client_request_body` (`ngx_http_request_body.c`) | `ngx_http_lua_ngx_req_read_body` (`ngx_http_lua_req_body.c`), at once |
# | capture | `ngx_http_lua_subrequest` (`ngx_http_lua_subrequest.c`, the module's copy of nginx's `ngx_http_subrequest`), once per subrequest | `ngx_http_finalize_request` of the subrequest when it is done |
# | content parks | `ngx_http_lua_content_run_posted_threads` (`ngx_http_lua_contentby.c`) when the queue runs dry | `ngx_http_core_content_phase`'s `finalize_request(r, NGX_DONE)`, right away |
# | exec | `ngx_http_internal_redirect` (`ngx_http_core_module.c`) inside `ngx_http_lua_handle_exec` | the caller of `run_thread`, which got `NGX_DONE` |
#
# Two things are missing from the picture: the rewrite and access phases parked (on the body
# read, on the capture) and the count did not move for them, and only `ngx.exec` made
# `run_thread` answer `NGX_DONE`.
#
# ## Predict
# The seed lists reading the request body among the operations that return `NGX_DONE`.

# %%
body_conf = """
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say("body: ", ngx.req.get_body_data())
    }
}
"""

# %% predict
Predict("The body arrives 20 ms after the headers, so <code>ngx.req.read_body()</code> must "
        "wait. What does the content handler's <code>run_thread</code> return?",
        ["NGX_DONE", "NGX_AGAIN", "NGX_OK"], "NGX_AGAIN",
        "read_body gives nginx's reference back immediately and simply yields, like a sleep. "
        "The only +1 that stays is content_run_posted_threads parking the request.")

# %% check answer
late = ngxcoro.run(body_conf, "POST /t", body=[(0.02, "abc")])
report(f"{late.status} {late.body!r}",
       "run_thread returned: " + ", ".join(rc_name(e["rc"]) for e in late.events
                                           if e["event"] == "run_thread_returned"),
       count_history(late))

# %% [markdown]
# The scenario below reads the body the same way, in two late pieces, while a light thread
# talks. (`BlogBox` runs a scenario without its `# body-pieces:` line, so we give the model
# the same pieces nginx got.)

# %%
text, request, _ = scenario("152-read-body-content-pieces")
box = BlogBox("Reading the request body asynchronously returns NGX_DONE; the module did "
              "r->count++ and a callback carries on.",
              "ngx.req.read_body() cancels nginx's +1 at once and yields: run_thread returns "
              "NGX_AGAIN. The one reference that shows is the content phase parking.",
              "152-read-body-content-pieces")
box.model = ngxcoro.run(text, request, body=[(0.05, "abc"), (0.1, "def")], log_level="debug")
box

# %%
BlogBox("Creating a subrequest returns NGX_DONE, to be continued when the subrequest is done.",
        "ngx.location.capture yields (NGX_AGAIN); the +1 belongs to each subrequest, and the "
        "parent is woken by being posted again, not by a DONE reference.",
        "156-capture-lua")

# %% [markdown]
# ## The access phase never touches the count
# Rewrite and access park by returning `NGX_DONE`/`NGX_AGAIN` to the phase engine and are
# re-run by it later (`ngx_http_core_run_phases`); nothing needs to hold the request for
# that. Scenario 103 sleeps once in each of the three phases:

# %% check
text, request, rec = scenario("103-three-phases-blocks-sleep")
three = ngxcoro.run(text, request)
report("the sleeps end at 10 ms (rewrite), 20 ms (access), 30 ms (content)",
       count_history(three),
       "real nginx: " + ", ".join(l for l in rec["debug"] if l.startswith(("FINALIZE rc",
                                                                             "CLOSE_REQ"))))

# %%
BlogBox("Parking with NGX_AGAIN or NGX_DONE is handled the same way in every phase: run "
        "the posted threads and wait.",
        "Only the content phase takes a reference when it parks; rewrite and access sleep "
        "at r->count 1, so the request shows one finalize(NGX_DONE) for three sleeps.",
        "103-three-phases-blocks-sleep")

# %% [markdown]
# ## NGX_DONE for real: ngx.exec
# `ngx_http_lua_handle_exec` (`ngx_http_lua_util.c`) calls `ngx_http_internal_redirect`,
# which takes a reference and runs the new location *synchronously*. The target may finish
# (and be finalized) before `run_thread` even returns. Then the caller gives the exec's
# reference back:
#
# * in access or rewrite, `ngx_http_lua_access_by_chunk` calls
#   `ngx_http_lua_finalize_request(r, NGX_DONE)` and then `ngx_http_lua_run_posted_threads`;
# * a resume handler (here: content, after its sleep) does the same in its shared tail;
# * on the content handler's first run, `ngx_http_lua_content_run_posted_threads` is told
#   that one reference is already held (`n = 1`).
#
# If that `finalize(NGX_DONE)` was the last reference, the request is freed, the connection
# is closed and `c->destroyed` is set. The loop over `posted_threads` must not touch the ctx
# any more: its first test is `c->destroyed`. To get there, a light thread must `exec` while
# the entry is still queued, and the target must finish at once. That is scenario 141:

# %%
text, request, rec = scenario("141-exec-access-thread-destroyed")
ngxcoro.show(text, request)

# %% check
def after_rc(res):
    """What happened once run_thread had returned NGX_DONE to access_by_chunk."""
    words = {
        "run_thread_returned": lambda d: f"run_thread returned {rc_name(d['rc'])}",
        "finalize_request": lambda d: f"finalize_request(r, {rc_name(d['rc'])}) at r->count {d['c']}",
        "close_request": lambda d: f"close_request: r->count {d['c']} -> {d['c'] - 1}",
        "free_request": lambda d: "the request is freed",
        "close_connection": lambda d: "the connection is closed: c->destroyed = 1",
        "run_posted_thread": lambda d: f"run_posted_threads pops {d['co']} ({d['status']})",
        "timer_expired": lambda d: "a timer fires ...",
    }
    i = next(i for i, s in enumerate(res.snapshots) if s["event"] == "run_thread_returned"
             and s["data"]["rc"] == -4)
    lines = []
    for s in res.snapshots[i:]:
        if s["event"] in words:
            lines.append(f"{s['t_ms']:>4} ms  {words[s['event']](s['data'])}")
        if s["event"] == "timer_expired":
            break
    return "\n".join(lines)


destroyed = ngxcoro.run(text, request, snapshots=True)
report(f"{destroyed.status} {destroyed.body!r}", after_rc(destroyed))

# %% [markdown]
# The queued entry is never popped: the request was gone before `run_posted_threads` looked.
# When the target parks instead (scenario 142, a sleeping Lua target), the count is still
# 2 when `run_thread` returns, the request survives the `finalize(NGX_DONE)`, and the loop goes on
# with the old ctx, finds the entry dead and skips it.

# %% check
text142, request142, _ = scenario("142-exec-access-thread-target-sleeps")
survives = ngxcoro.run(text142, request142, snapshots=True)
report(f"{survives.status} {survives.body!r}", after_rc(survives))

# %%
BlogBox("If finalize_request(r, NGX_DONE) takes the count to 0, the request is over, "
        "c->destroyed is set, and run_posted_threads returns at once.",
        "Right, but it takes a narrow setup: exec from a light thread while the entry is "
        "still queued, and a target that finishes synchronously. The rewrite phase behaves "
        "the same way (scenario 144).",
        "141-exec-access-thread-destroyed")

# %% [markdown]
# ## Tweak: change the request, watch the count
# Each position is the big location above with one change. Watch the flat start when the
# body comes in pieces (rewrite parks at count 1), the missing middle step when `/sub`
# answers without sleeping, and the exec's +1 that disappears without it.

# %%
def edit(text, *changes):
    """The config with some (old, new) snippets swapped."""
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


CAPTURE = 'local res = ngx.location.capture("/sub")\n        ngx.ctx.sub = res.body'
SLEEP_EXEC = "ngx.sleep(0.01)\n        ngx.exec"
variants = {
    "as above": (conf, "hello"),
    "body in two pieces": (conf, [(0.01, "hel"), (0.02, "lo")]),
    "/sub answers at once": (edit(conf, ("ngx.sleep(0.01)\n        ngx.print", "ngx.print")),
                             "hello"),
    "capture in content": (edit(conf, (CAPTURE, "-- nothing"),
                                (SLEEP_EXEC, 'ngx.ctx.sub = ngx.location.capture("/sub").body\n'
                                             "        ngx.exec")), "hello"),
    "no exec": (edit(conf, ('ngx.exec("/target", {sub = ngx.ctx.sub})',
                            'ngx.say("sub=", ngx.ctx.sub)')), "hello"),
}


def view(name):
    config, body = variants[name]
    r = ngxcoro.run(config, "POST /t", body=body)
    return count_chart_svg(r, width=760) + pre(count_history(r) + f"\n\nclient: {r.status} "
                                                f"{r.body.strip()!r}")


Tweak("variant", list(variants), view)

# %% [markdown]
# **Next:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb) — zombies,
# who dies with whom, and a bug in `ngx.thread.wait`.
