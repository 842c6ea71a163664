"""The options registry: every threshold and option a researcher can set, in one place.

Each :class:`Option` has a name, a type, a default, a unit, a one-line description, its source
(the paper's section, or the convention followed), a validator and the chapters that use it,
as ``PKNCA.options`` does for PKNCA. Defaults that are numbers of the paper (the dose cut at
the paper's median dose, the screening p, the text's dose threshold, the MRD sensitivity)
are *read* from the published registry (``data/published/registry.csv``,
:mod:`analysis_lib.paper.registry`), never typed a second time.

The notebooks' parameters cells (``notebooks/*.py``, the cell tagged ``parameters``) stay the
papermill interface; ``tests/test_options.py`` checks that every cell declares exactly the
options this registry gives its chapter, with the same defaults.

Setting options (``cartbook build -p NAME=VALUE``, ``-p CHAPTER.NAME=VALUE``, ``--params
FILE.yml``) goes through :func:`parse_assignment`, :func:`load_params_file` and
:func:`check_overrides`: a value is coerced to the option's type and validated, and any
problem raises :class:`ParameterError` listing the valid parameters.

Cohort-relative values
----------------------
The paper cut the dose at its own cohort's median. An option with a ``cohort_relative``
column (``dose_cut``) also accepts the word ``"median"``, resolved from the data by
:func:`resolve` to the median of that column (non-missing values); the number it resolves to is
shown on the page (:func:`shown_value`). The default stays the paper's number.
"""

from __future__ import annotations

import ast
import fnmatch
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

#: Notebook parameters that are plumbing, set by the pipeline and never by a user.
PLUMBING: tuple[str, ...] = ("data_dir", "output_dir", "chapter", "notebooks_dir")
#: The word that asks for a cohort-relative cut (:func:`resolve`).
MEDIAN = "median"

#: Chapters (notebooks) that declare analysis options.
ANALYSIS_CHAPTERS: tuple[str, ...] = ("cohort", "kinetics", "survival", "toxicity", "index",
                                      "scorecard", "simulation")


class ParameterError(ValueError):
    """A parameter given on the command line or in a parameters file is unknown, of the wrong
    type or impossible. The message names the parameter and lists the valid ones."""


@lru_cache(maxsize=None)
def _published(key: str) -> float:
    from ..paper.registry import load_registry

    reg = load_registry()
    row = reg.loc[reg["key"] == key]
    if len(row) != 1:
        raise KeyError(f"registry key {key!r} not found once in data/published/registry.csv")
    return float(row.iloc[0]["value"])


def published_default(*keys: str) -> float:
    """The published number stored under ``keys`` in the registry (all of them must agree:
    the paper printing one threshold in two places)."""
    values = {_published(k) for k in keys}
    if len(values) != 1:
        raise ValueError(f"registry keys {keys} disagree: {sorted(values)}")
    return values.pop()


# --------------------------------------------------------------------------------------------
# Validators: each returns the problem as text, or "" when the value is fine
# --------------------------------------------------------------------------------------------

def _open_unit(v: Any) -> str:
    return "" if 0 < v < 1 else "must lie strictly between 0 and 1"


def _half_open_unit(v: Any) -> str:
    return "" if 0 < v <= 1 else "must lie in (0, 1]"


def _positive(v: Any) -> str:
    return "" if v > 0 and math.isfinite(v) else "must be a positive number"


def _non_negative(v: Any) -> str:
    return "" if v >= 0 else "must be >= 0"


def _increasing(inside: Callable[[float], bool], what: str) -> Callable[[Any], str]:
    def check(v: Sequence[float]) -> str:
        if not v:
            return "must list at least one value"
        if any(not inside(x) for x in v):
            return f"every value must be {what}"
        if list(v) != sorted(set(v)):
            return "cut-points must be strictly increasing (in order, no repeats)"
        return ""
    return check


def _int_between(lo: int, hi: int) -> Callable[[Any], str]:
    return lambda v: "" if lo <= v <= hi else f"must lie between {lo} and {hi}"


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One option.

    ``kind``: ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` (one of ``choices``) or
    ``"floats"`` (a list of numbers); ``nullable``: ``None`` is allowed (meaning given in the
    description); ``cohort_relative``: the patients' column whose median ``"median"``
    resolves to. ``registry_keys``: the published numbers the default is read from (empty:
    ``fixed`` is the default, a convention). ``affects``: patterns (:mod:`fnmatch`) of the
    registry and claim keys whose reproduced values depend on the option; the scorecard
    marks those as computed under another parameter when the option differs from the paper's
    (:func:`changed_parameters`).
    """
    name: str
    kind: str
    unit: str
    description: str
    source: str
    chapters: tuple[str, ...]
    fixed: Any = None
    registry_keys: tuple[str, ...] = ()
    check: Callable[[Any], str] | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    cohort_relative: str = ""
    affects: tuple[str, ...] = ("*",)

    @property
    def default(self) -> Any:
        """The default: the paper's number from the registry, else the convention."""
        if self.registry_keys:
            value = published_default(*self.registry_keys)
            return int(value) if self.kind == "int" else value
        return list(self.fixed) if isinstance(self.fixed, (list, tuple)) else self.fixed

    @property
    def type_text(self) -> str:
        """The type as the parameters table shows it."""
        text = {"float": "number", "int": "integer", "bool": "true/false",
                "floats": "list of numbers", "ints": "list of whole numbers", "text": "text",
                "choice": " | ".join(self.choices)}[self.kind]
        if self.cohort_relative:
            text += " | median"
        if self.nullable:
            text += " | none"
        return text

    def coerce(self, value: Any) -> Any:
        """``value`` converted to the option's type and validated; raises
        :class:`ParameterError` naming the option."""
        if self.nullable and (value is None or (isinstance(value, str)
                                                and value.strip().lower() in ("none", "null"))):
            return None
        if self.cohort_relative and isinstance(value, str) and value.strip().lower() == MEDIAN:
            return MEDIAN
        try:
            out = _COERCE[self.kind](value, self)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{self.name}: {exc}, got {value!r}") from None
        problem = self.check(out) if self.check else ""
        if problem:
            raise ParameterError(f"{self.name} = {_literal(out)}: {problem}")
        return out


def _to_float(v: Any, opt: Option | None = None) -> float:
    if isinstance(v, bool):
        raise TypeError("expected a number")
    if isinstance(v, (int, float)):
        out = float(v)
    elif isinstance(v, str):
        try:
            out = float(v.strip())
        except ValueError:
            raise ValueError("expected a number" + (" or 'median'" if opt and opt.cohort_relative
                                                    else "")) from None
    else:
        raise TypeError("expected a number")
    if not math.isfinite(out):
        raise ValueError("expected a finite number")
    return out


def _to_int(v: Any, opt: Option) -> int:
    if isinstance(v, bool):
        raise TypeError("expected a whole number")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        return int(v.strip())
    raise TypeError("expected a whole number")


def _to_bool(v: Any, opt: Option) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise TypeError("expected true or false")


def _to_choice(v: Any, opt: Option) -> str:
    if isinstance(v, str) and v in opt.choices:
        return v
    raise ValueError("expected one of " + ", ".join(repr(c) for c in opt.choices))


def _to_floats(v: Any, opt: Option) -> list[float]:
    if isinstance(v, str):
        v = _parse_literal(v)
    if not isinstance(v, (list, tuple)):
        raise TypeError("expected a list of numbers such as [0.0001, 0.001]")
    return [_to_float(x) for x in v]


def _to_ints(v: Any, opt: Option) -> list[int]:
    if isinstance(v, str):
        try:
            v = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError):
            raise ValueError("expected a list of whole numbers such as [50, 100]") from None
    if not isinstance(v, (list, tuple)):
        raise TypeError("expected a list of whole numbers such as [50, 100]")
    return [_to_int(x, opt) for x in v]


def _to_text(v: Any, opt: Option) -> str:
    if not isinstance(v, str):
        raise TypeError("expected text")
    return v


_COERCE: dict[str, Callable[[Any, Option], Any]] = {
    "float": _to_float, "int": _to_int, "bool": _to_bool, "choice": _to_choice,
    "floats": _to_floats, "ints": _to_ints, "text": _to_text}

_KIN, _SURV, _TOX, _COH, _IDX = "kinetics", "survival", "toxicity", "cohort", "index"
_SIM, _SC = "simulation", "scorecard"

#: Every option, by name (the order of the parameters table).
OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("conf_level", "float", "fraction",
           "Confidence level of every interval", "95% intervals throughout the paper "
           "(Statistical analysis)", (_COH, _KIN, _SURV, _TOX, _IDX), fixed=0.95,
           check=_open_unit, affects=()),
    Option("min_cell_count", "int", "patients",
           "Small-cell suppression: counts 1 to k-1 shown as <k (0: off), with the "
           "percentages and scorecard statuses that would give them away",
           "disclosure control convention (analysis_lib.data.privacy); "
           "also cartbook build --min-cell-count", (_COH, _KIN, _SURV, _TOX, _IDX, _SC), fixed=0,
           check=_non_negative, affects=()),
    Option("age_cut_years", "float", "years",
           "Age cut of the age groups (≤ cut vs > cut)", "Table 3 rows 0-10 / >10 years; "
           "Table 2 and Supplementary Table S2 age groups", (_COH, _KIN, _SURV, _TOX),
           fixed=10.0, check=_positive,
           affects=("t3_age_*", "*_age*")),
    Option("mrd_cuts", "floats", "fraction of nucleated cells",
           "MRD cut-points of the MRD strata, increasing",
           "Table 3 MRD rows (10⁻⁴, 10⁻³, 10⁻²); Figure 1 and Supplementary Figure S1",
           (_COH, _KIN, _SURV), fixed=[1e-4, 1e-3, 1e-2],
           check=_increasing(lambda x: 0 < x < 1, "a fraction in (0, 1)"),
           affects=("t3_pre_ld_mrd_*", "t3_post_ld_mrd_*", "*_pre_ld_low*", "*_post_ld_low*",
                    "*pre_infusion_mrd*")),
    Option("mrd_negative_below", "float", "fraction of nucleated cells",
           "MRD below this is negative (the flow-cytometry sensitivity)",
           "Methods: FCM sensitivity (registry methods_fcm_sensitivity)", (_COH, _KIN, _SURV),
           registry_keys=("methods_fcm_sensitivity",), check=_open_unit,
           affects=("*mrd_neg*", "*mrd_cr*", "gm_cmax_*", "n_mrd_*", "pct_mrd_*")),
    Option("dose_cut", "float", "10⁶ CAR-T cells/kg",
           "Dose cut of the low-dose groups (< cut vs ≥ cut); 'median' takes this "
           "cohort's median dose",
           "the paper's median dose, Tables 2 and 3 (registry dose_median)",
           (_KIN, _SURV, _TOX), registry_keys=("dose_median",), check=_positive,
           cohort_relative="cart_dose_1e6_per_kg",
           affects=("t3_dose_*", "*dose_low*", "*_dose", "claim_dose_*", "mv1_*", "mv2_*")),
    Option("dose_cut_text", "float", "10⁶ CAR-T cells/kg",
           "The dose threshold printed in the text, compared beside the tables' cut",
           "Toxicity section (registry dose_threshold_text; audit finding dose_cut)", (_TOX,),
           registry_keys=("dose_threshold_text",), check=_positive,
           affects=("dose_low_crs_p",)),
    Option("screen_p", "float", "p-value",
           "Univariate p below which a factor enters the multivariable models",
           "Table 2 title and Treatment outcomes (registry table2_screening_p_threshold, "
           "cox_screening_p_threshold)", (_SURV, _TOX),
           registry_keys=("table2_screening_p_threshold", "cox_screening_p_threshold"),
           check=_half_open_unit,
           affects=("hr_*", "mv1_*", "mv2_*")),
    Option("horizons_years", "floats", "years",
           "Times of the survival table (OS, LFS, CIR, NRM at each)",
           "Treatment outcomes: 1-, 2-, 3- and 5-year estimates", (_SURV,), fixed=[1, 2, 3, 5],
           check=_increasing(lambda x: x > 0, "positive"), affects=("*_5y",)),
    Option("landmarks_months", "floats", "months",
           "Landmarks of the immortal-time analysis of bridging HSCT",
           "convention (Anderson et al. 1983 landmark method)", (_SURV,),
           fixed=[3.0, 6.0, 9.0], check=_increasing(lambda x: x > 0, "positive"), affects=()),
    Option("main_landmark_months", "float", "months",
           "The landmark the chapter discusses", "convention", (_SURV,), fixed=6.0,
           check=_positive, affects=()),
    Option("bca_unit_days", "float", "days",
           "Unit of B-cell-aplasia duration in the Cox models (one month)",
           "convention: 365.25/12 days (the paper does not state the unit)", (_SURV,),
           fixed=30.4375, check=_positive, affects=("hr_bca_lfs",)),
    Option("risk_table_step_months", "int", "months",
           "Spacing of the time ticks and numbers at risk under Kaplan-Meier curves",
           "convention (Figure 1)", (_SURV,), fixed=12, check=_positive, affects=()),
    Option("severe_crs_grade", "int", "ASTCT grade",
           "CRS of at least this grade is severe", "Table 2 (grade ≥3 CRS)", (_TOX,),
           fixed=3, check=_int_between(1, 5),
           affects=("*severe_crs*", "mv1_*", "mv2_*", "severe_crs_pct")),
    Option("model_mrd_cut", "float", "fraction of nucleated cells",
           "MRD cut of the MRD factors of the CRS models and of tumour burden",
           "Table 2 rows MRD<10⁻³", (_TOX,), fixed=1e-3, check=_open_unit,
           affects=("*_pre_ld_low*", "*_post_ld_low*", "mv1_*", "mv2_*")),
    Option("screen_test", "choice", "",
           "Test of the univariate screen of the CRS models",
           "convention: likelihood ratio (the paper does not state it)", (_TOX,), fixed="lr",
           choices=("lr", "wald", "firth"), affects=()),
    Option("il6_thresholds", "floats", "pg/mL",
           "IL-6 thresholds of the threshold table, increasing",
           "convention (common IL-6 cut-offs)", (_TOX,),
           fixed=[10.0, 20.0, 40.0, 100.0, 500.0, 1000.0],
           check=_increasing(lambda x: x > 0, "positive"), affects=()),
    Option("epv_advised", "int", "events per variable",
           "Events per variable the narrative calls adequate",
           "convention (Peduzzi et al. 1996)", (_TOX,), fixed=10, check=_positive,
           affects=()),
    Option("auc_method", "choice", "", "AUC rule of the non-compartmental analysis",
           "convention: PKNCA/WinNonlin default linear-up/log-down", (_KIN,),
           fixed="linear-up/log-down", choices=("linear-up/log-down", "linear"),
           affects=("*auc28*",)),
    Option("expansion_threshold", "float", "copies/µg DNA",
           "Peak level that counts as expansion (none: twice the assay's LLOQ)",
           "convention (the paper does not define expansion)", (_KIN,), fixed=None,
           nullable=True, check=_positive, affects=("expansion_pct", "n_expansion")),
    Option("mw_method", "choice", "", "Mann-Whitney p: R's rule, exact or asymptotic",
           "convention: R wilcox.test", (_KIN,), fixed="auto",
           choices=("auto", "exact", "asymptotic"), affects=("t3_*_p_*",)),
    Option("mw_correct", "bool", "", "Continuity correction of the Mann-Whitney normal "
           "approximation", "convention: R wilcox.test (correct = TRUE)", (_KIN,), fixed=True,
           affects=("t3_*_p_*",)),
    Option("spearman_method", "choice", "", "Spearman p: R's default or the t approximation",
           "convention: R cor.test", (_KIN,), fixed="auto", choices=("auto", "asymptotic"),
           affects=("r_*_p",)),
    Option("lambda_z_min_points", "int", "samples",
           "Terminal phase: fewest measurable levels after the peak",
           "convention: WinNonlin best fit (3)", (_KIN,), fixed=3, check=_int_between(2, 100),
           affects=()),
    Option("lambda_z_adj_r2_tolerance", "float", "",
           "Terminal phase: adjusted R² within this of the best fit",
           "convention: WinNonlin best fit (10⁻⁴)", (_KIN,), fixed=1e-4,
           check=lambda v: "" if 0 <= v < 1 else "must lie in [0, 1)", affects=()),
    Option("simulation_dir", "text", "folder",
           "Results folder of a stored simulation study (empty: data/simulation of the "
           "repository, when present)", "convention (cartbook simulate --out)", (_SIM,),
           fixed="", affects=()),
    Option("quick_replicates", "int", "trials",
           "Trials per scenario of the quick study run when no stored study is present",
           "convention: a modest study within the build's time budget", (_SIM,), fixed=20,
           check=_int_between(1, 100_000), affects=()),
    Option("quick_sizes", "ints", "patients",
           "Cohort sizes of the quick study, increasing",
           "the paper's cohort size (Patients)", (_SIM,), fixed=[50],
           check=_increasing(lambda x: 10 <= x <= 100_000, "between 10 and 100,000 patients"),
           affects=()),
)}


def chapter_options(chapter: str) -> list[str]:
    """Names of the options that ``chapter`` uses, in registry order."""
    return [n for n, o in OPTIONS.items() if chapter in o.chapters]


def defaults(chapter: str | None = None) -> dict[str, Any]:
    """The default of every option (of ``chapter``'s only, if given)."""
    names = chapter_options(chapter) if chapter else list(OPTIONS)
    return {n: OPTIONS[n].default for n in names}


def valid_parameters(chapter: str | None = None) -> str:
    """The valid parameters as a few lines of text (for an error message)."""
    names = chapter_options(chapter) if chapter else list(OPTIONS)
    head = f"valid parameters of {chapter}" if chapter else "valid parameters"
    rows = [f"  {n} ({OPTIONS[n].type_text}; default {_literal(OPTIONS[n].default)}; "
            + ", ".join(OPTIONS[n].chapters) + ")" for n in names]
    return f"{head} (set one chapter's with CHAPTER.NAME; see cartbook params):\n" + "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Parsing and checking what a user sets
# --------------------------------------------------------------------------------------------

def _parse_literal(text: str) -> Any:
    """A value as typed on the command line: a Python/YAML-like literal (``0.1``, ``1e-4``,
    ``[1e-4, 1e-3]``, ``true``, ``none``), else the text itself."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null", "~"):
        return None
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return s


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"survival.screen_p=0.1"`` -> ``("survival.screen_p", 0.1)``."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(f"-p {item!r}: expected NAME=VALUE (or CHAPTER.NAME=VALUE)\n"
                             + valid_parameters())
    return name, _parse_literal(text)


def load_params_file(path: str | Path) -> dict[str, Any]:
    """A parameters file (YAML): ``NAME: VALUE`` pairs, ``CHAPTER.NAME: VALUE`` pairs, or a
    chapter name mapping to its own ``NAME: VALUE`` pairs::

        dose_cut: median
        survival:
          screen_p: 0.1
    """
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"--params {path}: cannot read the file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"--params {path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"--params {path}: expected NAME: VALUE pairs, got "
                             f"{type(data).__name__}")
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and str(k) not in OPTIONS:
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        else:
            out[str(k)] = v
    return out


def check_overrides(overrides: Mapping[str, Any],
                    chapters: Iterable[str] = ANALYSIS_CHAPTERS) -> dict[str, dict[str, Any]]:
    """Check what a user set and split it by chapter: ``{"dose_cut": "median",
    "survival.screen_p": 0.1}`` -> ``{"kinetics": {"dose_cut": "median"}, "survival":
    {"dose_cut": "median", "screen_p": 0.1}, "toxicity": {"dose_cut": "median"}}``.

    An unscoped name applies to every chapter that uses it; ``CHAPTER.NAME`` to that chapter
    only (and wins over the unscoped value). Every value is coerced and validated
    (:meth:`Option.coerce`); a name that no chapter of ``chapters`` uses, a wrong type or an
    impossible value raises :class:`ParameterError`, as do cross-parameter rules
    (:func:`check_chapter`). Nothing has been written when it raises.
    """
    chapters = tuple(chapters)
    plain: dict[str, Any] = {}
    scoped: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for key, value in overrides.items():
        chapter, dot, name = key.rpartition(".")
        if dot and chapter not in chapters:
            problems.append(f"{key}: no chapter {chapter!r} uses parameters; chapters: "
                            + ", ".join(c for c in chapters if chapter_options(c)))
            continue
        if name in PLUMBING:
            problems.append(f"{key}: set by the build itself, not a parameter")
            continue
        if name not in OPTIONS:
            problems.append(f"{key}: unknown parameter")
            continue
        if dot and chapter not in OPTIONS[name].chapters:
            problems.append(f"{key}: the {chapter} chapter does not use {name} (used by "
                            + ", ".join(OPTIONS[name].chapters) + ")")
            continue
        try:
            value = OPTIONS[name].coerce(value)
        except ParameterError as exc:
            problems.append(f"{chapter}.{exc}" if dot else str(exc))
            continue
        if dot:
            scoped.setdefault(chapter, {})[name] = value
        else:
            plain[name] = value
    out: dict[str, dict[str, Any]] = {}
    for ch in chapters:
        mine = {n: v for n, v in plain.items() if ch in OPTIONS[n].chapters}
        mine.update(scoped.get(ch, {}))
        if mine:
            out[ch] = mine
            problems += [f"{ch}: {p}" for p in check_chapter(ch, {**defaults(ch), **mine})]
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems) + "\n"
                             + valid_parameters())
    return out


def check_chapter(chapter: str, values: Mapping[str, Any]) -> list[str]:
    """Rules between a chapter's parameters (each one's own checks are in the registry)."""
    problems = []
    if chapter == "survival":
        lm, main = values.get("landmarks_months"), values.get("main_landmark_months")
        if lm is not None and main is not None and float(main) not in [float(x) for x in lm]:
            problems.append(f"main_landmark_months = {_literal(main)} must be one of "
                            f"landmarks_months {_literal(lm)}")
    return problems


# --------------------------------------------------------------------------------------------
# Cohort-relative values, display, and what differs from the paper
# --------------------------------------------------------------------------------------------

def resolve(name: str, value: Any, patients: Any) -> Any:
    """The value of option ``name`` to compute with: ``"median"`` of a cohort-relative option
    becomes the median of its column over the patients with a value (``patients``: the
    patients table); anything else is returned unchanged. Raises :class:`ParameterError` when
    the column has no values."""
    opt = OPTIONS.get(name)
    if opt is None or not opt.cohort_relative or not (isinstance(value, str)
                                                      and value.lower() == MEDIAN):
        return value
    import pandas as pd

    col = pd.to_numeric(patients[opt.cohort_relative], errors="coerce").dropna()
    if col.empty:
        raise ParameterError(f"{name} = median: the data have no {opt.cohort_relative} values")
    return float(col.median())


def resolve_all(values: Mapping[str, Any], patients: Any) -> dict[str, Any]:
    """:func:`resolve` for every value of ``values``."""
    return {k: resolve(k, v, patients) for k, v in values.items()}


def chapter_values(chapter: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``chapter``'s options in a notebook's ``namespace`` (its ``globals()``
    after the parameters cell), in registry order."""
    return {n: namespace[n] for n in chapter_options(chapter) if n in namespace}


def _literal(v: Any) -> str:
    """A value as a user writes it with ``-p NAME=VALUE``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def literal(v: Any) -> str:
    """Public form of the value formatter used in tables and messages."""
    return _literal(v)


def is_default(name: str, value: Any) -> bool:
    """Whether ``value`` is the option's default (lists compared element by element,
    numbers as floats)."""
    d = OPTIONS[name].default
    if isinstance(d, list) and isinstance(value, (list, tuple)):
        return len(d) == len(value) and all(_same(a, b) for a, b in zip(d, value))
    return _same(d, value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def shown_value(name: str, value: Any, resolved: Any) -> str:
    """The value as the parameters table shows it: ``median (= 2.1)`` for a cohort-relative
    value, else the literal."""
    if isinstance(value, str) and value == MEDIAN and resolved is not value:
        from ..core import formatting

        return f"median (= {formatting.number(resolved)})"
    return _literal(value)


@dataclass(frozen=True)
class Changed:
    """An option that a chapter ran with a value other than the paper's: ``value`` as given,
    ``resolved`` as computed with, ``paper`` the paper's (the default)."""
    name: str
    chapter: str
    value: Any
    resolved: Any
    paper: Any
    affects: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """E.g. "computed with dose_cut = median (= 2.1); the paper's <default>"."""
        return (f"computed with {self.name} = {shown_value(self.name, self.value, self.resolved)}"
                f"; the paper's {_literal(self.paper)}")


def changed_parameters(run: Mapping[str, Mapping[str, Any]],
                       patients: Any = None) -> list[Changed]:
    """The options that differ from the paper's, per chapter. ``run``: chapter -> the
    parameters it ran with (e.g. an executed notebook's ``metadata.papermill.parameters``);
    ``patients`` resolves cohort-relative values (a ``median`` that resolves to the paper's
    number is not a change). Options whose ``affects`` is empty (confidence level, display
    options) are left out: they change no scored number."""
    out = []
    for chapter, values in run.items():
        for name, value in values.items():
            opt = OPTIONS.get(name)
            if opt is None or not opt.affects or chapter not in opt.chapters:
                continue
            resolved = resolve(name, value, patients) if patients is not None else value
            if resolved == MEDIAN or not is_default(name, resolved):
                out.append(Changed(name, chapter, value, resolved, opt.default, opt.affects))
    return out


def affected_keys(changed: Sequence[Changed], keys_by_chapter: Mapping[str, Iterable[str]]
                  ) -> dict[str, str]:
    """Registry or claim key -> why its reproduced value is not comparable with the paper's:
    for each changed option, the keys of its chapter that match its ``affects`` patterns."""
    out: dict[str, str] = {}
    for c in changed:
        for key in keys_by_chapter.get(c.chapter, ()):
            if any(fnmatch.fnmatchcase(key, pat) for pat in c.affects):
                out[key] = (out[key] + "; " if key in out else "") + c.text()
    return out


def parameters_frame(run: Mapping[str, Mapping[str, Any]] | None = None):
    """The table of every option (``cartbook params`` and the book's Parameters page):
    name, default, type, unit, chapters, meaning and source; with ``run`` (chapter -> values
    used), a column of the values of this build, non-default values marked."""
    import pandas as pd

    rows = []
    for n, o in OPTIONS.items():
        row = {"parameter": n, "default": _literal(o.default), "type": o.type_text,
               "unit": o.unit, "chapters": ", ".join(o.chapters), "meaning": o.description,
               "source": o.source}
        if run is not None:
            used = sorted({_literal(v[n]) for ch, v in run.items() if n in v},
                          key=str)
            changed = [u for u in used if u != _literal(o.default)]
            row["this build"] = (", ".join(used) + " (changed)") if changed else ", ".join(used)
        rows.append(row)
    return pd.DataFrame(rows)
