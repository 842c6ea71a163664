"""Figures of the simulation chapter, from a :class:`analysis_lib.simulation.summary.Summary`,
in the book's style (:mod:`analysis_lib.book.plots`). Each function returns a matplotlib
figure; error bars are ±1.96 Monte Carlo standard errors."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..core import formatting
from ..simulation.summary import Summary
from .figures import style

Z = 1.959963984540054

#: Curve styles: (scenario, metric, analysis, term, coef, label, colour, marker).
Curve = tuple[str, str, str, str, str, str, str, str]


def _sizes_axis(ax: plt.Axes, sizes: Sequence[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(list(sizes))
    ax.set_xticklabels([formatting.count(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("Patients per trial")
    if len(sizes) == 1:
        ax.set_xlim(sizes[0] / 1.5, sizes[0] * 1.5)


def _curves(ax: plt.Axes, summary: Summary, curves: Sequence[Curve]) -> list[int]:
    used: set[int] = set()
    for scen, metric, analysis, term, coef, label, colour, marker in curves:
        sizes = summary.sizes(scen)
        pts = [(n, *summary.rate(scen, n, metric, analysis, term, coef)[:2]) for n in sizes]
        pts = [p for p in pts if np.isfinite(p[1])]
        if not pts:
            continue
        n, r, se = (np.array(v, dtype=float) for v in zip(*pts))
        ax.errorbar(n, r, yerr=Z * se, color=colour, marker=marker, capsize=3, linewidth=1.5,
                    markersize=5, label=label)
        used |= set(int(x) for x in n)
    return sorted(used)


def rejection_curves(summary: Summary, panels: Sequence[tuple[str, Sequence[Curve]]], *,
                     alpha: float = 0.05, power: float = 0.8) -> Figure:
    """Rates against cohort size, one panel per ``(title, curves)``, with reference lines at
    ``alpha`` and ``power``."""
    with style.styled():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6),
                                 squeeze=False, layout="constrained")
        for ax, (title, curves) in zip(axes[0], panels):
            used = _curves(ax, summary, curves)
            ax.axhline(alpha, color="grey", linestyle=":", linewidth=1)
            ax.axhline(power, color="grey", linestyle="--", linewidth=1)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("Proportion of trials")
            ax.set_title(title)
            _sizes_axis(ax, used or summary.sizes())
            ax.legend(loc="best", frameon=False, fontsize=8)
    return fig


def coverage_curves(summary: Summary, endpoints: Sequence[tuple[str, str]],
                    conf_types: Sequence[str], nominal: float = 0.95,
                    scenario: str = "calibrated") -> Figure:
    """Coverage of the Kaplan-Meier intervals of the true survival at the horizon, by
    interval type, one panel per ``(analysis, title)``."""
    with style.styled():
        fig, axes = plt.subplots(1, len(endpoints), figsize=(4.0 * len(endpoints), 3.4),
                                 squeeze=False, layout="constrained")
        for ax, (analysis, title) in zip(axes[0], endpoints):
            curves = [(scenario, "cover", analysis, ct, "", ct, style.PALETTE[i], "osv"[i % 3])
                      for i, ct in enumerate(conf_types)]
            used = _curves(ax, summary, curves)
            ax.axhline(nominal, color="grey", linestyle="--", linewidth=1)
            ax.set_ylabel("Coverage")
            ax.set_title(title)
            lo = min([nominal] + [summary.rate(scenario, n, "cover", analysis, ct)[0]
                                  for n in used for ct in conf_types]) - 0.05
            ax.set_ylim(max(0.0, math.floor(lo * 20) / 20), 1.0)
            _sizes_axis(ax, used or summary.sizes(scenario))
            ax.legend(loc="lower right", frameon=False, fontsize=8, title="interval")
    return fig


def _ratio_label(t: float) -> str:
    """A tick of a ratio axis: ``0.25``, ``4``, or ``1/64`` where the decimal is long."""
    txt = f"{t:g}"
    return txt if len(txt) <= 5 or t >= 1 else f"1/{round(1 / t)}"


def _log_ratio_axis(ax: plt.Axes, limits: tuple[float, float], ticks: Sequence[float]) -> None:
    """A log-scale axis of ratios labelled in plain numbers (0.25, 1, 4)."""
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    ax.set_xticks(list(ticks))
    ax.set_xticklabels([_ratio_label(t) for t in ticks])
    ax.minorticks_off()


def _hist(ax: plt.Axes, summary: Summary, scenario: str, n: int, analysis: str, term: str,
          coef: str, colour: str, label: str) -> float:
    h = summary.histograms
    part = h[(h["scenario"] == scenario) & (h["n"] == n) & (h["analysis"] == analysis)
             & (h["term"] == term) & (h["coef"].fillna("") == coef)].sort_values("bin")
    if part.empty:
        return math.nan
    total = int(part["replicates"].iloc[0])
    width = float(part["upper"].iloc[0] - part["lower"].iloc[0])
    dens = part["count"].to_numpy() / (total * width)
    edges = np.r_[part["lower"].to_numpy(), part["upper"].iloc[-1]]
    ax.stairs(dens, np.exp(edges), color=colour, linewidth=1.6, label=label)
    return int(part["infinite"].iloc[0]) / total if total else math.nan


def _truth(summary: Summary, scenario: str, analysis: str, term: str, coef: str = "") -> float:
    t = summary.truth
    if t is None or t.empty:
        return math.nan
    m = t[(t["scenario"] == scenario) & (t["analysis"] == analysis) & (t["term"] == term)]
    if coef:
        m = m[m["coef"].fillna("") == coef]
    return float(m["estimate"].iloc[0]) if len(m) else math.nan


def hsct_distributions(summary: Summary, endpoints: Sequence[tuple[str, str]],
                       scenario: str = "calibrated") -> Figure:
    """Distributions of the bridging-HSCT hazard ratio over the trials, fixed at infusion
    (as published) and time-dependent, one row per end point and one column per cohort
    size, with the true values of both estimands (vertical lines)."""
    sizes = summary.sizes(scenario)
    with style.styled():
        fig, axes = plt.subplots(len(endpoints), len(sizes),
                                 figsize=(max(3.0 * len(sizes), 5.0), 2.7 * len(endpoints)),
                                 squeeze=False, layout="constrained", sharex=True)
        for i, (ep, title) in enumerate(endpoints):
            for j, n in enumerate(sizes):
                ax = axes[i, j]
                for k, (method, lab) in enumerate((("fixed", "fixed at infusion (published)"),
                                                   ("time-dependent", "time-dependent"))):
                    _hist(ax, summary, scenario, n, f"hsct_{ep}", method, "", style.PALETTE[k], lab)
                    tv = _truth(summary, scenario, f"hsct_{ep}", method)
                    if np.isfinite(tv):
                        ax.axvline(tv, color=style.PALETTE[k], linestyle="--", linewidth=1.2)
                ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
                _log_ratio_axis(ax, (1 / 40, 8), (0.05, 0.1, 0.25, 0.5, 1, 2, 4))
                ax.set_yticks([])
                ax.set_title(f"{title}, n = {formatting.count(n)}", fontsize=10)
                if i == len(endpoints) - 1:
                    ax.set_xlabel("Hazard ratio (HSCT vs none)")
        axes[0, 0].legend(loc="upper left", frameon=False, fontsize=8)
    return fig


def ml_vs_firth(summary: Summary, analysis: str, terms: Sequence[tuple[str, str]], n: int,
                scenario: str = "calibrated") -> Figure:
    """Distributions of the odds ratios of one of Table 2's models over the trials of size
    ``n``: maximum likelihood (finite estimates; the share that is infinite is given) and
    Firth, with the true value (dashed)."""
    ncols = 2 if len(terms) > 2 else len(terms)
    nrows = math.ceil(len(terms) / ncols)
    with style.styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.8 * nrows),
                                 squeeze=False, layout="constrained", sharex=True)
        for ax, (term, title) in zip(axes.ravel(), terms):
            inf = _hist(ax, summary, scenario, n, f"{analysis}_ml", term, "", style.PALETTE[0],
                        "maximum likelihood")
            _hist(ax, summary, scenario, n, f"{analysis}_firth", term, "", style.PALETTE[1], "Firth")
            tv = _truth(summary, scenario, f"{analysis}_ml", term)
            if np.isfinite(tv):
                ax.axvline(tv, color="black", linestyle="--", linewidth=1.2, label="truth")
            ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
            _log_ratio_axis(ax, (1 / 64, 64), (1 / 64, 1 / 8, 1, 8, 64))
            ax.set_yticks([])
            ax.set_xlabel("Odds ratio")
            extra = (f"\n(ML infinite in {formatting.percent(100 * inf, 0)})"
                     if np.isfinite(inf) else "")
            ax.set_title(title + extra, fontsize=10)
        axes[0, 0].legend(loc="upper left", frameon=False, fontsize=8)
    return fig
