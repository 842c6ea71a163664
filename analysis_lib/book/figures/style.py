"""One visual style for every figure of the book, on seaborn, and the checks figures pass.

* **Theme** (:func:`theme`): seaborn's ``ticks`` style in its ``notebook`` context, the
  colour-blind-safe ``colorblind`` palette (Okabe & Ito's hues, Wong 2011,
  doi:10.1038/nmeth.1618), no top or right spines, and fonts of at least
  :data:`MIN_FONT_PT` at the figure's printed size.
* **Size**: figures are drawn for the article column (:data:`WIDTH` inches, about 800 px at
  1280 px) and rendered as SVG (:func:`use_svg`), so they stay sharp at any zoom; the SVG is
  byte-reproducible (fixed hash salt, ``SOURCE_DATE_EPOCH``).
* **Checks** (:func:`problems`): a rendered figure has no two text boxes overlapping and no
  text smaller than :data:`MIN_FONT_PT`; ``tests/test_figures.py`` runs it on every figure.

Helpers for what most figures need: integer ticks on count axes (:func:`count_axis`),
legends outside the data (:func:`legend_below`, :func:`legend_right`), log axes labelled in
plain numbers (:func:`plain_log`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from ...core import formatting

#: Width of a full-column figure, inches (about 800 px at 96 px per inch).
WIDTH: float = 8.3
#: Smallest font size allowed at the figure's printed size, points.
MIN_FONT_PT: float = 8.0
#: The palette (seaborn's colour-blind-safe "colorblind").
PALETTE: list[tuple[float, float, float]] = sns.color_palette("colorblind")
#: Two-group colours used throughout (first level, second level).
PAIR: tuple = (PALETTE[0], PALETTE[1])

RC = {
    "font.size": 10.5, "axes.titlesize": 11, "axes.labelsize": 10.5, "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "legend.title_fontsize": 9.5,
    "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "cartbook",
    "figure.dpi": 100, "savefig.dpi": 200, "font.family": "DejaVu Sans",
}


def theme() -> None:
    """Apply the book's theme to matplotlib (seaborn ``ticks``, colour-blind palette)."""
    sns.set_theme(context="notebook", style="ticks", palette=PALETTE, rc=RC)


def use_svg() -> None:
    """Show figures in the notebooks (and so in the book) as reproducible SVG."""
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    matplotlib.rcParams["svg.hashsalt"] = "cartbook"
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # not in a kernel
        return
    set_matplotlib_formats("svg")


@contextmanager
def styled() -> Iterator[None]:
    """The book's theme for the figures made inside the block, whatever the global state."""
    with plt.rc_context():
        theme()
        yield


def figure(nrows: int = 1, ncols: int = 1, *, width: float = WIDTH, height: float = 3.6,
           **kw) -> tuple[Figure, np.ndarray]:
    """A new figure in the book's style with constrained layout; axes always a 2-D array."""
    with styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def count_axis(ax: plt.Axes, which: str = "y") -> None:
    """Integer ticks (no 2.5 or 7.5) on a count axis."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(MaxNLocator(integer=True))


def plain_log(ax: plt.Axes, which: str = "y") -> None:
    """A log axis labelled with plain numbers (10, 1,000, 100,000) by the book's formatter."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(lambda v, _: formatting.number(v)))


def legend_below(ax: plt.Axes, ncol: int | None = None, **kw) -> None:
    """The legend under the axes, outside the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                  ncol=ncol or min(len(labels), 3), frameon=False, **kw)


def legend_right(ax: plt.Axes, **kw) -> None:
    """The legend right of the axes, outside the data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                  **kw)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def texts(fig: Figure) -> list[matplotlib.text.Text]:
    """Every text artist of ``fig`` that is drawn: titles, axis and tick labels (of the ticks
    inside the view), legends, annotations; visible and not empty."""
    hidden: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(t) for t in axis._update_ticks()}  # the ticks inside the view
            for t in axis.get_major_ticks() + axis.get_minor_ticks():
                if id(t) not in drawn:
                    hidden.update({id(t.label1), id(t.label2)})
    out = []
    for t in fig.findobj(matplotlib.text.Text):
        if id(t) in hidden or not t.get_visible() or not t.get_text().strip():
            continue
        if t.get_alpha() == 0:
            continue
        out.append(t)
    return out


def problems(fig: Figure, *, min_pt: float = MIN_FONT_PT, tolerance_px: float = 1.0,
             dpi: float = 100) -> list[str]:
    """What is wrong with a figure as rendered: text smaller than ``min_pt`` points at the
    figure's size, and text boxes that overlap by more than ``tolerance_px`` (at ``dpi``) in
    both directions. Tick labels of one axis that only touch are not counted."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out: list[str] = []
    boxes = []
    for t in texts(fig):
        if t.get_fontsize() < min_pt - 1e-9:
            out.append(f"text {t.get_text()!r} is {t.get_fontsize():.1f} pt (< {min_pt} pt)")
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            boxes.append((t, bb))
    for i in range(len(boxes)):
        a, ba = boxes[i]
        for b, bb in boxes[i + 1:]:
            w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if w > tolerance_px and h > tolerance_px:
                out.append(f"text {a.get_text()!r} overlaps {b.get_text()!r}")
    fig_bb = fig.bbox
    for t, bb in boxes:
        if bb.x0 < fig_bb.x0 - tolerance_px or bb.x1 > fig_bb.x1 + tolerance_px:
            out.append(f"text {t.get_text()!r} runs off the figure")
    return out
