"""The one shell every panel uses: controls above a fixed-height output that a pure drawing
function redraws. Tests reach a panel's `controls` and `draw` without a browser."""
from __future__ import annotations

import matplotlib.pyplot as plt


OUTPUT_HEIGHT = "460px"


FIGURE_HEIGHT = 6.0  # inches: the tallest a panel's figure may be (JupyterLab shows about 680 px at 1,280 x 800)


def show(fig):
    from IPython.display import display

    display(fig)
    plt.close(fig)


def build(controls, callback, rows: list[list[str]] | None = None):
    """Controls above a fixed-height output that `callback(**values)` redraws.

    The one layout rule of every panel: controls sit in `rows` (lists of control names; default
    one row), and each row wraps onto further lines instead of growing wider than the notebook.
    """
    import ipywidgets as w

    out = w.interactive_output(lambda **kw: show(callback(**kw)), controls)
    out.layout.min_height = OUTPUT_HEIGHT
    for control in controls.values():
        control.layout.flex = "0 0 auto"  # a squeezed control wraps its own parts away from its label
        if isinstance(control, w.ToggleButtons):  # ipywidgets 8 stacks its label above the buttons
            control.layout.display, control.layout.align_items, control.layout.margin = "flex", "center", "0 0 0 12px"
    rows = rows or [list(controls)]
    boxes = [w.HBox([controls[name] for name in row], layout=w.Layout(flex_flow="row wrap", width="100%"))
             for row in rows]
    panel = w.VBox([w.VBox(boxes, layout=w.Layout(width="100%")), out], layout=w.Layout(width="100%"))
    panel.controls, panel.draw = controls, callback  # what it offers and what it draws, for checks without a browser
    return panel


def follow(controls: dict, sources: list[str], target: str, options_of) -> None:
    """Keep dropdown `target`'s options to `options_of(*values of sources)` whenever a source
    changes; its value stays where it still is an option, else moves to the first one."""
    def update(_change=None):
        options = list(options_of(*(controls[name].value for name in sources)))
        dropdown, current = controls[target], controls[target].value
        if list(dropdown.options) != options:
            dropdown.options = options  # ipywidgets may move the value here; it is set just below
            dropdown.value = current if current in options else options[0]

    for name in sources:
        controls[name].observe(update, "value")
    update()

