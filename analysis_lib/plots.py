"""Figures for the book, drawn with matplotlib's object API in one consistent style.

Each function returns a :class:`matplotlib.figure.Figure` and draws nothing on global state,
so a notebook cell can glue it as a numbered figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .cohort import days_to_months
from .survival import KaplanMeier

STYLE = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
    "ytick.labelsize": 10, "legend.fontsize": 10, "axes.spines.top": False,
    "axes.spines.right": False, "figure.dpi": 110, "savefig.dpi": 150,
}
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7f6000", "#7030a0")


def _figure(width: float = 8.0, height: float = 3.6, ncols: int = 1) -> tuple[Figure, np.ndarray]:
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained")
    return fig, axes[0]


def _strip(ax: plt.Axes, values: np.ndarray, colour: str, seed: int = 1) -> None:
    """Box plot with the individual values jittered beside it (deterministic jitter)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    ax.boxplot(v, vert=False, widths=0.5, showfliers=False,
               medianprops={"color": "black", "linewidth": 2})
    jitter = np.random.default_rng(seed).uniform(-0.18, 0.18, v.size)
    ax.scatter(v, 1 + jitter, s=18, color=colour, alpha=0.75, zorder=3, linewidths=0)
    ax.set_yticks([])


def dose_and_interval(patients: pd.DataFrame, dose_threshold: float | None = None) -> Figure:
    """CAR-T dose (10⁶ cells/kg) and diagnosis-to-infusion interval (months), one point each."""
    with plt.rc_context(STYLE):
        fig, (a, b) = _figure(9.0, 2.8, 2)
        _strip(a, patients["cart_dose_1e6_per_kg"].to_numpy(), COLOURS[0])
        a.set_xlabel("CAR-T dose (×10⁶ cells/kg)")
        if dose_threshold is not None:
            a.axvline(dose_threshold, color="grey", linestyle=":", linewidth=1)
        _strip(b, days_to_months(patients["diagnosis_to_infusion_days"].astype(float)).to_numpy(),
               COLOURS[1])
        b.set_xscale("log")
        b.set_xlabel("Diagnosis to infusion (months, log scale)")
    return fig


def follow_up_curve(curve: KaplanMeier, median: float) -> Figure:
    """Reverse Kaplan–Meier curve of follow-up (months) with its 95% band and median."""
    with plt.rc_context(STYLE):
        fig, (ax,) = _figure(7.0, 3.6)
        t = np.concatenate(([0.0], curve.time))
        s = np.concatenate(([1.0], curve.surv))
        lo, hi = curve.confidence_interval("log")
        ax.step(t, s, where="post", color=COLOURS[0], label="Reverse Kaplan–Meier")
        ax.fill_between(t, np.concatenate(([1.0], lo)), np.concatenate(([1.0], hi)), step="post",
                        color=COLOURS[0], alpha=0.15, linewidth=0, label="95% CI (log)")
        if np.isfinite(median):
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
            ax.axvline(median, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel("Months since infusion")
        ax.set_ylabel("Proportion still in follow-up")
        ax.legend(frameon=False, loc="lower left")
    return fig
