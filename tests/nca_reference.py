"""Reference implementation of :func:`analysis_lib.stats.nca.nca`, kept as a test oracle.

It loops over profiles in plain Python and follows the definitions literally (Gabrielsson &
Weiner, *Pharmacokinetic and Pharmacodynamic Data Analysis*, 5th ed., ch. 2; Phoenix
WinNonlin's NCA user guide for the terminal-phase best-fit rule). It is slow and exists only
to check the vectorised :func:`nca` profile by profile (tests/test_nca.py), alongside the
WinNonlin parity tests; the library ships the vectorised one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis_lib.stats.nca import (
    _INCOMPLETE_NAN,
    _INCOMPLETE_TRUNCATED,
    _NO_INTERVAL_START,
    _NO_MEASURABLE,
    _NO_SAMPLES,
    _NO_TIME0,
    _TOO_FEW,
    _ZERO_AFTER_LAST,
    COLUMNS,
    LAMBDA_Z_REASONS,
    LZ_NO_MEASURABLE,
    LZ_NOT_FALLING,
    LZ_TOO_FEW,
    PK_PARAMETERS,
    TEXT_COLUMNS,
    AUCMethod,
    BLQRules,
    DoseSpec,
    IncompleteInterval,
    NCAResult,
    Route,
    TerminalRules,
    _columns,
    _doses,
    _duplicate_error,
    _result,
    _Settings,
    _settings,
    reason_text,
    units_for,
)


def nca_loop(conc: pd.DataFrame, *, id_col: str = "patient_id", time_col: str = "day",
             conc_col: str = "copies_per_ug_dna", blq_col: str | None = "below_lloq",
             lloq_col: str | None = "lloq_copies_per_ug_dna",
             auc_method: AUCMethod = "linear-up/log-down", interval_end: float = 28.0,
             interval_start: float = 0.0, rules: BLQRules = BLQRules(),
             expansion_threshold: float | None = None,
             incomplete_interval: IncompleteInterval = "nan",
             time_unit: str = "day", conc_unit: str = "copies/µg DNA",
             route: Route = "extravascular", dose: DoseSpec = None, dose_unit: str = "",
             terminal_rules: TerminalRules = TerminalRules()) -> NCAResult:
    """Reference implementation of :func:`nca`: same arguments and results, but it loops over
    profiles and follows the definitions literally. Slow; used to check :func:`nca`."""
    s = _settings(auc_method, interval_start, interval_end, rules, incomplete_interval,
                  expansion_threshold, route, terminal_rules)
    ids, t, c, blq, lloq = _columns(conc, id_col, time_col, conc_col, blq_col, lloq_col)
    frame = pd.DataFrame({"id": ids.to_numpy(), "t": t, "c": c, "blq": blq, "lloq": lloq})
    if frame["id"].isna().any():
        raise ValueError(f"{id_col} has missing values")
    dups = (frame[frame.duplicated(["id", "t"], keep="first")]
            .drop_duplicates(["id", "t"]).sort_values(["id", "t"]))
    if len(dups):
        pairs = list(zip(dups["id"].tolist()[:10], dups["t"].astype(float).tolist()[:10]))
        raise _duplicate_error(id_col, time_col, pairs, len(dups))

    frame = frame.sort_values(["id", "t"], kind="stable")
    t_all, c_all = frame["t"].tolist(), frame["c"].tolist()
    b_all, l_all = frame["blq"].tolist(), frame["lloq"].tolist()
    codes, out_ids = pd.factorize(frame["id"], sort=True)
    doses = _doses(dose, np.asarray(out_ids), id_col).tolist()
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), len(frame)]
    out: dict[str, list] = {k: [] for k in COLUMNS}
    for n, (i, j) in enumerate(zip(starts, stops)):
        if i == j:
            continue
        res = _profile(t_all[i:j], c_all[i:j], b_all[i:j], l_all[i:j], s, doses[n])
        for k in COLUMNS:
            out[k].append(res[k])
    cols = {k: np.array(v, dtype=object if k in TEXT_COLUMNS else None)
            for k, v in out.items()}
    for k in ("n_samples", "n_measurable", "lambda_z_n_points"):
        cols[k] = cols[k].astype(np.int64)
    for k in PK_PARAMETERS:
        cols[k] = cols[k].astype(float)
    for k in ("auc_interval_complete", "persistence_ended", "expanded"):
        cols[k] = cols[k].astype(bool)
    return _result(np.asarray(out_ids), id_col, cols, s,
                   units_for(time_unit, conc_unit, dose_unit))


def _profile(times: list[float], values: list[float], blqs: list[bool], lloqs: list[float],
             s: _Settings, dose: float = math.nan) -> dict:
    """NCA of one profile, sorted by time (plain Python, following the definitions)."""
    nan = float("nan")
    res = {k: nan for k in PK_PARAMETERS}
    res["dose"] = dose
    flags = 0
    bolus = s.route == "iv-bolus"
    # Usable samples: post-infusion, with a value or a BLQ flag.
    samples = []  # (time, value, measurable, lloq)
    for ti, ci, bi, li in zip(times, values, blqs, lloqs):
        if ti < 0 or (math.isnan(ci) and not bi):
            continue
        measurable = (not bi) and ci > 0 and not (ci < li)
        samples.append((ti, ci, measurable, li))
    n = len(samples)
    meas_idx = [i for i, smp in enumerate(samples) if smp[2]]
    res["n_samples"] = n
    res["n_measurable"] = len(meas_idx)
    res["persistence_ended"] = False
    reaches_end = n > 0 and s.end <= samples[-1][0]
    last_is_blq = n > 0 and not samples[-1][2]
    res["auc_interval_complete"] = reaches_end or last_is_blq
    if n == 0:
        flags |= _NO_SAMPLES
    if meas_idx:
        cmax = max(samples[i][1] for i in meas_idx)
        res["cmax"] = cmax
        res["tmax"] = next(samples[i][0] for i in meas_idx if samples[i][1] == cmax)
        i_first, i_last = meas_idx[0], meas_idx[-1]
        res["tlast"], res["clast"] = samples[i_last][0], samples[i_last][1]
        res["persistence_ended"] = (n - 1 - i_last) >= 2
        if not bolus:
            res["tlag"] = samples[i_first - 1][0] if i_first > 0 else 0.0
    elif n:
        flags |= _NO_MEASURABLE
        i_first, i_last = n, n  # every BLQ result is "before the first measurable"
    res["expanded"] = (not math.isnan(res["cmax"]) and (s.threshold is None
                                                        or res["cmax"] >= s.threshold))
    res.update(_terminal_loop([(samples[i][0], samples[i][1]) for i in meas_idx],
                              res["tmax"], s))

    back_area = nan
    if n:
        # Apply the BLQ rules: list of retained (time, concentration).
        pts = []
        for i, (ti, ci, measurable, li) in enumerate(samples):
            if measurable:
                pts.append((ti, ci))
                continue
            if i < i_first:
                rule = s.rules.before_first
            elif i < i_last:
                rule = s.rules.between
            elif i == i_last + 1:
                rule = s.rules.after_last
            else:
                rule = "drop"
            if rule == "drop":
                continue
            if rule != "zero" and math.isnan(li):
                raise ValueError(f"BLQ rule {rule!r} needs the LLOQ, which is missing for a "
                                 f"BLQ result")
            pts.append((ti, {"zero": 0.0, "lloq_half": li / 2, "lloq": li}[rule]))
        inserted = False
        if bolus and pts:
            # C0: the log-linear line through the first two points back to time 0 when it
            # falls, else the first value; inserted only when no point is at time 0.
            (t1, c1) = pts[0]
            c0 = c1
            if t1 > 0 and len(pts) >= 2:
                t2_, c2_ = pts[1]
                if c1 > 0 and c2_ > 0:
                    slope = (math.log(c2_) - math.log(c1)) / (t2_ - t1)
                    if slope < 0:
                        c0 = math.exp(math.log(c1) - slope * t1)
            res["c0"] = c0
            back_area = 0.0
            if t1 > 0:
                pts.insert(0, (0.0, c0))
                inserted = True
        tlast = res["tlast"]
        # Segments: (t1, t2, c1, c2, log?)
        segs = []
        for (t1, c1), (t2, c2) in zip(pts[:-1], pts[1:]):
            log = (s.auc_method == "linear-up/log-down" and c2 < c1 and c2 > 0
                   and bool(meas_idx) and t1 < tlast)
            segs.append((t1, t2, c1, c2, log))
        if len(pts) < 2:
            flags |= _TOO_FEW
        else:
            starts_at_0 = pts[0][0] <= 0
            if inserted:
                back_area = _sum_area(segs[:1], 0.0, pts[1][0])
            if not starts_at_0:
                flags |= _NO_TIME0
            if not meas_idx:
                res["auclast"] = 0.0
                res["aumclast"] = 0.0
            elif starts_at_0:
                res["auclast"] = _sum_area(segs, 0.0, tlast)
                res["aumclast"] = _sum_moment(segs, tlast)
            if starts_at_0:
                res["aucall"] = _sum_area(segs, 0.0, pts[-1][0])
            if pts[0][0] > s.start:
                flags |= _NO_INTERVAL_START
            else:
                auc = _sum_area(segs, s.start, s.end)
                if reaches_end:
                    res["auc_interval"] = auc
                elif last_is_blq:  # below the LLOQ from the last sample on: 0 after it
                    res["auc_interval"] = auc
                    flags |= _ZERO_AFTER_LAST
                elif s.incomplete == "nan":
                    flags |= _INCOMPLETE_NAN
                else:
                    res["auc_interval"] = auc
                    flags |= _INCOMPLETE_TRUNCATED
    res["reason"] = reason_text(flags)
    _derived_loop(res, back_area)
    return res


def _fit_loglinear(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """Least-squares line of ln C on t (two-pass, centred sums): slope, intercept, R²,
    adjusted R² (the caller leaves out flat windows, where R² is undefined)."""
    k = len(points)
    ts = [p[0] for p in points]
    ys = [math.log(p[1]) for p in points]
    tbar, ybar = math.fsum(ts) / k, math.fsum(ys) / k
    sxx = math.fsum((a - tbar) ** 2 for a in ts)
    syy = math.fsum((b - ybar) ** 2 for b in ys)
    sxy = math.fsum((a - tbar) * (b - ybar) for a, b in zip(ts, ys))
    slope = sxy / sxx
    r2 = sxy * sxy / (sxx * syy)
    adj = 1 - (1 - r2) * (k - 1) / (k - 2)
    return slope, ybar - slope * tbar, r2, adj


def _terminal_loop(measurable: list[tuple[float, float]], tmax: float, s: _Settings) -> dict:
    """λz by the best-fit rule for one profile (``measurable``: its measurable points in time
    order), following the definitions literally."""
    nan = float("nan")
    res: dict = {k: nan for k in ("lambda_z", "lambda_z_intercept", "r_squared",
                                  "adj_r_squared", "corr_xy", "lambda_z_time_first",
                                  "lambda_z_time_last", "clast_pred")}
    res["lambda_z_n_points"] = 0
    if not measurable:
        res["lambda_z_reason"] = LAMBDA_Z_REASONS[LZ_NO_MEASURABLE]
        return res
    rules = s.terminal
    eligible = [(ti, ci) for ti, ci in measurable
                if ti > tmax or (s.include_cmax and ti == tmax)]
    if len(eligible) < rules.min_points:
        res["lambda_z_reason"] = LAMBDA_Z_REASONS[LZ_TOO_FEW]
        return res
    fits = []  # (n points, slope, intercept, R², adjusted R², first time)
    for k in range(rules.min_points, len(eligible) + 1):
        window = eligible[-k:]
        if len({ci for _, ci in window}) == 1:
            continue  # flat: slope 0
        slope, icpt, r2, adj = _fit_loglinear(window)
        if slope < 0:
            fits.append((k, slope, icpt, r2, adj, window[0][0]))
    if not fits:
        res["lambda_z_reason"] = LAMBDA_Z_REASONS[LZ_NOT_FALLING]
        return res
    top = max(f[4] for f in fits)
    k, slope, icpt, r2, adj, tf = max((f for f in fits
                                       if f[4] >= top - rules.adj_r_squared_tolerance),
                                      key=lambda f: f[0])
    tlast = measurable[-1][0]
    res.update({"lambda_z": -slope, "lambda_z_intercept": icpt, "r_squared": r2,
                "adj_r_squared": adj, "corr_xy": -math.sqrt(r2), "lambda_z_time_first": tf,
                "lambda_z_time_last": tlast, "clast_pred": math.exp(icpt + slope * tlast),
                "lambda_z_n_points": k, "lambda_z_reason": ""})
    return res


def _derived_loop(res: dict, back_area: float) -> None:
    """The derived parameters of one profile (same formulas as :func:`_derived`)."""
    nan = float("nan")

    def div(a: float, b: float) -> float:
        if math.isnan(a) or math.isnan(b) or b == 0:
            return nan
        return a / b

    lz, clast, tlast = res["lambda_z"], res["clast"], res["tlast"]
    auclast, aumclast, dose = res["auclast"], res["aumclast"], res["dose"]
    res["half_life"] = div(math.log(2), lz)
    res["mrtlast"] = div(aumclast, auclast)
    for kind, cl in (("obs", clast), ("pred", res["clast_pred"])):
        aucinf = auclast + div(cl, lz)
        aumcinf = aumclast + div(cl * tlast, lz) + div(cl, lz * lz)
        res[f"aucinf_{kind}"] = aucinf
        res[f"auc_pct_extrap_{kind}"] = div(100 * (aucinf - auclast), aucinf)
        res[f"aumcinf_{kind}"] = aumcinf
        res[f"aumc_pct_extrap_{kind}"] = div(100 * (aumcinf - aumclast), aumcinf)
        res[f"mrtinf_{kind}"] = div(aumcinf, aucinf)
        res[f"auc_pct_back_ext_{kind}"] = div(100 * back_area, aucinf)
        res[f"aucinf_d_{kind}"] = div(aucinf, dose)
        res[f"cl_{kind}"] = div(dose, aucinf)
        res[f"vz_{kind}"] = div(dose, lz * aucinf)
    res["cmax_d"] = div(res["cmax"], dose)


def _sum_moment(segs: list[tuple[float, float, float, float, bool]], hi: float) -> float:
    """Area under t·C(t) from the first point to ``hi`` (a retained time): linear
    ``dt (t1 C1 + t2 C2) / 2`` or, on a log-down segment, the exact moment of the exponential
    ``dt (t1 C1 − t2 C2) / L + dt² (C1 − C2) / L²`` with ``L = ln(C1 / C2)``."""
    total = 0.0
    for t1, t2, c1, c2, log in segs:
        if t2 > hi:
            break
        dt = t2 - t1
        if log:
            lr = math.log(c1 / c2)
            total += dt * (t1 * c1 - t2 * c2) / lr + dt * dt * (c1 - c2) / (lr * lr)
        else:
            total += dt * (t1 * c1 + t2 * c2) / 2
    return total


def _sum_area(segs: list[tuple[float, float, float, float, bool]], lo: float,
              hi: float) -> float:
    """Area of the piecewise curve between ``lo`` and ``hi`` (0 outside the segments)."""
    total = 0.0
    for t1, t2, c1, c2, log in segs:
        x1, x2 = max(t1, lo), min(t2, hi)
        if x2 <= x1:
            continue
        y1 = c1 if x1 == t1 else _conc_at(x1, t1, t2, c1, c2, log)
        y2 = c2 if x2 == t2 else _conc_at(x2, t1, t2, c1, c2, log)
        if log and y2 < y1:
            total += (x2 - x1) * (y1 - y2) / math.log(y1 / y2)
        else:
            total += (x2 - x1) * (y1 + y2) / 2
    return total


def _conc_at(x: float, t1: float, t2: float, c1: float, c2: float, log: bool) -> float:
    f = (x - t1) / (t2 - t1)
    if log:
        return math.exp(math.log(c1) + (math.log(c2) - math.log(c1)) * f)
    return c1 + (c2 - c1) * f
