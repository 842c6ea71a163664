"""Figures of the toxicity chapter: grade distributions, odds ratios, ROC curves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import COLOURS, STYLE, _figure, _plain_log, _strip  # noqa: F401

# --------------------------------------------------------------------------------------------
# Toxicity chapter
# --------------------------------------------------------------------------------------------

def grade_distributions(distributions: dict[str, pd.DataFrame]) -> Figure:
    """Bar charts of patients by highest toxicity grade, one panel per syndrome.

    ``distributions`` maps a panel title to a frame with ``grade`` and ``n``
    (:func:`analysis_lib.analyses.toxicity.grade_distribution`)."""
    with plt.rc_context(STYLE):
        fig, axes = _figure(4.2 * len(distributions), 3.0, len(distributions))
        for ax, (title, d), colour in zip(axes, distributions.items(), COLOURS):
            bars = ax.bar(d["grade"].astype(str), d["n"], color=colour, width=0.7)
            ax.bar_label(bars, padding=2, fontsize=9)
            ax.set_title(title)
            ax.set_xlabel("Highest grade (0 = none)")
            ax.set_ylabel("Patients")
            ax.set_ylim(0, max(d["n"].max() * 1.18, 1))
    return fig


def odds_ratio_forest(models: dict[str, pd.DataFrame], x_limits: tuple[float, float] = (1e-3, 1e3)
                      ) -> Figure:
    """Odds ratios by maximum likelihood (profile-likelihood interval) and by Firth's method
    (profile penalised-likelihood interval), one panel per model, log scale.

    ``models`` maps a panel title to :func:`analysis_lib.analyses.toxicity.model_table` output (columns
    ``label``, ``or_ml``, ``profile_lower``, ``profile_upper``, ``or_firth``,
    ``firth_lower``, ``firth_upper``). Intervals running beyond ``x_limits`` (infinite ones
    included) end in an arrow at the edge; an infinite ML estimate is drawn as a triangle at
    the edge.
    """
    lo_lim, hi_lim = x_limits
    n_rows = max(len(t) for t in models.values())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(models), 1, figsize=(7.5, len(models) * (0.9 + 0.5 * n_rows)),
                                 squeeze=False, sharex=True, layout="constrained")
        axes = axes[:, 0]
        for ax, (title, t) in zip(axes, models.items()):
            y = np.arange(len(t))[::-1].astype(float)
            for offset, (est_c, lo_c, hi_c), colour, marker, name in (
                    (0.15, ("or_ml", "profile_lower", "profile_upper"), COLOURS[0], "o",
                     "Maximum likelihood (profile CI)"),
                    (-0.15, ("or_firth", "firth_lower", "firth_upper"), COLOURS[1], "s",
                     "Firth (profile penalised CI)")):
                yy = y + offset
                est = t[est_c].to_numpy(float)
                lo = np.clip(t[lo_c].to_numpy(float), lo_lim, hi_lim)
                hi = np.clip(t[hi_c].to_numpy(float), lo_lim, hi_lim)
                ax.hlines(yy, lo, hi, color=colour, linewidth=1.6)
                for yi, l_raw, h_raw in zip(yy, t[lo_c], t[hi_c]):
                    if h_raw > hi_lim:
                        ax.annotate("", (hi_lim, yi), (hi_lim / 2.2, yi),
                                    arrowprops={"arrowstyle": "->", "color": colour})
                    if l_raw < lo_lim:
                        ax.annotate("", (lo_lim, yi), (lo_lim * 2.2, yi),
                                    arrowprops={"arrowstyle": "->", "color": colour})
                finite = np.isfinite(est) & (est > 0)
                ax.scatter(est[finite], yy[finite], color=colour, marker=marker, s=34,
                           zorder=3, label=name)
                for yi, e in zip(yy[~finite], est[~finite]):
                    if e == 0:
                        ax.scatter([lo_lim], [yi], color=colour, marker="<", s=40, zorder=3)
                    elif np.isinf(e):
                        ax.scatter([hi_lim], [yi], color=colour, marker=">", s=40, zorder=3)
            ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xlim(lo_lim, hi_lim)
            ax.set_yticks(y)
            ax.set_yticklabels(t["label"])
            ax.set_ylim(-0.7, len(t) - 0.3)
            ax.set_title(title, loc="left")
        axes[-1].set_xlabel("Odds ratio of grade ≥3 CRS (log scale)")
        axes[0].legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.08), ncol=2)
    return fig


def roc_curves(curves: dict[str, tuple[pd.DataFrame, float]], marker: str = "marker") -> Figure:
    """Empirical ROC curves (sensitivity against 1 - specificity), one line per outcome.

    ``curves`` maps a legend label to ``(curve, auc)`` with ``curve`` a frame with ``fpr``
    and ``sensitivity`` (:attr:`analysis_lib.stats.roc.ROCAnalysis.curve`)."""
    with plt.rc_context(STYLE):
        fig, (ax,) = _figure(4.6, 4.2)
        for (label, (curve, auc)), colour in zip(curves.items(), COLOURS):
            ax.plot(curve["fpr"], curve["sensitivity"], color=colour, drawstyle="default",
                    label=f"{label} (AUC {auc:.2f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel("1 − specificity")
        ax.set_ylabel("Sensitivity")
        ax.set_title(f"Peak {marker} as a classifier")
        ax.legend(frameon=False, loc="lower right")
    return fig
