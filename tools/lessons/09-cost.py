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

# %% [markdown] zh
# # 9 · 开销：post_thread 一路走到链表尾部
#
# `ctx->posted_threads` 是一个没有尾指针的单向链表。要追加一个节点，`ngx_http_lua_post_thread`（`src/ngx_http_lua_util.c`）得从头部开始，沿着 `next` 一直走到末尾。所以一次投递要走的步数等于链表里已有的节点数。如果链表能积攒 N 个线程，N 次投递大约要走 N²/2 步。
#
# 这里的机制是：**这个链表实际上会有多长？** 模型的 `post_thread` 走的是同样的路（代码见下）。
#
# **上一课：** [8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb) · **下一课：** [10 · 定时器：属于自己的请求](10-timers.ipynb)

# %% check
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util

# the words the cells below print and draw (the Chinese notebook has its own)
W = {"posts": "posts", "walked": "nodes walked", "longest": "longest walk", "posts col": 7,
     "loop": "spawn in a loop", "chain": "spawn chain", "walked in all": "walked {n} in all",
     "N threads": "N threads", "N axis": "N (light threads)", "cpu s": "CPU s"}

print(inspect.getsource(util.post_thread))

# %% check zh
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util
from ngxcoro.viz import set_language

set_language("zh")
W = {"posts": "投递次数", "walked": "走过的节点", "longest": "最长一次", "posts col": 9,
     "loop": "循环里 spawn", "chain": "链式 spawn", "walked in all": "共走过 {n} 个节点",
     "N threads": "线程数 N", "N axis": "N（轻线程数）", "cpu s": "CPU 秒"}

print(inspect.getsource(util.post_thread))

# %% [markdown]
# ## Counting the walk
# A hook listener is enough to measure it, with no clock involved. Every `post_thread` adds a
# node and every `run_posted_thread` pops one, so the listener knows the list's length. The
# nodes walked by a post are the nodes that were already there.

# %% [markdown] zh
# ## 数一数走了多少步
# 要测量它，一个钩子监听器就够了，不需要任何时钟。每次 `post_thread` 添加一个节点，每次 `run_posted_thread` 取出一个，所以监听器知道链表有多长。一次投递走过的节点，就是投递时链表里已有的节点。

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


def scenario_walks(name):
    """The walks of a recorded scenario's run in the model."""
    from ngxcoro.viz.lessons import scenario
    conf, request, _ = scenario(name)
    hooks = ngxcoro.Hooks()
    w = hooks.add(Walk())
    ngxcoro.run(conf, request, hooks=hooks)
    return w.walks


# %% [markdown]
# ## The usual pattern: one parent spawns N threads in a loop
# The parent starts N light threads that each sleep, then waits for all of them. This is the
# shape of scenario 044, and of most real fan-out code.

# %% [markdown] zh
# ## 常见写法：一个父协程在循环里 spawn N 个线程
# 父协程启动 N 个轻线程，每个都 sleep，然后等待所有线程。这就是场景 044 的结构，也是大多数实际扇出代码的结构。

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

# %% predict zh
from ngxcoro.viz.lessons import Predict
Predict("父协程在循环里 spawn 1000 个轻线程，每个线程都 sleep。所有 <code>post_thread</code> "
        "的遍历加起来一共走过多少个节点？",
        ["0", "约 1,000", "约 500,000", "约 1,000,000"], "0",
        "每次 spawn 都把父协程投递进一个<b>空</b>链表。子线程立即运行并阻塞在 ngx.sleep 里，"
        "然后父协程又被取出，接着才 spawn 下一个子线程。sleep 中的线程不在 posted_threads "
        "里：唤醒它的是它的定时器。")

# %% check answer
import unicodedata


def rjust(s, n):
    """s right-aligned in n columns (a Chinese character takes two)."""
    return " " * max(0, n - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
                                for c in s)) + s


def table(lua):
    cols = (6, W["posts col"], 13, 13)
    rows = [" ".join(rjust(s, n) for s, n in zip(("N", W["posts"], W["walked"], W["longest"]),
                                                 cols))]
    for n in (10, 100, 1000):
        res, w = walks(lua, n)
        assert res.status == 200, res.message
        rows.append(f"{n:>6} {len(w):>{cols[1]}} {sum(w):>13} {max(w):>13}")
    print("\n".join(rows))


table(spawn_loop)

# %% [markdown]
# The snapshots agree. Each snapshot holds the list itself, so at every `post_thread` step
# the list is one node longer than the walk that post made (N = 10):

# %% [markdown] zh
# 快照给出的结果一致。每个快照都保存着链表本身，所以在每个 `post_thread` 步骤，链表比这次投递走过的节点数多一个（N = 10）：

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

# %% [markdown] zh
# ## 链表什么时候会变长？
# 链表里只有**现在就可以运行**的协程。一次 spawn 让调用 spawn 的协程变为可运行，并把它放到尾部，排在所有已经在等的协程后面。所以当线程在有人被取出之前接连 spawn 时，链表就会变长：比如一条链，每个新线程在阻塞之前先 spawn 下一个线程。每个调用过 spawn 的线程都在排队，每次新的投递都要从它们所有人身边走过。

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

# %% [markdown] zh
# 这时总数是 0 + 1 + … + (N − 1) = N(N − 1)/2：N = 1000 时，1000 次投递共走 499,500 步。这就是平方级的情形。
#
# ## 单步执行一条短链
# 取 N = 5，留意 **posted_threads** 那一行：entry、t1、t2、t3 和 t4 依次排在后面。然后 t5 进入 sleep，它们按这个顺序被取出（一步步跳到下一个 run_posted_thread 事件看看）。

# %%
ngxcoro.show(spawn_chain.replace("N", "5"))

# %% [markdown]
# ## Tweak: the list after each post
# Each bar is one `post_thread`, and its height is the number of nodes that post walked past.
# Move the slider to change N.

# %% [markdown] zh
# ## 调一调：每次投递时的链表
# 每根柱子是一次 `post_thread`，高度是这次投递走过的节点数。拖动滑块改变 N。

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
                   f"<text x='0' y='{y0 - 6}' fill='#555'>{W['walked in all'].format(n=sum(w))}</text>"
                   f"<line x1='160' x2='{width}' y1='{y0}' y2='{y0}' stroke='#999'/>")
        for k, v in enumerate(w):
            h = (row_h - 20) * v / top
            out.append(f"<rect x='{160 + k * bw:.1f}' y='{y0 - h:.1f}' width='{max(bw - 1, 1):.1f}' "
                       f"height='{max(h, 0.5):.1f}' fill='{'#0072B2' if i == 0 else '#D55E00'}'/>")
    out.append("</svg>")
    return "".join(out)


def both(n):
    return bars_svg([(W["loop"], walks(spawn_loop, n)[1]),
                     (W["chain"], walks(spawn_chain, n)[1])])


Tweak(W["N threads"], [5, 10, 20, 40, 80], both, index=2)

# %% [markdown]
# ## Wall-clock time of the model
# The counts above are exact. This timing is only an illustration: CPU seconds of a whole
# model run, Lua included, measured on this machine when the cell runs. In the model each
# step of the walk is a Python loop iteration, much slower than a pointer hop in C, so the
# chain's curve bends upwards sooner than it would in nginx.

# %% [markdown] zh
# ## 模型的实际耗时
# 上面的计数是精确的。这里的计时只是示意：整个模型运行（包括 Lua）所用的 CPU 秒数，在这个单元格运行时于本机测得。在模型里，遍历的每一步都是一次 Python 循环迭代，比 C 里跳一次指针慢得多，所以链式写法的曲线会比在 nginx 里更早往上翘。

# %%
import time


def cpu_seconds(lua, n):
    t = time.process_time()
    ngxcoro.run_lua(lua.replace("N", str(n)))
    return time.process_time() - t


sizes = [1000, 2000, 4000, 8000]
timings = {W["loop"]: [cpu_seconds(spawn_loop, n) for n in sizes],
           W["chain"]: [cpu_seconds(spawn_chain, n) for n in sizes]}


def plot_svg(xs, series, width=460, height=240):
    """A small line plot: x = N, y = seconds."""
    ymax = max(max(v) for v in series.values()) * 1.1
    X = lambda x: 50 + (width - 70) * x / xs[-1]
    Y = lambda y: height - 30 - (height - 50) * y / ymax
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           "font-family='sans-serif' font-size='11'>",
           f"<line x1='50' y1='{Y(0)}' x2='{width - 20}' y2='{Y(0)}' stroke='#999'/>",
           f"<line x1='50' y1='{Y(0)}' x2='50' y2='15' stroke='#999'/>",
           f"<text x='{width / 2}' y='{height - 5}' text-anchor='middle'>{W['N axis']}</text>",
           f"<text x='5' y='12'>{W['cpu s']}</text>"]
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

# %% [markdown] zh
# ## 场景 044：五十个线程，只有一个节点的链表

# %% check
from ngxcoro.viz.lessons import BlogBox

w44 = scenario_walks("044-many-threads")
print(f"044: {len(w44)} posts, {sum(w44)} nodes walked")
BlogBox("ngx.thread.spawn puts the parent coroutine into the list ctx->posted_threads "
        "points to; post_thread walks to the end of that list to append it.",
        "In a spawn loop the walk is empty every time. The parent is popped before its next "
        "spawn, and the children, parked in ngx.sleep, are never in the list: 50 posts, "
        "0 nodes walked. The children come back through their timers, in deadline order.",
        "044-many-threads")

# %% check zh
from ngxcoro.viz.lessons import BlogBox

w44 = scenario_walks("044-many-threads")
print(f"044：投递 {len(w44)} 次，共走过 {sum(w44)} 个节点")
BlogBox("ngx.thread.spawn 创建轻线程后调用 ngx_http_lua_post_thread，把父协程放在 "
        "ctx->posted_threads 指向的链表中；post_thread 要走到链表末尾才能把它追加进去。",
        "在 spawn 循环里，每次遍历都是空的。父协程在下一次 spawn 之前就被取出了，而阻塞在 "
        "ngx.sleep 里的子线程从不进入链表：50 次投递，走过 0 个节点。子线程靠各自的定时器"
        "回来，按到期时间的顺序。",
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
# That is the end of the first ring. **Next:** [10 · Timers](10-timers.ipynb): the second
# ring starts with work that runs with no client at all. The [glossary](glossary.md) lists
# every term with its C name, its Chinese name in the blog, and the lesson that teaches it.

# %% [markdown] zh
# ## 在生产环境中意味着什么
# * **几乎所有程序里这个链表都很短。** 在 I/O 上等待的线程（sleep、cosocket、capture）不在 `posted_threads` 里，由它自己的事件处理函数恢复。剩下的只有 spawn 之后的父协程，以及在别人排队时用 `coroutine.yield()` 让出时间片的线程。所以“先 spawn N 个，再全部 wait”这种写法每次都是投递进一个空链表：每次投递 O(1)，总共 O(N)。
# * **在有人阻塞之前嵌套 spawn，链表就会变长。** 一条链（或者深度优先的递归扇出）让每个调用过 spawn 的线程都在排队。于是每次投递都要走完整个深度，开销是深度的平方级。在 C 里每一步只是跳一次指针，所以深度 1000 大约要跳五十万次，在毫秒量级。让 spawn 树保持浅，或者让线程在 spawn 更多线程之前先阻塞一下，这个开销就没有了。
# * **每次投递还要分配内存。** 节点来自 `r->pool`（`ngx_palloc`），只有请求结束时才释放。一个长时间存活、在循环里不断 spawn 和 yield 的请求，每次投递都会占住 16 字节（64 位上两个指针），直到请求结束。
#
# 第一圈到此结束。**下一课：** [10 · 定时器：属于自己的请求](10-timers.ipynb)：第二圈从根本没有客户端的工作讲起。[术语表](../glossary.md) 列出了每个术语的 C 名称、博客里的中文叫法，以及讲解它的那一课。
