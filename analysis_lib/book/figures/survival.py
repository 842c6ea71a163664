"""Figures of the survival chapter: Kaplan–Meier curves with numbers at risk, cumulative incidence.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ...core import suppression
from ...stats.survival import KaplanMeier
from .style import COLOURS, STYLE, _figure, _plain_log, _strip  # noqa: F401

# ============================================================================================
# Survival chapter: Kaplan–Meier curves with number-at-risk tables, cumulative incidence
# ============================================================================================

def _km_steps(curve: KaplanMeier, conf_type: str) -> tuple[np.ndarray, ...]:
    t = np.concatenate(([0.0], curve.time))
    s = np.concatenate(([1.0], curve.surv))
    lo, hi = curve.confidence_interval(conf_type)
    return t, s, np.concatenate(([1.0], lo)), np.concatenate(([1.0], hi))


def _risk_rows(ax: plt.Axes, labels: list[str], counts: list[np.ndarray], times: np.ndarray,
               colours: list[str]) -> None:
    """Number-at-risk table drawn in its own axes under a curve (x shared with the curve)."""
    k = len(labels)
    for i, (lab, cnt, col) in enumerate(zip(labels, counts, colours)):
        y = k - 1 - i
        for t, c in zip(times, cnt):
            ax.text(t, y, suppression.count_text(int(c)), ha="center", va="center", fontsize=8.5, color=col)
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_yticks(range(k - 1, -1, -1), labels, fontsize=8.5)
    for tick, col in zip(ax.get_yticklabels(), colours):
        tick.set_color(col)
    ax.tick_params(axis="both", length=0)
    ax.tick_params(axis="y", pad=14)
    ax.tick_params(axis="x", labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title("Number at risk", fontsize=8.5, loc="left", pad=2)


def _km_panel(ax: plt.Axes, rax: plt.Axes, curves: dict[str, KaplanMeier],
              at_risk: dict[str, np.ndarray], risk_times: np.ndarray, conf_type: str,
              title: str, annotation: str, ylabel: str, xlabel: str, band: bool,
              xmax: float | None, censor_marks: bool = True) -> None:
    labels = list(curves)
    colours = [COLOURS[i % len(COLOURS)] for i in range(len(labels))]
    for lab, col in zip(labels, colours):
        km = curves[lab]
        t, s, lo, hi = _km_steps(km, conf_type)
        ax.step(t, s, where="post", color=col, label=lab, linewidth=1.6)
        if censor_marks:
            cens = km.n_censor > 0
            ax.plot(km.time[cens], km.surv[cens], "|", color=col, markersize=6)
        if band:
            ok = ~np.isnan(lo) & ~np.isnan(hi)
            ax.fill_between(t[ok], lo[ok], hi[ok], step="post", color=col, alpha=0.13,
                            linewidth=0)
    ax.set_ylim(0, 1.03)
    ax.set_xlim(0, xmax if xmax is not None else max(float(risk_times.max()), 1.0))
    ax.set_xticks(risk_times)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    if annotation:
        ax.text(0.98, 0.04, annotation, transform=ax.transAxes, ha="right", va="bottom",
                fontsize=9)
    ax.legend(frameon=False, loc="lower left", fontsize=9)
    _risk_rows(rax, labels, [at_risk[lab] for lab in labels], risk_times, colours)


def survival_curves(panels: list[dict], risk_times: np.ndarray | list[float], *,
                    ncols: int = 2, conf_type: str = "plain", band: bool = True,
                    panel_width: float = 3.9, panel_height: float = 3.1,
                    xlabel: str = "Months since infusion", xmax: float | None = None) -> Figure:
    """Kaplan–Meier panels, each with pointwise confidence bands and a number-at-risk table.

    ``panels``: dicts with ``curves`` (label -> KaplanMeier), ``at_risk`` (label -> counts at
    ``risk_times``), ``title``, and optionally ``annotation`` (e.g. a log-rank p), ``ylabel``
    and ``censor_marks`` (default True: a tick at each censoring).
    """
    rt = np.asarray(risk_times, dtype=float)
    n = len(panels)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    max_groups = max(len(p["curves"]) for p in panels)
    table_h = 0.28 * max_groups + 0.35
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(panel_width * ncols, (panel_height + table_h) * nrows),
                         layout="constrained")
        gs = fig.add_gridspec(2 * nrows, ncols,
                              height_ratios=[panel_height, table_h] * nrows)
        for i, p in enumerate(panels):
            r, c = divmod(i, ncols)
            ax = fig.add_subplot(gs[2 * r, c])
            rax = fig.add_subplot(gs[2 * r + 1, c], sharex=ax)
            _km_panel(ax, rax, p["curves"], p["at_risk"], rt, conf_type, p.get("title", ""),
                      p.get("annotation", ""), p.get("ylabel", "Survival probability"),
                      xlabel, band, xmax, p.get("censor_marks", True))
    return fig


def cumulative_incidence_curves(curves: dict, *, times: np.ndarray | list[float],
                                conf_level: float = 0.95, title: str = "",
                                xlabel: str = "Months since infusion",
                                ylabel: str = "Cumulative incidence") -> Figure:
    """Cumulative incidence step curves (label -> :class:`CumulativeIncidence`) with log-log
    pointwise bands, up to each curve's last follow-up time."""
    with plt.rc_context(STYLE):
        fig, (ax,) = _figure(7.0, 3.8)
        for i, (lab, ci) in enumerate(curves.items()):
            col = COLOURS[i % len(COLOURS)]
            grid = np.unique(np.concatenate(([0.0], ci.time, [ci.max_time])))
            est, lo, hi = ci.confidence_interval(grid, conf_level, "log-log")
            ax.step(grid, est, where="post", color=col, label=lab, linewidth=1.6)
            ok = ~np.isnan(lo) & ~np.isnan(hi)
            ax.fill_between(grid[ok], lo[ok], hi[ok], step="post", color=col, alpha=0.13,
                            linewidth=0)
        t = np.asarray(times, dtype=float)
        ax.set_xticks(t)
        ax.set_xlim(0, float(t.max()))
        ax.set_ylim(0, 1.0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, loc="left")
        ax.legend(frameon=False, loc="upper left")
    return fig
