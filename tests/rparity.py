"""Run R scripts from the tests and bring their results back as data frames.

Only base R is used for input and output (``jsonlite`` is not assumed to be installed):
inputs are written as CSV, read into R, and each result the script wants to hand back is
written as a CSV with every numeric value at 17 significant digits, so the values compared
in Python are R's doubles exactly, not a rounded print of them.

The R script sees, besides everything in base R:

* one data frame per entry of ``inputs``, bound to a variable of the same name;
* ``write_output(name, df)``: hand ``df`` (a data frame, or anything ``as.data.frame``
  accepts) back to Python as ``result[name]``.

``NA`` and ``NaN`` come back as ``nan``; ``Inf``/``-Inf`` as ``±inf``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

#: Packages the parity tests need; R without them counts as "R not available".
REQUIRED_PACKAGES: tuple[str, ...] = ("survival", "cmprsk")

#: Largest relative difference from R seen per quantity in this session (filled by the tests,
#: printed in the terminal summary by conftest.py).
MAX_REL_DIFF: dict[str, float] = {}


def record_difference(quantity: str, actual, expected, atol: float = 0.0) -> None:
    """Record the largest relative difference of ``actual`` from R's ``expected`` for the
    terminal summary (finite pairs only). Where ``|expected| <= atol`` (0 by default) the
    absolute difference is recorded instead. Reporting only: tests assert separately."""
    a, e = np.asarray(actual, float), np.asarray(expected, float)
    ok = np.isfinite(a) & np.isfinite(e)
    if not ok.any():
        MAX_REL_DIFF.setdefault(quantity, 0.0)
        return
    diff = np.abs(a[ok] - e[ok])
    big = np.abs(e[ok]) > atol
    rel = np.where(big, diff / np.where(big, np.abs(e[ok]), 1.0), diff)
    MAX_REL_DIFF[quantity] = max(MAX_REL_DIFF.get(quantity, 0.0), float(rel.max()))

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")

_PRELUDE = r"""
.rparity_in <- "{in_dir}"
.rparity_out <- "{out_dir}"
write_output <- function(name, df) {{
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  for (col in names(df)) {{
    v <- df[[col]]
    if (is.factor(v)) v <- as.character(v)
    if (is.numeric(v)) v <- ifelse(is.na(v) & !is.nan(v), "NA", sprintf("%.17g", v))
    df[[col]] <- v
  }}
  utils::write.csv(df, file.path(.rparity_out, paste0(name, ".csv")),
                   row.names = FALSE, na = "NA")
  invisible(NULL)
}}
for (.f in list.files(.rparity_in, pattern = "[.]csv$", full.names = TRUE)) {{
  assign(sub("[.]csv$", "", basename(.f)),
         utils::read.csv(.f, stringsAsFactors = FALSE))
}}
rm(.f)
"""


class RError(RuntimeError):
    """Rscript failed; the message carries R's stderr."""


def rscript_path() -> str | None:
    """``$RSCRIPT`` if set, else ``Rscript`` on the PATH (``None`` when neither exists)."""
    env = os.environ.get("RSCRIPT")
    if env:
        return env if (Path(env).is_file() or shutil.which(env)) else None
    return shutil.which("Rscript")


@functools.lru_cache(maxsize=1)
def r_available() -> bool:
    """True when ``Rscript`` runs and the packages in ``REQUIRED_PACKAGES`` load."""
    exe = rscript_path()
    if exe is None:
        return False
    pkgs = ", ".join(f'"{p}"' for p in REQUIRED_PACKAGES)
    check = f"quit(status = if (all(sapply(c({pkgs}), requireNamespace, quietly = TRUE))) 0 else 1)"
    try:
        proc = subprocess.run([exe, "--vanilla", "-e", check], capture_output=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _r_string(path: Path) -> str:
    return str(path.as_posix()).replace("\\", "\\\\").replace('"', '\\"')


def run_r(script: str, inputs: dict[str, pd.DataFrame] | None = None,
          timeout: float = 300) -> dict[str, pd.DataFrame]:
    """Run ``script`` with ``Rscript --vanilla`` and return what it passed to ``write_output``.

    Parameters
    ----------
    script: R code. Each input frame is available as a variable named by its key;
        results are handed back with ``write_output(name, df)``.
    inputs: data frames to pass to R (keys must be syntactic R names).
    timeout: seconds before the R process is abandoned.

    Returns
    -------
    ``{name: DataFrame}`` for every ``write_output`` call.

    Raises
    ------
    RError: Rscript is missing, timed out or exited with an error (with R's stderr).
    """
    exe = rscript_path()
    if exe is None:
        raise RError("Rscript not found (set RSCRIPT or put Rscript on the PATH)")
    inputs = inputs or {}
    with tempfile.TemporaryDirectory(prefix="rparity_") as tmp:
        tmp_path = Path(tmp)
        in_dir, out_dir = tmp_path / "in", tmp_path / "out"
        in_dir.mkdir()
        out_dir.mkdir()
        for name, frame in inputs.items():
            if not _NAME.match(name):
                raise ValueError(f"input name {name!r} is not a syntactic R name")
            frame = pd.DataFrame(frame).copy()
            for col in frame.columns:  # R's read.csv wants TRUE/FALSE, not True/False
                if frame[col].dtype == bool:
                    frame[col] = frame[col].astype(int)
            # pandas writes the shortest round-tripping representation of each double.
            frame.to_csv(in_dir / f"{name}.csv", index=False)
        script_file = tmp_path / "script.R"
        script_file.write_text(
            _PRELUDE.format(in_dir=_r_string(in_dir), out_dir=_r_string(out_dir))
            + "\n" + script + "\n", encoding="utf-8")
        try:
            proc = subprocess.run([exe, "--vanilla", str(script_file)], capture_output=True,
                                  text=True, timeout=timeout, cwd=tmp, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RError(f"Rscript timed out after {timeout} s\n--- stderr ---\n"
                         f"{exc.stderr or ''}") from exc
        if proc.returncode != 0:
            raise RError(f"Rscript exited with status {proc.returncode}\n"
                         f"--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}")
        results: dict[str, pd.DataFrame] = {}
        for path in sorted(out_dir.glob("*.csv")):
            # pandas reads R's "Inf"/"-Inf" as floats; "NA"/"NaN" become nan.
            frame = pd.read_csv(path, na_values=["NA", "NaN"], keep_default_na=False)
            results[path.stem] = frame
        return results
