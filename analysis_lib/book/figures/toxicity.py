"""Figures of the toxicity chapter: grade distributions, odds ratios (with the paper's Table 2
beside them), ROC curves of peak IL-6.

Every figure is drawn in the book's style (:mod:`analysis_lib.book.figures.style`): seaborn's
theme and colour-blind-safe palette, the article column's width, integer ticks on count axes,
legends outside the data, numbers by the book's formatter.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ...core import formatting
from ...core.suppression import count_text, is_small, min_cell_count
from ...stats.roc import ROCAnalysis
from . import style


def grade_distributions(distributions: Mapping[str, pd.DataFrame]) -> Figure:
    """Bar charts of patients by highest toxicity grade, one panel per syndrome, the count
    above each bar (:func:`analysis_lib.core.suppression.count_text`); integer count axes.

    With small-cell suppression on, a bar whose count is suppressed (``<5``) would give the
    count away by its height: it is drawn as a dashed, unfilled outline up to the largest
    count the label allows (4 for ``<5``), the same for every suppressed count
    (:func:`suppressed_bar_note` says so in the caption).

    ``distributions`` maps a panel title to a frame with ``grade`` and ``n``
    (:func:`analysis_lib.analyses.toxicity.grade_distribution`)."""
    fig, axes = style.figure(1, len(distributions), height=3.0, sharey=True)
    top = max(int(d["n"].max()) for d in distributions.values())
    with style.styled():
        for ax, (title, d), colour in zip(axes[0], distributions.items(), style.PALETTE):
            counts = d["n"].astype(int).tolist()
            small = [is_small(v) for v in counts]
            heights = [min_cell_count() - 1 if s else v for v, s in zip(counts, small)]
            sns.barplot(x=d["grade"].astype(int).astype(str), y=heights, ax=ax,
                        color=colour, width=0.7)
            for c in ax.containers:
                for patch, s in zip(c.patches, small):
                    if s:
                        patch.set(facecolor="none", edgecolor=colour, linestyle="--",
                                  linewidth=1.2)
                ax.bar_label(c, labels=[count_text(v) for v in counts], padding=2)
            ax.set_title(title)
            ax.set_xlabel("Highest grade within 4 weeks (0 = none)")
            ax.set_ylabel("Patients")
            ax.set_ylim(0, max(top * 1.18, 1))
            style.count_axis(ax)
    return fig


def suppressed_bar_note(distributions: Mapping[str, pd.DataFrame]) -> str:
    """The caption's sentence on the bars :func:`grade_distributions` draws as outlines
    (``""`` when no count is suppressed)."""
    if not any(is_small(v) for d in distributions.values() for v in d["n"]):
        return ""
    t = min_cell_count()
    return (f" A dashed outline is a count from 1 to {formatting.count(t - 1)}, shown as "
            f"<{formatting.count(t)} and drawn at {formatting.count(t - 1)}, its largest "
            "possible value.")


def _log_ticks(lo: float, hi: float) -> list[float]:
    return [10.0 ** k for k in range(int(math.floor(math.log10(lo))),
                                     int(math.ceil(math.log10(hi))) + 1)]


def _decade_label(v: float, _pos: object = None) -> str:
    """0.001, 0.01, 0.1, 1, 10, 100, 1,000 (the book's formatter, decimals as needed)."""
    return formatting.fixed(v, max(0, -int(round(math.log10(v)))))


def odds_ratio_forest(models: Mapping[str, pd.DataFrame],
                      published: Mapping[str, pd.DataFrame] | None = None,
                      x_limits: tuple[float, float] = (1e-3, 1e3)) -> Figure:
    """Odds ratios by maximum likelihood (profile-likelihood interval), by Firth's method
    (profile penalised-likelihood interval) and, when given, as the paper printed them (Wald
    interval), one panel per model, log scale.

    ``models`` maps a panel title to :func:`analysis_lib.analyses.toxicity.model_table` output
    (columns ``term``, ``label``, ``or_ml``, ``profile_lower``, ``profile_upper``,
    ``or_firth``, ``firth_lower``, ``firth_upper``); ``published`` maps the same titles to
    the paper's rows (``term``, ``or``, ``lower``, ``upper``:
    :func:`analysis_lib.analyses.toxicity.published_table2`). Intervals running beyond
    ``x_limits`` (infinite ones included) end in an arrow at the edge; an infinite or zero ML
    estimate is drawn as a triangle at the edge.
    """
    lo_lim, hi_lim = x_limits
    published = published or {}
    n_rows = max(len(t) for t in models.values())
    fig, axes = style.figure(len(models), 1, height=0.9 + len(models) * (0.45 + 0.62 * n_rows),
                             sharex=True)
    axes = axes[:, 0]
    series = [("ML (profile-likelihood CI)", style.PALETTE[0], "o"),
              ("Firth (profile penalised-likelihood CI)", style.PALETTE[1], "s"),
              ("Paper's Table 2 (Wald CI)", (0.35, 0.35, 0.35), "D")]
    with style.styled():
        for ax, (title, t) in zip(axes, models.items()):
            y = np.arange(len(t))[::-1].astype(float)
            pub = published.get(title)
            sets = [(t["or_ml"], t["profile_lower"], t["profile_upper"]),
                    (t["or_firth"], t["firth_lower"], t["firth_upper"])]
            if pub is not None:
                p = pub.set_index("term").reindex(t["term"])
                sets.append((p["or"], p["lower"], p["upper"]))
            offsets = np.linspace(0.22, -0.22, len(sets)) if len(sets) > 1 else [0.0]
            for (est_s, lo_s, hi_s), off, (name, colour, marker) in zip(sets, offsets, series):
                yy = y + off
                est = np.asarray(est_s, float)
                lo_raw, hi_raw = np.asarray(lo_s, float), np.asarray(hi_s, float)
                ax.hlines(yy, np.clip(lo_raw, lo_lim, hi_lim), np.clip(hi_raw, lo_lim, hi_lim),
                          color=colour, linewidth=1.6)
                for yi, l_raw, h_raw in zip(yy, lo_raw, hi_raw):
                    if h_raw > hi_lim:
                        ax.annotate("", (hi_lim, yi), (hi_lim / 2.2, yi),
                                    arrowprops={"arrowstyle": "->", "color": colour})
                    if l_raw < lo_lim:
                        ax.annotate("", (lo_lim, yi), (lo_lim * 2.2, yi),
                                    arrowprops={"arrowstyle": "->", "color": colour})
                finite = np.isfinite(est) & (est > 0)
                ax.scatter(est[finite], yy[finite], color=colour, marker=marker, s=30,
                           zorder=3, label=name)
                for yi, e in zip(yy[~finite], est[~finite]):
                    if e == 0:
                        ax.scatter([lo_lim], [yi], color=colour, marker="<", s=40, zorder=3)
                    elif np.isinf(e):
                        ax.scatter([hi_lim], [yi], color=colour, marker=">", s=40, zorder=3)
            ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xlim(lo_lim, hi_lim)
            ax.xaxis.set_major_locator(FixedLocator(_log_ticks(lo_lim, hi_lim)))
            ax.xaxis.set_major_formatter(FuncFormatter(_decade_label))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_yticks(y)
            ax.set_yticklabels(t["label"])
            ax.set_ylim(-0.6, len(t) - 0.4)
            ax.set_title(title, loc="left")
        axes[-1].set_xlabel("Odds ratio of grade ≥3 CRS (log scale; < 1: lower risk)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels),
                   frameon=False)
    return fig


def roc_curves(rocs: Mapping[str, ROCAnalysis], marker: str = "IL-6") -> Figure:
    """Empirical ROC curves (sensitivity against 1 − specificity) of a marker, one panel per
    outcome, each titled with its AUC and DeLong interval; the dotted diagonal is a useless
    test.

    ``rocs`` maps an outcome label to :class:`analysis_lib.stats.roc.ROCAnalysis`."""
    fig, axes = style.figure(1, len(rocs), height=4.0, sharey=True)
    with style.styled():
        for ax, (label, r), colour in zip(axes[0], rocs.items(), style.PALETTE):
            curve = r.curve
            sns.lineplot(x=curve["fpr"].to_numpy(), y=curve["sensitivity"].to_numpy(), ax=ax,
                         color=colour, estimator=None, sort=False,
                         linewidth=2)
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
            ax.set_xlim(-0.01, 1.01)
            ax.set_ylim(-0.01, 1.02)
            ax.set_aspect("equal")
            ax.set_xlabel("1 − specificity")
            ax.set_ylabel("Sensitivity")
            lvl = round(100 * r.conf_level)
            ax.set_title(f"{label}: AUC {formatting.fixed(r.auc, 2)}\n({lvl}% CI "
                         f"{formatting.fixed(r.lower, 2)}–{formatting.fixed(r.upper, 2)}; "
                         f"{count_text(r.n_pos)} with, {count_text(r.n_neg)} without)")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_formatter(FuncFormatter(lambda v, _: formatting.fixed(v, 1)))
    fig.suptitle(f"Peak {marker} as a classifier")
    return fig
