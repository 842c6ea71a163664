"""Figures of the cohort chapter: dose and timing, follow-up; and the chapter's offer of its
input cohort for download (synthetic data only).

Every figure is drawn in the book's style (:mod:`analysis_lib.book.figures.style`): seaborn's
theme and colour-blind-safe palette, the article column's width, numbers by the book's
formatter, numbers at risk under the time ticks.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from ...core import formatting
from ...core.suppression import count_text
from ...stats.survival import KaplanMeier
from . import style


def _box_and_points(ax: Any, values: pd.Series | np.ndarray, colour: Any, seed: int) -> None:
    """A horizontal box plot (quartiles, whiskers to 1.5 IQR) with every value beside it,
    jittered vertically by a seeded generator (the same figure on every build)."""
    v = pd.Series(np.asarray(values, dtype=float)).dropna().to_numpy()
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
        warnings.filterwarnings("ignore", message=".*vert.*", category=DeprecationWarning)
        sns.boxplot(x=v, ax=ax, orient="h", width=0.45, showfliers=False, color="white",
                    linecolor="0.25", linewidth=1.2)
    jitter = np.random.default_rng(seed).uniform(-0.17, 0.17, v.size)
    sns.scatterplot(x=v, y=jitter, ax=ax, color=colour, s=24, alpha=0.8, linewidth=0,
                    zorder=3, legend=False)
    ax.set_yticks([])
    ax.set_ylim(-0.45, 0.45)
    ax.spines["left"].set_visible(False)


def dose_and_interval(dose: pd.Series | np.ndarray, interval_months: pd.Series | np.ndarray,
                      dose_median: float | None = None) -> Figure:
    """CAR-T dose (×10⁶ cells/kg) and the diagnosis-to-infusion interval (months, log scale),
    one point per patient over a box plot; a dotted line at the median dose."""
    fig, axes = style.figure(1, 2, height=2.6)
    a, b = axes[0]
    with style.styled():
        _box_and_points(a, dose, style.PALETTE[0], seed=1)
        a.set_xlabel("CAR-T dose (×10⁶ cells/kg)")
        if dose_median is not None and np.isfinite(dose_median):
            a.axvline(dose_median, color="grey", linestyle=":", linewidth=1.2)
        a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: formatting.number(v)))
        _box_and_points(b, interval_months, style.PALETTE[1], seed=2)
        b.set_xscale("log")
        style.plain_log(b, "x")
        b.set_xlabel("Diagnosis to infusion (months, log scale)")
    return fig


def _at_risk(curve: KaplanMeier, t: float) -> int:
    """Patients still under observation at time ``t`` (R's convention: time >= t)."""
    later = curve.time >= t
    if not later.any():
        return 0
    return int(curve.n_risk[np.argmax(later)])


def follow_up_curve(curve: KaplanMeier, median: float, *, step: float = 12.0) -> Figure:
    """Reverse Kaplan–Meier estimate of follow-up (months since infusion) with its pointwise
    confidence band (log transformation) and dotted lines at the median; the number of
    patients still under observation under each time tick (every ``step`` months), small
    numbers suppressed as in the survival chapter's risk tables
    (:func:`~analysis_lib.core.suppression.count_text`)."""
    fig, axes = style.figure(2, 1, height=4.0, gridspec_kw={"height_ratios": [6, 1]})
    ax, risk = axes[:, 0]
    colour = style.PALETTE[0]
    lvl = round(100 * curve.conf_level)
    with style.styled():
        t = np.concatenate(([0.0], curve.time))
        s = np.concatenate(([1.0], curve.surv))
        lo, hi = curve.confidence_interval("log")
        ax.step(t, s, where="post", color=colour, linewidth=2, label="Reverse Kaplan–Meier")
        ax.fill_between(t, np.concatenate(([1.0], lo)), np.concatenate(([1.0], hi)),
                        step="post", color=colour, alpha=0.18, linewidth=0,
                        label=f"{lvl}% CI (log)")
        if np.isfinite(median):
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
            ax.axvline(median, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, t.max() * 1.02)
        ax.set_ylabel("Still in follow-up")
        ax.set_xlabel("Months since infusion")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: formatting.count(v)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formatting.percent(100 * v, 0)))
        ax.xaxis.set_major_locator(MultipleLocator(step))
        style.legend_right(ax)
        ticks = [x for x in np.arange(0, t.max() * 1.02 + 1e-9, step)]
        for x in ticks:
            risk.text(x, 0.5, count_text(_at_risk(curve, x)), ha="center", va="center")
        risk.set_xlim(ax.get_xlim())
        risk.set_ylim(0, 1)
        risk.set_xticks([])
        risk.set_yticks([])
        for side in ("left", "bottom"):
            risk.spines[side].set_visible(False)
        if _at_risk(curve, 0.0) < 1000:
            risk.text(-0.04, 0.5, "Under\nobservation", transform=risk.transAxes, ha="right",
                      va="center")
        else:  # a count of thousands under the first tick would run into a label on the left
            risk.set_title("Under observation", loc="left", fontsize=plt.rcParams["font.size"])
    return fig


def input_cohort_downloads(tables: dict[str, pd.DataFrame], output_dir: str | Path,
                           synthetic: bool) -> Any:
    """Offer the chapter's input cohort for download, and say so: with **synthetic** data,
    each table (``patients``, ``kinetics``) is written as plain CSV with its metadata sidecar
    (:func:`analysis_lib.book.report.write_output`, named ``input_<table>.csv``) and the
    returned Markdown (an IPython ``Markdown`` object) links them; with a real cohort nothing
    is written, because row-level data of patients are never published, and the returned
    Markdown says so.

    (A helper of the book layer kept here until it has a shared home, e.g.
    :mod:`analysis_lib.book.report`.)"""
    from IPython.display import Markdown

    from .. import report

    if not synthetic:
        return Markdown("Row-level data are never published for a real cohort: this build's "
                        "cohort is not marked synthetic, so its input tables are not offered "
                        "for download (only the aggregate tables of the chapters are).")
    rel = Path(str(output_dir)).as_posix().rstrip("/")
    links = []
    for name, frame in tables.items():
        path = report.write_output(frame, output_dir, f"input_{name}", synthetic)
        rows = formatting.count(len(frame))
        links.append(f"{{download}}`input_{name}.csv <{rel}/{path.name}>` ({rows} rows)")
    return Markdown("The full **synthetic** input cohort can be downloaded as plain CSV, each "
                    "file with a metadata sidecar (`.csv.json`): " + " and ".join(links)
                    + ". This is offered only because the data are synthetic: for a real "
                    "cohort, row-level data are never published.")
