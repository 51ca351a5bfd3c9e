# %% [markdown]
# # 0 · A tour of ngxcoro
#
# OpenResty runs your Lua inside nginx as **coroutines**. `ngx.thread.spawn` starts a
# *light thread*, `ngx.sleep` parks one, and a small scheduler in lua-nginx-module
# (`ngx_http_lua_run_thread` and friends in `ngx_http_lua_util.c`) decides who runs next.
#
# This kit is a model of that scheduler, faithful to **lua-nginx-module 0.10.23**. It runs
# your real Lua (LuaJIT), on a virtual clock, and records every step so you can walk
# through it, forwards and back. Real nginx is the judge: every claim in these lessons is
# also a test that runs the same config on real nginx.
#
# Run the cells from the top (Shift-Enter).

# %%
import ngxcoro

# %% [markdown]
# ## Run a location block
# A location with one light thread. `ngxcoro.run` serves one request and tells you what
# the client got.

# %%
conf = """
location /t {
    content_by_lua_block {
        ngx.say("entry: before spawn")
        ngx.thread.spawn(function()
            ngx.say("light thread: first part")
            ngx.sleep(0.1)
            ngx.say("light thread: after its sleep")
        end)
        ngx.say("entry: after spawn")
    }
}
"""

# %% check
res = ngxcoro.run(conf, "GET /t")
print(res.status)
print(res.body)

# %% [markdown]
# The light thread printed *before* the entry thread's second line: `spawn` runs the new
# thread at once, and the entry thread waits in a queue (`posted_threads`) until the
# child blocks in `ngx.sleep`. The sleep took 0.1 s of *virtual* time: the run is instant.
#
# ## Step through it
# `ngxcoro.show` runs the same thing and gives you a stepper: use the buttons, the slider,
# the arrow keys, or click a line in the event log. The graph shows the request
# (`r->count`), the Lua ctx, the coroutine tree and the `posted_threads` line.

# %%
ngxcoro.show(conf, "GET /t")

# %% [markdown]
# ## Predict
# Before you run the next cell: what if the light thread does **not** sleep?

# %% predict
from ngxcoro.viz.lessons import Predict
Predict("Without <code>ngx.sleep</code> in the light thread, which line comes second?",
        ["entry: after spawn", "light thread: first part", "light thread: after its sleep"],
        "light thread: first part",
        "The child always runs first, up to its first block or its end. With no sleep it "
        "runs to its end: both of its lines come before the entry thread's second line.")

# %% check answer
print(ngxcoro.run(conf.replace("ngx.sleep(0.1)", ""), "GET /t").body)

# %% [markdown]
# ## Tweak
# Move the slider: how long the light thread sleeps. The order of the output does not
# change with the length: a sleep of 0 still parks the thread (a real 0 ms timer), and the
# entry thread runs in the meantime. At 0, nginx also logs a warning. Its default
# `error_log` level is `error`, which hides warnings, so these runs log at `warn`.

# %%
from ngxcoro.viz.lessons import Tweak, pre

def body_for(seconds):
    r = ngxcoro.run(conf.replace("0.1", str(seconds)), "GET /t", log_level="warn")
    return pre(r.body + "\n" + "\n".join(l.split(" 1#1: ")[1].split(", client:")[0]
                                         for l in r.error_log))

Tweak("sleep (s)", [0, 0.001, 0.1, 1], body_for, index=2)

# %% [markdown]
# ## What the module's test suite would print
# lua-nginx-module's own tests trace coroutines with systemtap probes. The model fires the
# same probes at the same points; these lines are what the test suite's "GC script" prints
# for this request (ids in order of first appearance; the entry thread is 1).

# %% check
print("\n".join(res.stap))

# %% [markdown]
# ## Your own code
# Paste a location block (or just Lua) into the editor and press Run. Errors come back as
# nginx would log them.

# %%
from ngxcoro.viz import Editor
Editor(conf)

# %% [markdown]
# **Next:** [1 · Coroutines inside nginx](01-coroutines.ipynb) — the entry thread,
# `run_thread` and the trampoline that resumes every coroutine.
