"""A clearly labelled SYNTHETIC cohort that matches the published aggregates of the study.

The patient-level data of Wang et al. (2025) are not public. This module builds a cohort of
made-up patients whose counts, medians and ranges match what the paper reports, so that every
analysis in the project can run end to end. **No row describes a real patient.** The files
written by :func:`write_cohort` say so in their metadata (``# synthetic: true``) and in a
``README.md``.

Reference
---------
Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509. doi:10.3389/fimmu.2025.1672509
(cited below as "the paper"; "Results" means its Results section).

How the cohort is built
-----------------------
Reconstruction from aggregates only (no microdata), following the recipe in the project's
notes:

* **Exact counts.** Every published count (sex, age group, enrolment reason, MRD strata,
  day-28 response, toxicities, relapse, HSCT, ...) is met exactly for ``n = 50``. For another
  ``n`` each count vector is scaled by ``n / 50`` with largest-remainder (Hamilton) rounding
  (:func:`scale_counts`), so the scaled counts still add up to ``n``.
* **Who has an event.** When an event should be associated with covariates (severe CRS with
  pre-lymphodepletion MRD and dose, relapse with male sex and short B-cell aplasia, ...), the
  exact number of patients is drawn by weighted sampling without replacement with the
  Gumbel-top-k trick (Kool W, van Hoof H, Welling M (2019). Stochastic beams and where to
  find them. ICML; equivalently Efraimidis PS, Spirakis PG (2006). Inf. Process. Lett.
  97:181-185). The order of the Gumbel keys is a Plackett-Luce ranking, which is exactly the
  order of exponential event times with rates proportional to the weights, i.e. the order in
  which events happen under proportional hazards (Bender R, Augustin T, Blettner M (2005).
  Generating survival times to simulate Cox proportional hazards models. Stat. Med.
  24:1713-1723). Event times are therefore handed out in key order: the patient with the
  largest key relapses first. The log-weights are therefore log relative hazards; they are
  the ``*_logw_*`` fields of :class:`SyntheticParams`.
* **Medians and ranges.** Continuous variables whose median and range are published are drawn
  as a sorted sample whose minimum, median and maximum are pinned to the published values and
  whose other order statistics are drawn between the pins (a stratified version of Wan X,
  Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation from the
  sample size, median, range and/or interquartile range. BMC Med. Res. Methodol. 14:135).
* **Correlations.** Where only a correlation is published (BCA duration with CAR-T
  persistence, Spearman 0.570), values are assigned by the ranks of a latent normal score,
  with the latent correlation chosen on a grid so the realised correlation is nearest the
  published one. Pre- and post-lymphodepletion MRD strata are rank-correlated the same way
  (a Gaussian copula on ranks).
* **CAR-T kinetics.** Each patient's transgene profile follows the piecewise model of Stein
  AM, Grupp SA, Levine JE, et al. (2019). Tisagenlecleucel model-based cellular kinetic
  analysis of chimeric antigen receptor-T cells. CPT Pharmacometrics Syst. Pharmacol.
  8:285-295, with log-normal between-patient variability and log-normal residual error,
  sampled on the paper's schedule (Methods, "Pharmacokinetics of CAR-T cells") with the
  paper's stopping rule (two consecutive results below the LLOQ of 100 copies/µg DNA).
  Its parameters are tuned so that the cohort's Cmax, Tmax and Tlast resemble the paper's
  (Results, "PK of CAR-T cells"; Table 3); random effects are Latin-hypercube samples, and
  one common factor scales the profiles so that the observed median Cmax is the published
  30,860 copies/µg.

Randomness comes only from ``numpy.random.default_rng(seed)`` (independent child streams, one
per block of variables, via ``Generator.spawn``), never from global state; the output is a
pure function of ``(n, seed, params)``. Calendar dates are used internally to place
infusions in the enrolment window and to censor at the data cut-off; they are never output.

:func:`generate_cohort` runs the named stages of :mod:`analysis_lib.synthetic.stages` in the
order of the design, then :func:`assemble_cohort`; the parameters are in
:mod:`analysis_lib.synthetic.params`, the sampling primitives in
:mod:`analysis_lib.synthetic.sampling`; this module also writes the files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.io import atomic_write_bytes, write_table
from ..data.schema import (
    CD19_STATUS,
    D28_RESPONSES,
    DEATH_CAUSES,
    ENROLMENT_REASONS,
    GENETIC_RISK,
    KINETICS,
    LD_REGIMENS,
    PATIENTS,
    SEX,
    TableSchema,
)
from .params import PUBLISHED_N, SyntheticParams
from .sampling import scale_counts
from .stages import (Baseline, Bca, FollowUp, Hsct, Il6, Kinetics, Mrd, Relapse, Response,
                     Toxicity, censor_bca, draw_baseline, draw_bca, draw_death, draw_enrolment,
                     draw_hsct, draw_il6, draw_kinetics, draw_mrd, draw_relapse, draw_response,
                     draw_toxicity, spawn_streams, stein_concentration)

__all__ = [
    "DEFAULT_SEED", "PUBLISHED_N", "SyntheticParams", "SyntheticCohort", "generate_cohort",
    "assemble_cohort", "write_cohort", "scale_counts", "patient_ids", "stein_concentration",
    "params_dict",
]

#: Seed of the shipped synthetic cohort: of the best seeds of 1..3000 by standardised
#: distance to the calibration targets (``cartbook calibrate --stage seeds``;
#: data/calibration/seed_search.csv), the one whose scorecard reproduces the most published
#: results (``cartbook calibrate --stage scorecard``; data/calibration/scorecard_search.csv).
DEFAULT_SEED: int = 2209

#: Regeneration command printed in the README (the CLI lives in :mod:`analysis_lib.cli`).
REGENERATE_COMMAND: str = "cartbook generate --out data/synthetic"


@dataclass
class SyntheticCohort:
    """A generated cohort: the two input tables, typed as :mod:`analysis_lib.data.schema` says.

    Attributes
    ----------
    patients : pandas.DataFrame
        One row per patient, the columns of ``schema.PATIENTS`` in order.
    kinetics : pandas.DataFrame
        One row per blood sample, the columns of ``schema.KINETICS`` in order, sorted by
        ``patient_id`` then ``day``.
    metadata : dict of str to str
        File metadata (``synthetic``, ``description``, ``generator``, ``seed``,
        ``n_patients``); :func:`write_cohort` adds ``table``.
    """
    patients: pd.DataFrame
    kinetics: pd.DataFrame
    metadata: dict[str, str] = field(default_factory=dict)


def patient_ids(n: int) -> np.ndarray:
    """Pseudonymous codes ``SYN-001`` ... zero-padded to the width of ``n`` (at least 3).

    Codes never hold six or more consecutive digits (which look like record numbers): from
    six digits on, the number is written in groups of three (``SYN-100-000``).

    Returns
    -------
    numpy.ndarray of object (str)
    """
    width = max(3, len(str(n)))
    nums = [f"{i:0{width}d}" for i in range(1, n + 1)]
    if width >= 6:
        def group(s: str) -> str:
            head = len(s) % 3
            parts = ([s[:head]] if head else []) + [s[i:i + 3] for i in range(head, len(s), 3)]
            return "-".join(parts)
        nums = [group(s) for s in nums]
    return np.array([f"SYN-{s}" for s in nums], dtype=object)


# ============================================================================================
# The generator: a pipeline of named stages (analysis_lib.synthetic.stages)
# ============================================================================================

def generate_cohort(n: int = PUBLISHED_N, seed: int = DEFAULT_SEED,
                    params: SyntheticParams | None = None) -> SyntheticCohort:
    """Generate a SYNTHETIC cohort of ``n`` patients matching the paper's aggregates.

    For ``n = 50`` every published count, and the published medians and ranges of dose,
    diagnosis-to-infusion interval, nadir ANC, IL-6 peak, BCA duration, HSCT timing and
    relapse timing, are met exactly (see :class:`SyntheticParams` for the sources). For other
    ``n`` the counts are scaled with :func:`scale_counts` and the medians and ranges are met
    approximately. The stages of :mod:`analysis_lib.synthetic.stages` run in the order of the
    design, each drawing from its own random stream.

    Parameters
    ----------
    n : int
        Number of patients (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng``; the output is a pure function of
        ``(n, seed, params)``.
    params : SyntheticParams, optional
        Model parameters; the documented defaults when omitted.

    Returns
    -------
    SyntheticCohort
        Typed ``patients`` and ``kinetics`` frames (columns and dtypes as in
        :mod:`analysis_lib.data.schema`) and the file metadata.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    p = params or SyntheticParams()
    rng = spawn_streams(seed)
    base = draw_baseline(rng["baseline"], p, n)
    admin_fu = draw_enrolment(rng["accrual"], p, n)
    mrd = draw_mrd(rng["mrd"], p, base)
    resp = draw_response(rng["response"], p, mrd)
    tox = draw_toxicity(rng["toxicity"], p, base, mrd)
    il6 = draw_il6(rng["il6"], p, mrd, tox)
    kin = draw_kinetics(rng["kinetics"], p, mrd, resp, tox)
    bca = draw_bca(rng["bca"], p, resp, kin)
    rel = draw_relapse(rng["relapse"], p, base, mrd, resp, bca)
    hsct = draw_hsct(rng["hsct"], p, base, resp, rel, kin)
    fu = draw_death(rng["death"], p, mrd, resp, rel, hsct, admin_fu)
    bca = censor_bca(rng["bca"], p, bca, rel, hsct, fu)
    return assemble_cohort(seed, p, base, mrd, resp, tox, il6, kin, bca, rel, hsct, fu)


def assemble_cohort(seed: int, p: SyntheticParams, base: Baseline, mrd: Mrd, resp: Response,
                    tox: Toxicity, il6: Il6, kin: Kinetics, bca: Bca, rel: Relapse, hsct: Hsct,
                    fu: FollowUp) -> SyntheticCohort:
    """Final stage: the stages' draws as the two typed tables and their file metadata.

    The kinetics are cut at each patient's last follow-up (no sample after death or the
    cut-off); codes become the categories of :mod:`analysis_lib.data.schema`; columns that do
    not apply are missing (for example ``hsct_day`` without HSCT, ``gvhd`` without prior HSCT:
    P: no patient with a prior transplant developed GVHD). No random number is drawn.
    """
    n = len(base.sex)
    kept = kin.kept & (kin.days[None, :] <= fu.last[:, None])
    rows, cols = np.nonzero(kept)
    ids = patient_ids(n)
    kinetics = _frame(KINETICS, {
        "patient_id": (ids[rows], None),
        "day": (kin.days[cols].astype(float), None),
        "copies_per_ug_dna": (kin.conc[rows, cols], None),
        "below_lloq": (kin.blq[rows, cols], None),
        "lloq_copies_per_ug_dna": (np.full(len(rows), float(p.lloq)), None),
    })

    def cat(levels: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
        return np.array(levels, dtype=object)[codes]

    patients = _frame(PATIENTS, {
        "patient_id": (ids, None),
        "sex": (cat(SEX, base.sex), None),
        "age_years": (base.age, None),
        "genetic_risk": (cat(GENETIC_RISK, base.genetic), None),
        "enrolment_reason": (cat(ENROLMENT_REASONS, base.reason), None),
        "prior_hsct": (base.prior_hsct, None),
        "prior_cart": (base.prior_cart, None),
        "diagnosis_to_infusion_days": (base.diag_days, None),
        "ld_regimen": (np.full(n, LD_REGIMENS[0], dtype=object), None),
        "ld_start_day": (np.full(n, -5, dtype=np.int64), None),
        "cart_dose_1e6_per_kg": (base.dose, None),
        "mrd_pre_ld": (mrd.pre, None),
        "mrd_post_ld": (mrd.post, None),
        "d28_response": (cat(D28_RESPONSES, resp.code), None),
        "d28_mrd": (resp.d28_mrd, None),
        "crs_grade": (tox.crs, None),
        "icans_grade": (tox.icans, None),
        "tocilizumab": (tox.tocilizumab, None),
        "corticosteroids": (tox.steroids, None),
        "neutropenia_grade4": (tox.neutropenia, None),
        "anc_nadir_1e9_per_l": (tox.anc, None),
        "infection_bacterial": (tox.infection == 0, None),
        "infection_cmv": (tox.infection == 1, None),
        "infection_ebv": (tox.infection == 2, None),
        "infection_fungal": (tox.infection == 3, None),
        "hlh": (mrd.hlh, None),
        "gvhd": (np.zeros(n, dtype=bool), ~base.prior_hsct),
        "il6_elevated": (il6.elevated, None),
        "il6_peak_pg_per_ml": (il6.peak, None),
        "il6_peak_above_uloq": (il6.above_uloq, None),
        "il6_peak_day": (il6.peak_day, None),
        "bca": (bca.bca, None),
        "bca_onset_day": (bca.onset, ~bca.bca),
        "bca_duration_days": (np.where(bca.bca, bca.duration, np.nan), None),
        "bca_ongoing": (bca.ongoing, ~bca.bca),
        "hsct_after": (hsct.hsct, None),
        "hsct_day": (hsct.day, ~hsct.hsct),
        "relapse": (rel.relapse, None),
        "relapse_day": (rel.day, ~rel.relapse),
        "relapse_cd19": (np.where(rel.cd19neg, CD19_STATUS[0], np.where(
            rel.cd19pos, CD19_STATUS[1], None)).astype(object), None),
        "death": (fu.death, None),
        "death_day": (fu.day, ~fu.death),
        "death_cause": (np.where(fu.death, cat(DEATH_CAUSES, np.maximum(fu.cause, 0)),
                                 None).astype(object), None),
        "last_followup_day": (fu.last, None),
    })

    metadata = {
        "synthetic": "true",
        "description": ("SYNTHETIC data generated to match the published aggregates of Wang et "
                        "al. 2025 (Front. Immunol. 16:1672509); not real patients"),
        "generator": "analysis_lib.synthetic.generator",
        "seed": str(int(seed)),
        "n_patients": str(int(n)),
    }
    return SyntheticCohort(patients=patients, kinetics=kinetics, metadata=metadata)


def _frame(schema: TableSchema, columns: dict[str, tuple[np.ndarray, np.ndarray | None]]
           ) -> pd.DataFrame:
    """Typed frame with ``schema``'s columns in order; ``(values, missing_mask)`` per column."""
    out: dict[str, object] = {}
    for f in schema.fields:
        values, missing = columns[f.name]
        values = np.asarray(values)
        miss = np.zeros(len(values), dtype=bool) if missing is None else np.asarray(missing, bool)
        if f.kind == "integer":
            out[f.name] = pd.arrays.IntegerArray(values.astype(np.int64), miss)
        elif f.kind == "number":
            v = values.astype(float).copy()
            v[miss] = np.nan
            out[f.name] = v
        elif f.kind == "boolean":
            out[f.name] = pd.arrays.BooleanArray(values.astype(bool), miss)
        else:
            v = values.astype(object).copy()
            v[miss] = None
            out[f.name] = pd.Series(v, dtype=object)
    return pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v)
                         for k, v in out.items()}, columns=schema.names)


# ============================================================================================
# Writing
# ============================================================================================

def _readme(cohort: SyntheticCohort) -> str:
    meta = cohort.metadata
    n, seed = meta.get("n_patients", "?"), meta.get("seed", "?")
    flags = ""
    if n != str(PUBLISHED_N) or seed != str(DEFAULT_SEED):
        flags = f" --n {n} --seed {seed}"
    return f"""# SYNTHETIC data: not real patients

The files in this directory (`patients.csv`, `kinetics.csv`) hold a **synthetic** cohort of
{n} made-up patients. They were generated by `analysis_lib.synthetic.generator` (seed {seed}) to match
the published aggregate results of:

Wang Y, Jia Y-p, Lu A-d, Zhang L-p, Xue Y-j, Zeng H-m (2025). Effective MRD clearance and
long-term survival with CD19 CAR-T in pediatric B-ALL patients with MRD positivity or
chemotherapy intolerance. Front. Immunol. 16:1672509. doi:10.3389/fimmu.2025.1672509

The study's patient-level data are not public. No row describes a real person, and results
computed from these files are not findings about patients: they only show that the analysis
runs and that it reproduces the aggregates the generator was built to match.

## How the data were made

- Published counts (sex, age group, enrolment reason, MRD strata, day-28 response,
  toxicities, relapse, HSCT) are met exactly for 50 patients and scaled with
  largest-remainder rounding for other cohort sizes. The number of deaths (not published)
  is chosen so that 5-year overall and leukaemia-free survival are near the published
  74.9 % and 67.8 %.
- Published medians and ranges (dose, diagnosis-to-infusion interval, nadir ANC, IL-6 peak,
  B-cell aplasia duration, time to HSCT and to relapse) are pinned; the other values are
  drawn between them.
- Who has an event is drawn by weighted sampling (for example severe CRS is more likely
  with pre-lymphodepletion MRD >= 1e-3 and a dose >= 3.68 x 10^6/kg; relapse with male sex
  and short B-cell aplasia).
- CAR-T transgene levels follow the piecewise cellular-kinetic model of Stein et al. (2019,
  CPT Pharmacometrics Syst Pharmacol 8:285-295), sampled on the paper's schedule and stopped
  after two consecutive results below the LLOQ (100 copies/ug DNA).
- Times are days from infusion; no calendar dates are stored.
- Calibration: parameters the paper does not give (log relative hazards, kinetic typical
  values) were fitted by least squares on a simulated population of 20,000, and the shipped
  50-patient cohort is the seed (of 3,000) closest to the published statistics. The record
  is in `data/calibration/` and the book's chapter "The synthetic cohort" shows the report;
  reproduce it with `cartbook calibrate --stage fit`, then `--stage seeds`.

Every file carries the metadata line `# synthetic: true`.

## Regenerate

```
{REGENERATE_COMMAND}{flags}
```

The output is a pure function of the cohort size and the seed: regenerating gives
byte-identical files.
"""


def write_cohort(cohort: SyntheticCohort, out_dir: Path) -> list[Path]:
    """Write ``patients.csv``, ``kinetics.csv`` and ``README.md`` to ``out_dir``.

    The CSV files start with ``# key: value`` metadata lines (``synthetic: true`` first) and
    are written by :func:`analysis_lib.data.io.write_table`; the output is byte-identical for the
    same cohort.

    Parameters
    ----------
    cohort : SyntheticCohort
        From :func:`generate_cohort`.
    out_dir : pathlib.Path
        Directory to write to (created if needed).

    Returns
    -------
    list of pathlib.Path
        The files written, in the order patients, kinetics, README.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ("synthetic", "description", "generator", "seed", "n_patients")
    base = {k: cohort.metadata[k] for k in keys if k in cohort.metadata}
    base["synthetic"] = "true"
    paths = []
    for schema, frame in ((PATIENTS, cohort.patients), (KINETICS, cohort.kinetics)):
        meta = {"synthetic": "true", **{k: v for k, v in base.items() if k != "synthetic"},
                "table": schema.name}
        paths.append(write_table(frame, out_dir / f"{schema.name}.csv", meta))
    readme = out_dir / "README.md"
    atomic_write_bytes(readme, _readme(cohort).encode("utf-8"))
    paths.append(readme)
    return paths


def params_dict(params: SyntheticParams | None = None) -> dict[str, object]:
    """The parameters as a plain dict (for provenance records)."""
    return asdict(params or SyntheticParams())


#: Origin labels of the parameter docstring markers.
ORIGINS = {"P:": "paper", "S:": "Stein et al. 2019", "C:": "modelling choice"}


def parameter_table(params: SyntheticParams | None = None,
                    fitted: Sequence[str] = ()) -> pd.DataFrame:
    """Every parameter with its value, origin and meaning, from :class:`SyntheticParams`.

    The origin is read from the attribute's docstring entry ("P:" paper, "S:" Stein et al.
    2019, "C:" modelling choice); names in ``fitted`` are marked "fitted (least squares)".
    """
    import re as _re

    p = params or SyntheticParams()
    doc = SyntheticParams.__doc__ or ""
    entries: dict[str, list[str]] = {}     # name -> [type, description]
    current: list[str] = []
    pending: list[str] = []                # a name list wrapped over several lines
    for line in doc.splitlines():
        head = _re.match(r"^    ([A-Za-z_*][\w*, ]*?)\s*:\s*(.*)$", line)
        wrapped = _re.match(r"^    ([A-Za-z_*][\w*, ]*,)\s*$", line)
        if wrapped and not line.startswith("     "):
            pending += [n.strip() for n in wrapped.group(1).split(",") if n.strip()]
        elif head and not line.startswith("     "):
            current = pending + [n.strip() for n in head.group(1).split(",") if n.strip()]
            pending = []
            for n in current:
                entries[n] = [head.group(2).strip(), ""]
        elif current and line.startswith("        "):
            for n in current:
                entries[n][1] += line.strip() + " "
    rows = []
    for f in p.__dataclass_fields__:
        entry = entries.get(f) or next(
            (v for k, v in entries.items() if "*" in k and _re.fullmatch(k.replace("*", ".*"), f)),
            ["", ""])
        text = entry[1]
        marks = [(text.find(k), v) for k, v in ORIGINS.items() if k in text]
        origin = min(marks)[1] if marks else "modelling choice"
        if f in fitted:
            origin = "fitted (least squares)"
        rows.append({"parameter": f, "value": getattr(p, f), "origin": origin,
                     "type": entry[0],
                     "meaning": _re.sub(r"\b[PSC]: ", "", text).strip() or entry[0]})
    return pd.DataFrame(rows)
