# %% [markdown]
# # 9 · Cost: post_thread walks to the tail
#
# **Previous:** [8 · Lab](08-lab.ipynb) · **Next:** [10 · Timers](10-timers.ipynb)
#
# `ctx->posted_threads` is a singly linked list with no tail pointer. To append a node,
# `ngx_http_lua_post_thread` (`src/ngx_http_lua_util.c`) starts at the head and follows `next`
# until it reaches the end. So one post costs as many steps as the list has nodes. If the list
# could hold N threads, N posts would cost about N²/2 steps.
#
# One mechanism: **how long does that list really get?** The model's `post_thread` does the
# same walk:

# %% check
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util

print(inspect.getsource(util.post_thread))

# %% [markdown]
# ## Counting the walk
# A hook listener is enough to measure it, with no clock involved. Every `post_thread` adds a
# node and every `run_posted_thread` pops one, so the listener knows the list's length. The
# nodes walked by a post are the nodes that were already there.

# %%
class Walk:
    """Hook listener: nodes walked by each post_thread."""

    def __init__(self):
        self.length = 0          # nodes in posted_threads right now
        self.walks = []          # nodes walked, one number per post

    def __call__(self, event, data):
        if event == "post_thread":
            self.walks.append(self.length)
            self.length += 1
        elif event == "run_posted_thread":
            self.length -= 1


def walks(lua, n, **kw):
    hooks = ngxcoro.Hooks()
    w = hooks.add(Walk())
    res = ngxcoro.run_lua(lua.replace("N", str(n)), hooks=hooks, **kw)
    return res, w.walks


# %% [markdown]
# ## The usual pattern: one parent spawns N threads in a loop
# The parent starts N light threads that each sleep, then waits for all of them. This is the
# shape of scenario 044, and of most real fan-out code.

# %%
spawn_loop = """
local ts = {}
for i = 1, N do
    ts[i] = ngx.thread.spawn(function() ngx.sleep(0.001) end)
end
for i = 1, N do ngx.thread.wait(ts[i]) end
ngx.say("done ", N)"""

# %% predict
from ngxcoro.viz.lessons import Predict
Predict("The parent spawns 1000 light threads in a loop and each one sleeps. How many "
        "nodes do all the <code>post_thread</code> walks visit together?",
        ["0", "about 1,000", "about 500,000", "about 1,000,000"], "0",
        "Each spawn posts the parent into an <b>empty</b> list. The child runs at once and "
        "parks in ngx.sleep, and then the parent is popped again, before it spawns the next "
        "child. A sleeping thread is not in posted_threads: its timer wakes it.")

# %% check answer
def table(lua):
    rows = [f"{'N':>6} {'posts':>7} {'nodes walked':>13} {'longest walk':>13}"]
    for n in (10, 100, 1000):
        res, w = walks(lua, n)
        assert res.status == 200, res.message
        rows.append(f"{n:>6} {len(w):>7} {sum(w):>13} {max(w):>13}")
    print("\n".join(rows))


table(spawn_loop)

# %% [markdown]
# The snapshots agree. Each snapshot holds the list itself, so at every `post_thread` step
# the list is one node longer than the walk that post made (N = 10):

# %% check
res10 = ngxcoro.run_lua(spawn_loop.replace("N", "10"), snapshots=True)
from_snapshots = [len(s["requests"][0]["ctx"]["posted_threads"]) - 1
                  for s in res10.snapshots if s["event"] == "post_thread"]
same = from_snapshots == walks(spawn_loop, 10)[1]
print(from_snapshots, same, sep="\n")

# %% [markdown]
# ## When does the list get long?
# The list holds only coroutines that are **ready to run now**. A spawn makes the spawner
# ready and puts it at the tail, behind everything already waiting. So the list grows when
# threads spawn before anyone is popped: a chain where each new thread spawns the next one
# before it blocks. Every spawner waits in line, and each new post walks past all of them.

# %%
spawn_chain = """
local function link(k)
    if k < N then ngx.thread.spawn(link, k + 1) end
    ngx.sleep(0.001)
end
ngx.thread.spawn(link, 1)
ngx.say("done ", N)"""

# %% check
table(spawn_chain)

# %% [markdown]
# Here the total is 0 + 1 + … + (N − 1) = N(N − 1)/2: for N = 1000, 499,500 steps for 1000
# posts. That is the quadratic case.
#
# ## Step through a short chain
# With N = 5, watch the **posted_threads** line: entry, t1, t2, t3 and t4 line up behind each
# other. Then t5 sleeps, and they are popped in that order (try "next run_posted_thread").

# %%
ngxcoro.show(spawn_chain.replace("N", "5"))

# %% [markdown]
# ## Tweak: the list after each post
# Each bar is one `post_thread`, and its height is the number of nodes that post walked past.
# Move the slider to change N.

# %%
import html
from ngxcoro.viz.lessons import Tweak


def bars_svg(rows, width=620, row_h=70):
    """One row of bars per pattern: bar k = nodes walked by post k."""
    top = max(max(w) for _, w in rows) or 1
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' "
           f"height='{row_h * len(rows) + 10}' font-family='sans-serif' font-size='11'>"]
    for i, (name, w) in enumerate(rows):
        y0 = i * row_h + row_h - 10
        bw = (width - 170) / max(len(w), 1)
        out.append(f"<text x='0' y='{y0 - 20}'>{html.escape(name)}</text>"
                   f"<text x='0' y='{y0 - 6}' fill='#555'>walked {sum(w)} in all</text>"
                   f"<line x1='160' x2='{width}' y1='{y0}' y2='{y0}' stroke='#999'/>")
        for k, v in enumerate(w):
            h = (row_h - 20) * v / top
            out.append(f"<rect x='{160 + k * bw:.1f}' y='{y0 - h:.1f}' width='{max(bw - 1, 1):.1f}' "
                       f"height='{max(h, 0.5):.1f}' fill='{'#0072B2' if i == 0 else '#D55E00'}'/>")
    out.append("</svg>")
    return "".join(out)


def both(n):
    return bars_svg([("spawn in a loop", walks(spawn_loop, n)[1]),
                     ("spawn chain", walks(spawn_chain, n)[1])])


Tweak("N threads", [5, 10, 20, 40, 80], both, index=2)

# %% [markdown]
# ## Wall-clock time of the model
# The counts above are exact. This timing is only an illustration: CPU seconds of a whole
# model run, Lua included, measured on this machine when the cell runs. In the model each
# step of the walk is a Python loop iteration, much slower than a pointer hop in C, so the
# chain's curve bends upwards sooner than it would in nginx.

# %%
import time


def cpu_seconds(lua, n):
    t = time.process_time()
    ngxcoro.run_lua(lua.replace("N", str(n)))
    return time.process_time() - t


sizes = [1000, 2000, 4000, 8000]
timings = {"spawn in a loop": [cpu_seconds(spawn_loop, n) for n in sizes],
           "spawn chain": [cpu_seconds(spawn_chain, n) for n in sizes]}


def plot_svg(xs, series, width=460, height=240):
    """A small line plot: x = N, y = seconds."""
    ymax = max(max(v) for v in series.values()) * 1.1
    X = lambda x: 50 + (width - 70) * x / xs[-1]
    Y = lambda y: height - 30 - (height - 50) * y / ymax
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           "font-family='sans-serif' font-size='11'>",
           f"<line x1='50' y1='{Y(0)}' x2='{width - 20}' y2='{Y(0)}' stroke='#999'/>",
           f"<line x1='50' y1='{Y(0)}' x2='50' y2='15' stroke='#999'/>",
           f"<text x='{width / 2}' y='{height - 5}' text-anchor='middle'>N (light threads)</text>",
           "<text x='5' y='12'>CPU s</text>"]
    out += [f"<text x='{X(x):.0f}' y='{Y(0) + 14:.0f}' text-anchor='middle'>{x}</text>" for x in xs]
    out += [f"<text x='45' y='{Y(v) + 4:.0f}' text-anchor='end'>{v:.1f}</text>"
            for v in (ymax / 2, ymax / 1.1)]
    for i, (name, ys) in enumerate(series.items()):
        colour = "#0072B2" if i == 0 else "#D55E00"
        pts = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in zip(xs, ys))
        out.append(f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='2'/>")
        out += [f"<circle cx='{X(x):.1f}' cy='{Y(y):.1f}' r='3' fill='{colour}'/>"
                for x, y in zip(xs, ys)]
        out.append(f"<text x='60' y='{25 + 14 * i}' fill='{colour}'>{html.escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)


from ngxcoro.viz.lessons import SVG
SVG(plot_svg(sizes, timings))

# %% [markdown]
# ## Scenario 044: fifty threads, a one-node list

# %% check
from ngxcoro.viz.lessons import BlogBox, scenario

conf44, req44, _ = scenario("044-many-threads")
hooks = ngxcoro.Hooks()
w44 = hooks.add(Walk())
ngxcoro.run(conf44, req44, hooks=hooks)
print(f"044: {len(w44.walks)} posts, {sum(w44.walks)} nodes walked")
BlogBox("ngx.thread.spawn puts the parent coroutine into the list ctx->posted_threads "
        "points to; post_thread walks to the end of that list to append it.",
        "In a spawn loop the walk is empty every time. The parent is popped before its next "
        "spawn, and the children, parked in ngx.sleep, are never in the list: 50 posts, "
        "0 nodes walked. The children come back through their timers, in deadline order.",
        "044-many-threads")

# %% [markdown]
# ## What it means in production
# * **The list is short in almost every program.** A thread that waits on I/O (a sleep, a
#   cosocket, a capture) is not in `posted_threads`. Its own event handler resumes it. What
#   remains is the parent after a spawn, and a thread that gave up a time slice with
#   `coroutine.yield()` while others were queued. So "spawn N, then wait for all" posts into
#   an empty list every time: O(1) per post, O(N) in all.
# * **It gets long when spawns nest before anyone blocks.** A chain (or a depth-first
#   recursive fan-out) leaves every spawner waiting in line. Each post then walks the whole
#   depth, which is quadratic in that depth. In C each step is one pointer hop, so a depth
#   of 1000 costs about half a million hops, on the order of a millisecond. Keep spawn trees
#   shallow, or let a thread block before it spawns more, and the cost disappears.
# * **Every post also allocates.** The node comes from `r->pool` (`ngx_palloc`) and is only
#   freed with the request. A long-lived request that spawns and yields in a loop keeps
#   16 bytes per post (two pointers on 64-bit) until it ends.
#
# That is the end of the series. The [glossary](glossary.md) lists every term with its C
# name, its Chinese name in the blog, and the lesson that teaches it.
