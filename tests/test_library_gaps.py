"""The gaps between the design's libraries and R that made a workaround or a hand-written
part necessary, measured against R while the tests run.

Each test records the library's largest relative difference from R under the quantity name
``gap: ...`` (shown on the methods page from the recorded file) and asserts that the gap is
real (above the parity contract's 1e-6). Should a library close one, its test fails: the
workaround in :mod:`analysis_lib` can then go.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from rparity import MAX_REL_DIFF, record_difference, run_r
from scipy import stats

pytestmark = pytest.mark.r_parity

CONTRACT = 1e-6


def gap(quantity: str, actual, expected) -> None:
    record_difference(f"gap: {quantity}", actual, expected)
    assert MAX_REL_DIFF[f"gap: {quantity}"] > CONTRACT, f"{quantity}: no gap any more"


@pytest.fixture(scope="module")
def r() -> dict[str, pd.DataFrame]:
    return run_r(r"""
suppressMessages({library(survival); library(brglm2)})
hrt <- data.frame(start = heart$start, stop = heart$stop, event = heart$event,
                  age = heart$age, year = heart$year, surgery = heart$surgery,
                  transplant = as.integer(as.character(heart$transplant)))
write_output("hrt", hrt)
f <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = hrt)
write_output("heart_coef", data.frame(coef = unname(coef(f))))
lung2 <- na.omit(data.frame(time = lung$time, status = lung$status - 1, age = lung$age,
                            sex = lung$sex, ecog = lung$ph.ecog))
write_output("lung", lung2)
f <- coxph(Surv(time, status) ~ age + sex + ecog, data = lung2)
write_output("lung_coef", data.frame(coef = unname(coef(f))))
z <- cox.zph(f)
write_output("lung_zph", data.frame(chisq = z$table[1:3, "chisq"]))
h <- data.frame(time = c(1, 2, 3, 4), status = 1)
write_output("half_median", data.frame(
  median = unname(summary(survfit(Surv(time, status) ~ 1, data = h))$table["median"])))
set.seed(1); x <- rnorm(20); y <- rnorm(25, 0.3)
write_output("mw", data.frame(x = c(x, y), g = rep(1:2, c(20, 25))))
write_output("mw_p", data.frame(p = wilcox.test(x, y)$p.value))
a <- c(3, 1, 4, 1.5, 5, 9, 2, 6, 5.5); b <- c(2, 7, 1, 8, 2.8, 1.8, 2.9, 4.5, 9.1)
write_output("sp", data.frame(a = a, b = b, p = cor.test(a, b, method = "spearman")$p.value))
write_output("fisher", data.frame(est = unname(fisher.test(matrix(c(6, 3, 4, 12), 2))$estimate)))
data(endometrial)
e <- data.frame(NV = endometrial$NV, PI = endometrial$PI, EH = endometrial$EH, y = endometrial$HG)
write_output("endo", e)
b <- glm(y ~ NV + PI + EH, family = binomial, data = e, method = "brglmFit", type = "AS_mean",
         epsilon = 1e-12, maxit = 500)
write_output("endo_se", data.frame(se = unname(sqrt(diag(vcov(b))))))
""")


def test_phreg_entry_puts_a_row_starting_at_t_in_the_risk_set_at_t(r):
    from statsmodels.duration.hazard_regression import PHReg
    d = r["hrt"]
    X = d[["age", "year", "surgery", "transplant"]].to_numpy(float)
    fit = PHReg(d["stop"], X, d["event"], entry=d["start"], ties="efron").fit()
    gap("statsmodels PHReg(entry=start), Cox coefficients, heart", fit.params,
        r["heart_coef"]["coef"])


def test_lifelines_cox_at_its_default_precision(r):
    from lifelines import CoxPHFitter
    d = r["lung"]
    fit = CoxPHFitter().fit(d, "time", "status")
    gap("lifelines CoxPHFitter (default precision), Cox coefficients, lung",
        fit.params_.to_numpy(), r["lung_coef"]["coef"])


def test_lifelines_proportional_hazard_test_is_not_survival_3_cox_zph(r):
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test
    d = r["lung"]
    fit = CoxPHFitter().fit(d, "time", "status")
    res = proportional_hazard_test(fit, d, time_transform="km")
    gap("lifelines proportional_hazard_test(km) vs cox.zph, chi-square, lung",
        res.summary["test_statistic"].to_numpy(), r["lung_zph"]["chisq"])


def test_statsmodels_median_on_an_exact_half_plateau(r):
    from statsmodels.duration.survfunc import SurvfuncRight
    sf = SurvfuncRight(np.array([1.0, 2, 3, 4]), np.ones(4))
    gap("statsmodels SurvfuncRight median on a plateau at exactly 0.5",
        [sf.quantile(0.5)], r["half_median"]["median"])


def test_scipy_mannwhitneyu_auto_is_not_r_rule(r):
    d = r["mw"]
    x, y = d.loc[d["g"] == 1, "x"], d.loc[d["g"] == 2, "x"]
    gap("scipy mannwhitneyu(method='auto') vs wilcox.test, p, 20 vs 25 values",
        [stats.mannwhitneyu(x, y, method="auto").pvalue], r["mw_p"]["p"])


def test_scipy_spearmanr_p_uses_the_t_approximation(r):
    d = r["sp"]
    gap("scipy spearmanr vs cor.test (exact, n = 9), p",
        [stats.spearmanr(d["a"], d["b"]).pvalue], [d["p"].iloc[0]])


def test_scipy_fisher_exact_statistic_is_the_sample_odds_ratio(r):
    gap("scipy fisher_exact statistic vs fisher.test conditional MLE",
        [stats.fisher_exact([[6, 4], [3, 12]]).statistic], r["fisher"]["est"])


def test_firthmodels_bse_is_not_logistf_se(r):
    from firthmodels import FirthLogisticRegression
    d = r["endo"]
    m = FirthLogisticRegression(backend="numpy", gtol=1e-8, xtol=1e-8).fit(
        d[["NV", "PI", "EH"]].to_numpy(float), d["y"].to_numpy(float))
    se = np.r_[m.bse_[-1], m.bse_[:-1]]  # firthmodels puts the intercept last
    gap("firthmodels bse_ vs brglm2/logistf standard errors, endometrial", se,
        r["endo_se"]["se"])


def test_firthmodels_does_not_converge_at_gtol_1e_9(r):
    """Not a numeric gap: at gtol 1e-9 its step halving cannot raise the penalised
    likelihood in floating point, the fit is reported as not converged and lrt() gives nan;
    analysis_lib uses 1e-8 (coefficients within 1.1e-8 of brglm2)."""
    from firthmodels import FirthLogisticRegression
    d = r["endo"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = FirthLogisticRegression(backend="numpy", gtol=1e-9, xtol=1e-9, max_iter=200).fit(
            d[["NV", "PI", "EH"]].to_numpy(float), d["y"].to_numpy(float))
    assert not m.converged_


def test_glm_offset_refit_from_the_default_start():
    """statsmodels GLM with a large offset, from its default start: it reports convergence
    at a far lower log-likelihood than the maximum (found from a warm start), which is why
    the profile likelihood refits from two starts."""
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM
    x = np.r_[np.ones(10), np.zeros(12)]
    y = np.r_[np.zeros(10), np.ones(4), np.zeros(8)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = GLM(y, np.ones((22, 1)), family=Binomial(), offset=-30 * x).fit(tol=1e-13)
        warm = GLM(y, np.ones((22, 1)), family=Binomial(), offset=-30 * x).fit(
            tol=1e-13, start_params=np.array([np.log(4 / 8)]))
        lls = [cold.llf], [warm.llf]  # evaluated lazily: overflows far off
    assert cold.converged
    gap("statsmodels GLM offset refit from its default start, log-likelihood", *lls)


def test_glm_bse_uses_the_weights_of_the_previous_iterate():
    """statsmodels GLM's bse come from the last IRLS step's weights (as R's summary.glm), one
    step behind the estimate; analysis_lib takes the information at the estimate. Reference:
    the closed-form Woolf SE of a 2×2 table (1, 28 / 7, 14), not R."""
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM
    a, b, c, d = 1, 28, 7, 14
    x = np.r_[np.ones(a + b), np.zeros(c + d)]
    y = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    fit = GLM(y, np.column_stack([np.ones_like(x), x]), family=Binomial()).fit(tol=1e-12)
    z = np.log(a * d / (b * c)) / np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    gap("statsmodels GLM Wald p from bse (IRLS weights one step behind), vs Woolf's p, 2×2",
        [fit.pvalues[1]], [2 * stats.norm.sf(abs(z))])
