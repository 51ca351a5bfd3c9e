"""The key to the graph pictures: the kinds of coroutine, the statuses, the
markers, the edges and a semaphore, drawn with the same palette as the frames.

    >>> from ngxcoro.viz import legend
    >>> legend.legend_dot().startswith("digraph legend")
    True
"""
from __future__ import annotations

from .palette import CHANGED, CURRENT, DIM, FONT, INK, KIND_SHAPE, KIND_TEXT, OKABE_ITO, \
    POSTED_FILL, STATUS_BORDER, STATUS_FILL
from .i18n import language, word
from .labels import _h

__all__ = ["legend", "legend_dot"]


def legend():
    """The key to the pictures, as a Digraph: one row each for the kinds of
    coroutine, the statuses, the markers and the edges."""
    from .graph import _Frame              # graph.py imports this module
    # the words in the widgets' language; statuses and C names stay as they are.
    # English labels go in as they always did; other text as &#NNN; (labels.py: dot
    # wants ASCII), in HTML-like labels
    zh = language() != "en"
    w = (lambda key: f"<{_h(word(key))}>") if zh else word
    g = _Frame("legend", graph_attr={"rankdir": "TB", "fontname": FONT, "fontsize": "11",
                                     "nodesep": "0.18", "ranksep": "0.18", "label": f"<<B>{_h(word('key'))}</B>>",
                                     "labelloc": "t", "labeljust": "l", "bgcolor": "white",
                                     "pad": "0.1"},
               node_attr={"fontname": FONT, "fontsize": "10", "color": INK, "fontcolor": INK,
                          "height": "0.4"},
               edge_attr={"fontname": FONT, "fontsize": "9", "color": DIM, "fontcolor": "#555555",
                          "arrowsize": "0.7"})
    rows = []
    kinds = []
    for kind in ("entry", "uthread", "coroutine"):
        shape, periph = KIND_SHAPE[kind]
        g.node(f"k_{kind}", label=w(KIND_TEXT[kind]) if zh else KIND_TEXT[kind], shape=shape, peripheries=str(periph),
               style="rounded" if kind == "uthread" else "solid", width="1.3")
        kinds.append(f"k_{kind}")
    rows.append(kinds)
    statuses = []
    for status in ("running", "suspended", "normal", "zombie", "dead"):
        style = ["rounded", "filled"] + ([STATUS_BORDER[status]] if status in STATUS_BORDER else [])
        g.node(f"s_{status}", label=f"<<B>{status.upper()}</B>>", shape="box", style=",".join(style),
               fillcolor=STATUS_FILL[status], width="1.0")
        statuses.append(f"s_{status}")
    rows.append(statuses)
    g.node("m_cur", label=f'<<FONT COLOR="{CURRENT}"><B>&lt;&lt; cur_co_ctx</B></FONT>>', shape="box",
           style="rounded", color=CURRENT, penwidth="3")
    g.node("m_changed", label=f'<<FONT COLOR="{CHANGED}"><B>{_h(word("changed"))}</B></FONT> '
                              f'{_h(word("was"))}>',
           shape="box", style="rounded", color=CHANGED, penwidth="3")
    g.node("m_posted", label=f"<<B>t1</B><BR/>{_h(word('posted entry'))}>", shape="box", style="filled",
           fillcolor=POSTED_FILL)
    rows.append(["m_cur", "m_changed", "m_posted"])
    g.node("m_parent", label=w("parent"), shape="box", style="rounded", color=DIM, width="0.7")
    g.node("m_child", label=w("child"), shape="box", style="rounded", color=DIM, width="0.7")
    g.node("m_created", label=(f"<{'<BR/>'.join(_h(x) for x in word('created not resumed').split(chr(10)))}>"
                               if zh else word("created not resumed")),
           shape="box", style="rounded", color=DIM)
    g.node("m_zombie", label=w("zombie child"), shape="box", style="rounded", color=DIM)
    g.edge("m_parent", "m_child", label="parent_co_ctx")
    g.edge("m_child", "m_created", style="dotted", label=w("created"))
    g.edge("m_created", "m_zombie", style="dotted", penwidth="2", color=OKABE_ITO["reddish_purple"],
           label=w("zombie list"))
    rows.append(["m_parent", "m_child", "m_created", "m_zombie"])
    g.node("m_waiter", label=w("waiter"), shape="box", style="rounded", color=DIM, width="0.7")
    g.node("m_sema", label="<" + _ascii(word("sema key")) + ">",
           shape="box", style="rounded,filled", fillcolor=POSTED_FILL)
    g.edge("m_waiter", "m_sema", style="dashed", color=OKABE_ITO["orange"], label=w("waits"))
    rows.append(["m_waiter", "m_sema"])
    for k, row in enumerate(rows):
        g.body.append("\t{rank=same; " + "; ".join(row) + "}\n")
        for a, b in zip(row, row[1:]):
            if k < 3:
                g.edge(a, b, style="invis")
        if k:
            g.edge(rows[k - 1][0], row[0], style="invis")
    return g


def _ascii(markup):
    """HTML-like label markup with its non-ASCII characters as &#NNN;."""
    return markup.encode("ascii", "xmlcharrefreplace").decode("ascii")


def legend_dot():
    """DOT source of the key (shapes, status colours and borders, markers)."""
    return legend().source
