"""Pictures of ngxcoro snapshots: Graphviz frames (graph, with its palette
and legend), SVG rendering (render) and a step timeline (timeline); the
widgets (stepper, editor) and what the lessons share (lessons)."""


# the stepper and the editor need anywidget / ipywidgets: imported on first use,
# so `from ngxcoro.viz import graph` works without them
_LAZY = {"Stepper": "stepper", "show": "stepper", "Editor": "editor",
         "set_language": "i18n"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
