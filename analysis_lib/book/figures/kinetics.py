"""Figures of the kinetics chapter (profiles, median profiles, correlations, tumour burden,
half-life), in the book's style (:mod:`analysis_lib.book.figures.style`: seaborn's theme and
colour-blind-safe palette, sized for the page, checked for overlapping and tiny text), and
the chapter's tables with the paper's values beside this build's (:func:`beside_table`).

Every figure takes the data it draws (from :func:`analysis_lib.analyses.kinetics.analyse`);
none computes a statistic. Jitter is seeded, so the SVG output is the same on every build.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...core import formatting, suppression
from . import profiles, style
from .profiles import GREY, level_axis, lloq_line, lloq_text, profile_panels

#: Colours of the day-28 response groups: MRD-negative CR/CRi, and the others.
RESPONSE_COLOURS = {True: style.PAIR[0], False: style.PAIR[1]}
RESPONSE_LABELS = {True: "MRD-negative CR/CRi at day 28", False: "Not MRD-negative CR/CRi"}

_AXIS_LABELS = {"tlast": "Tlast (days)", "cmax": "Cmax (copies/µg DNA)",
                "auc_0_28": "AUC0–28d (day·copies/µg DNA)",
                "bca_duration": "Duration of B-cell aplasia (days)"}
_LOG = {"cmax", "auc_0_28", "bca_duration"}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

def _status(cell: object) -> str:
    """The status a :class:`~analysis_lib.analyses.kinetics.Compared` cell shows: none when
    its value is a count that small-cell suppression hides (``<5``, ``<5/48``), since a
    "matches" beside it would give the count away (the analysis already builds such cells
    without one; this keeps any other table from showing it either)."""
    t = suppression.min_cell_count()
    if t > 1 and re.match(rf"<{t}(?:/|$)", str(cell.reproduced)):  # type: ignore[attr-defined]
        return ""
    return str(cell.status)  # type: ignore[attr-defined]


def beside_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every :class:`~analysis_lib.analyses.kinetics.Compared` cell shown as
    this build's value with the paper's under it and the scorecard status as a dot, its
    reason on hover (:func:`analysis_lib.book.report.beside`); other cells unchanged. A cell
    whose count is suppressed keeps the paper's value but shows no status (:func:`_status`)."""
    from ...analyses.kinetics import Compared
    from .. import report

    def show(v: object) -> object:
        if not isinstance(v, Compared):
            return v
        st = _status(v)
        return report.beside(v.reproduced, v.published, st, v.reason if st else "")

    out = frame.astype(object).map(show)
    out.columns = frame.columns
    return out


def status_legend(frame: pd.DataFrame) -> str:
    """What the status dots of ``frame`` mean and how many cells have each: every status
    present among its :class:`~analysis_lib.analyses.kinetics.Compared` cells, in the
    scorecard's order, as its dot, its name and its count in brackets (HTML for a
    ``{glue:md}`` phrase; the definition on hover, as in
    :func:`analysis_lib.book.report.beside`)."""
    import html
    from collections import Counter

    from ...analyses.kinetics import Compared
    from ...paper.scorecard import BADGES, DEFINITIONS, STATUSES

    counts = Counter(_status(v) for col in frame.columns for v in frame[col]
                     if isinstance(v, Compared) and _status(v))
    return "; ".join(
        f'<span class="sc-dot sc-{BADGES[st]}" title="'
        f'{html.escape(st + ": " + DEFINITIONS[st], quote=True)}"></span> '
        f"{html.escape(st, quote=False)} ({formatting.count(counts[st])})"
        for st in STATUSES if counts[st])


#: Header of Table 3's N column: at least as wide as "paper 48 ●", so that the status dot
#: stays on the line of the paper's count (browsers lay the table out automatically, and
#: MyST's Markdown tables take no column widths).
TABLE3_N_HEADER = '<span style="display: inline-block; min-width: 4.4rem">N</span>'


def table3_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 3 (:func:`analysis_lib.analyses.kinetics.table3_display`) as the page shows it:
    :func:`beside_table`, with an N column wide enough for the paper's counts."""
    return beside_table(frame).rename(columns={"N": TABLE3_N_HEADER})


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

@contextmanager
def _seaborn_boxes() -> Iterator[None]:
    """seaborn 0.13's box plot passes ``vert=`` to matplotlib, deprecated in matplotlib 3.11:
    the warning is seaborn's, not the figure's, and is not shown."""
    from matplotlib import MatplotlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning,
                                message=".*vert.*")
        yield


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """numpy's global random state seeded inside the block and restored after it: seaborn's
    strip-plot jitter draws from it, and the figures must be the same on every build."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)








_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _log_powers(ax: plt.Axes, which: str) -> None:
    """A log axis labelled at the powers of ten as ``10⁵`` (compact, for narrow panels whose
    data span many decades, where 1,000,000 and 10,000,000 would touch)."""
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(plt.LogLocator(base=10, numticks=6))
    axis.set_major_formatter(plt.FuncFormatter(
        lambda v, _: f"10{str(round(np.log10(v))).translate(_SUPERSCRIPT)}" if v > 0 else ""))
    axis.set_minor_formatter(plt.NullFormatter())


def _r_text(r: float, p: float, n: int) -> str:
    """``r = 0.349, p = 0.016, n = 48``: a panel's Spearman result; ``n`` (patients) by
    :func:`~analysis_lib.core.suppression.count_text`, so a small one reads ``n = <5``."""
    r_txt = "r = –" if not np.isfinite(r) else f"r = {formatting.fixed(r, 3)}"
    return f"{r_txt}, {formatting.p_phrase(p)}, n = {suppression.count_text(n)}"


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def kinetic_profiles(kinetics: pd.DataFrame, groups: pd.Series, lloq: float,
                     split_day: float = 28.0) -> Figure:
    """Individual CAR-T transgene profiles on a log scale, coloured by day-28 response (above
    :data:`~analysis_lib.book.figures.profiles.INDIVIDUAL_MAX_PATIENTS` patients, the
    aggregate form :func:`~analysis_lib.book.figures.profiles.profile_bands` instead).

    Top: the first ``split_day`` days; bottom: the whole monitoring period. Measurable levels
    are filled circles joined by lines; results below the LLOQ (BLQ) are open triangles drawn
    at LLOQ/2, below the dashed LLOQ line, with dotted joins. Patients are not labelled.
    Matplotlib draws it: one line per patient with breaks at BLQ results, which seaborn's
    line plot does not draw.

    Parameters
    ----------
    kinetics : the kinetics table (copies/µg DNA, days from infusion).
    groups : boolean Series indexed by ``patient_id`` (day-28 MRD-negative CR/CRi).
    lloq : LLOQ to draw (copies/µg DNA).
    """
    if profiles.use_aggregate(kinetics.loc[kinetics["day"] >= 0, "patient_id"].nunique()):
        # above INDIVIDUAL_MAX_PATIENTS: median and quantile bands by group and day (issue 16)
        return profiles.profile_bands(kinetics, groups, lloq, colours=RESPONSE_COLOURS,
                                      labels=RESPONSE_LABELS, split_day=split_day)
    k = kinetics[kinetics["day"] >= 0].sort_values(["patient_id", "day"])
    blq_y = lloq / 2 if np.isfinite(lloq) and lloq > 0 else 1.0
    # responders first, so the few other patients are drawn on top
    order = sorted(k["patient_id"].unique(), key=lambda i: not bool(groups.get(i, True)))
    by_id = dict(tuple(k.groupby("patient_id", sort=False)))
    fig, axes = profile_panels(lloq, split_day)
    for ax in axes:
        for pid in order:
            f = by_id[pid]
            colour = RESPONSE_COLOURS[bool(groups.get(pid, True))]
            blq = (f["below_lloq"].astype(bool) | f["copies_per_ug_dna"].isna()).to_numpy()
            y = np.where(blq, blq_y, f["copies_per_ug_dna"].to_numpy(dtype=float))
            x = f["day"].to_numpy(dtype=float)
            ax.plot(x, y, color=colour, alpha=0.35, linewidth=0.8, linestyle=":")
            ax.plot(x, np.where(blq, np.nan, y), color=colour, alpha=0.55, linewidth=1.0)
            ax.scatter(x[~blq], y[~blq], s=12, color=colour, alpha=0.75, linewidths=0,
                       zorder=3)
            ax.scatter(x[blq], y[blq], s=16, marker="v", facecolors="none",
                       edgecolors=colour, alpha=0.6, linewidths=0.7, zorder=3)
    handles = [Line2D([], [], color=RESPONSE_COLOURS[g], marker="o", markersize=4,
                      label=RESPONSE_LABELS[g]) for g in (True, False)]
    handles += [Line2D([], [], color=GREY, marker="v", markerfacecolor="none",
                       linestyle="none", label="Below LLOQ (drawn at LLOQ/2)"),
                Line2D([], [], color=GREY, linestyle="--", label=lloq_text(lloq))]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig


def median_profiles(profiles: pd.DataFrame) -> Figure:
    """Median transgene level (line) and interquartile range (band) on each scheduled day,
    by day-28 response (``group`` True/False), on log scales.

    ``profiles`` is :func:`analysis_lib.analyses.kinetics.median_profiles`. A median that
    depends on a result below the LLOQ is drawn as an open triangle on the LLOQ line, not as a
    number; the number of patients counted is written under each point, in the group's
    colour. Matplotlib draws it (the medians and bands are computed with the BLQ rule, not by
    seaborn's estimators)."""
    lloq = float(profiles["lloq"].iloc[0]) if len(profiles) else np.nan
    fig, axes = style.figure(height=4.8)
    ax = axes[0, 0]
    offsets = {True: -0.04, False: 0.04}
    for g, f in profiles.groupby("group", sort=False):
        f = f[f["n"] > 0]
        colour = RESPONSE_COLOURS.get(bool(g), style.PALETTE[2])
        x = f["day"].to_numpy(dtype=float)
        xs = x * (1 + offsets.get(bool(g), 0.0))
        med = f["median"].to_numpy(dtype=float)
        lo = np.where(f["q1_blq"], lloq, f["q1"]).astype(float)
        hi = np.where(f["q3_blq"], lloq, f["q3"]).astype(float)
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
        blq = f["median_blq"].to_numpy(dtype=bool)
        ax.plot(xs, np.where(blq, lloq, med), color=colour, linestyle=":", linewidth=1)
        ax.plot(xs, med, color=colour, marker="o", markersize=5,
                label=RESPONSE_LABELS.get(bool(g), str(g)))
        ax.scatter(xs[blq], np.full(blq.sum(), lloq), marker="v", s=40,
                   facecolors="none", edgecolors=colour, linewidths=1.2, zorder=4)
        for xi, n in zip(xs, f["n"]):
            ax.annotate(suppression.count_text(n), (xi, lloq),
                        xytext=(0, -14 if bool(g) else -26), textcoords="offset points",
                        ha="center", fontsize=9, color=colour)
    lloq_line(ax, lloq)
    ax.plot([], [], color=GREY, linestyle="--", label=lloq_text(lloq))
    ax.scatter([], [], marker="v", facecolors="none", edgecolors=GREY,
               label="Median below LLOQ")
    ax.set_xscale("log")
    level_axis(ax, "y")
    days = sorted(profiles.loc[profiles["n"] > 0, "day"].unique())
    ax.set_xticks(days, [formatting.number(d) for d in days])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    if np.isfinite(lloq):
        ax.set_ylim(bottom=lloq / 6)
    ax.set_xlabel("Scheduled day after infusion (log scale); numbers: patients counted")
    ax.set_ylabel("CAR-T transgene (copies/µg DNA)")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig


def correlation_panels(params: pd.DataFrame, corr: pd.DataFrame, keys: Sequence[str],
                       notes: Mapping[str, str] | None = None) -> Figure:
    """Scatter panels (seaborn) for the correlations ``keys`` of
    :func:`analysis_lib.analyses.kinetics.correlations`, side by side with a shared y axis:
    x against y, with this build's Spearman r, p and n above each panel and, from
    ``notes`` (key -> text, :attr:`KineticsResults.figure_notes`), the paper's result under
    it. Cmax, AUC and B-cell aplasia duration are drawn on log axes (x axes labelled as powers
    of ten, which stay legible on narrow panels however many decades the data span)."""
    notes = notes or {}
    rows = corr.set_index("key").loc[list(keys)]
    fig, axes = style.figure(1, len(keys), height=3.7, sharey=True)
    for i, (ax, (key, row)) in enumerate(zip(axes[0], rows.iterrows())):
        data = params[[row["x"], row["y"]]].astype(float).dropna()
        sns.scatterplot(data=data, x=row["x"], y=row["y"], ax=ax, s=26, alpha=0.8,
                        color=style.PALETTE[0], edgecolor="white", linewidth=0.4)
        if row["x"] in _LOG:
            _log_powers(ax, "x")
        if row["y"] in _LOG:
            level_axis(ax, "y")
        ax.set_xlabel(_AXIS_LABELS.get(row["x"], row["x"]))
        ax.set_ylabel(_AXIS_LABELS.get(row["y"], row["y"]) if i == 0 else "")
        title = _r_text(row["r"], row["p_value"], int(row["n"]))
        if notes.get(key):
            title += "\n" + notes[key]
        ax.set_title(title, loc="left", fontsize=9.5)
    return fig


def kinetics_by_burden(params: pd.DataFrame, mrd_cuts: Sequence[float]) -> Figure:
    """Cmax, AUC0–28d and Tlast (rows) by bone-marrow MRD stratum before and after
    lymphodepletion (columns): seaborn boxes (quartiles, median) with every patient as a
    point (seeded jitter) and the number of patients per stratum under each box; Cmax and AUC
    on log axes."""
    from ...analyses.cohort import mrd_strata

    rows = (("cmax", "Cmax (copies/µg DNA)", True),
            ("auc_0_28", "AUC0–28d\n(day·copies/µg DNA)", True),
            ("tlast", "Tlast (days)", False))
    fig, axes = style.figure(3, 2, height=8.8, sharey="row")
    for j, (mcol, title) in enumerate((("mrd_pre_ld", "Before lymphodepletion"),
                                       ("mrd_post_ld", "After lymphodepletion"))):
        strata = mrd_strata(params[mcol], list(mrd_cuts))
        cats = list(strata.cat.categories)
        labels = [f"{c.replace(' to ', '–')}\n(n = {suppression.count_text((strata == c).sum())})"
                  for c in cats]
        for i, (col, ylabel, log) in enumerate(rows):
            ax = axes[i, j]
            data = pd.DataFrame({"stratum": pd.Categorical(strata, categories=cats),
                                 "value": params[col].astype(float)}).dropna()
            with _seaborn_boxes():
                sns.boxplot(data=data, x="stratum", y="value", ax=ax, order=cats, width=0.55,
                            showfliers=False, color="white", linecolor="0.25", linewidth=1,
                            log_scale=log)
            with _seeded(7 + 3 * i + j):
                sns.stripplot(data=data, x="stratum", y="value", ax=ax, order=cats,
                              jitter=0.17, size=4.5, color=style.PALETTE[0], alpha=0.8,
                              edgecolor="white", linewidth=0.4, zorder=3)
            if log:
                style.plain_log(ax, "y")
                ax.yaxis.set_minor_formatter(plt.NullFormatter())
            ax.set_xticks(range(len(cats)), labels, fontsize=9)
            ax.set_xlabel("MRD before infusion" if i == 2 else "")
            ax.set_ylabel(ylabel if j == 0 else "")
            if i == 0:
                ax.set_title(title)
    return fig


def half_life_by_response(per_patient: pd.DataFrame, p_value: float) -> Figure:
    """Persistence-phase half-life (days, log scale) of every patient with an estimable
    terminal phase (beyond the paper). Left: by day-28 response, seaborn boxes (quartiles,
    median) with every patient as a point (seeded jitter), the patients with a half-life out
    of the group's patients under each box, and the Mann–Whitney ``p_value``. Right: against
    the first day of the regression window, which shows how late the fitted decline starts.

    ``per_patient``: :attr:`analysis_lib.analyses.kinetics.PersistenceHalfLife.per_patient`
    (columns ``group`` (bool), ``half_life``, ``time_first``)."""
    est = per_patient[per_patient["half_life"].notna()].copy()
    short = {True: "MRD-negative\nCR/CRi", False: "Not MRD-negative\nCR/CRi"}
    fig, axes = style.figure(1, 2, height=4.2, gridspec_kw={"width_ratios": [1, 1.3]})
    ax, bx = axes[0]
    order = [True, False]
    est["group"] = pd.Categorical(est["group"].astype(bool), categories=order)
    if len(est):
        with _seaborn_boxes():
            sns.boxplot(data=est, x="group", y="half_life", ax=ax, order=order, width=0.5,
                        showfliers=False, color="white", linecolor="0.25", linewidth=1,
                        log_scale=True)
        with _seeded(1):
            sns.stripplot(data=est, x="group", y="half_life", ax=ax, order=order,
                          hue="group", hue_order=order,
                          palette=[RESPONSE_COLOURS[g] for g in order], jitter=0.18,
                          size=4.5, alpha=0.8, legend=False, zorder=3)
    labels = []
    for g in order:
        k = int((est["group"] == g).sum())
        n_all = int((per_patient["group"] == g).sum())
        labels.append(f"{short[g]}\n{suppression.count_text(k)} of "
                      f"{suppression.count_text(n_all)}")
    ax.set_xticks(range(2), labels, fontsize=9)
    ax.set_xlim(-0.6, 1.6)
    level_axis(ax, "y", fine=True)
    ax.set_xlabel("")
    ax.set_ylabel("Half-life (days)")
    ax.set_title(f"By day-28 response ({formatting.p_phrase(p_value)})", loc="left",
                 fontsize=10)
    for g in order:
        s = est[est["group"] == g]
        bx.scatter(s["time_first"], s["half_life"], s=24, color=RESPONSE_COLOURS[g],
                   alpha=0.8, linewidths=0, label=RESPONSE_LABELS[g])
    level_axis(bx, "x", fine=True)
    level_axis(bx, "y", fine=True)
    bx.set_xlabel("Regression window start (day, log scale)")
    bx.set_ylabel("Half-life (days)")
    bx.set_title("Against the start of the fitted decline", loc="left", fontsize=10)
    fig.legend(*bx.get_legend_handles_labels(), loc="outside lower center", ncols=2,
               frameon=False)
    return fig
