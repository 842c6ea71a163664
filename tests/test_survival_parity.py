"""Parity of the survival chapter's methods with R, computed live.

R (``survival`` 3.x, ``cmprsk``) runs on its own data sets (``lung``, ``veteran``, ``heart``,
``mgus2``), exported from the same R session so both sides see identical input, and on the
shipped synthetic cohort, passed from Python. Nothing here is a number copied from the
Python output.

Compared: Kaplan–Meier estimates with all three interval types (including counting-process
data), K-sample and stratified log-rank statistics, Cox coefficients, standard errors,
log-likelihoods and score tests (Efron and Breslow; right-censored, stratified and
counting-process; time-dependent HSCT built by ``tmerge``), ``cox.zph`` statistics,
``cmprsk::cuminc`` estimates and variances (every corner of the step function) and Gray's
test.

Tolerance: ``rtol=1e-6, atol=1e-10`` on finite values. Documented exceptions:

* R's Cox fit stops at a relative log-likelihood change of 1e-9 (``coxph.control``); the
  Python fit iterates to 1e-12. Both sit on the maximum to far better than 1e-6 here, so no
  exception is needed in practice; R is run with its defaults.
* A coefficient that is infinite (monotone likelihood: one group without events) has no
  meaningful value in either program (R reports whatever its iterations reached); such terms
  are flagged by both (Python ``infinite``, R's warning) and not compared.
* Gray's statistic when the variance is singular: both report -1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import in_ci
from rparity import record_difference, run_r

from analysis_lib.analyses import survival as survival_analyses
from analysis_lib.data.validation import load_dataset
from analysis_lib.stats import competing_risks as cr
from analysis_lib.stats import cox
from analysis_lib.stats import survival as sv

pytestmark = pytest.mark.r_parity

RTOL, ATOL = 1e-6, 1e-10
ROOT = Path(__file__).resolve().parent.parent


def same(actual, expected, quantity: str, rtol: float = RTOL) -> None:
    """Finite values within tolerance; non-finite (NA, NaN, Inf) at the same positions."""
    a = np.asarray(actual, dtype=float).ravel()
    e = np.asarray(expected, dtype=float).ravel()
    assert a.shape == e.shape, f"{quantity}: shape {a.shape} vs R {e.shape}"
    record_difference(quantity, a, e, atol=ATOL)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(e),
                                  err_msg=f"{quantity}: finite positions differ from R")
    fin = np.isfinite(e)
    np.testing.assert_allclose(a[fin], e[fin], rtol=rtol, atol=ATOL,
                               err_msg=f"{quantity}: differs from R")


@pytest.fixture(scope="module")
def cmprsk_available() -> None:
    out = run_r('write_output("ok", data.frame(ok = requireNamespace("cmprsk", '
                'quietly = TRUE)))')
    if not bool(out["ok"]["ok"][0]):
        if in_ci():
            pytest.fail("R package cmprsk is missing: CI must provide it", pytrace=False)
        pytest.skip("R package cmprsk is not installed")


# ==========================================================================================
# R's own data sets
# ==========================================================================================

R_DATASETS = r"""
library(survival); library(cmprsk)
lung2 <- na.omit(data.frame(time = lung$time, status = lung$status - 1, age = lung$age,
                            sex = lung$sex, ecog = lung$ph.ecog, wt = lung$wt.loss))
vet <- data.frame(time = veteran$time, status = veteran$status, trt = veteran$trt,
                  karno = veteran$karno, diagtime = veteran$diagtime, age = veteran$age,
                  prior = veteran$prior, celltype = as.character(veteran$celltype))
mm <- model.matrix(~ celltype, data = veteran)[, -1]
colnames(mm) <- c("ct_smallcell", "ct_adeno", "ct_large")
vet <- cbind(vet, mm)
mg <- na.omit(data.frame(futime = mgus2$futime, death = mgus2$death, age = mgus2$age,
                         male = as.integer(mgus2$sex == "M"), hgb = mgus2$hgb,
                         creat = mgus2$creat,
                         etime = with(mgus2, ifelse(pstat == 0, futime, ptime)),
                         event = with(mgus2, ifelse(pstat == 0, 2 * death, 1))))
mg$old <- as.integer(mg$age > 70)
hrt <- data.frame(start = heart$start, stop = heart$stop, event = heart$event,
                  age = heart$age, year = heart$year, surgery = heart$surgery,
                  transplant = as.integer(as.character(heart$transplant)))
write_output("lung", lung2); write_output("vet", vet); write_output("mg", mg)
write_output("hrt", hrt)

km_out <- function(tag, fit) {
  for (ct in c("plain", "log", "log-log")) {
    f <- update(fit, conf.type = ct)
    write_output(paste0("km_", tag, "_", gsub("-", "", ct)), data.frame(
      time = f$time, n_risk = f$n.risk, n_event = f$n.event, n_censor = f$n.censor,
      surv = f$surv, std_err = f$std.err, lower = f$lower, upper = f$upper))
  }
}
km_out("mgus2", survfit(Surv(futime, death) ~ 1, data = mg))
km_out("heart", survfit(Surv(start, stop, event) ~ 1, data = hrt))
sm <- survfit(Surv(start, stop, event) ~ transplant, data = hrt)
for (lv in 0:1) {
  f <- sm[lv + 1]
  write_output(paste0("km_heart_tx", lv), data.frame(time = f$time, n_risk = f$n.risk,
    n_event = f$n.event, surv = f$surv, std_err = f$std.err))
}

sd_out <- function(tag, s) {
  o <- if (is.matrix(s$obs)) rowSums(s$obs) else s$obs
  e <- if (is.matrix(s$exp)) rowSums(s$exp) else s$exp
  write_output(paste0("sd_", tag), data.frame(obs = o, exp = e, chisq = s$chisq,
    df = length(o) - 1))
  write_output(paste0("sdvar_", tag), as.data.frame(s$var))
}
sd_out("vet_celltype", survdiff(Surv(time, status) ~ celltype, data = vet))
sd_out("vet_trt_strata", survdiff(Surv(time, status) ~ trt + strata(celltype), data = vet))
sd_out("lung_sex_strata", survdiff(Surv(time, status) ~ sex + strata(ecog), data = lung2))
sd_out("mg_sex", survdiff(Surv(futime, death) ~ male, data = mg))

cx_out <- function(tag, fit) {
  write_output(paste0("cx_", tag), data.frame(coef = unname(coef(fit)),
    se = unname(sqrt(diag(vcov(fit)))), ll0 = fit$loglik[1], ll = fit$loglik[2],
    score = fit$score, wald = fit$wald.test))
}
zph_out <- function(tag, fit, transform = "km") {
  z <- cox.zph(fit, transform = transform)
  write_output(paste0("zph_", tag), data.frame(term = rownames(z$table),
    chisq = z$table[, "chisq"], df = z$table[, "df"], p = z$table[, "p"]))
}
f <- coxph(Surv(time, status) ~ age + sex + ecog + wt, data = lung2)
cx_out("lung_efron", f)
for (tr in c("km", "identity", "rank", "log")) zph_out(paste0("lung_", tr), f, tr)
f <- coxph(Surv(time, status) ~ age + sex + ecog + wt, data = lung2, ties = "breslow")
cx_out("lung_breslow", f); zph_out("lung_breslow", f)
f <- coxph(Surv(time, status) ~ trt + karno + diagtime + age + prior + celltype, data = veteran)
cx_out("vet", f); zph_out("vet", f)
f <- coxph(Surv(time, status) ~ trt + karno + age + strata(celltype), data = vet)
cx_out("vet_strata", f); zph_out("vet_strata", f)
f <- coxph(Surv(futime, death) ~ age + male + hgb + creat, data = mg)
cx_out("mg", f); zph_out("mg", f)
f <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = hrt)
cx_out("heart", f)
f <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = hrt,
           ties = "breslow")
cx_out("heart_breslow", f)

ci_out <- function(tag, ci) {
  for (nm in names(ci)[names(ci) != "Tests"]) {
    write_output(paste0("ci_", tag, "__", gsub(" ", "_", nm)), data.frame(
      time = ci[[nm]]$time, est = ci[[nm]]$est, var = ci[[nm]]$var))
  }
  if (!is.null(ci$Tests)) write_output(paste0("gray_", tag), data.frame(
    cause = rownames(ci$Tests), stat = ci$Tests[, "stat"], pv = ci$Tests[, "pv"],
    df = ci$Tests[, "df"]))
}
ci_out("mg_sex", cuminc(mg$etime, mg$event, mg$male))
ci_out("mg_sex_strata", cuminc(mg$etime, mg$event, mg$male, strata = mg$old))
ci_out("mg_all", cuminc(mg$etime, mg$event))
ci_out("mg_sex_rho", cuminc(mg$etime, mg$event, mg$male, rho = 1))
tp <- timepoints(cuminc(mg$etime, mg$event, mg$male), c(12, 60, 120, 300, 500))
write_output("tp_est", as.data.frame(tp$est)); write_output("tp_var", as.data.frame(tp$var))
"""


@pytest.fixture(scope="module")
def rd(cmprsk_available) -> dict[str, pd.DataFrame]:
    return run_r(R_DATASETS)


def _check_km(km: sv.KaplanMeier, r: pd.DataFrame, conf_type: str, label: str) -> None:
    same(km.time, r["time"], "KM time")
    same(km.n_risk, r["n_risk"], "KM n.risk")
    same(km.n_event, r["n_event"], "KM n.event")
    same(km.surv, r["surv"], f"KM surv ({label})")
    se = np.where(np.isinf(r["std_err"]), np.nan, r["std_err"])
    same(km.std_err, se, "KM std.err")
    lo, hi = km.confidence_interval(conf_type)
    same(lo, r["lower"], f"KM lower, {conf_type}")
    same(hi, r["upper"], f"KM upper, {conf_type}")


@pytest.mark.parametrize("conf_type", sv.CONF_TYPES)
def test_km_mgus2_and_counting_process_heart(rd, conf_type):
    ct = conf_type.replace("-", "")
    mg, hrt = rd["mg"], rd["hrt"]
    _check_km(sv.kaplan_meier(mg["futime"], mg["death"]), rd[f"km_mgus2_{ct}"], conf_type,
              "mgus2")
    _check_km(sv.kaplan_meier_counting(hrt["start"], hrt["stop"], hrt["event"]),
              rd[f"km_heart_{ct}"], conf_type, "heart, counting process")


def test_km_counting_process_by_time_dependent_group_heart(rd):
    """Simon–Makuch type curves: survfit(Surv(start, stop, event) ~ transplant)."""
    hrt = rd["hrt"]
    for lv in (0, 1):
        sel = hrt["transplant"] == lv
        km = sv.kaplan_meier_counting(hrt["start"][sel], hrt["stop"][sel], hrt["event"][sel])
        r = rd[f"km_heart_tx{lv}"]
        same(km.time, r["time"], "KM time")
        same(km.n_risk, r["n_risk"], "KM n.risk")
        same(km.surv, r["surv"], "KM surv (heart by transplant)")
        same(km.std_err, np.where(np.isinf(r["std_err"]), np.nan, r["std_err"]), "KM std.err")


@pytest.mark.parametrize("tag, data, time, event, group, strata", [
    ("vet_celltype", "vet", "time", "status", "celltype", None),
    ("vet_trt_strata", "vet", "time", "status", "trt", "celltype"),
    ("lung_sex_strata", "lung", "time", "status", "sex", "ecog"),
    ("mg_sex", "mg", "futime", "death", "male", None),
])
def test_survdiff_r_datasets(rd, tag, data, time, event, group, strata):
    d = rd[data]
    # celltype is passed to R as character, so both sides order its levels alphabetically
    res = sv.survdiff(d[time], d[event], d[group], strata=None if strata is None else d[strata])
    r = rd[f"sd_{tag}"]
    same(res.observed, r["obs"], "log-rank observed")
    same(res.expected, r["exp"], "log-rank expected")
    same(res.variance, rd[f"sdvar_{tag}"].to_numpy(), "log-rank variance")
    same([res.chi2], [r["chisq"][0]], "log-rank chi-square")
    assert res.df == r["df"][0]


def _check_cox(fit: cox.CoxFit, r: pd.DataFrame) -> None:
    same(fit.coef, r["coef"], "Cox coef")
    same(fit.se, r["se"], "Cox se")
    same([fit.loglik_null, fit.loglik], [r["ll0"][0], r["ll"][0]], "Cox log-likelihood")
    same([fit.score_test], [r["score"][0]], "Cox score test")
    same([fit.wald_test()[0]], [r["wald"][0]], "Cox Wald test")


def _check_zph(z: pd.DataFrame, r: pd.DataFrame) -> None:
    assert z["term"].tolist() == r["term"].tolist()
    same(z["chisq"], r["chisq"], "cox.zph chi-square")
    same(z["df"], r["df"], "cox.zph df")
    same(z["p"], r["p"], "cox.zph p")


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_lung(rd, ties):
    d = rd["lung"]
    fit = cox.coxph(d[["age", "sex", "ecog", "wt"]], d["time"], d["status"], ties=ties)
    _check_cox(fit, rd[f"cx_lung_{ties}"])
    if ties == "efron":
        for tr in ("km", "identity", "rank", "log"):
            _check_zph(cox.cox_zph(fit, transform=tr), rd[f"zph_lung_{tr}"])
    else:
        _check_zph(cox.cox_zph(fit), rd["zph_lung_breslow"])


def test_cox_veteran_factor_term_and_strata(rd):
    d = rd["vet"]
    cols = ["trt", "karno", "diagtime", "age", "prior", "ct_smallcell", "ct_adeno", "ct_large"]
    terms = {c: [c] for c in cols[:5]}
    terms["celltype"] = cols[5:]
    fit = cox.coxph(d[cols], d["time"], d["status"], terms=terms)
    _check_cox(fit, rd["cx_vet"])
    _check_zph(cox.cox_zph(fit), rd["zph_vet"])  # celltype: one term with 3 df
    fit = cox.coxph(d[["trt", "karno", "age"]], d["time"], d["status"], strata=d["celltype"])
    _check_cox(fit, rd["cx_vet_strata"])
    _check_zph(cox.cox_zph(fit), rd["zph_vet_strata"])


def test_cox_mgus2(rd):
    d = rd["mg"]
    fit = cox.coxph(d[["age", "male", "hgb", "creat"]], d["futime"], d["death"])
    _check_cox(fit, rd["cx_mg"])
    _check_zph(cox.cox_zph(fit), rd["zph_mg"])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_counting_process_heart(rd, ties):
    d = rd["hrt"]
    fit = cox.coxph(d[["age", "year", "surgery", "transplant"]], d["stop"], d["event"],
                    start=d["start"], ties=ties)
    _check_cox(fit, rd["cx_heart" if ties == "efron" else "cx_heart_breslow"])


def _check_cuminc(res: cr.CumIncResult, rd: dict, tag: str, label: str) -> None:
    for (g, c), curve in res.curves.items():
        gname = f"{int(g)}" if isinstance(g, (int, float, np.integer, np.floating)) else g
        r = rd[f"ci_{tag}__{gname}_{int(c)}"]
        x, f, v = curve.corners()
        same(x, r["time"], "cuminc time")
        same(f, r["est"], f"cuminc estimate ({label})")
        same(v, r["var"], f"cuminc variance ({label})")


def test_cuminc_mgus2(rd):
    d = rd["mg"]
    _check_cuminc(cr.cuminc(d["etime"], d["event"], d["male"]), rd, "mg_sex", "mgus2")
    res = cr.cuminc(d["etime"], d["event"])
    for (g, c), curve in res.curves.items():
        r = rd[f"ci_mg_all__1_{int(c)}"]
        x, f, v = curve.corners()
        same(f, r["est"], "cuminc estimate (mgus2)")
        same(v, r["var"], "cuminc variance (mgus2)")


def test_cuminc_timepoints_mgus2(rd):
    d = rd["mg"]
    res = cr.cuminc(d["etime"], d["event"], d["male"])
    times = [12, 60, 120, 300, 500]
    est = np.vstack([res.curves[k].at(times)[0] for k in res.curves])
    var = np.vstack([res.curves[k].at(times)[1] for k in res.curves])
    # cmprsk orders the curves cause-major (all groups of cause 1, then cause 2), as here
    same(est, rd["tp_est"].to_numpy(), "cuminc estimate (timepoints)")
    same(var, rd["tp_var"].to_numpy(), "cuminc variance (timepoints)")


@pytest.mark.parametrize("tag, strata, rho", [("mg_sex", False, 0.0),
                                              ("mg_sex_strata", True, 0.0),
                                              ("mg_sex_rho", False, 1.0)])
def test_gray_test_mgus2(rd, tag, strata, rho):
    d = rd["mg"]
    res = cr.cuminc(d["etime"], d["event"], d["male"],
                    strata=d["old"] if strata else None, rho=rho)
    r = rd[f"gray_{tag}"]
    tf = res.tests_frame()
    same(tf["stat"], r["stat"], "Gray statistic")
    same(tf["pv"], r["pv"], "Gray p")
    same(tf["df"], r["df"], "Gray df")
    if not strata:
        _check_cuminc(res, rd, tag, "mgus2")


# ==========================================================================================
# The shipped synthetic cohort (and a larger generated one)
# ==========================================================================================

R_COHORT = r"""
library(survival); library(cmprsk)
out_km <- function(tag, fit) {
  for (ct in c("plain", "log", "log-log")) {
    f <- update(fit, conf.type = ct)
    write_output(paste0("km_", tag, "_", gsub("-", "", ct)), data.frame(
      time = f$time, n_risk = f$n.risk, n_event = f$n.event, n_censor = f$n.censor,
      surv = f$surv, std_err = f$std.err, lower = f$lower, upper = f$upper))
    s <- summary(f, times = c(12, 24, 36, 60))
    write_output(paste0("kmt_", tag, "_", gsub("-", "", ct)), data.frame(
      time = s$time, n_risk = s$n.risk, surv = s$surv, lower = s$lower, upper = s$upper))
    tab <- summary(f)$table
    write_output(paste0("kmm_", tag, "_", gsub("-", "", ct)), data.frame(
      median = unname(tab["median"]), lcl = unname(tab["0.95LCL"]),
      ucl = unname(tab["0.95UCL"])))
  }
}
for (e in c("os", "lfs")) {
  tt <- ep[[paste0(e, "_time")]]; ev <- ep[[paste0(e, "_event")]]
  out_km(e, survfit(Surv(tt, ev) ~ 1))
  s <- survdiff(Surv(tt, ev) ~ ep$hsct + strata(ep$pre_stratum))
  write_output(paste0("sd_", e), data.frame(chisq = s$chisq))
  s <- survdiff(Surv(tt, ev) ~ ep$pre_stratum)
  write_output(paste0("sd4_", e), data.frame(chisq = s$chisq))
  # univariate Cox on every term (a factor's indicator columns together)
  uni <- do.call(rbind, lapply(term_cols$cols, function(cc) {
    x <- strsplit(cc, ",")[[1]]
    f <- suppressWarnings(coxph(as.formula(paste("Surv(tt, ev) ~", paste(x, collapse = "+"))),
                                data = ep))
    data.frame(col = x, coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))),
               ll = f$loglik[2])
  }))
  write_output(paste0("uni_", e), uni)
  sel <- strsplit(sel_cols[[e]][1], ",")[[1]]
  f <- coxph(as.formula(paste("Surv(tt, ev) ~", paste(sel, collapse = " + "))), data = ep)
  write_output(paste0("mv_", e), data.frame(coef = unname(coef(f)),
    se = unname(sqrt(diag(vcov(f)))), ll0 = f$loglik[1], ll = f$loglik[2], score = f$score,
    wald = f$wald.test))
  z <- cox.zph(f)
  write_output(paste0("zph_", e), data.frame(term = rownames(z$table),
    chisq = z$table[, "chisq"], df = z$table[, "df"], p = z$table[, "p"]))
  # HSCT: fixed, time-dependent (tmerge), landmark at 6 months
  base <- data.frame(id = seq_len(nrow(ep)), tt = tt, ev = ev,
                     ht = ifelse(is.na(ep$hsct_time), NA, ep$hsct_time))
  td <- tmerge(base[, c("id", "tt")], base, id = id, death = event(tt, ev),
               hsct = tdc(ht))
  write_output(paste0("tmerge_", e), data.frame(id = td$id, start = td$tstart,
    stop = td$tstop, event = td$death, exposed = td$hsct))
  f1 <- coxph(Surv(tt, ev) ~ as.integer(!is.na(ep$hsct_time)))
  f2 <- coxph(Surv(tstart, tstop, death) ~ hsct, data = td)
  lm <- tt > 6
  f3 <- coxph(Surv(tt[lm] - 6, ev[lm]) ~ as.integer(!is.na(base$ht[lm]) & base$ht[lm] <= 6))
  write_output(paste0("hsct_", e), data.frame(analysis = c("fixed", "time-dependent",
    "landmark"), coef = c(coef(f1), coef(f2), coef(f3)),
    se = c(sqrt(vcov(f1)), sqrt(vcov(f2)), sqrt(vcov(f3)))))
  sm <- survfit(Surv(tstart, tstop, death) ~ hsct, data = td)
  for (lv in 0:1) {
    s1 <- sm[lv + 1]
    write_output(paste0("sm_", e, lv), data.frame(time = s1$time, n_risk = s1$n.risk,
      surv = s1$surv, std_err = s1$std.err))
  }
}
ci <- cuminc(ep$cr_time, ep$cr_status, ep$hsct)
for (nm in names(ci)[names(ci) != "Tests"]) write_output(paste0("ci__", gsub(" ", "_", nm)),
  data.frame(time = ci[[nm]]$time, est = ci[[nm]]$est, var = ci[[nm]]$var))
write_output("gray", data.frame(stat = ci$Tests[, "stat"], pv = ci$Tests[, "pv"]))
ci <- cuminc(ep$cr_time, ep$cr_status, ep$pre_stratum, strata = ep$genetic)
write_output("gray4", data.frame(stat = ci$Tests[, "stat"], pv = ci$Tests[, "pv"]))
"""


def _cohort_inputs(patients: pd.DataFrame, kinetics: pd.DataFrame):
    ep = survival_analyses.endpoints(patients)
    design = survival_analyses.candidate_covariates(patients, kinetics)
    names = {c: f"x{i + 1}" for i, c in enumerate(design.frame.columns)}
    X = design.frame.rename(columns=names)
    frame = pd.concat([ep.drop(columns=["patient_id"]), X], axis=1)
    frame["hsct"] = frame["hsct"].astype(int)
    frame["pre_stratum"] = pd.factorize(
        pd.cut(patients["mrd_pre_ld"], [-np.inf, 1e-4, 1e-3, 1e-2, np.inf], right=False),
        sort=True)[0]
    frame["genetic"] = (patients["genetic_risk"] == "high").astype(int).to_numpy()
    screens, sel = {}, {}
    for e in ("os", "lfs"):
        screens[e] = survival_analyses.univariate_screen(design, ep[f"{e}_time"], ep[f"{e}_event"])
        terms = survival_analyses.select_terms(screens[e])
        sel[e] = [names[c] for t in terms for c in design.terms[t]]
    sel_cols = pd.DataFrame({"os": [",".join(sel["os"])], "lfs": [",".join(sel["lfs"])]})
    term_cols = pd.DataFrame({"cols": [",".join(names[c] for c in cols)
                                       for cols in design.terms.values()]})
    return ep, design, names, frame, screens, sel, sel_cols, term_cols


@pytest.fixture(scope="module")
def cohort(cmprsk_available):
    data = load_dataset(ROOT / "data" / "synthetic")
    p, k = data.tables["patients"], data.tables["kinetics"]
    ep, design, names, frame, screens, sel, sel_cols, term_cols = _cohort_inputs(p, k)
    r = run_r(R_COHORT, {"ep": frame, "sel_cols": sel_cols, "term_cols": term_cols})
    return dict(ep=ep, design=design, names=names, frame=frame, screens=screens, sel=sel, r=r)


@pytest.mark.parametrize("end_point", ["os", "lfs"])
@pytest.mark.parametrize("conf_type", sv.CONF_TYPES)
def test_cohort_km(cohort, end_point, conf_type):
    ep, r = cohort["ep"], cohort["r"]
    ct = conf_type.replace("-", "")
    km = sv.kaplan_meier(ep[f"{end_point}_time"], ep[f"{end_point}_event"])
    _check_km(km, r[f"km_{end_point}_{ct}"], conf_type, "synthetic cohort")
    tab = sv.survival_table(km, [12, 24, 36, 60], conf_type)
    rt = r[f"kmt_{end_point}_{ct}"]
    same(tab["n_risk"], rt["n_risk"], "KM n.risk at times")
    same(tab["surv"], rt["surv"], "KM surv at 1, 2, 3, 5 years")
    same(tab["lower"], rt["lower"], f"KM lower, {conf_type}")
    same(tab["upper"], rt["upper"], f"KM upper, {conf_type}")
    med = km.median(conf_type)
    rm = r[f"kmm_{end_point}_{ct}"].iloc[0]
    same([med.estimate, med.lower, med.upper], [rm["median"], rm["lcl"], rm["ucl"]],
         "KM median and limits")


@pytest.mark.parametrize("end_point", ["os", "lfs"])
def test_cohort_logrank(cohort, end_point):
    f, r = cohort["frame"], cohort["r"]
    t, e = f[f"{end_point}_time"], f[f"{end_point}_event"]
    res = sv.survdiff(t, e, f["hsct"], strata=f["pre_stratum"])
    same([res.chi2], r[f"sd_{end_point}"]["chisq"], "log-rank chi-square")
    res = sv.survdiff(t, e, f["pre_stratum"])
    same([res.chi2], r[f"sd4_{end_point}"]["chisq"], "log-rank chi-square")


@pytest.mark.parametrize("end_point", ["os", "lfs"])
def test_cohort_univariate_cox(cohort, end_point):
    scr, r = cohort["screens"][end_point], cohort["r"][f"uni_{end_point}"]
    names = cohort["names"]
    r = r.set_index("col")
    for row in scr.itertuples():
        x = names[row.column]
        if scr.loc[scr["term"] == row.term, "infinite"].any():
            continue  # monotone likelihood: no finite estimate to compare (module docstring)
        same([np.log(row.hr)], [r.loc[x, "coef"]], "Cox coef")
    # standard errors through the width of the Wald interval
    for row in scr.itertuples():
        if row.infinite:
            continue
        se = (np.log(row.upper) - np.log(row.lower)) / (2 * 1.959963984540054)
        same([se], [r.loc[names[row.column], "se"]], "Cox se")


@pytest.mark.parametrize("end_point", ["os", "lfs"])
def test_cohort_multivariable_cox_and_zph(cohort, end_point):
    ep, design, r = cohort["ep"], cohort["design"], cohort["r"]
    terms = survival_analyses.select_terms(cohort["screens"][end_point])
    fit = survival_analyses.multivariable_cox(design, terms, ep[f"{end_point}_time"],
                                ep[f"{end_point}_event"])
    _check_cox(fit, r[f"mv_{end_point}"])
    z = cox.cox_zph(fit)
    rz = r[f"zph_{end_point}"]
    same(z["chisq"], rz["chisq"], "cox.zph chi-square")
    same(z["p"], rz["p"], "cox.zph p")


@pytest.mark.parametrize("end_point", ["os", "lfs"])
def test_cohort_hsct_time_dependent_landmark_and_simon_makuch(cohort, end_point):
    ep, r = cohort["ep"], cohort["r"]
    t, e = ep[f"{end_point}_time"], ep[f"{end_point}_event"]
    sp = sv.split_at(t, e, ep["hsct_time"], ids=np.arange(1, len(ep) + 1))
    tm = r[f"tmerge_{end_point}"]
    same(sp["id"], tm["id"], "tmerge rows")
    same(sp["start"], tm["start"], "tmerge rows")
    same(sp["stop"], tm["stop"], "tmerge rows")
    same(sp["event"], tm["event"], "tmerge rows")
    same(sp["exposed"], tm["exposed"], "tmerge rows")
    tab = survival_analyses.hsct_effect(t, e, ep["hsct_time"], landmarks=[6.0]).set_index("analysis")
    rh = r[f"hsct_{end_point}"].set_index("analysis")
    for a in ("fixed", "time-dependent", "landmark"):
        same([np.log(tab.loc[a, "hr"])], [rh.loc[a, "coef"]], "Cox coef (HSCT analyses)")
        se = (np.log(tab.loc[a, "upper"]) - np.log(tab.loc[a, "lower"])) / (2 * 1.959963984540054)
        same([se], [rh.loc[a, "se"]], "Cox se (HSCT analyses)")
    for lv in (0, 1):
        rows = sp[sp["exposed"] == lv]
        km = sv.kaplan_meier_counting(rows["start"], rows["stop"], rows["event"])
        rs = r[f"sm_{end_point}{lv}"]
        same(km.time, rs["time"], "KM time")
        same(km.n_risk, rs["n_risk"], "KM n.risk")
        same(km.surv, rs["surv"], "KM surv (Simon–Makuch)")


def test_cohort_cuminc_and_gray(cohort):
    f, r = cohort["frame"], cohort["r"]
    res = cr.cuminc(f["cr_time"], f["cr_status"], f["hsct"])
    for (g, c), curve in res.curves.items():
        rc = r[f"ci__{int(g)}_{int(c)}"]
        x, est, var = curve.corners()
        same(x, rc["time"], "cuminc time")
        same(est, rc["est"], "cuminc estimate (synthetic cohort)")
        same(var, rc["var"], "cuminc variance (synthetic cohort)")
    same(res.tests_frame()["stat"], r["gray"]["stat"], "Gray statistic")
    same(res.tests_frame()["pv"], r["gray"]["pv"], "Gray p")
    res4 = cr.cuminc(f["cr_time"], f["cr_status"], f["pre_stratum"], strata=f["genetic"])
    same(res4.tests_frame()["stat"], r["gray4"]["stat"], "Gray statistic")
