"""Figures for the book, drawn with matplotlib's object API in one consistent style.

Each function returns a :class:`matplotlib.figure.Figure` and draws nothing on global state,
so a notebook cell can glue it as a numbered figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core import suppression
from ..core.units import days_to_months
from ..stats.survival import KaplanMeier

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
    from ..analyses.cohort import mrd_strata

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


def _plain_log(ax: plt.Axes, which: str = "y") -> None:
    """Log scale with ticks at 1, 2, 5 × 10^k labelled as plain numbers (2, 5, 10, 20, ...)."""
    from matplotlib import ticker

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


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
