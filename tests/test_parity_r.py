"""Parity of ``analysis_lib.stats.survival`` and ``analysis_lib.stats.proportions.clopper_pearson`` with R.

Every expected value is computed by R (``survival`` package, base ``stats``) while the tests
run; nothing here is a number copied from the Python output. R's own data sets are exported
from R inside the same R session, so Python and R see identical input.

Tolerance: ``rtol=1e-6, atol=1e-12`` on finite values. Non-finite values must sit at the same
positions; where R reports ``NA``/``NaN`` Python must report ``nan``. The one documented
representation difference: once the curve reaches 0, R's ``std.err`` is ``Inf`` and Python's
is ``nan`` (both "undefined"; the confidence limits are ``NA``/``nan`` in both).

Reference for the median and its limits: ``summary(fit)$table`` (what ``print(fit)``
shows). ``quantile(fit, 0.5)`` agrees with it except when the curve ends on a plateau at
exactly 0.5 (print: start of the plateau; quantile: midpoint with the last time); Python
follows print there, and ``test_tail_plateau_follows_print`` pins that choice down.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rparity import record_difference, run_r

from analysis_lib.stats.proportions import clopper_pearson
from analysis_lib.stats.survival import CONF_TYPES, kaplan_meier, reverse_kaplan_meier

pytestmark = pytest.mark.r_parity

RTOL, ATOL = 1e-6, 1e-12
CURVE_COLUMNS = ("n_risk", "n_event", "n_censor", "surv", "std_err")
YEAR = 365.25

# ---------------------------------------------------------------------------------------
# R side


R_KM = r"""
library(survival)
km_out <- function(tag, d, conf.int) {
  for (ct in c("plain", "log", "log-log")) {
    fit <- survfit(Surv(time, status) ~ 1, data = d, conf.type = ct, conf.int = conf.int)
    key <- paste(tag, gsub("-", "", ct), sep = "__")
    write_output(paste0(key, "__curve"), data.frame(
      time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
      n_censor = fit$n.censor, surv = fit$surv, std_err = fit$std.err,
      lower = fit$lower, upper = fit$upper))
    tab <- summary(fit)$table
    q <- quantile(fit, 0.5)
    write_output(paste0(key, "__median"), data.frame(
      median = unname(tab["median"]),
      lcl = unname(tab[paste0(conf.int, "LCL")]),
      ucl = unname(tab[paste0(conf.int, "UCL")]),
      q_median = unname(q$quantile), q_lower = unname(q$lower), q_upper = unname(q$upper)))
  }
}
"""


def _tag(name: str, level: float) -> str:
    return f"{name}_{round(level * 100)}"


@pytest.fixture(scope="module")
def r_datasets() -> dict[str, pd.DataFrame]:
    """R's lung, veteran and aml (time, status 0/1) exported from R, with their survfit
    curves and medians at conf.int 0.95 and 0.9 for every conf.type."""
    script = R_KM + r"""
sets <- list(
  lung = data.frame(time = lung$time, status = as.integer(lung$status == 2)),
  veteran = data.frame(time = veteran$time, status = veteran$status),
  aml = data.frame(time = aml$time, status = aml$status))
for (nm in names(sets)) {
  write_output(paste0(nm, "__data"), sets[[nm]])
  for (lv in c(0.95, 0.9)) km_out(paste0(nm, "_", round(lv * 100)), sets[[nm]], lv)
}
"""
    return run_r(script)


def _constructed() -> dict[str, pd.DataFrame]:
    """Small data sets built in Python for the edge cases of the estimator and the median."""
    rng = np.random.default_rng(20250101)
    n = 240
    t_event = rng.exponential(14.0, n)
    t_cens = rng.uniform(2.0, 40.0, n)
    heavy = pd.DataFrame({"time": np.ceil(np.minimum(t_event, t_cens)),  # whole months: ties
                          "status": (t_event <= t_cens).astype(int)})
    return {
        # tied events, and censorings at the same time as events (censored ones are at risk)
        "ties": pd.DataFrame({
            "time": [1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5, 6, 6, 6, 7, 8, 8, 9, 10, 10, 12],
            "status": [1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1]}),
        "ties_large": heavy,
        # S = .75, .5, .25, 0: exactly 0.5 on [2, 3) -> median 2.5 (midpoint rule)
        "half_4": pd.DataFrame({"time": [1, 2, 3, 4], "status": [1, 1, 1, 1]}),
        # S = 5/6 * 4/5 * 3/4, 0.5 up to rounding, on [3, 4) -> 3.5
        "half_6": pd.DataFrame({"time": [1, 2, 3, 4, 5, 6], "status": [1] * 6}),
        # censoring inside the 0.5 plateau: S = .5 on [3, 8) -> (3 + 8) / 2
        "half_cens": pd.DataFrame({"time": [1, 2, 3, 5, 8, 9], "status": [1, 1, 1, 0, 1, 1]}),
        # curve ends on a plateau at exactly 0.5 (last time censored)
        "half_tail": pd.DataFrame({"time": [1, 2, 3, 4], "status": [1, 1, 0, 0]}),
        # curve reaches exactly 0.5 at the last time (event + censoring tied there)
        "half_last": pd.DataFrame({"time": [1, 2, 3, 3], "status": [0, 0, 1, 0]}),
        # never reaches 0.5: median and limits NA
        "no_median": pd.DataFrame({"time": [1, 2, 3, 4, 5, 6], "status": [1, 0, 0, 1, 0, 0]}),
        # curve drops to 0 (R: std.err Inf, limits NA)
        "to_zero": pd.DataFrame({"time": [1, 2, 2, 3, 5], "status": [0, 1, 0, 1, 1]}),
    }


CONSTRUCTED = tuple(_constructed())


@pytest.fixture(scope="module")
def r_constructed() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    inputs = _constructed()
    script = R_KM + "\n".join(f'km_out("{_tag(nm, 0.95)}", {nm}, 0.95)' for nm in inputs)
    return inputs, run_r(script, inputs)


# ---------------------------------------------------------------------------------------
# comparison helpers


def assert_parity(actual, expected, quantity: str, *, inf_as_nan: bool = False) -> None:
    """Finite values within RTOL/ATOL; same non-finite positions; R's NA -> Python nan.

    ``inf_as_nan``: accept Python ``nan`` where R has ``Inf`` (R's std.err once S = 0).
    """
    a, e = np.asarray(actual, float), np.asarray(expected, float)
    assert a.shape == e.shape, f"{quantity}: shape {a.shape} vs R {e.shape}"
    record_difference(quantity, a, e)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(e),
                                  err_msg=f"{quantity}: finite positions differ from R")
    if inf_as_nan:
        np.testing.assert_array_equal(np.isnan(a), ~np.isfinite(e),
                                      err_msg=f"{quantity}: nan positions differ from R")
    else:
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e),
                                      err_msg=f"{quantity}: nan positions differ from R")
        np.testing.assert_array_equal(a[np.isinf(a)], e[np.isinf(e)],
                                      err_msg=f"{quantity}: infinities differ from R")
    fin = np.isfinite(e)
    np.testing.assert_allclose(a[fin], e[fin], rtol=RTOL, atol=ATOL,
                               err_msg=f"{quantity}: differs from R")


def check_curve(data: pd.DataFrame, r_curve: pd.DataFrame, conf_type: str,
                conf_level: float, *, reverse: bool = False) -> None:
    fn = reverse_kaplan_meier if reverse else kaplan_meier
    km = fn(data["time"], data["status"], conf_level=conf_level)
    assert_parity(km.time, r_curve["time"], "time")
    for col in CURVE_COLUMNS:
        assert_parity(getattr(km, col), r_curve[col], col, inf_as_nan=(col == "std_err"))
    lo, hi = km.confidence_interval(conf_type)
    assert_parity(lo, r_curve["lower"], f"lower ({conf_type})")
    assert_parity(hi, r_curve["upper"], f"upper ({conf_type})")


def check_median(data: pd.DataFrame, r_median: pd.DataFrame, conf_type: str,
                 conf_level: float, *, reverse: bool = False) -> None:
    fn = reverse_kaplan_meier if reverse else kaplan_meier
    med = fn(data["time"], data["status"], conf_level=conf_level).median(conf_type)
    row = r_median.iloc[0]
    assert_parity([med.estimate], [row["median"]], "median")
    assert_parity([med.lower], [row["lcl"]], "median LCL")
    assert_parity([med.upper], [row["ucl"]], "median UCL")


# ---------------------------------------------------------------------------------------
# Kaplan–Meier on R's data sets

DATASETS = ("lung", "veteran", "aml")
LEVELS = (0.95, 0.9)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("conf_level", LEVELS)
@pytest.mark.parametrize("name", DATASETS)
def test_km_curve_r_datasets(r_datasets, name, conf_level, conf_type):
    """n.risk, n.event, n.censor, surv, std.err, lower, upper at every distinct time."""
    key = f"{_tag(name, conf_level)}__{conf_type.replace('-', '')}"
    check_curve(r_datasets[f"{name}__data"], r_datasets[f"{key}__curve"], conf_type,
                conf_level)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("conf_level", LEVELS)
@pytest.mark.parametrize("name", DATASETS)
def test_km_median_r_datasets(r_datasets, name, conf_level, conf_type):
    """Median and its limits = summary(fit)$table median / LCL / UCL."""
    key = f"{_tag(name, conf_level)}__{conf_type.replace('-', '')}"
    check_median(r_datasets[f"{name}__data"], r_datasets[f"{key}__median"], conf_type,
                 conf_level)


def test_r_data_exported(r_datasets):
    """Guard against a silently empty export (the data really are R's)."""
    sizes = {nm: len(r_datasets[f"{nm}__data"]) for nm in DATASETS}
    assert sizes == {"lung": 228, "veteran": 137, "aml": 23}


# ---------------------------------------------------------------------------------------
# constructed edge cases: ties, the 0.5 midpoint rule, no median, curve reaching 0


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", CONSTRUCTED)
def test_km_curve_constructed(r_constructed, name, conf_type):
    inputs, r = r_constructed
    check_curve(inputs[name], r[f"{_tag(name, 0.95)}__{conf_type.replace('-', '')}__curve"],
                conf_type, 0.95)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", CONSTRUCTED)
def test_km_median_constructed(r_constructed, name, conf_type):
    inputs, r = r_constructed
    check_median(inputs[name], r[f"{_tag(name, 0.95)}__{conf_type.replace('-', '')}__median"],
                 conf_type, 0.95)


@pytest.mark.parametrize("name", ["half_4", "half_6", "half_cens"])
def test_midpoint_rule_also_matches_quantile(r_constructed, name):
    """Inside the data, print(fit) and quantile(fit, 0.5) agree on the midpoint rule, and so
    does Python (the plateau cases really exercise it: the median is not an observed time)."""
    inputs, r = r_constructed
    row = r[f"{_tag(name, 0.95)}__log__median"].iloc[0]
    med = kaplan_meier(inputs[name]["time"], inputs[name]["status"]).median("log")
    assert_parity([med.estimate], [row["q_median"]], "median")
    assert row["median"] == row["q_median"]
    assert row["median"] not in set(inputs[name]["time"])


def test_tail_plateau_follows_print(r_constructed):
    """Curve stays at exactly 0.5 to the last time: summary(fit)$table (print) and
    quantile() disagree in R itself; the estimate follows print's rule."""
    inputs, r = r_constructed
    row = r[f"{_tag('half_tail', 0.95)}__log__median"].iloc[0]
    assert row["median"] != row["q_median"]
    med = kaplan_meier(inputs["half_tail"]["time"], inputs["half_tail"]["status"]).median("log")
    assert_parity([med.estimate], [row["median"]], "median")


def test_ties_counts(r_constructed):
    """Censorings tied with events count as at risk at that time (R's convention)."""
    inputs, r = r_constructed
    curve = r[f"{_tag('ties', 0.95)}__log__curve"]
    assert (curve["n_event"] > 0).any() and ((curve["n_event"] > 0) & (curve["n_censor"] > 0)).any()
    km = kaplan_meier(inputs["ties"]["time"], inputs["ties"]["status"])
    assert_parity(km.n_risk, curve["n_risk"], "n_risk")


# ---------------------------------------------------------------------------------------
# survival at fixed times, reverse KM


@pytest.fixture(scope="module")
def r_lung_landmarks() -> dict[str, pd.DataFrame]:
    script = r"""
library(survival)
d <- data.frame(time = lung$time, status = as.integer(lung$status == 2))
write_output("data", d)
times <- c(1, 2, 3, 5) * 365.25
for (ct in c("plain", "log", "log-log")) {
  fit <- survfit(Surv(time, status) ~ 1, data = d, conf.type = ct)
  for (ext in c(FALSE, TRUE)) {
    s <- summary(fit, times = times, extend = ext)
    write_output(paste0(gsub("-", "", ct), if (ext) "__extend" else "__default"),
                 data.frame(time = s$time, surv = s$surv, lower = s$lower, upper = s$upper))
  }
}
"""
    return run_r(script)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
def test_survival_at_years_lung(r_lung_landmarks, conf_type):
    """S(t) and limits at 1, 2, 3, 5 years vs summary(fit, times=, extend=TRUE).

    lung's follow-up ends at 1022 days, so R's default summary() reports only 1 and 2 years;
    with extend=TRUE it carries the last value forward, which is what survival_at returns
    beyond the data. The default output is checked against the same numbers.
    """
    r = r_lung_landmarks
    d = r["data"]
    km = kaplan_meier(d["time"], d["status"])
    ct = conf_type.replace("-", "")
    ext, default = r[f"{ct}__extend"], r[f"{ct}__default"]
    assert len(ext) == 4
    got = np.array([km.survival_at(t, conf_type) for t in ext["time"]])
    assert_parity(ext["time"], np.array([1, 2, 3, 5]) * YEAR, "landmark time")
    assert_parity(got[:, 0], ext["surv"], "survival_at surv")
    assert_parity(got[:, 1], ext["lower"], f"survival_at lower ({conf_type})")
    assert_parity(got[:, 2], ext["upper"], f"survival_at upper ({conf_type})")
    k = len(default)
    assert k == int((np.array([1, 2, 3, 5]) * YEAR <= d["time"].max()).sum())
    assert_parity(got[:k, 0], default["surv"], "survival_at surv")
    assert_parity(got[:k, 1], default["lower"], f"survival_at lower ({conf_type})")
    assert_parity(got[:k, 2], default["upper"], f"survival_at upper ({conf_type})")


@pytest.fixture(scope="module")
def r_lung_reverse() -> dict[str, pd.DataFrame]:
    script = R_KM + r"""
d <- data.frame(time = lung$time, status = as.integer(lung$status == 2))
write_output("data", d)
rev <- data.frame(time = d$time, status = 1 - d$status)
km_out("reverse", rev, 0.95)
"""
    return run_r(script)


@pytest.mark.parametrize("conf_type", CONF_TYPES)
def test_reverse_km_median_follow_up_lung(r_lung_reverse, conf_type):
    """Median follow-up = survfit(Surv(time, 1 - status) ~ 1) median and limits."""
    r = r_lung_reverse
    ct = conf_type.replace("-", "")
    check_median(r["data"], r[f"reverse__{ct}__median"], conf_type, 0.95, reverse=True)
    check_curve(r["data"], r[f"reverse__{ct}__curve"], conf_type, 0.95, reverse=True)


# ---------------------------------------------------------------------------------------
# Clopper–Pearson

BINOM_CASES = [(49, 50), (48, 50), (0, 10), (10, 10), (1, 3), (15, 50)]


@pytest.fixture(scope="module")
def r_binom() -> pd.DataFrame:
    cases = pd.DataFrame([(k, n, lv) for k, n in BINOM_CASES for lv in LEVELS],
                         columns=["k", "n", "level"])
    script = r"""
ci <- t(mapply(function(k, n, lv) binom.test(k, n, conf.level = lv)$conf.int,
               cases$k, cases$n, cases$level))
write_output("ci", data.frame(k = cases$k, n = cases$n, level = cases$level,
                              lower = ci[, 1], upper = ci[, 2]))
"""
    return run_r(script, {"cases": cases})["ci"]


@pytest.mark.parametrize("conf_level", LEVELS)
@pytest.mark.parametrize(("k", "n"), BINOM_CASES)
def test_clopper_pearson_vs_binom_test(r_binom, k, n, conf_level):
    row = r_binom[(r_binom["k"] == k) & (r_binom["n"] == n)
                  & np.isclose(r_binom["level"], conf_level)]
    assert len(row) == 1
    lo, hi = clopper_pearson(k, n, conf_level)
    assert_parity([lo], row["lower"].to_numpy(), "Clopper-Pearson lower")
    assert_parity([hi], row["upper"].to_numpy(), "Clopper-Pearson upper")


@pytest.mark.r_parity
@pytest.mark.parametrize("dataset", ["lung", "veteran", "aml"])
def test_logrank_two_groups_vs_survdiff(dataset):
    """Log-rank chi-square, observed and expected events vs R ``survdiff``."""
    import numpy as np

    from analysis_lib.stats.survival import logrank_test

    grouping = {"lung": "sex == 2", "veteran": "trt == 2", "aml": "x == 'Maintained'"}[dataset]
    script = f"""
suppressMessages(library(survival))
d <- {dataset}
if ("{dataset}" == "lung") d$status <- d$status - 1
d$g <- as.integer(with(d, {grouping}))
fit <- survdiff(Surv(time, status) ~ g, data = d)
write_output("data", data.frame(time = d$time, status = d$status, g = d$g))
write_output("res", data.frame(o0 = fit$obs[1], o1 = fit$obs[2], e0 = fit$exp[1],
                               e1 = fit$exp[2], var = fit$var[2, 2], chisq = fit$chisq))
"""
    res = run_r(script, {})
    data, r = res["data"], res["res"].astype(float).iloc[0]
    py = logrank_test(data["time"], data["status"], data["g"])
    np.testing.assert_allclose([*py.observed, *py.expected, py.variance, py.chi2],
                               [r.o0, r.o1, r.e0, r.e1, r["var"], r.chisq], rtol=1e-6, atol=1e-12)


@pytest.mark.r_parity
def test_logistic_regression_vs_glm():
    """Coefficients and Wald SEs vs R glm(family = binomial) on a seeded data set."""
    import numpy as np

    from analysis_lib.stats.logistic import logistic_regression

    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 2, n),
                       "x3": rng.exponential(size=n)})
    lp = -0.5 + 0.8 * df.x1 - 1.1 * df.x2 + 0.3 * df.x3
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    res = run_r("""
fit <- glm(y ~ x1 + x2 + x3, family = binomial, data = d, control = glm.control(epsilon = 1e-12, maxit = 100))
s <- summary(fit)$coefficients
write_output("res", data.frame(coef = s[, 1], se = s[, 2], ll = as.numeric(logLik(fit))))
""", {"d": df})["res"].astype(float)
    fit = logistic_regression(df[["x1", "x2", "x3"]], df["y"])
    np.testing.assert_allclose(fit.coef, res["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se, res["se"], rtol=1e-6)
    np.testing.assert_allclose(fit.loglik, res["ll"].iloc[0], rtol=1e-9)
