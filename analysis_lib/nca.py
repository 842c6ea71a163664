"""Non-compartmental analysis (NCA) of CAR-T cellular kinetics: Cmax, Tmax, Clast, Tlast,
AUClast, AUCall and the AUC over an interval (the paper's AUC0-28d), with explicit, named
rules for results below the lower limit of quantification (BLQ).

The paper (Methods, "Pharmacokinetics of CAR-T cells"; Results, "PK of CAR-T cells") reports
Cmax, Tmax, Tlast and AUC0-28d of the transgene level (copies/µg genomic DNA, LLOQ 100
copies/µg) and stops monitoring after two consecutive results below the LLOQ.

Design (after R PKNCA): the concentration table is the only input (a single infusion at day 0
is implied, so there is no dose table); BLQ handling and the AUC rule are named settings
carried by the result; results come as a wide table (one row per profile) and a tidy long
table (id, parameter, value, unit). :func:`nca` computes all profiles at once with array
operations; :func:`nca_loop` is a plain per-profile reference implementation with the same
signature and results, used by the tests and the benchmark.

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

Undefined results are NaN, never an exception; the ``reason`` column says why (messages joined
by ``"; "``, empty when nothing is unusual):

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
from scipy import stats

BLQOption = Literal["zero", "drop", "lloq_half", "lloq"]
#: Named options for each BLQ position: set to 0, drop the result, set to LLOQ/2, set to LLOQ.
BLQ_OPTIONS: tuple[str, ...] = ("zero", "drop", "lloq_half", "lloq")

AUCMethod = Literal["linear-up/log-down", "linear"]
AUC_METHODS: tuple[str, ...] = ("linear-up/log-down", "linear")

IncompleteInterval = Literal["nan", "truncate"]
INCOMPLETE_OPTIONS: tuple[str, ...] = ("nan", "truncate")

#: Columns of :attr:`NCAResult.wide` after the id column, in this order.
COLUMNS: tuple[str, ...] = (
    "n_samples", "n_measurable", "cmax", "tmax", "clast", "tlast", "auclast", "aucall",
    "auc_interval", "auc_interval_complete", "persistence_ended", "expanded", "reason",
)

#: Numeric pharmacokinetic parameters (summarised by :meth:`NCAResult.summary`).
PK_PARAMETERS: tuple[str, ...] = (
    "cmax", "tmax", "clast", "tlast", "auclast", "aucall", "auc_interval",
)


def units_for(time_unit: str = "day", conc_unit: str = "copies/µg DNA") -> dict[str, str]:
    """Unit of every column of :attr:`NCAResult.wide` ("" for counts and flags)."""
    auc = f"{time_unit}·{conc_unit}"
    return {"n_samples": "", "n_measurable": "", "cmax": conc_unit, "tmax": time_unit,
            "clast": conc_unit, "tlast": time_unit, "auclast": auc, "aucall": auc,
            "auc_interval": auc, "auc_interval_complete": "", "persistence_ended": "",
            "expanded": "", "reason": ""}


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
    """Result of :func:`nca` / :func:`nca_loop`.

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
    """

    wide: pd.DataFrame
    auc_method: str
    rules: BLQRules
    interval: tuple[float, float]
    incomplete_interval: str
    expansion_threshold: float | None
    id_col: str
    units: dict[str, str]

    def __repr__(self) -> str:
        return (f"NCAResult({len(self.wide)} profiles; AUC {self.auc_method}; "
                f"interval [{self.interval[0]:g}, {self.interval[1]:g}]; "
                f"{self.rules.describe()})")

    @property
    def method(self) -> str:
        """One-line description of the settings, for tables and captions."""
        thr = ("Cmax measurable" if self.expansion_threshold is None
               else f"Cmax >= {self.expansion_threshold:g}")
        return (f"NCA: AUC {self.auc_method}; interval [{self.interval[0]:g}, "
                f"{self.interval[1]:g}] ({self.incomplete_interval} if incomplete); "
                f"{self.rules.describe()}; expanded: {thr}")

    def long(self) -> pd.DataFrame:
        """Tidy long table (PKNCA style): id, parameter, value, unit.

        One row per profile and parameter (every column of :data:`COLUMNS` except ``reason``),
        profiles in id order, parameters in :data:`COLUMNS` order; flags are 1.0/0.0.
        """
        params = [c for c in COLUMNS if c != "reason"]
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
            pos = np.log(x[x > 0])
            k = pos.size
            gm = lo = hi = cv = np.nan
            if k >= 1:
                gm = float(np.exp(pos.mean()))
            if k >= 2:
                s = float(pos.std(ddof=1))
                half = float(stats.t.ppf(0.5 + conf_level / 2, k - 1)) * s / math.sqrt(k)
                lo, hi = float(np.exp(pos.mean() - half)), float(np.exp(pos.mean() + half))
                cv = 100.0 * math.sqrt(math.expm1(s * s))
            rows.append({
                "parameter": p, "unit": self.units[p], "n": int(x.size),
                "median": float(np.median(x)) if x.size else np.nan,
                "min": float(x.min()) if x.size else np.nan,
                "max": float(x.max()) if x.size else np.nan,
                "n_positive": int(k), "geo_mean": gm, "geo_ci_low": lo, "geo_ci_high": hi,
                "geo_cv_pct": cv,
            })
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


def _settings(auc_method: str, interval_start: float, interval_end: float, rules: BLQRules,
              incomplete_interval: str, expansion_threshold: float | None) -> _Settings:
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
    return _Settings(auc_method, rules, a, b, incomplete_interval, thr)


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
    wide = pd.DataFrame({id_col: ids, **{k: cols[k] for k in COLUMNS}})
    return NCAResult(wide, s.auc_method, s.rules, (s.start, s.end), s.incomplete, s.threshold,
                     id_col, units)


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
        time_unit: str = "day", conc_unit: str = "copies/µg DNA") -> NCAResult:
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

    Returns
    -------
    NCAResult with one row per id (ids sorted), columns :data:`COLUMNS` (see the module
    docstring for definitions and for how undefined values are reported).

    Raises
    ------
    ValueError: duplicate (id, time) rows (the message names them), missing ids or times,
        missing columns, invalid settings.
    """
    s = _settings(auc_method, interval_start, interval_end, rules, incomplete_interval,
                  expansion_threshold)
    ids, t, c, blq, lloq = _columns(conc, id_col, time_col, conc_col, blq_col, lloq_col)
    codes, uniques = pd.factorize(ids, sort=True)
    if codes.size and codes.min() < 0:
        raise ValueError(f"{id_col} has missing values")
    g = codes.astype(np.int64, copy=False)
    n_groups = len(uniques)

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

    cols = _nca_sorted(g, t, c, blq, lloq, n_groups, s)
    return _result(np.asarray(uniques), id_col, cols, s, units_for(time_unit, conc_unit))


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
                lloq: np.ndarray, n_groups: int, s: _Settings) -> dict[str, np.ndarray]:
    """All parameters from arrays sorted by (group code, time), codes 0..n_groups-1."""
    G = n_groups
    nan = np.nan

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
    n_ret = np.bincount(g2, minlength=G)
    starts2 = np.cumsum(n_ret) - n_ret
    first_ret_time = np.full(G, nan)
    first_ret_time[n_ret > 0] = t2[starts2[n_ret > 0]]

    si = np.flatnonzero(g2[1:] == g2[:-1])
    gs = g2[si]
    ta, tb = t2[si], t2[si + 1]
    ca, cb = v2[si], v2[si + 1]
    del g2, t2, v2, si
    dt = tb - ta
    tlast_seg = np.where(has_meas, tlast, -np.inf)[gs]
    area = dt * (ca + cb) / 2
    if s.auc_method == "linear-up/log-down":
        logi = np.flatnonzero((cb < ca) & (cb > 0) & (ta < tlast_seg))
        area[logi] = dt[logi] * (ca[logi] - cb[logi]) / np.log(ca[logi] / cb[logi])
        use_log = np.zeros(gs.size, dtype=bool)
        use_log[logi] = True
    else:
        use_log = np.zeros(gs.size, dtype=bool)

    aucall = _group_sum(gs, area, G)
    to_last = tb <= tlast_seg
    auclast = _group_sum(gs[to_last], area[to_last], G)
    del to_last, tlast_seg

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

    auclast = np.where(~has_meas, 0.0, auclast)
    auclast[~ok | (no_t0 & has_meas)] = nan
    aucall[~ok | no_t0] = nan
    auc_int[~ok | no_start] = nan
    if s.incomplete == "nan":
        auc_int[~complete] = nan

    expanded = (cmax >= s.threshold) if s.threshold is not None else ~np.isnan(cmax)
    codes, inverse = np.unique(flags, return_inverse=True)
    texts = np.array([reason_text(int(f)) for f in codes], dtype=object)
    return {
        "n_samples": n_samples, "n_measurable": n_meas, "cmax": cmax, "tmax": tmax,
        "clast": clast, "tlast": tlast, "auclast": auclast, "aucall": aucall,
        "auc_interval": auc_int, "auc_interval_complete": complete,
        "persistence_ended": persistence_ended, "expanded": expanded,
        "reason": texts[inverse.reshape(-1)],
    }


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


# --------------------------------------------------------------------------------------------
# Reference implementation: one profile at a time, plain Python
# --------------------------------------------------------------------------------------------

def nca_loop(conc: pd.DataFrame, *, id_col: str = "patient_id", time_col: str = "day",
             conc_col: str = "copies_per_ug_dna", blq_col: str | None = "below_lloq",
             lloq_col: str | None = "lloq_copies_per_ug_dna",
             auc_method: AUCMethod = "linear-up/log-down", interval_end: float = 28.0,
             interval_start: float = 0.0, rules: BLQRules = BLQRules(),
             expansion_threshold: float | None = None,
             incomplete_interval: IncompleteInterval = "nan",
             time_unit: str = "day", conc_unit: str = "copies/µg DNA") -> NCAResult:
    """Reference implementation of :func:`nca`: same arguments and results, but it loops over
    profiles and follows the definitions literally. Slow; used to check :func:`nca`."""
    s = _settings(auc_method, interval_start, interval_end, rules, incomplete_interval,
                  expansion_threshold)
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
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), len(frame)]
    out: dict[str, list] = {k: [] for k in COLUMNS}
    for i, j in zip(starts, stops):
        if i == j:
            continue
        res = _profile(t_all[i:j], c_all[i:j], b_all[i:j], l_all[i:j], s)
        for k in COLUMNS:
            out[k].append(res[k])
    cols = {k: np.array(v, dtype=object if k == "reason" else None) for k, v in out.items()}
    for k in ("n_samples", "n_measurable"):
        cols[k] = cols[k].astype(np.int64)
    for k in PK_PARAMETERS:
        cols[k] = cols[k].astype(float)
    for k in ("auc_interval_complete", "persistence_ended", "expanded"):
        cols[k] = cols[k].astype(bool)
    return _result(np.asarray(out_ids), id_col, cols, s, units_for(time_unit, conc_unit))


def _profile(times: list[float], values: list[float], blqs: list[bool], lloqs: list[float],
             s: _Settings) -> dict:
    """NCA of one profile, sorted by time (plain Python, following the definitions)."""
    nan = float("nan")
    res = {k: nan for k in PK_PARAMETERS}
    flags = 0
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
    elif n:
        flags |= _NO_MEASURABLE
        i_first, i_last = n, n  # every BLQ result is "before the first measurable"
    res["expanded"] = (not math.isnan(res["cmax"]) and (s.threshold is None
                                                        or res["cmax"] >= s.threshold))

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
            if not starts_at_0:
                flags |= _NO_TIME0
            if not meas_idx:
                res["auclast"] = 0.0
            elif starts_at_0:
                res["auclast"] = _sum_area(segs, 0.0, tlast)
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
    return res


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
