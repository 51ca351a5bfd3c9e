"""The look of the graph pictures, in one place: the Okabe-Ito colours, each
co_status's fill and border, the highlight colours, the font, each kind of
coroutine's shape and text, node sizes, and the graph, node and edge
defaults.  Plain data (graph.py, legend.py and timeline.py read it)."""
from __future__ import annotations

__all__ = ["OKABE_ITO", "STATUS_FILL", "STATUS_BORDER", "POSTED_FILL", "CHANGED", "CHANGED_BG",
           "CURRENT", "INK", "DIM", "FONT", "KIND_TEXT", "KIND_SHAPE", "CO_WIDTH", "CO_HEIGHT",
           "CTX_W", "TIMER_W", "TIMER_KEY_W", "GRAPH_ATTR", "NODE_ATTR", "EDGE_ATTR"]

# Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
    "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}


def _tint(hex_colour, keep):
    """`keep` of the colour, the rest white: calm fills that keep their hue."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c * keep + 255 * (1 - keep)):02X}" for c in rgb)


# co_status -> (fill, border style); the status word is always printed too
STATUS_FILL = {
    "running": _tint(OKABE_ITO["bluish_green"], 0.40),
    "suspended": _tint(OKABE_ITO["sky_blue"], 0.45),
    "normal": _tint(OKABE_ITO["yellow"], 0.55),
    "zombie": _tint(OKABE_ITO["reddish_purple"], 0.45),
    "dead": "#E4E4E4",
}
STATUS_BORDER = {"dead": "dashed", "zombie": "dotted"}
POSTED_FILL = _tint(OKABE_ITO["orange"], 0.45)
CHANGED = OKABE_ITO["vermillion"]
CHANGED_BG = _tint(OKABE_ITO["vermillion"], 0.22)
CURRENT = OKABE_ITO["blue"]
INK = "#333333"
DIM = "#888888"
FONT = "Helvetica"

KIND_TEXT = {"entry": "entry thread", "uthread": "light thread", "coroutine": "coroutine"}
KIND_SHAPE = {"entry": ("box", 2), "uthread": ("box", 1), "coroutine": ("ellipse", 1)}

CO_WIDTH, CO_HEIGHT = "1.55", "0.9"        # inches: room for the 5 lines a node has at most
CTX_W = 118                # points: room for USER_THREAD_RESUME
TIMER_W, TIMER_KEY_W = 64, 50   # keep the timers narrower than the request beside it

GRAPH_ATTR = {"rankdir": "LR", "ordering": "out", "nodesep": "0.22", "ranksep": "0.45",
              "fontname": FONT, "fontsize": "11", "bgcolor": "white", "pad": "0.15"}
NODE_ATTR = {"fontname": FONT, "fontsize": "10", "color": INK, "fontcolor": INK, "penwidth": "1"}
EDGE_ATTR = {"fontname": FONT, "fontsize": "9", "color": DIM, "fontcolor": "#555555",
             "arrowsize": "0.7"}
