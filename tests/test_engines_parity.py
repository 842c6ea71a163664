"""Parity with R of what the library engines gained in issue 14: ``cox.zph`` on
counting-process fits, and categorical covariates given as text columns (dummy-coded inside
against their first level, as R's ``factor`` treatment contrasts) for Cox and logistic
regression. Expected values are computed by R while the tests run.

Tolerance: ``rtol=1e-6`` (``atol=1e-10``), as the other parity tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rparity import record_difference, run_r

from analysis_lib.stats import cox
from analysis_lib.stats.logistic import logistic_regression

pytestmark = pytest.mark.r_parity

RTOL, ATOL = 1e-6, 1e-10


def same(actual, expected, quantity: str) -> None:
    a = np.asarray(actual, dtype=float).ravel()
    e = np.asarray(expected, dtype=float).ravel()
    assert a.shape == e.shape, quantity
    record_difference(quantity, a, e, atol=ATOL)
    np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=quantity)


@pytest.fixture(scope="module")
def r() -> dict[str, pd.DataFrame]:
    return run_r(r"""
suppressMessages(library(survival))
hrt <- data.frame(start = heart$start, stop = heart$stop, event = heart$event,
                  age = heart$age, year = heart$year, surgery = heart$surgery,
                  transplant = as.integer(as.character(heart$transplant)))
write_output("hrt", hrt)
for (ties in c("efron", "breslow")) {
  f <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = hrt,
             ties = ties)
  for (tr in c("km", "identity")) {
    z <- cox.zph(f, transform = tr)
    write_output(paste0("zph_", ties, "_", tr), data.frame(term = rownames(z$table),
      chisq = z$table[, "chisq"], p = z$table[, "p"]))
  }
}
vet <- data.frame(time = veteran$time, status = veteran$status, karno = veteran$karno,
                  celltype = as.character(veteran$celltype))
write_output("vet", vet)
f <- coxph(Surv(time, status) ~ karno + factor(celltype), data = vet)
write_output("cox_factor", data.frame(coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f))))))
z <- cox.zph(f)
write_output("zph_factor", data.frame(term = rownames(z$table), chisq = z$table[, "chisq"]))
vet$y <- as.integer(vet$time > 100)
# epsilon 1e-15: at 1e-12 R stops one IRLS step early and its SEs (from the weights of the
# previous iterate) differ by 7e-7
g <- glm(y ~ karno + factor(celltype), family = binomial, data = vet,
         control = glm.control(epsilon = 1e-15, maxit = 100))
s <- summary(g)$coefficients
write_output("glm_factor", data.frame(coef = s[, 1], se = s[, 2]))
""")


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("transform", ["km", "identity"])
def test_cox_zph_counting_process_heart(r, ties, transform):
    d = r["hrt"]
    fit = cox.coxph(d[["age", "year", "surgery", "transplant"]], d["stop"], d["event"],
                    start=d["start"], ties=ties)
    z = cox.cox_zph(fit, transform=transform)
    rz = r[f"zph_{ties}_{transform}"]
    assert z["term"].tolist() == rz["term"].tolist()
    same(z["chisq"], rz["chisq"], "cox.zph chi-square (counting process)")
    same(z["p"], rz["p"], "cox.zph p (counting process)")


def test_cox_with_a_text_factor_column(r):
    """celltype as text: dummy-coded against its first level (adeno), one 3-df term."""
    d = r["vet"]
    fit = cox.coxph(d[["karno", "celltype"]], d["time"], d["status"])
    assert fit.names == ("karno", "celltype[large]", "celltype[smallcell]",
                         "celltype[squamous]")
    assert fit.references == {"celltype": "adeno"} and fit.terms["celltype"] == (1, 2, 3)
    same(fit.coef, r["cox_factor"]["coef"], "Cox coef (factor column)")
    same(fit.se, r["cox_factor"]["se"], "Cox se (factor column)")
    z = cox.cox_zph(fit)
    same(z["chisq"], r["zph_factor"]["chisq"], "cox.zph chi-square (factor term)")
    assert z["df"].tolist() == [1, 3, 4]


def test_logistic_with_a_text_factor_column(r):
    d = r["vet"]
    fit = logistic_regression(d[["karno", "celltype"]], (d["time"] > 100).astype(int))
    assert fit.names[2] == "celltype[large]"
    same(fit.coef, r["glm_factor"]["coef"], "glm coefficient (factor column)")
    same(fit.se, r["glm_factor"]["se"], "glm standard error (factor column)")
