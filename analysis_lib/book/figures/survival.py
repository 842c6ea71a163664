"""Figures of the survival chapter: Kaplan–Meier panels with numbers at risk, and cumulative
incidence, in the book's style (:mod:`analysis_lib.book.figures.style`).

The Kaplan–Meier panels have the look clinicians know from R's survminer (``ggsurvplot`` with
a risk table): large type, one legend above the panels, censorings marked, the numbers at
risk in a table under each panel with each count centred under its time tick, and the test's
p-value inside the panel where it covers neither curves nor censor marks
(:func:`place_annotation`). Each figure takes the chapter's results
(:class:`analysis_lib.analyses.survival.SurvivalResults`).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...analyses.survival import KMPanel, SurvivalResults
from ...core import formatting, suppression
from ...stats.survival import KaplanMeier
from . import style

#: Sizes (points) of the Kaplan–Meier figures' text: panel titles, axis labels, tick labels
#: and the numbers at risk, the in-panel test.
TITLE_PT, LABEL_PT, TICK_PT, RISK_PT, TEST_PT = 12.0, 11.5, 11.0, 11.0, 11.5
#: Line width and censor-mark size (points).
LINE_W, MARK_PT = 1.8, 7.0
XLABEL = "Months since infusion"
#: Group names up to this length label the rows of the number-at-risk tables of a
#: multi-column figure; longer ones get a coloured key instead (the legend names them).
NAME_CHARS = 10


# --------------------------------------------------------------------------------------------
# Kaplan–Meier panels
# --------------------------------------------------------------------------------------------

def _steps(curve: KaplanMeier, start: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The curve as post-steps from ``start`` (its first entry time), in percent."""
    return (np.concatenate(([start], curve.time)),
            100 * np.concatenate(([1.0], curve.surv)))


def _band(curve: KaplanMeier, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = curve.confidence_interval(conf_type)
    return 100 * np.concatenate(([1.0], lo)), 100 * np.concatenate(([1.0], hi))


def _colours(n: int) -> list[tuple[float, float, float]]:
    return [style.PALETTE[i % len(style.PALETTE)] for i in range(n)]


def _span(t: np.ndarray, y: np.ndarray, x0: float, x1: float) -> tuple[float, float] | None:
    """Lowest and highest value of the post-step function (t, y) over [x0, x1], within
    its drawn range [t[0], t[-1]] (``None`` outside it)."""
    ok = ~np.isnan(y)
    t, y = t[ok], y[ok]
    if t.size == 0 or x1 < t[0] or x0 > t[-1]:
        return None
    i0 = max(int(np.searchsorted(t, x0, side="right")) - 1, 0)
    i1 = int(np.searchsorted(t, x1, side="right"))
    seg = y[i0:max(i1, i0 + 1)]
    return float(seg.min()), float(seg.max())


def collides(box: tuple[float, float, float, float], lines: Sequence[tuple[np.ndarray, np.ndarray]],
             pad_y: float = 0.0) -> bool:
    """True when a box ``(x0, y0, x1, y1)`` in data coordinates meets one of the post-step
    ``lines`` (each ``(t, y)``), widened vertically by ``pad_y`` (censor marks, line width)."""
    x0, y0, x1, y1 = box
    for t, y in lines:
        s = _span(np.asarray(t, float), np.asarray(y, float), x0, x1)
        if s is not None and s[0] - pad_y <= y1 and s[1] + pad_y >= y0:
            return True
    return False


#: Where the test may stand inside a panel, in order of preference (axes fraction, alignment):
#: bottom left (survminer's place), bottom right, lower middle, then higher up.
ANNOTATION_SPOTS: tuple[tuple[float, float, str, str], ...] = (
    (0.04, 0.05, "left", "bottom"), (0.97, 0.05, "right", "bottom"),
    (0.50, 0.05, "center", "bottom"), (0.04, 0.30, "left", "bottom"),
    (0.97, 0.30, "right", "bottom"), (0.97, 0.55, "right", "bottom"),
)


def place_annotation(ax: Axes, text: str, lines: Sequence[tuple[np.ndarray, np.ndarray]],
                     fontsize: float = TEST_PT) -> bool:
    """Put ``text`` inside ``ax`` at the first of :data:`ANNOTATION_SPOTS` where it meets none
    of the ``lines`` (post-step curves, bands; data coordinates) nor their censor marks.
    Returns False, and writes the text under the panel title instead, when no spot is free:
    the test is never drawn over a curve. The figure must have been drawn with its final
    layout (:func:`km_figure` draws it once and then freezes the layout)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    px_per_pt = fig.dpi / 72
    y_per_px = abs(to_data.transform((0, 1))[1] - to_data.transform((0, 0))[1])
    pad_y = (MARK_PT / 2 + 3) * px_per_pt * y_per_px
    for x, y, ha, va in ANNOTATION_SPOTS:
        t = ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=fontsize)
        bb = t.get_window_extent(renderer).expanded(1.04, 1.1)
        (x0, y0), (x1, y1) = to_data.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        if not collides((x0, y0, x1, y1), lines, pad_y):
            t.set_gid("km-test")
            return True
        t.remove()
    title = ax.get_title(loc="left")
    ax.set_title(f"{title}\n{text}" if title else text, loc="left")
    return False


def _risk_table(rax: Axes, labels: list[str], counts: list[np.ndarray], times: np.ndarray,
                colours: list, names: bool) -> None:
    """Numbers at risk in their own axes under a panel (x shared with it): one row per
    group, each count centred under its time tick; on the left of each row the group's name
    in its colour when ``names``, else a key in its colour (long names would narrow the
    panels; the legend names the groups)."""
    k = len(labels)
    for i, (cnt, col) in enumerate(zip(counts, colours)):
        y = k - 1 - i
        for t, c in zip(times, cnt):
            rax.text(t, y, suppression.count_text(int(c)), ha="center", va="center",
                     fontsize=RISK_PT, color=col, gid="risk-count")
    rax.set_ylim(-0.6, k - 0.4)
    if names:
        rax.set_yticks(range(k - 1, -1, -1), labels, fontsize=RISK_PT)
    else:  # a coloured key for each row (the legend above names the groups)
        rax.set_yticks(range(k - 1, -1, -1), ["━━"] * k, fontsize=RISK_PT)
    for tick, col in zip(rax.get_yticklabels(), colours):
        tick.set_color(col)
    rax.tick_params(axis="both", length=0)
    rax.tick_params(axis="y", pad=8)
    rax.tick_params(axis="x", labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        rax.spines[side].set_visible(False)
    rax.set_title("Number at risk", fontsize=RISK_PT, loc="left", pad=3)


def _km_panel(ax: Axes, rax: Axes, panel: KMPanel, times: np.ndarray, *, band: bool,
              conf_type: str, xlabel: str, names: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    labels = list(panel.curves)
    colours = _colours(len(labels))
    lines = []
    for lab, col in zip(labels, colours):
        km = panel.curves[lab]
        t, s = _steps(km, panel.entry.get(lab, 0.0))
        ax.step(t, s, where="post", color=col, linewidth=LINE_W, label=lab)
        lines.append((t, s))
        if panel.censor_marks:
            cens = km.n_censor > 0
            ax.plot(km.time[cens], 100 * km.surv[cens], linestyle="none", marker="|",
                    markersize=MARK_PT, markeredgewidth=1.3, color=col)
        if band:
            lo, hi = _band(km, conf_type)
            ok = ~np.isnan(lo) & ~np.isnan(hi)
            ax.fill_between(t[ok], lo[ok], hi[ok], step="post", color=col, alpha=0.15,
                            linewidth=0)
            lines += [(t, lo), (t, hi)]
    tmax = float(times.max()) if times.size else 1.0
    pad = 0.03 * tmax
    ax.set_xlim(-pad, tmax + pad)
    ax.set_xticks(times, [formatting.number(v) for v in times], fontsize=TICK_PT)
    ax.set_ylim(0, 104)
    ax.set_yticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100"], fontsize=TICK_PT)
    ax.set_xlabel(xlabel, fontsize=LABEL_PT)
    ax.set_ylabel(panel.ylabel, fontsize=LABEL_PT)
    ax.set_title(panel.title, loc="left", fontsize=TITLE_PT, fontweight="bold")
    _risk_table(rax, labels, [panel.at_risk[lab] for lab in labels], times, colours, names)
    return lines


def _fit_risk_counts(fig: Figure, ax: Axes) -> None:
    """Keep the numbers at risk under ``ax`` apart however many digits they have (a cohort
    of thousands): first smaller type, down to :data:`style.MIN_FONT_PT`, then a count under
    every second (third, ...) time tick only, which the table's title then says. Nothing
    changes when they already fit."""
    rax = next((a for a in fig.axes if a is not ax and a.get_shared_x_axes().joined(a, ax)),
               None)
    if rax is None:
        return
    counts = [t for t in rax.texts if t.get_gid() == "risk-count"]
    if not counts:
        return
    renderer = fig.canvas.get_renderer()
    ticks = np.unique([t.get_position()[0] for t in counts])
    if ticks.size < 2:
        return
    px = rax.transData.transform(np.column_stack([ticks, np.zeros_like(ticks)]))[:, 0]
    spacing = float(np.min(np.diff(px)))
    gap = 4 * fig.dpi / 72  # at least 4 pt between neighbouring counts
    widest = max(t.get_window_extent(renderer).width for t in counts)
    if widest + gap <= spacing:
        return
    size = max(style.MIN_FONT_PT, RISK_PT * (spacing - gap) / widest)
    for t in counts:
        t.set_fontsize(size)
    widest *= size / RISK_PT
    every = 1
    while widest + gap > every * spacing and every < ticks.size:
        every += 1
    if every > 1:
        keep = set(ticks[::every].tolist())
        for t in counts:
            t.set_visible(t.get_position()[0] in keep)
        ordinal = {2: "second", 3: "third"}.get(every, f"{every}th")
        rax.set_title(f"Number at risk (under every {ordinal} time)", fontsize=RISK_PT,
                      loc="left", pad=3)


def km_figure(panels: Sequence[KMPanel], risk_times: np.ndarray | Sequence[float], *,
              ncols: int = 2, band: bool = False, conf_type: str = "plain",
              legend: bool = True, xlabel: str = XLABEL, curve_height: float = 2.6,
              width: float = style.WIDTH) -> Figure:
    """Kaplan–Meier panels in a grid (``ncols`` per row), each with its number-at-risk table
    underneath and its test inside (:func:`place_annotation`); one legend above the panels
    for the groups, which all panels share (``legend=False``: none, e.g. a single group).
    ``band``: pointwise confidence bands of ``conf_type``. Times in months; survival in %."""
    times = np.asarray(risk_times, dtype=float)
    n = len(panels)
    if n == 0:
        raise ValueError("no panel to draw")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    groups = max(len(p.curves) for p in panels)
    table_h = 0.24 * groups + 0.34
    legend_h = 0.35 if legend else 0.0
    with style.styled():
        gap = 0.3  # inches between a number-at-risk table and the next row's panel
        fig = plt.figure(figsize=(width, nrows * (curve_height + table_h + 0.25)
                                  + (nrows - 1) * gap + legend_h), layout="constrained")
        fig.get_layout_engine().set(h_pad=0.04, hspace=0.02, w_pad=0.08)
        ratios = ([curve_height, table_h, gap] * nrows)[:-1]
        gs = fig.add_gridspec(len(ratios), ncols, height_ratios=ratios)
        longest = max(len(lab) for p in panels for lab in p.curves)
        names = ncols == 1 or longest <= NAME_CHARS
        placed = []
        for i, p in enumerate(panels):
            r, c = divmod(i, ncols)
            ax = fig.add_subplot(gs[3 * r, c])
            rax = fig.add_subplot(gs[3 * r + 1, c], sharex=ax)
            lines = _km_panel(ax, rax, p, times, band=band, conf_type=conf_type, xlabel=xlabel,
                              names=names)
            placed.append((ax, p.test, lines))
        if legend:
            first = panels[0]
            handles = [Line2D([], [], color=col, linewidth=LINE_W,
                              marker="|" if first.censor_marks else None,
                              markersize=MARK_PT, markeredgewidth=1.3)
                       for col in _colours(len(first.curves))]
            fig.legend(handles, list(first.curves), loc="outside upper center",
                       ncol=len(handles), frameon=False, fontsize=LABEL_PT,
                       handlelength=2.2, columnspacing=2.0)
        fig.canvas.draw()  # the final layout, then frozen so the tests stay where placed
        fig.set_layout_engine("none")
        for ax, _, _ in placed:
            _fit_risk_counts(fig, ax)
        for ax, test, lines in placed:
            if test:
                place_annotation(ax, test, lines)
    return fig


# --------------------------------------------------------------------------------------------
# The chapter's figures
# --------------------------------------------------------------------------------------------

def os_lfs(res: SurvivalResults) -> Figure:
    """OS and LFS of all patients with pointwise plain confidence bands (the paper's kind of
    interval) and the numbers at risk."""
    return km_figure(res.os_lfs, res.risk_times, band=True, conf_type="plain", legend=False)


def figure1(res: SurvivalResults) -> Figure:
    """The paper's Figure 1: OS (left) and LFS (right) by bridging HSCT within the MRD strata
    before and after lymphodepletion, one stratum per row, log-rank p in each panel."""
    return km_figure(res.figure1, res.risk_times, curve_height=2.35)


def figure_s1(res: SurvivalResults) -> Figure:
    """Supplementary Figure S1: OS and LFS by bridging HSCT with high tumour burden."""
    return km_figure(res.s1, res.risk_times)


def figure_s2(res: SurvivalResults) -> Figure:
    """Supplementary Figure S2: OS and LFS by genetic risk group."""
    return km_figure(res.s2, res.risk_times)


def simon_makuch(res: SurvivalResults) -> Figure:
    """Simon–Makuch curves of OS and LFS: patients move from "no HSCT yet" to "HSCT" on the
    day of their transplant."""
    return km_figure(res.simon_makuch, res.risk_times)


def cumulative_incidence(res: SurvivalResults) -> Figure:
    """Cumulative incidence of relapse and of non-relapse mortality (competing risks) with
    pointwise log-log bands, each curve up to the last follow-up; legend above the axes."""
    conf_level = res.options.conf_level
    times = np.asarray(res.risk_times, dtype=float)
    fig, axes = style.figure(1, 1, height=3.6)
    ax = axes[0, 0]
    with style.styled():
        for col, (lab, ci) in zip(_colours(len(res.cif)), res.cif.items()):
            grid = np.unique(np.concatenate(([0.0], ci.time, [ci.max_time])))
            est, lo, hi = ci.confidence_interval(grid, conf_level, "log-log")
            ax.step(grid, 100 * est, where="post", color=col, label=lab, linewidth=LINE_W)
            ok = ~np.isnan(lo) & ~np.isnan(hi)
            ax.fill_between(grid[ok], 100 * lo[ok], 100 * hi[ok], step="post", color=col,
                            alpha=0.15, linewidth=0)
        pad = 0.02 * float(times.max())
        ax.set_xlim(-pad, float(times.max()) + pad)
        ax.set_xticks(times, [formatting.number(v) for v in times])
        ax.set_ylim(0, 100)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_xlabel(XLABEL)
        ax.set_ylabel("Cumulative incidence (%)")
        fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncol=len(res.cif),
                   frameon=False)
    return fig
