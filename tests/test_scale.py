"""Issue 16: the linear-time forms of super-linear steps give the same answers as the direct
forms they replace (registry-scale cohorts; benchmarks/bench_scale.py measures the time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from analysis_lib.stats import cox
from analysis_lib.stats.logistic import detect_separation, unbounded_directions


def _random_survival(rng: np.random.Generator, trial: int):
    n = int(rng.integers(8, 120))
    X = pd.DataFrame({"a": rng.integers(0, 2, n).astype(float),
                      "b": (rng.integers(0, 3, n).astype(float) if trial % 2
                            else rng.normal(size=n))})
    t = rng.integers(1, 15, n).astype(float) if trial % 3 else rng.exponential(size=n)
    e = rng.random(n) < 0.6
    kind = trial % 5
    if kind == 1:
        e &= X["a"].to_numpy() == 1                   # no events in the reference group
    if kind == 2:
        t = np.where(X["a"] == 1, t, t + 20)          # group a = 1 always fails first
    st = rng.integers(0, 2, n) if kind == 3 else None
    return X, t, e, st


def _pairwise_monotone(fit: cox.CoxFit, tol: float = 1e-6) -> dict[str, str]:
    """The direct form: every event against every row of its risk set."""
    X, t, e, st = fit._X, fit._time, fit._event, fit._strata
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale
    D = np.unique(np.round(np.vstack([Xs[i] - Xs[(st == st[i]) & (t >= t[i])]
                                      for i in np.flatnonzero(e)]), 12), axis=0)
    D = D[np.any(D != 0, axis=1)]
    if D.size == 0:
        return {nm: "±inf" for nm in fit.names}
    up, down = unbounded_directions(D, tol)
    kinds = {(True, False): "+inf", (False, True): "-inf", (True, True): "±inf"}
    return {nm: kinds[(u, d)] for nm, u, d in zip(fit.names, up, down) if u or d}


def test_monotone_likelihood_chain_equals_pairwise():
    rng = np.random.default_rng(16)
    infinite = 0
    for trial in range(120):
        X, t, e, st = _random_survival(rng, trial)
        if not e.any():
            continue
        fit = cox.coxph(X, t, e, strata=st)
        expected = _pairwise_monotone(fit)
        infinite += bool(expected)
        assert cox.monotone_likelihood(fit) == expected, trial
    assert infinite >= 20  # the comparison covered monotone likelihoods, not only finite ones


def _dense_separation_count(X: np.ndarray, y: np.ndarray) -> int:
    """The direct form of detect_separation's first programme: one t_i per observation."""
    from scipy import optimize
    A = np.column_stack([np.ones(len(y)), X])
    scale = np.max(np.abs(A), axis=0)
    scale[scale == 0] = 1
    M = (2 * y - 1)[:, None] * (A / scale)
    n, p = M.shape
    res = optimize.linprog(np.r_[np.zeros(p), -np.ones(n)],
                           A_ub=np.block([[-M, np.eye(n)], [-M, np.zeros((n, n))]]),
                           b_ub=np.zeros(2 * n), bounds=[(None, None)] * p + [(0, 1)] * n,
                           method="highs")
    return int(np.sum(res.x[p:] > 0.5))


def test_separation_on_distinct_rows_equals_dense_programme():
    rng = np.random.default_rng(7)
    separated = 0
    for trial in range(80):
        n = int(rng.integers(6, 80))
        X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 3, n)]).astype(float)
        if trial % 2:
            X[:, 1] = rng.normal(size=n)
        y = (rng.random(n) < 0.4).astype(float)
        if trial % 3 == 0:
            y = np.where(X[:, 0] == 1, 1.0, y * (rng.random(n) < 0.3))  # (quasi-)separated
        if y.min() == y.max() or np.linalg.matrix_rank(np.column_stack([np.ones(n), X])) < 3:
            continue
        got = detect_separation(pd.DataFrame(X, columns=["a", "b"]), y)
        assert got.n_separated == _dense_separation_count(X, y), trial
        separated += got.separated
    assert separated >= 10


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_risk_set_sums_equal_phreg(ties):
    rng = np.random.default_rng(3)
    for trial in range(30):
        n, p = int(rng.integers(5, 300)), int(rng.integers(1, 4))
        X = rng.normal(size=(n, p))
        X[:, 0] = rng.integers(0, 2, n)
        X -= X.mean(axis=0)
        t = rng.integers(1, 20, n).astype(float) if trial % 2 else rng.exponential(size=n)
        e = rng.random(n) < 0.7
        st = rng.integers(0, 3, n) if trial % 3 == 0 else np.zeros(n, dtype=int)
        b = rng.normal(size=p) * 0.5
        m = PHReg(t, X, e.astype(float), strata=st, ties=ties)
        ll, U, info = cox.RiskSetSums(X, t, e, st, ties).derivs(b)
        assert ll == pytest.approx(m.loglike(b), rel=1e-11)
        np.testing.assert_allclose(U, m.score(b), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(info, -m.hessian(b), rtol=1e-10, atol=1e-10)


def _counting_process(rng: np.random.Generator, n: int, integer_times: bool):
    """Counting-process rows: some patients split at a random time into two rows (the second
    exposed), with tied stops and starts when ``integer_times``."""
    stop = (rng.integers(2, 25, n).astype(float) if integer_times
            else rng.exponential(10, n) + 0.1)
    change = np.where(rng.random(n) < 0.5,
                      np.floor(stop * rng.random(n)) if integer_times else stop * rng.random(n),
                      np.nan)
    change[change <= 0] = np.nan
    from analysis_lib.stats.survival import split_at
    sp = split_at(stop, rng.random(n) < 0.7, change)
    x2 = rng.normal(size=len(sp))
    return sp, np.column_stack([sp["exposed"].to_numpy(float), x2])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_risk_set_sums_equal_phreg_on_counting_process_rows(ties):
    """(start, stop] rows: the cumulative sums (stop >= tau minus start >= tau) equal PHReg
    with its entry moved up by one ulp (R's risk set start < tau <= stop)."""
    rng = np.random.default_rng(5)
    for trial in range(30):
        sp, X = _counting_process(rng, int(rng.integers(5, 200)), trial % 2 == 0)
        if not sp["event"].any():
            continue
        X = X - X.mean(axis=0)
        st = rng.integers(0, 3, len(sp)) if trial % 3 == 0 else np.zeros(len(sp), dtype=int)
        t, e, a = (sp[c].to_numpy(float) for c in ("stop", "event", "start"))
        b = rng.normal(size=2) * 0.5
        m = PHReg(t, X, e, strata=st, ties=ties, entry=np.nextafter(a, np.inf))
        ll, U, info = cox.RiskSetSums(X, t, e.astype(bool), st, ties, start=a).derivs(b)
        assert ll == pytest.approx(m.loglike(b), rel=1e-11)
        np.testing.assert_allclose(U, m.score(b), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(info, -m.hessian(b), rtol=1e-10, atol=1e-10)


def test_cox_zph_equals_the_loop_over_event_times():
    """cox_zph's cumulative sums give the statistics of the explicit loop over event times
    (tests/cox_reference.py) on right-censored, stratified and counting-process fits, with
    both tie rules and every transform."""
    from cox_reference import cox_zph_loop

    rng = np.random.default_rng(17)
    checked = 0
    for trial in range(24):
        if trial % 2:
            sp, X = _counting_process(rng, int(rng.integers(10, 150)), trial % 4 == 1)
            fit = cox.coxph(pd.DataFrame(X, columns=["exposed", "x"]), sp["stop"],
                            sp["event"], start=sp["start"],
                            ties="breslow" if trial % 3 == 0 else "efron")
        else:
            X, t, e, st = _random_survival(rng, trial * 5)  # finite estimates
            if not e.any():
                continue
            fit = cox.coxph(X, t, e, strata=st, ties="breslow" if trial % 3 == 0 else "efron")
        for transform in ("km", "identity", "rank", "log"):
            z = cox.cox_zph(fit, transform, terms=False).set_index("term")["chisq"]
            ref = cox_zph_loop(fit, transform)
            for name, chi in ref.items():
                assert z[name] == pytest.approx(chi, rel=1e-9, abs=1e-12), (trial, transform)
        checked += 1
    assert checked >= 20


def test_time_dependent_cox_same_with_either_engine(monkeypatch):
    """A counting-process Cox fit from VECTORISED_COX_MIN_ROWS rows uses the cumulative sums:
    the same estimates, variances and log-likelihood as PHReg."""
    rng = np.random.default_rng(23)
    for trial in range(8):
        sp, X = _counting_process(rng, int(rng.integers(20, 300)), trial % 2 == 0)
        cols = pd.DataFrame(X, columns=["exposed", "x"])
        monkeypatch.setattr(cox, "VECTORISED_COX_MIN_ROWS", 10**9)
        a = cox.coxph(cols, sp["stop"], sp["event"], start=sp["start"])
        monkeypatch.setattr(cox, "VECTORISED_COX_MIN_ROWS", 0)
        b = cox.coxph(cols, sp["stop"], sp["event"], start=sp["start"])
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b.var, a.var, rtol=1e-8, atol=1e-12)
        assert b.loglik == pytest.approx(a.loglik, rel=1e-12)


def test_coxph_and_zph_same_with_either_engine(monkeypatch):
    rng = np.random.default_rng(11)
    fits = []
    for trial in range(12):
        X, t, e, st = _random_survival(rng, trial * 5)  # kind 0: finite estimates
        if not e.any():
            continue
        fits.append((X, t, e, st))
    for X, t, e, st in fits:
        monkeypatch.setattr(cox, "VECTORISED_COX_MIN_ROWS", 10**9)
        a = cox.coxph(X, t, e, strata=st)
        za = cox.cox_zph(a)
        monkeypatch.setattr(cox, "VECTORISED_COX_MIN_ROWS", 0)
        b = cox.coxph(X, t, e, strata=st)
        zb = cox.cox_zph(b)
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b.var, a.var, rtol=1e-8, atol=1e-12)
        assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
        np.testing.assert_allclose(zb["chisq"], za["chisq"], rtol=1e-8, atol=1e-12)


def test_grouped_logistic_refits_equal_ungrouped(monkeypatch):
    """Profile likelihood, Firth and its profile on the distinct (row, outcome) pairs with
    frequency weights equal the same computations over every row."""
    from analysis_lib.stats import logistic
    rng = np.random.default_rng(5)
    n = 400
    X = pd.DataFrame({"a": rng.integers(0, 2, n).astype(float),
                      "b": rng.integers(0, 3, n).astype(float)})
    y = (rng.random(n) < 0.15 + 0.2 * X["a"]).astype(float)
    X["c"] = (rng.random(n) < 0.1).astype(float)
    y[X["c"].to_numpy() == 1] = 0.0  # no events when c = 1: quasi-separation, c runs to -inf
    out = {}
    for label, threshold in (("rows", 10**9), ("grouped", 0)):
        monkeypatch.setattr(logistic, "GROUPED_MIN_ROWS", threshold)
        an = logistic.analyse_logistic(X, y)
        out[label] = (an.profile, an.firth_profile, an.firth.coef)
    assert logistic._grouped(X.to_numpy(), y.to_numpy())[2] is not None  # really grouped
    for a, b in zip(out["rows"][:2], out["grouped"][:2]):
        for col in ("estimate", "lower", "upper", "lr_chi2", "p"):
            np.testing.assert_allclose(b[col], a[col], rtol=1e-8, atol=1e-10, err_msg=col)
    np.testing.assert_allclose(out["grouped"][2], out["rows"][2], rtol=1e-9)
    assert np.isinf(out["rows"][0]["lower"]).any() or np.isinf(out["rows"][0]["upper"]).any()


def _loop_median_profiles(kinetics, params, by, days, lloq, window, carry):
    """The direct form (a loop over groups, days and patients): the oracle."""
    from analysis_lib.stats.profiles import blq_quantile
    k = kinetics[kinetics["day"] >= 0].copy()
    k["blq"] = (k["below_lloq"].astype(bool) | k["copies_per_ug_dna"].isna()
                | (k["copies_per_ug_dna"] < k["lloq_copies_per_ug_dna"]))
    k["value"] = np.where(k["blq"], 0.0, k["copies_per_ug_dna"].astype(float))
    days = [float(d) for d in days if d <= float(k["day"].max())]
    info = params.set_index("patient_id")
    rows = []
    by_patient = {pid: f.sort_values("day", kind="stable") for pid, f in k.groupby("patient_id")}
    for g in sorted(pd.unique(info[by].dropna()), reverse=True):
        for d in days:
            vals, blqs, carried = [], [], 0
            for pid in info.index[info[by] == g]:
                f = by_patient.get(pid)
                if f is None:
                    continue
                dist = (f["day"] - d).abs()
                near = dist[dist <= window + 1e-9]
                if len(near):
                    i = near.idxmin()
                    vals.append(float(f.at[i, "value"]))
                    blqs.append(bool(f.at[i, "blq"]))
                elif (carry and bool(info.at[pid, "persistence_ended"]) and d > f["day"].max()
                      and ("last_followup_day" not in info.columns
                           or pd.isna(info.at[pid, "last_followup_day"])
                           or d <= info.at[pid, "last_followup_day"])):
                    vals.append(0.0)
                    blqs.append(True)
                    carried += 1
            row = {"group": g, "day": d, "n": len(vals), "n_blq": int(sum(blqs)),
                   "n_carried": carried, "lloq": lloq}
            for name, q in (("median", 50.0), ("q1", 25.0), ("q3", 75.0)):
                row[name], row[f"{name}_blq"] = blq_quantile(vals, blqs, q)
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("window,carry", [(0.0, True), (2.0, True), (7.0, False)])
def test_scheduled_quantiles_equal_the_loop(window, carry):
    from analysis_lib.stats.profiles import COLUMNS, scheduled_quantiles
    from analysis_lib.synthetic.generator import generate_cohort
    from analysis_lib.analyses import kinetics as kin
    cohort = generate_cohort(n=120, seed=16)
    samples, patients = cohort.kinetics, cohort.patients
    params = kin.kinetic_parameters(samples, patients)
    days = (4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 84.0, 182.0)
    lloq = kin.assay_lloq(samples)
    got = scheduled_quantiles(samples, params, "mrd_cr", days=days, lloq=lloq,
                              window=window, carry_blq_forward=carry)
    want = _loop_median_profiles(samples, params, "mrd_cr", days, lloq, window, carry)
    assert got["n"].sum() > 0 and got["n_blq"].sum() > 0
    pd.testing.assert_frame_equal(got, want[list(COLUMNS)], check_dtype=False)


def test_listing_cut_above_the_threshold_and_said(monkeypatch, capsys):
    from analysis_lib.book import report
    shown = {}
    monkeypatch.setattr(report, "show_table",
                        lambda frame, caption, label: shown.update(rows=len(frame), caption=caption))
    small = pd.DataFrame({"patient": range(report.LISTING_MAX_ROWS)})
    report.show_listing(small, "Every patient.", "tbl-x")
    assert shown == {"rows": report.LISTING_MAX_ROWS, "caption": "Every patient."}
    big = pd.DataFrame({"patient": range(50_000)})
    report.show_listing(big, "Every patient.", "tbl-x")
    assert shown["rows"] == report.LISTING_MAX_ROWS
    assert f"{report.LISTING_MAX_ROWS} of 50,000 patients are listed" in shown["caption"]
    assert "CSV download holds all of them" in shown["caption"]


def test_aggregate_profiles_above_the_threshold(monkeypatch):
    from analysis_lib.book.figures import profiles
    assert not profiles.use_aggregate(profiles.INDIVIDUAL_MAX_PATIENTS)
    assert profiles.aggregate_note(profiles.INDIVIDUAL_MAX_PATIENTS) == ""
    assert profiles.use_aggregate(profiles.INDIVIDUAL_MAX_PATIENTS + 1)
    assert "5,000 patients" in profiles.aggregate_note(5000)
    k = pd.DataFrame({"patient_id": np.repeat(np.arange(12), 2), "day": np.tile([7.0, 14.0], 12),
                      "copies_per_ug_dna": np.r_[np.arange(1, 23) * 100.0, np.nan, 50.0],
                      "below_lloq": np.r_[np.zeros(22, bool), True, True]})
    groups = pd.Series(np.arange(12) < 6, index=np.arange(12))
    q = profiles.day_quantiles(k, groups, lloq=100.0)
    assert set(q["n"]) == {6}  # every group and day with at least MIN_PATIENTS_PER_DAY
    day7 = q[(q["group"] == True) & (q["day"] == 7.0)].iloc[0]  # noqa: E712
    assert day7["q50"] == np.median([100, 300, 500, 700, 900, 1100])
    last = q[(q["group"] == False) & (q["day"] == 14.0)].iloc[0]  # noqa: E712
    assert last["q10"] == np.quantile([50.0, 1400, 1600, 1800, 2000, 2200], 0.1)  # BLQ at LLOQ/2


def test_delong_placements_equal_the_pair_matrix():
    from analysis_lib.stats.roc import _placements
    rng = np.random.default_rng(9)
    for trial in range(40):
        n = int(rng.integers(4, 300))
        m = rng.integers(0, 12, n).astype(float) if trial % 2 else rng.normal(size=n)
        o = rng.random(n) < 0.3
        o[:2] = True
        o[2:4] = False
        pos, neg = m[o], m[~o]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10, v01 = _placements(m, o)
        assert np.array_equal(v10, psi.mean(axis=1)) and np.array_equal(v01, psi.mean(axis=0))


def test_profiles_caption_says_which_form():
    from analysis_lib.book.figures import profiles
    small = profiles.profiles_caption(50)
    assert "one line per patient" in small and "summarised" not in small
    big = profiles.profiles_caption(50_000)
    assert "one line per patient" not in big and "50,000 patients (more than 200)" in big


def test_dense_artists_rasterised_sparse_kept_vector():
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from analysis_lib.book import report

    def svg_bytes(n: int) -> int:
        fig, ax = plt.subplots()
        x = np.random.default_rng(0).normal(size=n)
        ax.scatter(x, x ** 2, s=4)
        ax.step(np.sort(x), np.linspace(0, 1, n))
        report.rasterize_dense(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        return len(buf.getvalue())

    fig, ax = plt.subplots()
    small = ax.scatter(range(50), range(50))
    big = ax.scatter(range(report.RASTERIZE_MIN_POINTS + 1), range(report.RASTERIZE_MIN_POINTS + 1))
    assert report.rasterize_dense(fig) == 1
    assert big.get_rasterized() and not small.get_rasterized()
    plt.close(fig)
    # many groups of a few hundred points each: the axes is dense, each strip is rasterised
    fig, (ax, bx) = plt.subplots(1, 2)
    strips = [ax.scatter(np.full(400, g), np.arange(400)) for g in range(6)]
    sparse = [bx.scatter(np.full(40, g), np.arange(40)) for g in range(6)]
    assert report.rasterize_dense(fig) == 6
    assert all(s.get_rasterized() for s in strips) and not any(s.get_rasterized() for s in sparse)
    plt.close(fig)
    # the SVG of 50,000 points is about the size of that of 5,000 (an image of the same area)
    assert svg_bytes(50_000) < 2 * svg_bytes(5_000)


def test_a_zero_cell_with_thousands_of_patients_gives_an_infinite_odds_ratio_not_an_error():
    """The IL-6 table of a 5,000-patient cohort (800 of 3,900 exposed with the event, none of
    1,100 unexposed): the ML information matrix underflows to singular and numpy's
    LinAlgError stopped the toxicity chapter. The 2x2 comparison now reports the infinite ML
    odds ratio the separation implies (no Wald or profile interval) and Firth's finite one."""
    import numpy as np
    import pandas as pd

    from analysis_lib.stats.contingency import _binary_comparison
    from analysis_lib.stats.logistic import logistic_regression

    # the exposure and event columns of `cartbook generate --n 5000` (seed 2209), in the
    # cohort's row order: the order matters, IRLS's sums round differently
    arrays = np.load(Path(__file__).parent / "data" / "il6_zero_cell_5000.npz")
    exposed, event = arrays["exposed"], arrays["event"].astype(float)
    with pytest.raises(np.linalg.LinAlgError):  # the ML fit itself cannot be completed
        logistic_regression(pd.DataFrame({"x": exposed.astype(int)}), event, max_iter=100)
    r = _binary_comparison(exposed, event, 0.95)
    assert (r["a"], r["b"], r["c"], r["d"]) == (800, 3100, 0, 1100)
    assert np.isinf(r["or_ml"]) and r["infinite"] == "+inf" and r["separation"] != "none"
    assert np.isnan(r["wald_p"]) and np.isnan(r["profile_lower"])
    assert np.isfinite(r["or_firth"]) and r["or_firth"] > 1
    assert 1 < r["firth_lower"] < r["or_firth"] < r["firth_upper"] < np.inf


def test_individual_and_aggregate_profiles_share_their_panels(monkeypatch):
    """Both forms of the profile figure come from one panel builder: the same titles, axis
    labels, log scale with the book's plain-number tick labels, LLOQ line and legend entry;
    the whole-period panel spans every sampling day drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from analysis_lib.book.figures import kinetics as plots
    from analysis_lib.book.figures import profiles, style

    days = [0.0, 7.0, 14.0, 28.0, 90.0, 400.0]
    k = pd.DataFrame({"patient_id": np.repeat(np.arange(12), len(days)),
                      "day": np.tile(days, 12),
                      "copies_per_ug_dna": np.tile([np.nan, 5e3, 2e4, 3e3, 400.0, np.nan], 12)
                      * np.repeat(np.linspace(1, 3, 12), len(days)),
                      "below_lloq": np.tile([True, False, False, False, False, True], 12)})
    groups = pd.Series(np.arange(12) < 6, index=np.arange(12))
    individual = plots.kinetic_profiles(k, groups, 100.0)
    monkeypatch.setattr(profiles, "INDIVIDUAL_MAX_PATIENTS", 5)
    aggregate = plots.kinetic_profiles(k, groups, 100.0)

    def look(fig):
        axes = fig.axes
        return [(ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale(),
                 ax.yaxis.get_major_formatter()(1000.0, 0)) for ax in axes]

    assert look(individual) == look(aggregate)
    assert [t[0] for t in look(individual)] == ["First 28 days", "Whole monitoring period"]
    assert look(individual)[0][4] == "1,000"  # the book's formatter on the level axis
    for fig in (individual, aggregate):
        first, whole = fig.axes
        assert first.get_xlim() == (-0.5, 29.0)
        lo, hi = whole.get_xlim()
        assert lo < 0 and hi >= 400.0  # every sampling day, from day 0
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "LLOQ (100 copies/µg DNA)" in legend
        assert style.problems(fig) == []
