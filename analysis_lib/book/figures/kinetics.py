"""Figures of the kinetics chapter: profiles, medians, correlations, burden, half-life.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...core import suppression
from .style import COLOURS, STYLE, _figure, _plain_log, _strip  # noqa: F401

# --------------------------------------------------------------------------------------------
# Cellular kinetics (chapter "CAR-T cell kinetics"; analysis_lib.analyses.kinetics)
# --------------------------------------------------------------------------------------------

#: Colours of the day-28 response groups: MRD-negative CR/CRi, and the others.
RESPONSE_COLOURS = {True: COLOURS[0], False: COLOURS[1]}
RESPONSE_LABELS = {True: "MRD-negative CR/CRi at day 28", False: "Not MRD-negative CR/CRi"}


def _lloq_line(ax: plt.Axes, lloq: float, label: bool = True) -> None:
    if np.isfinite(lloq):
        ax.axhline(lloq, color="grey", linestyle="--", linewidth=1,
                   label=f"LLOQ ({lloq:g} copies/µg)" if label else None)


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "p = –"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def kinetic_profiles(kinetics: pd.DataFrame, groups: pd.Series, lloq: float,
                     split_day: float = 28.0) -> Figure:
    """Individual CAR-T transgene profiles on a log scale, coloured by day-28 response.

    Top: the first ``split_day`` days; bottom: the whole monitoring period. Measurable levels
    are filled circles joined by lines; results below the LLOQ (BLQ) are open triangles drawn
    at LLOQ/2, below the dashed LLOQ line, with dotted joins. Patients are not labelled.

    Parameters
    ----------
    kinetics : the kinetics table (copies/µg DNA, days from infusion).
    groups : boolean Series indexed by ``patient_id`` (day-28 MRD-negative CR/CRi).
    lloq : LLOQ to draw (copies/µg DNA).
    """
    k = kinetics[kinetics["day"] >= 0].sort_values(["patient_id", "day"])
    blq_y = lloq / 2 if np.isfinite(lloq) and lloq > 0 else 1.0
    # responders first, so the few other patients are drawn on top
    order = sorted(k["patient_id"].unique(), key=lambda i: not bool(groups.get(i, True)))
    by_id = dict(tuple(k.groupby("patient_id", sort=False)))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(7.6, 7.2), layout="constrained")
        for ax, xmax in zip(axes, (split_day + 1, None)):
            for pid in order:
                f = by_id[pid]
                colour = RESPONSE_COLOURS.get(bool(groups.get(pid, True)), COLOURS[0])
                blq = (f["below_lloq"].astype(bool) | f["copies_per_ug_dna"].isna()).to_numpy()
                y = np.where(blq, blq_y, f["copies_per_ug_dna"].to_numpy(dtype=float))
                x = f["day"].to_numpy(dtype=float)
                ax.plot(x, y, color=colour, alpha=0.35, linewidth=0.8, linestyle=":")
                ax.plot(x, np.where(blq, np.nan, y), color=colour, alpha=0.55, linewidth=1.0)
                ax.scatter(x[~blq], y[~blq], s=12, color=colour, alpha=0.75, linewidths=0,
                           zorder=3)
                ax.scatter(x[blq], y[blq], s=16, marker="v", facecolors="none",
                           edgecolors=colour, alpha=0.6, linewidths=0.7, zorder=3)
            _lloq_line(ax, lloq, label=False)
            ax.set_yscale("log")
            ax.set_ylabel("Transgene (copies/µg DNA)")
            if xmax is not None:
                ax.set_xlim(-0.5, xmax)
                ax.set_title(f"First {split_day:g} days", loc="left")
            else:
                ax.set_xlim(left=-5)
                ax.set_title("Whole monitoring period", loc="left")
                ax.set_xlabel("Days since infusion")
        handles = [plt.Line2D([], [], color=RESPONSE_COLOURS[g], marker="o", markersize=4,
                              label=RESPONSE_LABELS[g]) for g in (True, False)]
        handles.append(plt.Line2D([], [], color="grey", marker="v", markerfacecolor="none",
                                  linestyle="none", label="Below LLOQ (drawn at LLOQ/2)"))
        handles.append(plt.Line2D([], [], color="grey", linestyle="--",
                                  label=f"LLOQ ({lloq:g} copies/µg)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig


def median_profiles(profiles: pd.DataFrame) -> Figure:
    """Median transgene level (line) and interquartile range (band) on each scheduled day,
    by day-28 response (``group`` True/False), on a log scale.

    ``profiles`` is :func:`analysis_lib.analyses.kinetics.median_profiles`. A median that depends on a
    result below the LLOQ is drawn as an open triangle on the LLOQ line, not as a number; the
    number of patients counted is written under each point.
    """
    lloq = float(profiles["lloq"].iloc[0]) if len(profiles) else np.nan
    with plt.rc_context(STYLE):
        fig, (ax,) = _figure(7.6, 4.6)
        offsets = {True: -0.04, False: 0.04}
        for g, f in profiles.groupby("group", sort=False):
            f = f[f["n"] > 0]
            colour = RESPONSE_COLOURS.get(bool(g), COLOURS[2])
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
                ax.annotate(f"{n}", (xi, lloq), xytext=(0, -14 if bool(g) else -26),
                            textcoords="offset points", ha="center", fontsize=9,
                            color=colour)
        _lloq_line(ax, lloq)
        ax.scatter([], [], marker="v", facecolors="none", edgecolors="grey",
                   label="Median below LLOQ")
        ax.set_xscale("log")
        ax.set_yscale("log")
        days = sorted(profiles.loc[profiles["n"] > 0, "day"].unique())
        ax.set_xticks(days)
        ax.set_xticklabels([f"{d:g}" for d in days])
        ax.minorticks_off()
        if np.isfinite(lloq):
            ax.set_ylim(bottom=lloq / 6)
        ax.set_xlabel("Scheduled day (log scale); numbers: patients counted")
        ax.set_ylabel("Transgene (copies/µg DNA)")
        ax.legend(frameon=False, loc="upper right", fontsize=9)
    return fig


def _scatter_r(ax: plt.Axes, x: np.ndarray, y: np.ndarray, r: float, p: float, n: int,
               colour: str, logx: bool) -> None:
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=22, color=colour, alpha=0.75, linewidths=0)
    if logx:
        ax.set_xscale("log")
    rtxt = "r = –" if not np.isfinite(r) else f"r = {r:.3f}"
    ax.text(0.03, 0.97, f"Spearman {rtxt}\n{_p_text(p)}, n = {n}", transform=ax.transAxes,
            va="top", ha="left", fontsize=10,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.8"})


_AXIS_LABELS = {"tlast": "Tlast (days)", "cmax": "Cmax (copies/µg DNA)",
                "auc_0_28": "AUC0–28d (day·copies/µg DNA)",
                "bca_duration": "BCA duration (days)"}


def correlation_panels(params: pd.DataFrame, corr: pd.DataFrame, keys: list[str]) -> Figure:
    """Scatter panels for the correlations ``keys`` of
    :func:`analysis_lib.analyses.kinetics.correlations` (one panel each: x against y, Spearman r, p
    and n written in the panel), two panels per row. Cmax, AUC and BCA duration are drawn on
    log axes."""
    rows = corr.set_index("key").loc[keys]
    ncols = 2 if len(keys) > 1 else 1
    nrows = -(-len(keys) // ncols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(7.6, 3.5 * nrows), squeeze=False,
                                 layout="constrained")
        flat = axes.ravel()
        for ax, (key, row), colour in zip(flat, rows.iterrows(), COLOURS):
            x = params[row["x"]].to_numpy(dtype=float)
            y = params[row["y"]].to_numpy(dtype=float)
            _scatter_r(ax, x, y, row["r"], row["p_value"], int(row["n"]), colour,
                       logx=row["x"] in ("cmax", "auc_0_28"))
            ax.set_xlabel(_AXIS_LABELS.get(row["x"], row["x"]))
            ax.set_ylabel(_AXIS_LABELS.get(row["y"], row["y"]))
            if row["y"] == "bca_duration":
                ax.set_yscale("log")
        for ax in flat[len(keys):]:
            ax.set_visible(False)
    return fig


def kinetics_by_burden(params: pd.DataFrame, mrd_cuts: list[float]) -> Figure:
    """Cmax, AUC0–28d and Tlast (rows) by pre-LD and post-LD MRD stratum (columns): boxes
    (quartiles, median) with every patient as a jittered point; Cmax and AUC on log axes."""
    from ...analyses.cohort import mrd_strata

    rows = (("cmax", "Cmax (copies/µg DNA)", True),
            ("auc_0_28", "AUC0–28d (day·copies/µg)", True), ("tlast", "Tlast (days)", False))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 2, figsize=(7.6, 9.0), layout="constrained",
                                 sharey="row")
        for j, (mcol, mlabel) in enumerate((("mrd_pre_ld", "Pre-LD MRD"),
                                            ("mrd_post_ld", "Post-LD MRD"))):
            strata = mrd_strata(params[mcol], mrd_cuts)
            cats = list(strata.cat.categories)
            for i, (col, label, log) in enumerate(rows):
                ax = axes[i, j]
                data = [params.loc[strata == c, col].dropna().to_numpy(dtype=float)
                        for c in cats]
                ax.boxplot([d if d.size else [np.nan] for d in data],
                           positions=range(len(cats)), widths=0.55, showfliers=False,
                           medianprops={"color": "black", "linewidth": 2})
                rng = np.random.default_rng(7 + 3 * i + j)
                for pos, d in enumerate(data):
                    ax.scatter(pos + rng.uniform(-0.17, 0.17, d.size), d, s=24,
                               color=COLOURS[pos % len(COLOURS)], alpha=0.8,
                               edgecolors="white", linewidths=0.4, zorder=3)
                ax.set_xticks(range(len(cats)))
                ax.set_xticklabels([f"{c.replace(' to ', '–')}\n(n={int((strata == c).sum())})"
                                    for c in cats], fontsize=9)
                if log:
                    ax.set_yscale("log")
                if j == 0:
                    ax.set_ylabel(label)
                if i == 0:
                    ax.set_title(mlabel)
    return fig


def half_life_by_response(per_patient: pd.DataFrame, p_value: float) -> Figure:
    """Persistence-phase half-life (days, log scale) of every patient with an estimable
    terminal phase (beyond the paper). Left: by day-28 response, boxes (quartiles, median) with
    every patient as a jittered point, the patients with a half-life out of the group's
    patients under each box, and the Mann–Whitney ``p_value``. Right: against the first day of
    the regression window, which shows how late the fitted decline starts.

    ``per_patient``: :attr:`analysis_lib.analyses.kinetics.PersistenceHalfLife.per_patient` (columns
    ``group`` (bool), ``half_life``, ``time_first``)."""
    est = per_patient[per_patient["half_life"].notna()]
    short = {True: "MRD-negative\nCR/CRi", False: "Not MRD-negative\nCR/CRi"}
    with plt.rc_context(STYLE):
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.6, 4.0), layout="constrained",
                                     gridspec_kw={"width_ratios": [1, 1.3]})
        ticks, labels = [], []
        for i, g in enumerate((True, False)):
            v = est.loc[est["group"] == g, "half_life"].to_numpy(dtype=float)
            n_all = int((per_patient["group"] == g).sum())
            if v.size:
                ax.boxplot(v, positions=[i], widths=0.5, showfliers=False,
                           medianprops={"color": "black", "linewidth": 2})
                jitter = np.random.default_rng(1 + i).uniform(-0.18, 0.18, v.size)
                ax.scatter(i + jitter, v, s=18, color=RESPONSE_COLOURS[g], alpha=0.75,
                           linewidths=0, zorder=3)
            ticks.append(i)
            labels.append(f"{short[g]}\n{suppression.count_text(v.size)} of "
                          f"{suppression.count_text(n_all)}")
        ax.set_xticks(ticks, labels, fontsize=9)
        ax.set_xlim(-0.6, 1.6)
        _plain_log(ax, "y")
        ax.set_ylabel("Half-life (days)")
        ax.set_title(f"By day-28 response ({_p_text(p_value)})", loc="left", fontsize=11)
        for g in (True, False):
            s = est[est["group"] == g]
            bx.scatter(s["time_first"], s["half_life"], s=22, color=RESPONSE_COLOURS[g],
                       alpha=0.75, linewidths=0, label=RESPONSE_LABELS[g])
        _plain_log(bx, "x")
        _plain_log(bx, "y")
        bx.set_xlabel("First day of the regression window")
        bx.set_ylabel("Half-life (days)")
        bx.set_title("Against the start of the fitted decline", loc="left", fontsize=11)
        fig.legend(*bx.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   frameon=False, fontsize=9)
    return fig
