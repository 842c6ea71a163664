"""Figures of the cohort chapter: dose and timing, follow-up.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...core.units import days_to_months
from ...stats.survival import KaplanMeier
from .style import COLOURS, STYLE, _figure, _plain_log, _strip  # noqa: F401


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
