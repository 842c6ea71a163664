"""The data model: the tables a user supplies, as code.

These specifications are the single source of truth for the input data. The validator
(:mod:`analysis_lib.data.validation`), the synthetic generator (:mod:`analysis_lib.synthetic.generator`), the
book's data dictionary and the template files are all derived from them.

Conventions
-----------
* One row per patient in ``patients``; one row per blood sample in ``kinetics``.
* Every time is a number of **days from CAR-T infusion** (day 0). Negative values are before
  infusion. No calendar dates are accepted anywhere: they identify patients.
* MRD is a **fraction** of nucleated bone-marrow cells by flow cytometry (``1e-4`` = 0.01 %);
  ``0`` means not detected at the assay's sensitivity.
* CAR-T transgene levels are **copies per microgram of genomic DNA** (copies/µg DNA) by qPCR.
* Booleans are written ``true``/``false`` (``yes``/``no`` and ``1``/``0`` are accepted).
* Missing values are empty cells (``NA`` is accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core.units import DAYS_PER_MONTH  # noqa: F401  (the data model's months)

Kind = Literal["id", "string", "integer", "number", "boolean", "category"]



@dataclass(frozen=True)
class Field:
    """One column of an input table.

    Attributes
    ----------
    name: column name (lower snake case).
    kind: ``id`` | ``string`` | ``integer`` | ``number`` | ``boolean`` | ``category``.
    description: what the column holds, for the data dictionary.
    unit: unit of measurement ("" when none).
    required: the column must be present in the file.
    nullable: an empty cell is allowed.
    minimum, maximum: inclusive bounds for numbers.
    categories: allowed values for ``category`` columns.
    paper: where the paper uses the column (for the data dictionary).
    """
    name: str
    kind: Kind
    description: str
    unit: str = ""
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    paper: str = ""

    def allowed(self) -> str:
        """Human-readable statement of the allowed values."""
        if self.kind == "category":
            return ", ".join(f"`{c}`" for c in self.categories)
        if self.kind == "boolean":
            return "`true`, `false`"
        if self.kind in ("integer", "number"):
            lo = "−∞" if self.minimum is None else _fmt_bound(self.minimum)
            hi = "∞" if self.maximum is None else _fmt_bound(self.maximum)
            return f"{lo} to {hi}"
        if self.kind == "id":
            return "letters, digits, `_` and `-`; 1 to 32 characters"
        return "free text"


def _fmt_bound(x: float) -> str:
    from ..core.formatting import number, sci

    return sci(x, 3) if abs(x) >= 1e5 else number(x, 6)


@dataclass(frozen=True)
class TableSchema:
    """An input table: its file stem, its fields and its key."""
    name: str
    description: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    one_row_per: str

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


# Values for the categorical fields, in display order.
SEX = ("male", "female")
ENROLMENT_REASONS = ("chemo_intolerance", "mrd_reemergence", "mrd_persistent")
GENETIC_RISK = ("low_intermediate", "high")
LD_REGIMENS = ("flu_cy", "other")
D28_RESPONSES = ("cr", "cri", "nr")
CD19_STATUS = ("negative", "positive")
DEATH_CAUSES = ("leukemia", "transplant_related", "infection", "toxicity", "other")

_MRD_DESC = (
    "bone-marrow MRD by flow cytometry as a fraction of nucleated cells "
    "(10⁻⁴ = 0.01 %; write it `0.0001` or `1e-4`); 0 = not detected"
)

PATIENTS = TableSchema(
    name="patients",
    description=(
        "One row per infused patient: baseline, lymphodepletion and infusion, MRD before and "
        "after lymphodepletion, day-28 response, toxicity in the first 28 days, B-cell aplasia, "
        "transplantation after infusion, relapse, death and last follow-up."
    ),
    one_row_per="patient",
    key=("patient_id",),
    fields=(
        # --- identity and baseline -------------------------------------------------------
        Field("patient_id", "id", "Pseudonymous study code; never a name or record number.",
              paper="all analyses"),
        Field("sex", "category", "Sex.", categories=SEX,
              paper="Table S1, Table 3, Table 1A, Table 2"),
        Field("age_years", "number", "Age at infusion.", unit="years", minimum=0, maximum=25,
              paper="Table S1, Table 3 (0–10 vs >10)"),
        Field("genetic_risk", "category", "Cytogenetic risk group (NCCN 2024).",
              categories=GENETIC_RISK, paper="Table S1, Figure S2"),
        Field("enrolment_reason", "category",
              "Why the patient received CAR-T: chemotherapy intolerance, MRD re-emergence, "
              "or persistent MRD after intensive chemotherapy.",
              categories=ENROLMENT_REASONS, paper="Patient characteristics"),
        Field("prior_hsct", "boolean", "Allogeneic HSCT before CAR-T.",
              paper="Table S1, Table 3, Table 1B, Table 2"),
        Field("prior_cart", "boolean", "CD19 CAR-T before this infusion.",
              paper="Table S1, Table 3, Table 1B"),
        Field("diagnosis_to_infusion_days", "integer", "Interval from diagnosis to infusion.",
              unit="days", minimum=0, maximum=9125, paper="Patient characteristics (months)"),
        # --- lymphodepletion and infusion -------------------------------------------------
        Field("ld_regimen", "category", "Lymphodepletion regimen (flu_cy: fludarabine + "
              "cyclophosphamide).", categories=LD_REGIMENS, paper="Methods"),
        Field("ld_start_day", "integer", "First day of lymphodepletion.", unit="days",
              minimum=-30, maximum=-1, paper="Methods"),
        Field("cart_dose_1e6_per_kg", "number", "Infused CAR-T cell dose.",
              unit="10^6 cells/kg", minimum=0, maximum=50, paper="Table 3, Table 2"),
        Field("mrd_pre_ld", "number", "Pre-lymphodepletion " + _MRD_DESC + ".",
              unit="fraction", minimum=0, maximum=1, paper="Table 3, Table 2, Figure 1"),
        Field("mrd_post_ld", "number", "Post-lymphodepletion (pre-infusion) " + _MRD_DESC + ".",
              unit="fraction", minimum=0, maximum=1, paper="Table 3, Table 2, Figure 1"),
        # --- response ----------------------------------------------------------------------
        Field("d28_response", "category",
              "Day-28 marrow response: complete remission (cr), CR with incomplete "
              "haematological recovery (cri), or no response (nr).",
              categories=D28_RESPONSES, paper="Treatment outcomes"),
        Field("d28_mrd", "number", "Day-28 " + _MRD_DESC + ".", unit="fraction",
              minimum=0, maximum=1, nullable=True, paper="Treatment outcomes, Table 3"),
        # --- toxicity within 28 days ------------------------------------------------------
        Field("crs_grade", "integer", "Highest cytokine release syndrome grade (ASTCT 2018); "
              "0 = none.", minimum=0, maximum=5, paper="Toxicity, Table 2, Table 3"),
        Field("icans_grade", "integer", "Highest ICANS grade (ASTCT 2018); 0 = none.",
              minimum=0, maximum=5, paper="Toxicity, Table 3"),
        Field("tocilizumab", "boolean", "Received tocilizumab.", paper="Toxicity, Table 3"),
        Field("corticosteroids", "boolean", "Received corticosteroids after infusion.",
              paper="Toxicity, Table 3"),
        Field("neutropenia_grade4", "boolean", "Grade 4 neutropenia (ANC < 0.5 × 10^9/L).",
              paper="Toxicity, Table 3, Table 1B"),
        Field("anc_nadir_1e9_per_l", "number", "Lowest absolute neutrophil count.",
              unit="10^9/L", minimum=0, maximum=30, nullable=True, paper="Toxicity"),
        Field("infection_bacterial", "boolean", "Bacterial bloodstream infection.",
              paper="Toxicity (Table S3)"),
        Field("infection_cmv", "boolean", "CMV reactivation.", paper="Toxicity (Table S3)"),
        Field("infection_ebv", "boolean", "EBV reactivation.", paper="Toxicity (Table S3)"),
        Field("infection_fungal", "boolean", "Invasive fungal infection.",
              paper="Toxicity (Table S3)"),
        Field("hlh", "boolean", "Haemophagocytic lymphohistiocytosis.", paper="Toxicity"),
        Field("gvhd", "boolean", "Graft-versus-host disease after infusion (patients with "
              "prior HSCT only; empty otherwise).", nullable=True, paper="Toxicity"),
        Field("il6_elevated", "boolean", "IL-6 rose above the laboratory's normal range.",
              nullable=True, paper="Toxicity"),
        Field("il6_peak_pg_per_ml", "number", "Peak IL-6 concentration.", unit="pg/mL",
              minimum=0, maximum=1e6, nullable=True, paper="Toxicity"),
        Field("il6_peak_above_uloq", "boolean", "Peak IL-6 was reported as above the assay's "
              "upper limit (the value is that limit, a lower bound).", nullable=True,
              paper="Toxicity (\">5000\")"),
        Field("il6_peak_day", "integer", "Day of peak IL-6.", unit="days", minimum=0,
              maximum=28, nullable=True, paper="Toxicity"),
        # --- B-cell aplasia ---------------------------------------------------------------
        Field("bca", "boolean", "B-cell aplasia developed.", paper="PK, Figure 2"),
        Field("bca_onset_day", "integer", "Day B-cell aplasia was first seen.", unit="days",
              minimum=0, maximum=365, nullable=True, paper="PK"),
        Field("bca_duration_days", "number", "Duration of B-cell aplasia (to B-cell recovery, "
              "or to last assessment if ongoing).", unit="days", minimum=0, maximum=9125,
              nullable=True, paper="PK, Figure 2, Table 1A"),
        Field("bca_ongoing", "boolean", "B-cell aplasia still present at the last assessment "
              "(duration is then censored).", nullable=True, paper="PK"),
        # --- transplantation, relapse, death, follow-up -----------------------------------
        Field("hsct_after", "boolean", "Allogeneic HSCT after CAR-T (bridging).",
              paper="Treatment outcomes, Figure 1"),
        Field("hsct_day", "integer", "Day of HSCT after infusion.", unit="days", minimum=1,
              maximum=9125, nullable=True, paper="Treatment outcomes"),
        Field("relapse", "boolean", "Relapse after infusion.", paper="Treatment outcomes"),
        Field("relapse_day", "integer", "Day of relapse.", unit="days", minimum=0,
              maximum=9125, nullable=True, paper="Treatment outcomes"),
        Field("relapse_cd19", "category", "CD19 status of the relapse.", categories=CD19_STATUS,
              nullable=True, paper="Treatment outcomes"),
        Field("death", "boolean", "Died.", paper="Treatment outcomes"),
        Field("death_day", "integer", "Day of death.", unit="days", minimum=0, maximum=9125,
              nullable=True, paper="Treatment outcomes"),
        Field("death_cause", "category", "Cause of death.", categories=DEATH_CAUSES,
              nullable=True, paper="Figure 1 (non-relapse mortality)"),
        Field("last_followup_day", "integer", "Day of last contact (the day of death for "
              "patients who died).", unit="days", minimum=0, maximum=9125,
              paper="Treatment outcomes"),
    ),
)

KINETICS = TableSchema(
    name="kinetics",
    description=(
        "One row per peripheral-blood sample: CAR-T transgene level by qPCR. A result below the "
        "lower limit of quantification (LLOQ) is written with `below_lloq = true` and an empty "
        "level; its LLOQ is in its own column, so assays with different limits can be combined."
    ),
    one_row_per="sample",
    key=("patient_id", "day"),
    fields=(
        Field("patient_id", "id", "Study code; must appear in the patients table.",
              paper="PK"),
        Field("day", "number", "Sampling day (pre-infusion samples are ≤ 0).", unit="days",
              minimum=-60, maximum=9125, paper="PK"),
        Field("copies_per_ug_dna", "number", "Transgene level; empty when below the LLOQ.",
              unit="copies/µg DNA", minimum=0, maximum=1e9, nullable=True,
              paper="PK, Table 3, Figure 2"),
        Field("below_lloq", "boolean", "The result was below the LLOQ.", paper="PK"),
        Field("lloq_copies_per_ug_dna", "number", "Lower limit of quantification of the assay.",
              unit="copies/µg DNA", minimum=0, maximum=1e6, paper="PK (100 copies/µg)"),
    ),
)

#: The tables a data directory holds, in dependency order.
TABLES: tuple[TableSchema, ...] = (PATIENTS, KINETICS)

#: File suffixes the readers accept, in order of preference when several exist.
SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".xlsx")

#: Column-name fragments that mark direct identifiers (matched on whole words of the name).
IDENTIFIER_NAME_WORDS: frozenset[str] = frozenset({
    "name", "names", "firstname", "lastname", "surname", "forename", "initials",
    "dob", "birth", "birthdate", "birthday",
    "mrn", "record", "hospital", "chart", "ssn", "nhs", "passport", "insurance",
    "address", "street", "postcode", "zip", "zipcode", "phone", "telephone", "mobile",
    "email", "mail", "date", "dates", "datetime", "timestamp",
})
