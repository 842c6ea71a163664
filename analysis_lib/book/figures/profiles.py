"""Figures of longitudinal levels that work at any cohort size (issue 16).

A figure with one line per patient is readable for a few dozen patients, unreadable for
thousands, and its cost grows with every artist added (matplotlib re-computes the data limits
of all of an axes' artists for each one added: quadratic). Above
:data:`INDIVIDUAL_MAX_PATIENTS` patients the chapters draw the aggregate form instead
(:func:`profile_bands`): for each group and sampling day, the median level and the bands of
the interquartile range and of the 10th–90th percentiles; the caption says so
(:func:`aggregate_note`). Levels in copies/µg DNA, days from infusion.
"""

from __future__ import annotations

from typing import Hashable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...core import formatting
from . import style

#: Largest number of patients whose profiles are drawn one line per patient; above it the
#: figure shows the median and quantile bands of each group by sampling day
#: (:func:`profile_bands`), and the caption says so.
INDIVIDUAL_MAX_PATIENTS: int = 200
#: Fewest patients of a group sampled on a day for that day to enter the bands (fewer make
#: no quantile worth drawing).
MIN_PATIENTS_PER_DAY: int = 5
#: The quantiles drawn (percent): the outer band, the inner band and the line.
OUTER, INNER, CENTRE = (10.0, 90.0), (25.0, 75.0), 50.0


#: Grey of reference lines (the LLOQ).
GREY = "0.45"
#: The y-axis label of every transgene-level panel.
LEVEL_LABEL = "CAR-T transgene (copies/µg DNA)"


def lloq_text(lloq: float) -> str:
    """The LLOQ's legend entry, e.g. ``LLOQ (100 copies/µg DNA)``."""
    return f"LLOQ ({formatting.number(lloq)} copies/µg DNA)"


def lloq_line(ax: plt.Axes, lloq: float) -> None:
    """The LLOQ as a dashed grey line (nothing when it is unknown)."""
    if np.isfinite(lloq):
        ax.axhline(lloq, color=GREY, linestyle="--", linewidth=1, zorder=1)


def level_axis(ax: plt.Axes, which: str = "y", fine: bool = False) -> None:
    """A log axis of transgene levels with plain-number labels (:func:`style.plain_log`) and
    no minor labels; ``fine`` labels 1, 2 and 5 in each decade (data spanning a decade or
    two)."""
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    style.plain_log(ax, which)
    axis = ax.yaxis if which == "y" else ax.xaxis
    if fine:
        axis.set_major_locator(plt.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_formatter(plt.NullFormatter())


def profile_panels(lloq: float, split_day: float = 28.0) -> tuple[Figure, np.ndarray]:
    """The two panels every profile figure uses, individual or aggregate: the first
    ``split_day`` days (top) and the whole monitoring period (bottom), each with the LLOQ
    line, a log level axis, the axis labels and the panel's title. Returns the figure and
    its two axes; the caller draws the data and the legend."""
    fig, axes = style.figure(2, 1, height=7.4)
    panels = axes[:, 0]
    for ax, first in zip(panels, (True, False)):
        lloq_line(ax, lloq)
        level_axis(ax, "y")
        ax.set_ylabel(LEVEL_LABEL)
        ax.set_xlabel("Days since infusion")
        if first:
            ax.set_xlim(-0.5, split_day + 1)
            ax.set_title(f"First {formatting.number(split_day)} days", loc="left")
        else:  # x range from the data drawn later, with a 1% margin (about a week)
            ax.set_xmargin(0.01)
            ax.set_title("Whole monitoring period", loc="left")
    return fig, panels


def use_aggregate(n_patients: int) -> bool:
    """Whether a per-patient figure of ``n_patients`` is drawn in its aggregate form."""
    return n_patients > INDIVIDUAL_MAX_PATIENTS


def aggregate_note(n_patients: int) -> str:
    """The sentence a caption adds when the figure is in its aggregate form ("" otherwise)."""
    if not use_aggregate(n_patients):
        return ""
    return (f"With {formatting.count(n_patients)} patients (more than "
            f"{formatting.count(INDIVIDUAL_MAX_PATIENTS)}), the individual profiles are "
            "summarised: for each group and sampling day with at least "
            f"{MIN_PATIENTS_PER_DAY} patients, the median level (line), the interquartile "
            "range (dark band) and the 10th–90th percentiles (light band); results below the "
            "LLOQ count at LLOQ/2.")


def profiles_caption(n_patients: int) -> str:
    """The caption of the kinetics chapter's profile figure for either form: one line per
    patient up to :data:`INDIVIDUAL_MAX_PATIENTS` patients, else :func:`aggregate_note`."""
    if not use_aggregate(n_patients):
        return ("Individual CAR-T transgene levels (log scale) in the first 28 days (top) and "
                "over the whole monitoring period (bottom), one line per patient, coloured by "
                "day-28 response. Open triangles are results below the LLOQ, drawn at half the "
                "LLOQ; the dashed line is the LLOQ.")
    return ("CAR-T transgene levels (log scale) in the first 28 days (top) and over the whole "
            "monitoring period (bottom), by day-28 response. " + aggregate_note(n_patients)
            + " The dashed line is the LLOQ.")


def day_quantiles(kinetics: pd.DataFrame, groups: pd.Series, lloq: float) -> pd.DataFrame:
    """Per group and sampling day (``day >= 0``): ``n`` and the 10th, 25th, 50th, 75th and
    90th percentiles (type 7) of the level, results below the LLOQ at LLOQ/2; days with
    fewer than :data:`MIN_PATIENTS_PER_DAY` values are left out. ``groups``: a group label
    per ``patient_id`` (patients without one are left out)."""
    k = kinetics[kinetics["day"] >= 0]
    blq_y = lloq / 2 if np.isfinite(lloq) and lloq > 0 else 1.0
    blq = (k["below_lloq"].astype(bool) | k["copies_per_ug_dna"].isna()).to_numpy()
    frame = pd.DataFrame({
        "group": k["patient_id"].map(groups).to_numpy(),
        "day": k["day"].to_numpy(dtype=float),
        "y": np.where(blq, blq_y, k["copies_per_ug_dna"].to_numpy(dtype=float))})
    frame = frame.dropna(subset=["group"])
    qs = [OUTER[0], INNER[0], CENTRE, INNER[1], OUTER[1]]
    g = frame.groupby(["group", "day"], sort=True)["y"]
    out = g.quantile([q / 100 for q in qs]).unstack()
    out.columns = [f"q{q:g}" for q in qs]
    out["n"] = g.size()
    out = out[out["n"] >= MIN_PATIENTS_PER_DAY].reset_index()
    return out


def profile_bands(kinetics: pd.DataFrame, groups: pd.Series, lloq: float, *,
                  colours: Mapping[Hashable, object], labels: Mapping[Hashable, str],
                  split_day: float = 28.0) -> Figure:
    """The aggregate form of an individual-profile figure: two panels (the first
    ``split_day`` days; the whole monitoring period), log scale, one median line with its
    interquartile and 10th–90th percentile bands per group (:func:`day_quantiles`), the LLOQ
    as a dashed line. ``colours``/``labels``: per group label."""
    q = day_quantiles(kinetics, groups, lloq)
    fig, axes = profile_panels(lloq, split_day)
    for ax in axes:
        for gval, f in q.groupby("group", sort=False):
            c = colours.get(gval, GREY)
            x = f["day"].to_numpy(dtype=float)
            ax.fill_between(x, f[f"q{OUTER[0]:g}"], f[f"q{OUTER[1]:g}"], color=c, alpha=0.12,
                            linewidth=0)
            ax.fill_between(x, f[f"q{INNER[0]:g}"], f[f"q{INNER[1]:g}"], color=c, alpha=0.28,
                            linewidth=0)
            ax.plot(x, f[f"q{CENTRE:g}"], color=c, marker="o", markersize=3.5, linewidth=1.6)
    handles = [plt.Line2D([], [], color=colours[gv], marker="o", markersize=4,
                          label=f"{labels.get(gv, str(gv))}: median")
               for gv in colours if gv in set(q["group"])]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=GREY, alpha=0.4,
                                 label="Interquartile range"))
    handles.append(plt.Rectangle((0, 0), 1, 1, color=GREY, alpha=0.15,
                                 label="10th–90th percentiles"))
    handles.append(plt.Line2D([], [], color=GREY, linestyle="--", label=lloq_text(lloq)))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig
