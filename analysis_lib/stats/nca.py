"""Non-compartmental analysis (NCA) of CAR-T cellular kinetics: Cmax, Tmax, Clast, Tlast,
AUClast, AUCall and the AUC over an interval (the paper's AUC0-28d), with explicit, named
rules for results below the lower limit of quantification (BLQ); and the terminal phase
(λz by the best-fit rule of Phoenix WinNonlin, half-life, AUCinf, AUMC, MRT, clearance and
volume), with an IV-bolus option that back-extrapolates C0.

The paper (Methods, "Pharmacokinetics of CAR-T cells"; Results, "PK of CAR-T cells") reports
Cmax, Tmax, Tlast and AUC0-28d of the transgene level (copies/µg genomic DNA, LLOQ 100
copies/µg) and stops monitoring after two consecutive results below the LLOQ.

Design (after R PKNCA): the concentration table is the only input (a single infusion at day 0
is implied, so there is no dose table); BLQ handling and the AUC rule are named settings
carried by the result; results come as a wide table (one row per profile) and a tidy long
table (id, parameter, value, unit). :func:`nca` computes all profiles at once with array
operations; a plain per-profile reference implementation with the same signature and results
(``tests/nca_reference.py``, following the definitions literally) checks it profile by profile.

Definitions
-----------
Time 0 is the infusion. Every time is in the input's unit (days for the kinetics table).

* **Usable samples**: rows with ``time >= 0`` that carry a result (a value, or a BLQ flag).
  Pre-infusion rows (``time < 0``) are ignored; a row at exactly 0 is used as measured.
  A row with neither a value nor a BLQ flag is a missing result and is dropped (PKNCA
  ``conc.na = "drop"``). ``n_samples`` counts the usable samples.
* **Measurable**: not flagged BLQ, value > 0 and value >= its LLOQ. Everything else usable
  is BLQ (a 0, or a value below the LLOQ without the flag, is BLQ too, as in PKNCA and
  WinNonlin, where BLQ means a concentration of 0). ``n_measurable`` counts them.
* **Cmax**, **Tmax**: the largest measurable value and the FIRST time it occurs (PKNCA and
  WinNonlin). Only measurable values compete, so an imputed BLQ value is never Cmax.
* **Clast**, **Tlast**: the last measurable value and its time.
* **BLQ rules** (:class:`BLQRules`) then turn each BLQ result into 0, LLOQ/2, LLOQ, or drop it,
  according to its position (before the first, between, or after the last measurable value).
* **AUC rule**: ``"linear"`` (linear trapezoids) or ``"linear-up/log-down"`` (log trapezoid
  ``dt (C1 - C2) / ln(C1 / C2)`` on a segment whose concentration falls with both ends > 0,
  linear otherwise), as WinNonlin "Linear Up Log Down" and PKNCA ``"lin up/log down"``. The
  segment from Tlast to the next retained (BLQ) point is always linear (PKNCA's AUCall;
  WinNonlin's triangle to the first BLQ).
* **AUClast**: area from time 0 to Tlast. **AUCall**: area from time 0 to the last retained
  point, i.e. AUClast plus the segment from Tlast to the first BLQ after it (with the default
  ``after_last="zero"``: the WinNonlin/PKNCA triangle to zero).
* **AUC over [interval_start, interval_end]** (``auc_interval``; the paper's AUC0-28d with the
  defaults): the integral of the same curve as AUCall, clipped to the interval. A bound that
  falls between two retained points is interpolated on that segment with the segment's rule:
  linearly on a linear segment, log-linearly (``C1 (C2/C1)^f``) on a log-down segment; after
  the last retained point and up to the last sample the curve is 0 (PKNCA's ``aucint.all``;
  ``aucint.last`` would also count nothing between Tlast and the next BLQ result).
* **persistence_ended**: at least two BLQ results follow the last measurable value. Every
  result after Tlast is BLQ, so this is "the two results after Tlast are both below the LLOQ":
  the paper's stopping rule. False when nothing is measurable.
* **expanded**: ``Cmax >= expansion_threshold`` if a threshold is given, else Cmax is not NaN
  (at least one measurable post-infusion value). The paper reports expansion in 49/50
  without stating a threshold.

Terminal phase (:class:`TerminalRules`)
---------------------------------------
* **λz** (``lambda_z``, 1/time) by the **best-fit rule** of Phoenix WinNonlin ("Lambda Z or
  Slope Estimation settings", Best Fit): ordinary least-squares regressions of ln(C) on t over
  the last 3, 4, 5, ... measurable concentrations, every window ending at Tlast. Only
  measurable values enter (a BLQ result, whatever value the BLQ rules give it for the AUC, and
  a 0 are never used: WinNonlin excludes zero concentrations). Only points after Tmax are
  used for extravascular data (WinNonlin, NonCompart and PKNCA's default
  ``allow.tmax.in.half.life = FALSE`` leave the Cmax point out; on the WinNonlin Theoph
  results including it changes subject 8 from 6 to 7 points); for ``route="iv-bolus"`` the
  Cmax point may be used (WinNonlin). A window is a candidate when its slope is negative
  (λz > 0: WinNonlin "λz must be positive"). Among the candidates the one with the largest
  adjusted R² is best; every candidate whose adjusted R² is within ``adj_r_squared_tolerance``
  (1e-4) of that largest value (``adj R² >= max − 1e-4``; PKNCA and NonCompart write ``>``,
  which differs only for a value exactly on the boundary, and would keep nothing with a
  tolerance of 0) qualifies, and the qualifying window with the most points is chosen.
  Fewer than ``min_points`` (3) usable points, or no window with a negative slope: λz and
  everything that depends on it are NaN and ``lambda_z_reason`` says which.
* With n points, ``R² = Sxy² / (Sxx Syy)``, ``adjusted R² = 1 − (1 − R²)(n − 1)/(n − 2)``,
  ``corr_xy = −√R²`` (the correlation of t and ln C), ``lambda_z = −Sxy / Sxx``,
  ``lambda_z_intercept`` the intercept of ln C at t = 0 (ln of concentration units),
  ``lambda_z_n_points``, ``lambda_z_time_first`` and ``lambda_z_time_last`` (the window's first
  and last times; the last is Tlast), ``half_life = ln 2 / λz`` (time), ``clast_pred`` the
  regression's concentration at Tlast.
* ``aucinf_obs = AUClast + Clast / λz``, ``aucinf_pred = AUClast + Clast_pred / λz``;
  ``auc_pct_extrap_obs|pred = 100 (AUCinf − AUClast) / AUCinf``.
* ``aumclast``: the area under the first-moment curve t·C(t) from 0 to Tlast, by the same rule
  as AUClast on every segment: linear ``dt (t1 C1 + t2 C2) / 2``; log-down
  ``dt (t1 C1 − t2 C2) / L + dt² (C1 − C2) / L²`` with ``L = ln(C1 / C2)`` (the exact moment
  of the exponential through both points; Gabrielsson & Weiner 2.8.3, WinNonlin).
  ``aumcinf_obs = AUMClast + Clast Tlast / λz + Clast / λz²`` (``_pred`` with Clast_pred),
  ``aumc_pct_extrap_obs|pred`` as for the AUC.
* ``mrtlast = AUMClast / AUClast``, ``mrtinf_obs|pred = AUMCinf / AUCinf`` (time; for
  extravascular data the MRT includes the absorption time, as WinNonlin's MRTINF).
* With a dose (``dose``, in ``dose_unit``): ``cl_obs|pred = Dose / AUCinf`` and
  ``vz_obs|pred = Dose / (λz AUCinf)``; for extravascular data these are CL/F and Vz/F
  (WinNonlin's ``Cl_F_obs``, ``Vz_F_obs``: the bioavailability F is unknown). Dose-normalised
  ``cmax_d = Cmax / Dose`` and ``aucinf_d_obs|pred = AUCinf / Dose``. No dose: NaN.
* ``tlag`` (extravascular only): the time of the usable sample just before the first
  measurable one, 0 when the first measurable concentration is the first usable sample
  (WinNonlin's Tlag).

IV bolus (``route="iv-bolus"``)
-------------------------------
When no retained concentration is at time 0, a point (0, C0) is inserted before the AUCs are
computed (WinNonlin, "Data checking and pre-treatment"): C0 is back-extrapolated by the
log-linear line through the first two retained points (after the BLQ rules),
``C0 = exp(ln C1 − t1 (ln C2 − ln C1) / (t2 − t1))``; when that slope is >= 0, when either
value is 0, or when there is only one point, C0 is the first observed value C1. A retained
concentration at time 0 is used as measured and is C0 (nothing inserted). ``c0`` reports it
and ``auc_pct_back_ext_obs|pred`` the share of AUCinf between 0 and the first sample (0 when
nothing was inserted). Cmax, Tmax and λz use observed values only. ``tlag`` is NaN.

Undefined results are NaN, never an exception; the ``reason`` column says why (messages joined
by ``"; "``, empty when nothing is unusual; the terminal phase has its own column,
``lambda_z_reason``):

* no usable sample: every parameter NaN;
* nothing measurable: Cmax, Tmax, Clast, Tlast NaN; AUClast 0 (PKNCA: the AUC of an all-BLQ
  profile is 0); AUCall and the interval AUC follow the ``before_first`` rule (0 by default);
* fewer than two retained concentrations after the BLQ rules: AUCs NaN (PKNCA: "AUC cannot be
  calculated with only one measured concentration");
* no retained concentration at time 0 (e.g. the first sample is on day 7, or a BLQ day-0
  result was dropped by ``before_first="drop"``): AUClast and AUCall NaN, and the interval AUC
  NaN when no concentration is at or before ``interval_start`` (PKNCA: "Requesting an AUC
  range starting before the first measurement is not allowed");
* ``interval_end`` after the last usable sample, and that sample is measurable (the level
  at ``interval_end`` is unknown): ``auc_interval_complete`` is False and, with
  ``incomplete_interval="nan"`` (default; PKNCA gives NA when it would have to extrapolate
  from a measurable Clast without a half-life), the interval AUC is NaN; with ``"truncate"`` it
  is the area up to the last sample. When the last sample is BLQ (the profile has already
  fallen below the LLOQ, e.g. monitoring stopped after two BLQ results), the concentration is
  taken as 0 from the last sample on (PKNCA's extrapolation after a BLQ result for AUClast and
  AUCall), the interval AUC is reported and ``auc_interval_complete`` is True; the ``reason``
  column notes it.

Judgement calls (where PKNCA and WinNonlin differ, or the brief left a choice)
-------------------------------------------------------------------------------
1. No concentration is imputed at time 0 when there is no day-0 sample (PKNCA; WinNonlin
   would insert C0 = 0 for extravascular or infusion dosing). The kinetics table records a
   pre-infusion day-0 sample, so this does not arise with complete data.
2. An all-BLQ profile has Cmax NaN (PKNCA reports 0) so that ``expanded`` is simply
   "Cmax is not NaN"; AUClast is 0 as in PKNCA.
3. ``after_last`` applies to the FIRST BLQ result after Tlast only; later ones are always
   dropped (they add only zeros with the default; PKNCA keeps them as zeros, same areas).
4. When an interval bound splits a segment, the two parts keep the parent segment's rule, so
   the interval AUC is the exact integral of the AUCall curve. PKNCA re-chooses the rule after
   inserting the interpolated point, which differs only for a bound inside a segment that
   falls to 0 under linear-up/log-down (PKNCA: linear interpolation, log area).
5. The interval is "complete" when ``interval_end`` is at or before the last usable sample,
   or when that sample is BLQ (the level is taken as 0 after it, see above). The paper stops
   monitoring after two BLQ results, so a patient whose CAR-T fell below the LLOQ before day
   28 can lack a day-28 sample; NaN there would drop exactly the poor expanders from the
   AUC0-28d comparisons. Only a profile still measurable at its last sample before
   ``interval_end`` is incomplete.
6. A BLQ result whose rule needs the LLOQ must have one (ValueError otherwise).

References
----------
* Denney W, Duvvuri S, Buckeridge C (2015). Simple, automatic noncompartmental analysis: the
  PKNCA R package. J Pharmacokinet Pharmacodyn 42(1):11-107 (and the package's
  ``PKNCA.options("conc.blq")`` defaults: first = "keep" (as 0), middle = "drop",
  last = "keep"; ``clean.conc.blq``, ``choose_interval_method``, ``pk.calc.auxc``).
* Gabrielsson J, Weiner D (2006). Pharmacokinetic and Pharmacodynamic Data Analysis: Concepts
  and Applications, 4th ed. Swedish Pharmaceutical Press, section 2.8 (linear and log
  trapezoidal rules).
* Certara. Phoenix WinNonlin User's Guide, "NCA computation rules" (Cmax/Tmax first maximum,
  Tlast, AUClast, AUCall, Linear Up Log Down); validated here on R ``datasets::Theoph``.
* Certara. Phoenix WinNonlin User's Guide: "Lambda Z or Slope Estimation settings" (Best Fit:
  last 3, 4, ... non-zero points after Cmax, largest adjusted R², within 0.0001 the larger
  number of points, λz positive), "NCA parameter formulas" (AUCINF_obs/pred, AUC_%Extrap,
  AUMC, MRT, CL/F, Vz/F, Tlag), "Data checking and pre-treatment" (IV-bolus C0); validated
  here on its Theoph results (tests/data/nca).
* Gabrielsson J, Weiner D (2006), op. cit., sections 2.8.3-2.8.5 (AUMC by the linear and log
  trapezoidal rules, MRT, strategies for estimating λz, clearance and volume).
* PKNCA ``pk.calc.half.life`` (options ``min.hl.points = 3``, ``adj.r.squared.factor = 1e-4``,
  ``allow.tmax.in.half.life = FALSE``), ``pk.calc.aucinf``, ``pk.calc.aumc``, ``pk.calc.mrt``,
  ``pk.calc.cl``, ``pk.calc.vz``; documentation at https://humanpred.github.io/pknca/.
* Stein AM, Grupp SA, Levine JE, et al. (2019). Tisagenlecleucel model-based cellular kinetic
  analysis of chimeric antigen receptor-T cells. CPT Pharmacometrics Syst Pharmacol
  8:285-295 (CAR-T NCA parameters; the shape used by the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from .descriptive import geometric_stats

BLQOption = Literal["zero", "drop", "lloq_half", "lloq"]
#: Named options for each BLQ position: set to 0, drop the result, set to LLOQ/2, set to LLOQ.
BLQ_OPTIONS: tuple[str, ...] = ("zero", "drop", "lloq_half", "lloq")

AUCMethod = Literal["linear-up/log-down", "linear"]
AUC_METHODS: tuple[str, ...] = ("linear-up/log-down", "linear")

IncompleteInterval = Literal["nan", "truncate"]
INCOMPLETE_OPTIONS: tuple[str, ...] = ("nan", "truncate")

Route = Literal["extravascular", "iv-bolus"]
#: Routes: ``"extravascular"`` (also the CAR-T infusion: no C0 is inserted) or ``"iv-bolus"``
#: (C0 back-extrapolated; the Cmax point may enter λz).
ROUTES: tuple[str, ...] = ("extravascular", "iv-bolus")

#: Terminal-phase parameters (all NaN when λz is not estimable), in column order.
TERMINAL_PARAMETERS: tuple[str, ...] = (
    "lambda_z", "half_life", "lambda_z_intercept", "r_squared", "adj_r_squared", "corr_xy",
    "lambda_z_time_first", "lambda_z_time_last", "clast_pred", "aucinf_obs", "aucinf_pred",
    "auc_pct_extrap_obs", "auc_pct_extrap_pred", "aumcinf_obs", "aumcinf_pred",
    "aumc_pct_extrap_obs", "aumc_pct_extrap_pred", "mrtinf_obs", "mrtinf_pred",
)
#: Parameters that need a dose (NaN without one).
DOSE_PARAMETERS: tuple[str, ...] = (
    "dose", "cmax_d", "aucinf_d_obs", "aucinf_d_pred", "cl_obs", "cl_pred", "vz_obs", "vz_pred",
)

#: Columns of :attr:`NCAResult.wide` after the id column, in this order.
COLUMNS: tuple[str, ...] = (
    "n_samples", "n_measurable", "cmax", "tmax", "clast", "tlast", "auclast", "aucall",
    "auc_interval", "auc_interval_complete", "persistence_ended", "expanded",
    "tlag", "aumclast", "mrtlast", "lambda_z_n_points", *TERMINAL_PARAMETERS, "c0",
    "auc_pct_back_ext_obs", "auc_pct_back_ext_pred", *DOSE_PARAMETERS, "lambda_z_reason",
    "reason",
)

#: Numeric pharmacokinetic parameters (summarised by :meth:`NCAResult.summary`).
PK_PARAMETERS: tuple[str, ...] = (
    "cmax", "tmax", "clast", "tlast", "auclast", "aucall", "auc_interval", "tlag", "aumclast",
    "mrtlast", *TERMINAL_PARAMETERS, "c0", "auc_pct_back_ext_obs", "auc_pct_back_ext_pred",
    *DOSE_PARAMETERS,
)

#: Text columns (not in :meth:`NCAResult.long`).
TEXT_COLUMNS: tuple[str, ...] = ("lambda_z_reason", "reason")


def units_for(time_unit: str = "day", conc_unit: str = "copies/µg DNA",
              dose_unit: str = "") -> dict[str, str]:
    """Unit of every column of :attr:`NCAResult.wide` ("" for counts, flags and ratios; "%"
    for percentages). Dose-dependent units are written out unsimplified, e.g. with ``mg``, ``h``
    and ``mg/L``: CL in ``mg/(h·mg/L)`` (= L/h), Vz in ``mg/(mg/L)`` (= L)."""
    auc = f"{time_unit}·{conc_unit}"
    aumc = f"{time_unit}²·{conc_unit}"
    d = dose_unit or "dose unit"
    out = {"n_samples": "", "n_measurable": "", "cmax": conc_unit, "tmax": time_unit,
           "clast": conc_unit, "tlast": time_unit, "auclast": auc, "aucall": auc,
           "auc_interval": auc, "auc_interval_complete": "", "persistence_ended": "",
           "expanded": "", "tlag": time_unit, "aumclast": aumc, "mrtlast": time_unit,
           "lambda_z_n_points": "", "lambda_z": f"1/{time_unit}", "half_life": time_unit,
           "lambda_z_intercept": f"ln({conc_unit})", "r_squared": "", "adj_r_squared": "",
           "corr_xy": "", "lambda_z_time_first": time_unit, "lambda_z_time_last": time_unit,
           "clast_pred": conc_unit, "aucinf_obs": auc, "aucinf_pred": auc,
           "auc_pct_extrap_obs": "%", "auc_pct_extrap_pred": "%", "aumcinf_obs": aumc,
           "aumcinf_pred": aumc, "aumc_pct_extrap_obs": "%", "aumc_pct_extrap_pred": "%",
           "mrtinf_obs": time_unit, "mrtinf_pred": time_unit, "c0": conc_unit,
           "auc_pct_back_ext_obs": "%", "auc_pct_back_ext_pred": "%", "dose": dose_unit,
           "cmax_d": f"{conc_unit}/{d}", "aucinf_d_obs": f"{auc}/{d}",
           "aucinf_d_pred": f"{auc}/{d}", "cl_obs": f"{d}/({auc})", "cl_pred": f"{d}/({auc})",
           "vz_obs": f"{d}/({conc_unit})", "vz_pred": f"{d}/({conc_unit})",
           "lambda_z_reason": "", "reason": ""}
    return out


#: Units for the kinetics table (days; copies/µg genomic DNA).
UNITS: dict[str, str] = units_for()

# Reasons (bit flags) for undefined or unusual results; the text goes in the ``reason`` column.
_NO_SAMPLES = 1
_NO_MEASURABLE = 2
_TOO_FEW = 4
_NO_TIME0 = 8
_NO_INTERVAL_START = 16
_INCOMPLETE_NAN = 32
_INCOMPLETE_TRUNCATED = 64
_ZERO_AFTER_LAST = 128
_REASONS: tuple[tuple[int, str], ...] = (
    (_NO_SAMPLES, "no post-infusion result: all parameters NaN"),
    (_NO_MEASURABLE, "no measurable concentration (all below LLOQ): Cmax, Tmax, Clast, Tlast NaN"),
    (_TOO_FEW, "fewer than two concentrations after the BLQ rules: AUCs NaN"),
    (_NO_TIME0, "no concentration at time 0 after the BLQ rules: AUClast and AUCall NaN"),
    (_NO_INTERVAL_START, "no concentration at or before the interval start: interval AUC NaN"),
    (_INCOMPLETE_NAN, "interval end after the last sample, which is measurable: interval AUC "
                      "NaN"),
    (_INCOMPLETE_TRUNCATED, "interval end after the last sample, which is measurable: interval "
                            "AUC truncated at the last sample"),
    (_ZERO_AFTER_LAST, "interval end after the last sample, which is below LLOQ: level taken "
                       "as 0 from there"),
)


def reason_text(flags: int) -> str:
    """The ``reason`` text for a combination of reason flags."""
    return "; ".join(msg for bit, msg in _REASONS if flags & bit)


# Why λz is not estimable (the ``lambda_z_reason`` column; one code per profile, 0 = estimated).
LZ_OK, LZ_NO_MEASURABLE, LZ_TOO_FEW, LZ_NOT_FALLING = 0, 1, 2, 3
LAMBDA_Z_REASONS: dict[int, str] = {
    LZ_OK: "",
    LZ_NO_MEASURABLE: "no measurable concentration: no terminal phase",
    LZ_TOO_FEW: "too few measurable concentrations after Cmax (from Cmax for an IV bolus) "
                "for the terminal-phase regression",
    LZ_NOT_FALLING: "no regression window after Cmax has a falling log-linear slope "
                    "(lambda_z <= 0)",
}


@dataclass(frozen=True)
class TerminalRules:
    """How the terminal phase (λz) is chosen: Phoenix WinNonlin's best-fit rule.

    Attributes
    ----------
    min_points: fewest points in a regression window (WinNonlin and PKNCA ``min.hl.points``:
        3; at least 3, since the adjusted R² needs n > 2).
    adj_r_squared_tolerance: windows whose adjusted R² is within this of the largest
        (``adj R² >= max − tolerance``) qualify, and the one with the most points is chosen
        (WinNonlin 0.0001; PKNCA ``adj.r.squared.factor``). 0: only windows tied at the
        largest value qualify.
    include_cmax: may the Cmax point be in a window? ``None`` (default): as WinNonlin, only
        for ``route="iv-bolus"``; ``False`` for extravascular data (PKNCA
        ``allow.tmax.in.half.life = FALSE``).
    """
    min_points: int = 3
    adj_r_squared_tolerance: float = 1e-4
    include_cmax: bool | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.min_points, (int, np.integer)) and self.min_points >= 3):
            raise ValueError(f"TerminalRules.min_points must be an integer >= 3, got "
                             f"{self.min_points!r}")
        tol = float(self.adj_r_squared_tolerance)
        if not (math.isfinite(tol) and tol >= 0):
            raise ValueError(f"TerminalRules.adj_r_squared_tolerance must be >= 0, got "
                             f"{self.adj_r_squared_tolerance!r}")
        if self.include_cmax not in (None, True, False):
            raise ValueError(f"TerminalRules.include_cmax must be None, True or False, got "
                             f"{self.include_cmax!r}")

    def cmax_included(self, route: str) -> bool:
        """Whether the Cmax point may enter the regression for ``route``."""
        return route == "iv-bolus" if self.include_cmax is None else bool(self.include_cmax)

    def describe(self, route: str = "extravascular") -> str:
        where = "from Cmax" if self.cmax_included(route) else "after Cmax"
        return (f"lambda_z: best fit (WinNonlin), >= {self.min_points} measurable points "
                f"{where} ending at Tlast, largest adjusted R² (ties within "
                f"{self.adj_r_squared_tolerance:g}: most points), lambda_z > 0")


@dataclass(frozen=True)
class BLQRules:
    """How results below the LLOQ are used, by position relative to the measurable values.

    Each position takes one of :data:`BLQ_OPTIONS`: ``"zero"`` (set to 0), ``"drop"`` (remove
    the result), ``"lloq_half"`` (set to LLOQ/2) or ``"lloq"`` (set to the LLOQ), using each
    row's own LLOQ. The defaults are PKNCA's (``PKNCA.options("conc.blq")``: first = "keep",
    middle = "drop", last = "keep", where "keep" means keep as 0).

    Attributes
    ----------
    before_first: BLQ results before the first measurable value (default ``"zero"``). In a
        profile with nothing measurable every BLQ result is "before the first" (as PKNCA).
        The day-0 pre-infusion BLQ result becomes the 0 the AUC starts from.
    between: BLQ results between the first and the last measurable values (default
        ``"drop"``: the curve joins the measurable neighbours).
    after_last: the FIRST BLQ result after the last measurable value (default ``"zero"``:
        the triangle from Clast to 0 that makes AUCall). Later BLQ results are always dropped.
        ``"drop"`` makes AUCall equal AUClast.
    """
    before_first: BLQOption = "zero"
    between: BLQOption = "drop"
    after_last: BLQOption = "zero"

    def __post_init__(self) -> None:
        for name in ("before_first", "between", "after_last"):
            value = getattr(self, name)
            if value not in BLQ_OPTIONS:
                raise ValueError(f"BLQRules.{name} must be one of {BLQ_OPTIONS}, got {value!r}")

    def describe(self) -> str:
        return (f"BLQ before first measurable: {self.before_first}; between: {self.between}; "
                f"first after last measurable: {self.after_last} (later ones dropped)")


@dataclass(frozen=True, repr=False)
class NCAResult:
    """Result of :func:`nca`.

    Attributes
    ----------
    wide: one row per profile (sorted by id): the id column, then :data:`COLUMNS`.
    auc_method: ``"linear-up/log-down"`` or ``"linear"``.
    rules: the :class:`BLQRules` used.
    interval: ``(interval_start, interval_end)`` of ``auc_interval``.
    incomplete_interval: ``"nan"`` or ``"truncate"`` (interval ending after the last sample).
    expansion_threshold: threshold on Cmax for ``expanded`` (None: Cmax measurable).
    id_col: name of the id column.
    units: unit of each column (see :func:`units_for`).
    route: ``"extravascular"`` or ``"iv-bolus"``.
    terminal_rules: the :class:`TerminalRules` used for λz.
    """
    wide: pd.DataFrame
    auc_method: str
    rules: BLQRules
    interval: tuple[float, float]
    incomplete_interval: str
    expansion_threshold: float | None
    id_col: str
    units: dict[str, str]
    route: str = "extravascular"
    terminal_rules: TerminalRules = TerminalRules()

    def __repr__(self) -> str:
        return (f"NCAResult({len(self.wide)} profiles; AUC {self.auc_method}; "
                f"interval [{self.interval[0]:g}, {self.interval[1]:g}]; "
                f"{self.rules.describe()}; route {self.route})")

    @property
    def method(self) -> str:
        """One-line description of the settings, for tables and captions."""
        thr = ("Cmax measurable" if self.expansion_threshold is None
               else f"Cmax >= {self.expansion_threshold:g}")
        per_f = " (CL/F, Vz/F)" if self.route == "extravascular" else ""
        return (f"NCA: AUC {self.auc_method}; interval [{self.interval[0]:g}, "
                f"{self.interval[1]:g}] ({self.incomplete_interval} if incomplete); "
                f"{self.rules.describe()}; expanded: {thr}; route {self.route}{per_f}; "
                f"{self.terminal_rules.describe(self.route)}")

    def long(self) -> pd.DataFrame:
        """Tidy long table (PKNCA style): id, parameter, value, unit.

        One row per profile and parameter (every column of :data:`COLUMNS` except the text
        columns ``lambda_z_reason`` and ``reason``), profiles in id order, parameters in
        :data:`COLUMNS` order; flags are 1.0/0.0.
        """
        params = [c for c in COLUMNS if c not in TEXT_COLUMNS]
        n = len(self.wide)
        values = np.column_stack([self.wide[p].to_numpy(dtype=float) for p in params])
        return pd.DataFrame({
            self.id_col: np.repeat(self.wide[self.id_col].to_numpy(), len(params)),
            "parameter": np.tile(np.array(params, dtype=object), n),
            "value": values.ravel(),
            "unit": np.tile(np.array([self.units[p] for p in params], dtype=object), n),
        })

    def summary(self, conf_level: float = 0.95) -> pd.DataFrame:
        """Per-parameter summary over profiles.

        Columns: parameter, unit, n (non-missing), median, min, max, n_positive, geo_mean,
        geo_ci_low, geo_ci_high, geo_cv_pct. The geometric statistics use the positive values
        only: geometric mean ``exp(m)`` with the t-based interval ``exp(m ± t(n-1) s/√n)`` and
        the geometric CV% ``100 √(exp(s²) − 1)``, where m and s are the mean and SD
        (divisor n − 1) of the log values. The interval and the CV need two positive values,
        the mean one (NaN otherwise).
        """
        rows = []
        for p in PK_PARAMETERS:
            x = self.wide[p].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            rows.append({"parameter": p, "unit": self.units[p], "n": int(x.size),
                         "median": float(np.median(x)) if x.size else np.nan,
                         "min": float(x.min()) if x.size else np.nan,
                         "max": float(x.max()) if x.size else np.nan,
                         **geometric_stats(x, conf_level)})
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Input handling shared by both implementations
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    auc_method: str
    rules: BLQRules
    start: float
    end: float
    incomplete: str
    threshold: float | None
    route: str = "extravascular"
    terminal: TerminalRules = TerminalRules()

    @property
    def include_cmax(self) -> bool:
        return self.terminal.cmax_included(self.route)


def _settings(auc_method: str, interval_start: float, interval_end: float, rules: BLQRules,
              incomplete_interval: str, expansion_threshold: float | None,
              route: str = "extravascular",
              terminal_rules: TerminalRules = TerminalRules()) -> _Settings:
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    if not isinstance(terminal_rules, TerminalRules):
        raise TypeError(f"terminal_rules must be a TerminalRules, got "
                        f"{type(terminal_rules).__name__}")
    if auc_method not in AUC_METHODS:
        raise ValueError(f"auc_method must be one of {AUC_METHODS}, got {auc_method!r}")
    if not isinstance(rules, BLQRules):
        raise TypeError(f"rules must be a BLQRules, got {type(rules).__name__}")
    if incomplete_interval not in INCOMPLETE_OPTIONS:
        raise ValueError(f"incomplete_interval must be one of {INCOMPLETE_OPTIONS}, "
                         f"got {incomplete_interval!r}")
    a, b = float(interval_start), float(interval_end)
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
        raise ValueError(f"need 0 <= interval_start < interval_end (finite), got [{a}, {b}]")
    thr = None if expansion_threshold is None else float(expansion_threshold)
    return _Settings(auc_method, rules, a, b, incomplete_interval, thr, route, terminal_rules)


DoseSpec = float | int | pd.Series | dict | None


def _doses(dose: DoseSpec, ids: np.ndarray, id_col: str) -> np.ndarray:
    """Dose of each profile (in ``ids`` order; NaN where none is given).

    ``dose`` is None (no dose), one number for every profile, or a mapping / Series from
    profile id to dose (profiles not in it have no dose). Every given dose must be a finite
    number > 0."""
    n = len(ids)
    if dose is None:
        return np.full(n, np.nan)
    if isinstance(dose, (pd.Series, dict)):
        ser = pd.Series(dose)
        if ser.index.has_duplicates:
            raise ValueError(f"dose has duplicate {id_col} values")
        vals = pd.to_numeric(ser, errors="raise").astype(float)
        out = pd.Series(ids).map(vals).to_numpy(dtype=float)
        given = vals.to_numpy(dtype=float)
    else:
        try:
            x = float(dose)
        except (TypeError, ValueError):
            raise TypeError(f"dose must be a number, a mapping or a Series from {id_col} to "
                            f"dose, or None; got {type(dose).__name__}") from None
        out = np.full(n, x)
        given = np.array([x])
    bad = ~(np.isfinite(given) & (given > 0))
    if bad.any():
        raise ValueError(f"every dose must be a finite number > 0, got {given[bad][:5].tolist()}")
    return out


def _columns(conc: pd.DataFrame, id_col: str, time_col: str, conc_col: str,
             blq_col: str | None, lloq_col: str | None
             ) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated columns: ids, times, values, BLQ flags, LLOQs (0 when no LLOQ column)."""
    needed = [id_col, time_col, conc_col] + [c for c in (blq_col, lloq_col) if c is not None]
    missing = [c for c in needed if c not in conc.columns]
    if missing:
        raise ValueError(f"concentration table lacks column(s) {missing}")
    ids = conc[id_col]
    t = pd.to_numeric(conc[time_col], errors="raise").to_numpy(dtype=float)
    if np.isnan(t).any():
        rows = np.flatnonzero(np.isnan(t))[:10].tolist()
        raise ValueError(f"{time_col} has missing values (rows {rows})")
    c = pd.to_numeric(conc[conc_col], errors="raise").to_numpy(dtype=float)
    if blq_col is None:
        blq = np.zeros(len(conc), dtype=bool)
    else:
        bser = conc[blq_col]
        if bser.isna().any():
            raise ValueError(f"{blq_col} has missing values")
        blq = bser.to_numpy(dtype=bool)
    if lloq_col is None:
        lloq = np.zeros(len(conc), dtype=float)
    else:
        lloq = pd.to_numeric(conc[lloq_col], errors="raise").to_numpy(dtype=float)
    return ids, t, c, blq, lloq


def _duplicate_error(id_col: str, time_col: str, pairs: list[tuple[object, float]],
                     total: int) -> ValueError:
    shown = ", ".join(f"{i!r} at {time_col}={t:g}" for i, t in pairs)
    more = f" (and {total - len(pairs)} more)" if total > len(pairs) else ""
    return ValueError(f"duplicate ({id_col}, {time_col}) rows: {shown}{more}; each profile "
                      f"must have at most one result per time")


def _impute(rule: str, lloq: np.ndarray) -> np.ndarray:
    if rule == "zero":
        return np.zeros_like(lloq)
    if np.isnan(lloq).any():
        raise ValueError(f"BLQ rule {rule!r} needs the LLOQ, which is missing for a BLQ result")
    return lloq / 2 if rule == "lloq_half" else lloq.copy()


def _result(ids: np.ndarray, id_col: str, cols: dict[str, np.ndarray], s: _Settings,
            units: dict[str, str]) -> NCAResult:
    # The column arrays are fresh and never shared between columns: no copy needed (copying
    # and consolidating ~50 columns of a million profiles costs more than the NCA itself).
    wide = pd.DataFrame({id_col: ids, **{k: cols[k] for k in COLUMNS}}, copy=False)
    return NCAResult(wide, s.auc_method, s.rules, (s.start, s.end), s.incomplete, s.threshold,
                     id_col, units, s.route, s.terminal)


# --------------------------------------------------------------------------------------------
# Vectorised implementation
# --------------------------------------------------------------------------------------------

def _first_last(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the first and of the last element of each run of equal values in sorted ``g``."""
    if g.size == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    change = g[1:] != g[:-1]
    return np.concatenate(([True], change)), np.concatenate((change, [True]))


def nca(conc: pd.DataFrame, *, id_col: str = "patient_id", time_col: str = "day",
        conc_col: str = "copies_per_ug_dna", blq_col: str | None = "below_lloq",
        lloq_col: str | None = "lloq_copies_per_ug_dna",
        auc_method: AUCMethod = "linear-up/log-down", interval_end: float = 28.0,
        interval_start: float = 0.0, rules: BLQRules = BLQRules(),
        expansion_threshold: float | None = None,
        incomplete_interval: IncompleteInterval = "nan",
        time_unit: str = "day", conc_unit: str = "copies/µg DNA",
        route: Route = "extravascular", dose: DoseSpec = None, dose_unit: str = "",
        terminal_rules: TerminalRules = TerminalRules()) -> NCAResult:
    """Non-compartmental analysis of every profile at once (vectorised).

    Parameters
    ----------
    conc: one row per sample (the kinetics table); any row order.
    id_col, time_col, conc_col: profile id, time since infusion (negative = pre-infusion),
        concentration (NaN for a BLQ or missing result).
    blq_col: boolean BLQ flag column (None: BLQ only when the value is 0 or below the LLOQ).
    lloq_col: LLOQ column, in concentration units (None: LLOQ 0).
    auc_method: ``"linear-up/log-down"`` (default, as PKNCA's ``auc.method``) or
        ``"linear"``.
    interval_end, interval_start: bounds of ``auc_interval`` (default [0, 28]: AUC0-28d).
    rules: BLQ handling by position (:class:`BLQRules`; PKNCA defaults).
    expansion_threshold: Cmax threshold for ``expanded`` (None: Cmax measurable).
    incomplete_interval: interval AUC when ``interval_end`` is after the last sample and
        that sample is measurable: ``"nan"`` (default) or ``"truncate"`` (area to the last
        sample); either way ``auc_interval_complete`` is False. (After a BLQ last sample the
        level is taken as 0 and the AUC is complete.)
    time_unit, conc_unit: units reported in :attr:`NCAResult.units` and :meth:`NCAResult.long`.
    route: ``"extravascular"`` (default; also right for the CAR-T infusion, where no C0 is
        inserted) or ``"iv-bolus"`` (C0 back-extrapolated, see the module docstring).
    dose: None (default: no clearance or volume), one dose for every profile, or a mapping /
        Series from profile id to dose, in ``dose_unit``.
    dose_unit: unit of the dose, for :attr:`NCAResult.units` (e.g. ``"mg"``).
    terminal_rules: how λz is chosen (:class:`TerminalRules`; WinNonlin's best fit).

    Returns
    -------
    NCAResult with one row per id (ids sorted), columns :data:`COLUMNS` (see the module
    docstring for definitions and for how undefined values are reported).

    Raises
    ------
    ValueError: duplicate (id, time) rows (the message names them), missing ids or times,
        missing columns, invalid settings or doses.
    """
    s = _settings(auc_method, interval_start, interval_end, rules, incomplete_interval,
                  expansion_threshold, route, terminal_rules)
    ids, t, c, blq, lloq = _columns(conc, id_col, time_col, conc_col, blq_col, lloq_col)
    codes, uniques = pd.factorize(ids, sort=True)
    if codes.size and codes.min() < 0:
        raise ValueError(f"{id_col} has missing values")
    g = codes.astype(np.int64, copy=False)
    n_groups = len(uniques)
    doses = _doses(dose, np.asarray(uniques), id_col)

    # Sort by (id, time) unless the input is already in that order.
    if g.size > 1:
        dg = np.diff(g)
        in_order = bool(np.all((dg > 0) | ((dg == 0) & (t[1:] >= t[:-1]))))
        del dg
        if not in_order:
            order = _sort_order(g, t)
            g, t, c, blq, lloq = g[order], t[order], c[order], blq[order], lloq[order]
            del order
        dup = np.flatnonzero((g[1:] == g[:-1]) & (t[1:] == t[:-1]))
        if dup.size:
            # A triplicate gives two adjacent pairs: report each (id, time) once.
            dup = dup[np.concatenate(([True], np.diff(dup) > 1))]
            pairs = [(uniques[g[i]], float(t[i])) for i in dup[:10]]
            raise _duplicate_error(id_col, time_col, pairs, dup.size)

    cols = _nca_sorted(g, t, c, blq, lloq, n_groups, s, doses)
    return _result(np.asarray(uniques), id_col, cols, s,
                   units_for(time_unit, conc_unit, dose_unit))


def _sort_order(g: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Permutation sorting rows by (group code, time).

    Equivalent to the stable ``np.lexsort((t, g))`` whenever the (group, time) keys are unique
    (duplicates are rejected right after sorting, and they end up adjacent either way), but
    faster on large tables: the time is replaced by its rank among the distinct times and the
    combined integer key ``g * n_times + rank`` is sorted once."""
    by_time = np.argsort(t)
    t_sorted = t[by_time]
    rank = np.empty(t.size, dtype=np.int64)
    rank[by_time] = np.cumsum(np.concatenate(([0], t_sorted[1:] != t_sorted[:-1])))
    del by_time, t_sorted
    n_times = int(rank.max()) + 1
    if (int(g.max()) + 1) * n_times >= 2**62:  # the key would overflow: sort on both keys
        return np.lexsort((t, g))
    return np.argsort(g * n_times + rank)


def _nca_sorted(g: np.ndarray, t: np.ndarray, c: np.ndarray, blq: np.ndarray,
                lloq: np.ndarray, n_groups: int, s: _Settings,
                doses: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All parameters from arrays sorted by (group code, time), codes 0..n_groups-1;
    ``doses`` gives each group's dose (NaN: none)."""
    G = n_groups
    nan = np.nan
    bolus = s.route == "iv-bolus"
    if doses is None:
        doses = np.full(G, nan)

    # -- usable samples ------------------------------------------------------------------
    keep = (t >= 0) & ~(np.isnan(c) & ~blq)
    if not keep.all():
        g, t, c, blq, lloq = g[keep], t[keep], c[keep], blq[keep], lloq[keep]
    del keep
    meas = ~blq & (c > 0) & ~(c < lloq)
    n_samples = np.bincount(g, minlength=G)
    n_meas = np.bincount(g[meas], minlength=G)
    has = n_samples > 0
    has_meas = n_meas > 0
    ends = np.cumsum(n_samples)
    last_sample_time = np.full(G, nan)
    last_sample_time[has] = t[ends[has] - 1]
    last_is_blq = np.zeros(G, dtype=bool)
    last_is_blq[has] = ~meas[ends[has] - 1]
    del ends

    # -- Cmax, Tmax, Clast, Tlast (measurable values only) ---------------------------------
    mi = np.flatnonzero(meas)
    gm, cm = g[mi], c[mi]
    first, last = _first_last(gm)
    groups_m = gm[first]
    cmax = np.full(G, nan)
    if mi.size:
        cmax[groups_m] = np.maximum.reduceat(cm, np.flatnonzero(first))
    at_max = cm == cmax[gm]
    im = mi[at_max]
    first_max, _ = _first_last(g[im])
    tmax = np.full(G, nan)
    tmax[g[im][first_max]] = t[im][first_max]
    tfirst = np.full(G, np.inf)
    tfirst[groups_m] = t[mi[first]]
    tlast = np.full(G, nan)
    tlast[groups_m] = t[mi[last]]
    clast = np.full(G, nan)
    clast[groups_m] = cm[last]
    # Tlag (extravascular): time of the usable sample just before the first measurable one.
    tlag = np.full(G, nan)
    if not bolus and mi.size:
        prev = mi[first] - 1
        has_prev = prev >= 0
        has_prev[has_prev] = g[prev[has_prev]] == groups_m[has_prev]
        tlag[groups_m] = np.where(has_prev, t[np.maximum(prev, 0)], 0.0)
    # Positions, in the measurable arrays, of each group's first maximum and of its Tlast.
    first_max_pos = np.zeros(G, dtype=np.int64)
    first_max_pos[g[im][first_max]] = np.flatnonzero(at_max)[first_max]
    last_pos = np.zeros(G, dtype=np.int64)
    last_pos[groups_m] = np.flatnonzero(last)
    term = _terminal_phase(t[mi], cm, first_max_pos, last_pos, tlast, clast, has_meas, G, s)
    del mi, gm, cm, first, last, at_max, im, first_max

    # -- BLQ positions and rules -----------------------------------------------------------
    bl = ~meas
    tl_row = np.where(has_meas, tlast, np.inf)[g]   # nothing measurable: no "after"
    before = bl & (t < tfirst[g])
    after = bl & (t > tl_row)
    between = bl & ~before & ~after
    del tl_row
    prev_after = np.zeros_like(after)
    prev_after[1:] = after[:-1] & (g[1:] == g[:-1])
    first_after = after & ~prev_after
    n_after = np.bincount(g[after], minlength=G)
    persistence_ended = has_meas & (n_after >= 2)
    del prev_after

    val = np.where(meas, c, 0.0)
    drop = after & ~first_after
    for mask, rule in ((before, s.rules.before_first), (between, s.rules.between),
                       (first_after, s.rules.after_last)):
        if rule == "drop":
            drop |= mask
        elif rule != "zero" and mask.any():
            val[mask] = _impute(rule, lloq[mask])
    del before, between, after, first_after, meas, bl, c, blq, lloq

    # -- retained points and segments ------------------------------------------------------
    r = np.flatnonzero(~drop)
    del drop
    g2, t2, v2 = g[r], t[r], val[r]
    del r, val, g, t
    c0 = np.full(G, nan)
    inserted = np.zeros(G, dtype=bool)
    if bolus:
        g2, t2, v2, c0, inserted = _insert_c0(g2, t2, v2, G)
    n_ret = np.bincount(g2, minlength=G)
    starts2 = np.cumsum(n_ret) - n_ret
    first_ret_time = np.full(G, nan)
    first_ret_time[n_ret > 0] = t2[starts2[n_ret > 0]]

    si = np.flatnonzero(g2[1:] == g2[:-1])
    gs = g2[si]
    ta, tb = t2[si], t2[si + 1]
    ca, cb = v2[si], v2[si + 1]
    del g2, t2, v2
    dt = tb - ta
    tlast_seg = np.where(has_meas, tlast, -np.inf)[gs]
    area = dt * (ca + cb) / 2
    moment = dt * (ta * ca + tb * cb) / 2
    if s.auc_method == "linear-up/log-down":
        logi = np.flatnonzero((cb < ca) & (cb > 0) & (ta < tlast_seg))
        lr = np.log(ca[logi] / cb[logi])
        dl = dt[logi]
        area[logi] = dl * (ca[logi] - cb[logi]) / lr
        moment[logi] = (dl * (ta[logi] * ca[logi] - tb[logi] * cb[logi]) / lr
                        + dl * dl * (ca[logi] - cb[logi]) / (lr * lr))
        use_log = np.zeros(gs.size, dtype=bool)
        use_log[logi] = True
        del lr, dl
    else:
        use_log = np.zeros(gs.size, dtype=bool)

    aucall = _group_sum(gs, area, G)
    to_last = tb <= tlast_seg
    auclast = _group_sum(gs[to_last], area[to_last], G)
    aumclast = _group_sum(gs[to_last], moment[to_last], G)
    del to_last, tlast_seg, moment
    # Area from 0 to the first sample when C0 was inserted (the first segment of the group).
    auc_back = np.where(bolus & ~np.isnan(c0), 0.0, nan)
    ins = np.flatnonzero(inserted & (n_ret >= 2))
    if ins.size:
        auc_back[ins] = area[np.searchsorted(si, starts2[ins])]
    del si

    # -- interval AUC: clip each segment to [a, b] -----------------------------------------
    a, b = s.start, s.end
    inside = (ta >= a) & (tb <= b)
    auc_int = _group_sum(gs[inside], area[inside], G)
    p = np.flatnonzero(~inside & (ta < b) & (tb > a))
    if p.size:
        pa, pb, pca, pcb, pdt, plog = ta[p], tb[p], ca[p], cb[p], dt[p], use_log[p]
        x1, x2 = np.maximum(pa, a), np.minimum(pb, b)
        cx1 = _interp(x1, pa, pca, pcb, pdt, plog)
        cx2 = _interp(x2, pa, pca, pcb, pdt, plog)
        cx1 = np.where(x1 == pa, pca, cx1)
        cx2 = np.where(x2 == pb, pcb, cx2)
        parea = (x2 - x1) * (cx1 + cx2) / 2
        lg = plog & (cx2 < cx1)
        parea[lg] = (x2[lg] - x1[lg]) * (cx1[lg] - cx2[lg]) / np.log(cx1[lg] / cx2[lg])
        auc_int += _group_sum(gs[p], parea, G)

    # -- undefined values and reasons ------------------------------------------------------
    flags = np.zeros(G, dtype=np.int64)
    flags[~has] |= _NO_SAMPLES
    flags[has & ~has_meas] |= _NO_MEASURABLE
    too_few = has & (n_ret < 2)
    flags[too_few] |= _TOO_FEW
    ok = has & ~too_few
    no_t0 = ok & (first_ret_time > 0)
    flags[no_t0] |= _NO_TIME0
    no_start = ok & (first_ret_time > a)
    flags[no_start] |= _NO_INTERVAL_START
    reaches_end = has & (b <= np.where(has, last_sample_time, -np.inf))
    complete = reaches_end | last_is_blq
    incomplete = ok & ~no_start & ~complete
    flags[incomplete] |= _INCOMPLETE_NAN if s.incomplete == "nan" else _INCOMPLETE_TRUNCATED
    flags[ok & ~no_start & ~reaches_end & last_is_blq] |= _ZERO_AFTER_LAST

    undefined_last = ~ok | (no_t0 & has_meas)
    auclast = np.where(~has_meas, 0.0, auclast)
    auclast[undefined_last] = nan
    aumclast = np.where(~has_meas, 0.0, aumclast)
    aumclast[undefined_last] = nan
    aucall[~ok | no_t0] = nan
    auc_int[~ok | no_start] = nan
    if s.incomplete == "nan":
        auc_int[~complete] = nan

    expanded = (cmax >= s.threshold) if s.threshold is not None else ~np.isnan(cmax)
    codes, inverse = np.unique(flags, return_inverse=True)
    texts = np.array([reason_text(int(f)) for f in codes], dtype=object)
    out = {
        "n_samples": n_samples, "n_measurable": n_meas, "cmax": cmax, "tmax": tmax,
        "clast": clast, "tlast": tlast, "auclast": auclast, "aucall": aucall,
        "auc_interval": auc_int, "auc_interval_complete": complete,
        "persistence_ended": persistence_ended, "expanded": expanded, "tlag": tlag,
        "aumclast": aumclast, "c0": c0, "dose": doses,
        "reason": texts[inverse.reshape(-1)],
    }
    out.update(term)
    _derived(out, auc_back)
    return out


def _terminal_phase(tm: np.ndarray, cm: np.ndarray, first_max_pos: np.ndarray,
                    last_pos: np.ndarray, tlast: np.ndarray, clast: np.ndarray,
                    has_meas: np.ndarray, G: int, s: _Settings) -> dict[str, np.ndarray]:
    """λz by the best-fit rule for every profile at once.

    ``tm``, ``cm``: times and values of the measurable points sorted by (group, time);
    ``first_max_pos`` and ``last_pos``: each group's positions of its first maximum (Tmax) and
    of Tlast in those arrays. The eligible points of a group are the ones after its first
    maximum (from it when the Cmax point is allowed) up to Tlast. Windows are the last k of
    them (k >= min_points), built by adding one point at a time from Tlast backwards, for
    every group at once: step p adds the point p places before Tlast and updates each group's
    running means and centred sums (Welford's update, in coordinates shifted to
    (Tlast, ln Clast) for accuracy). The loop runs once per point of the longest terminal
    phase, over the groups that still have points. A first pass finds each group's largest
    adjusted R² among falling windows, a second keeps the window with the most points within
    the tolerance of it."""
    rules = s.terminal
    n_elig = np.where(has_meas, last_pos - first_max_pos + (1 if s.include_cmax else 0), 0)
    # Groups still being extended, with the index of Tlast, Tlast and ln Clast, and their
    # running means and centred sums; the arrays shrink as groups run out of points.
    active = np.flatnonzero(n_elig > 0)
    last_idx = last_pos[active]
    tl, lcl = tlast[active], np.log(clast[active])
    mx, my = np.zeros(active.size), np.zeros(active.size)
    sxx, syy, sxy = np.zeros(active.size), np.zeros(active.size), np.zeros(active.size)
    steps = []
    best = np.full(G, -np.inf)
    max_n = int(n_elig.max()) if G else 0
    for p in range(max_n):
        if p:
            keep = n_elig[active] > p
            if not keep.all():
                active, last_idx, tl, lcl = active[keep], last_idx[keep], tl[keep], lcl[keep]
                mx, my, sxx, syy, sxy = mx[keep], my[keep], sxx[keep], syy[keep], sxy[keep]
        idx = last_idx - p
        tt = tm[idx]
        xx, yy = tt - tl, np.log(cm[idx]) - lcl
        k = p + 1
        dx, dy = xx - mx, yy - my
        mx = mx + dx / k
        my = my + dy / k
        sxx = sxx + dx * (xx - mx)
        syy = syy + dy * (yy - my)
        sxy = sxy + dx * (yy - my)
        if k < rules.min_points:
            continue
        slope = sxy / sxx
        v = np.flatnonzero(slope < 0)
        if not v.size:
            continue
        gv, slope = active[v], slope[v]
        r2 = sxy[v] ** 2 / (sxx[v] * syy[v])
        adj = 1 - (1 - r2) * (k - 1) / (k - 2)
        best[gv] = np.maximum(best[gv], adj)
        steps.append((gv, k, slope, r2, adj, mx[v], my[v], tt[v]))
    names = ("lambda_z", "lambda_z_intercept", "r_squared", "adj_r_squared", "corr_xy",
             "lambda_z_time_first", "lambda_z_time_last", "clast_pred")
    out = {k: np.full(G, np.nan) for k in names}
    npts = np.zeros(G, dtype=np.int64)
    tol = float(rules.adj_r_squared_tolerance)
    shift = np.zeros(G)  # intercept of the shifted regression (ln C - ln Clast at Tlast)
    for gv, k, slope, r2, adj, mxv, myv, tf in steps:      # more points overwrite fewer
        q = np.flatnonzero(adj >= best[gv] - tol)
        gq = gv[q]
        npts[gq] = k
        out["lambda_z"][gq] = -slope[q]
        out["r_squared"][gq] = r2[q]
        out["adj_r_squared"][gq] = adj[q]
        out["lambda_z_time_first"][gq] = tf[q]
        shift[gq] = myv[q] - slope[q] * mxv[q]
    done = npts > 0
    lz = out["lambda_z"]
    out["corr_xy"][done] = -np.sqrt(out["r_squared"][done])
    out["lambda_z_time_last"][done] = tlast[done]
    out["clast_pred"][done] = clast[done] * np.exp(shift[done])
    out["lambda_z_intercept"][done] = (np.log(clast[done]) + shift[done]
                                       + lz[done] * tlast[done])
    reason = np.full(G, LZ_OK, dtype=np.int64)
    reason[~done] = LZ_NOT_FALLING
    reason[~done & (n_elig < rules.min_points)] = LZ_TOO_FEW
    reason[~has_meas] = LZ_NO_MEASURABLE
    texts = np.array([LAMBDA_Z_REASONS[i] for i in sorted(LAMBDA_Z_REASONS)], dtype=object)
    out["lambda_z_n_points"] = npts
    out["lambda_z_reason"] = texts[reason]
    return out


def _insert_c0(g2: np.ndarray, t2: np.ndarray, v2: np.ndarray, G: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IV bolus: insert (0, C0) before each group's first retained point when that point is
    after time 0 (C0 back-extrapolated from the first two retained points, or the first value;
    see the module docstring). Returns the new arrays, C0 per group and the inserted mask."""
    n_ret = np.bincount(g2, minlength=G)
    starts = np.cumsum(n_ret) - n_ret
    c0 = np.full(G, np.nan)
    any_ret = np.flatnonzero(n_ret > 0)
    i1 = starts[any_ret]
    t1, c1 = t2[i1], v2[i1]
    c0[any_ret] = c1
    two = n_ret[any_ret] >= 2
    j = i1[two]
    ta, tb, ca, cb = t2[j], t2[j + 1], v2[j], v2[j + 1]
    back = (ca > 0) & (cb > 0) & (cb < ca) & (ta > 0)
    gi = any_ret[two][back]
    ta, tb, ca, cb = ta[back], tb[back], ca[back], cb[back]
    c0[gi] = np.exp(np.log(ca) - ta * (np.log(cb) - np.log(ca)) / (tb - ta))
    inserted = np.zeros(G, dtype=bool)
    need = any_ret[t1 > 0]
    inserted[need] = True
    at = starts[need]
    return (np.insert(g2, at, need), np.insert(t2, at, 0.0), np.insert(v2, at, c0[need]),
            c0, inserted)


def _derived(out: dict[str, np.ndarray], auc_back: np.ndarray) -> None:
    """Parameters computed from others (in place): AUCinf, AUMCinf, extrapolated percentages,
    MRT, dose-normalised values, clearance and volume (formulas in the module docstring)."""
    lz, clast, tlast = out["lambda_z"], out["clast"], out["tlast"]
    auclast, aumclast, dose = out["auclast"], out["aumclast"], out["dose"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["half_life"] = math.log(2) / lz
        out["mrtlast"] = aumclast / auclast
        for kind, cl in (("obs", clast), ("pred", out["clast_pred"])):
            aucinf = auclast + cl / lz
            aumcinf = aumclast + cl * tlast / lz + cl / (lz * lz)
            out[f"aucinf_{kind}"] = aucinf
            out[f"auc_pct_extrap_{kind}"] = 100 * (aucinf - auclast) / aucinf
            out[f"aumcinf_{kind}"] = aumcinf
            out[f"aumc_pct_extrap_{kind}"] = 100 * (aumcinf - aumclast) / aumcinf
            out[f"mrtinf_{kind}"] = aumcinf / aucinf
            out[f"auc_pct_back_ext_{kind}"] = 100 * auc_back / aucinf
            out[f"aucinf_d_{kind}"] = aucinf / dose
            out[f"cl_{kind}"] = dose / aucinf
            out[f"vz_{kind}"] = dose / (lz * aucinf)
        out["cmax_d"] = out["cmax"] / dose


def _group_sum(groups: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of ``weights`` per group code (float64, 0 for groups without any)."""
    return np.bincount(groups, weights=weights, minlength=n_groups).astype(float, copy=False)


def _interp(x: np.ndarray, t1: np.ndarray, c1: np.ndarray, c2: np.ndarray, dt: np.ndarray,
            log: np.ndarray) -> np.ndarray:
    """Concentration at ``x`` inside segments: linear, or log-linear where ``log``."""
    f = (x - t1) / dt
    out = c1 + (c2 - c1) * f
    if log.any():
        out[log] = np.exp(np.log(c1[log]) + (np.log(c2[log]) - np.log(c1[log])) * f[log])
    return out
