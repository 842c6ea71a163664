"""Hostile and messy inputs, end to end: the generated part of the corpus
(``tests/hostile_corpus.py``: workbooks, wrong formats, links, a pipe, large files) against
the validator, and every case of the corpus (committed and generated) against ``cartbook
validate`` and ``cartbook build``: a clear error with file, row, column and rule (exit code
3, nothing written) or a correct reading (exit code 0); never a crash, never a hang."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import hostile_corpus as hc
import pandas as pd
import pytest

from analysis_lib import cli
from analysis_lib.data.validation import RULES, validate_dir

DATA = Path(__file__).parent / "data"
VALID = DATA / "valid"
BAD = DATA / "bad"
READ = DATA / "readable"
COMMITTED = sorted([BAD / p.name for p in BAD.iterdir() if (p / "expected.csv").is_file()]
                   + [READ / p.name for p in READ.iterdir() if p.is_dir()])


def _key(p) -> tuple[str, str, str, str]:
    return (p.file, "" if p.row is None else str(p.row), p.column, p.rule)


def _validate_within(d: Path, seconds: float = 120, **kw):
    """validate_dir in a thread: a hang fails the test instead of blocking the suite."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["report"] = validate_dir(d, **kw)
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"validation of {d.name} did not finish in {seconds} s"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["report"]


def _case_insensitive_fs(tmp: Path) -> bool:
    (tmp / "probe.txt").write_text("x")
    return (tmp / "PROBE.TXT").exists()


def _build(name: str, tmp_path: Path):
    if name in ("pipe_named_like_a_table",) and not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    if name == "names_differing_only_in_case" and _case_insensitive_fs(tmp_path):
        pytest.skip("file names are not case-sensitive here")
    return hc.build(name, tmp_path / "cases")


@pytest.mark.parametrize("name", sorted(hc.CASES))
def test_generated_case(name, tmp_path):
    d, expected = _build(name, tmp_path)
    report = _validate_within(d)
    if expected == hc.READABLE:
        assert report.ok, report.to_text(per_rule=None)
        for t, frame in validate_dir(VALID).tables.items():
            pd.testing.assert_frame_equal(report.tables[t], frame)
        return
    got = [_key(p) for p in report.problems]
    assert len(got) == len(set(got)), f"a problem is reported twice: {got}"
    assert set(got) == expected, (f"\nmissing: {sorted(expected - set(got))[:10]}\n"
                                  f"spurious: {sorted(set(got) - expected)[:10]}\n"
                                  f"{report.to_text()}")
    for p in report.problems:
        assert p.rule in RULES and p.message.strip()


def test_pandas_alone_would_have_read_excel_errors_as_empty(tmp_path):
    """Why the reader is openpyxl's: pandas turns #N/A into a missing value, so a wrong
    export would have been accepted with an empty cell in a column that may be empty."""
    d, _ = hc.build("xlsx_error_cells", tmp_path)
    naive = pd.read_excel(d / "patients.xlsx", dtype=object, keep_default_na=False)
    assert pd.isna(naive.loc[4, "d28_mrd"])


def test_messages_explain_formats_sheets_and_passwords(tmp_path):
    def message(name: str) -> str:
        d, _ = hc.build(name, tmp_path)
        return validate_dir(d).problems[0].message

    assert "password-protected" in message("xlsx_password_protected")
    assert "Excel 97-2003" in message("xls_workbook_named_xlsx")
    wrong = message("xlsx_wrong_sheet")
    assert "'Sheet1'" in wrong and "'Notes'" in wrong and "'patients'" in wrong
    assert "name it patients.xlsx" in message("workbook_named_csv")
    assert "row 3, not on row 1" in message("xlsx_title_rows_above_header")
    assert "never computed" in message("xlsx_uncomputed_formulas")
    assert "outside the data folder" in message("symlink_outside_the_folder")
    assert "UTF-16" in message("utf16_without_bom")
    assert "OpenDocument" in message("opendocument_named_xlsx")


def test_every_case_through_the_cli_validate(tmp_path, capsys):
    """Every committed and generated case through ``cartbook validate``: exit 0 with the row
    counts, or exit 3 with each problem's file, rule and (for cells) row; no traceback."""
    dirs = list(COMMITTED)
    for name in sorted(hc.CASES):
        if name == "names_differing_only_in_case" and _case_insensitive_fs(tmp_path):
            continue
        dirs.append(hc.build(name, tmp_path / "cases")[0])
    assert len(dirs) >= 100
    for d in dirs:
        report = validate_dir(d)
        code = cli.main(["validate", "--all", str(d)])
        out = capsys.readouterr()
        assert "Traceback" not in out.out + out.err, d.name
        if report.ok:
            assert code == cli.EXIT_OK and "no problems found" in out.out, d.name
            continue
        assert code == cli.EXIT_INVALID, d.name
        assert str(d.parent) not in out.out, d.name  # the folder's name, never its path
        for p in report.problems:
            where = p.file if p.row is None else f"{p.file}:{p.row}"
            assert where in out.out and f": {p.rule}: " in out.out, (d.name, p)


def test_every_bad_case_stops_cartbook_build_before_writing(tmp_path, capsys):
    """``cartbook build`` on invalid data: exit 3, the report on stderr, no build directory."""
    dirs = [d for d in COMMITTED if d.parent == BAD]
    for name in ("xlsx_error_cells", "xlsx_password_protected", "symlink_outside_the_folder",
                 "pipe_named_like_a_table", "one_megabyte_cell"):
        dirs.append(hc.build(name, tmp_path / "cases")[0])
    for d in dirs:
        out_dir = tmp_path / "builds" / d.name
        code = cli.main(["build", "--data", str(d), "--build-dir", str(out_dir)])
        err = capsys.readouterr().err
        assert code == cli.EXIT_INVALID, d.name
        assert "Nothing was written" in err and "Traceback" not in err, d.name
        assert not out_dir.exists(), d.name


def test_validation_writes_nothing_anywhere_in_the_corpus(tmp_path):
    root = tmp_path / "cases"
    for name in sorted(hc.CASES):
        if name == "names_differing_only_in_case" and _case_insensitive_fs(tmp_path):
            continue
        hc.build(name, root)

    def snapshot() -> dict[str, tuple[int, int]]:
        return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in
                sorted(tmp_path.rglob("*"))}

    before = snapshot()
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.endswith("-elsewhere"):
            _validate_within(d)
    assert snapshot() == before


def test_duplicated_ids_do_not_make_validation_quadratic(tmp_path):
    """50,000 copies of one patient (the old pairwise search compared every duplicate with
    every row: minutes for 20,000). A generous bound that only a quadratic algorithm
    breaks; the timing itself is in benchmarks/bench_validate.py."""
    import time

    d = tmp_path / "d"
    shutil.copytree(VALID, d)
    lines = (VALID / "patients.csv").read_text().splitlines(keepends=True)
    (d / "patients.csv").write_text(lines[0] + lines[1] * 50_000 + "".join(lines[2:]))
    t0 = time.perf_counter()
    report = _validate_within(d, seconds=300)
    elapsed = time.perf_counter() - t0
    assert sum(p.rule == "unique_id" for p in report.problems) == 49_999
    assert elapsed < 60, f"{elapsed:.1f} s"
    assert sys.getsizeof(report.to_text()) < 20_000


def _mutations(seed: int, n: int):
    """Seeded random damage to the valid files: inserted separators, quotes, line breaks,
    control bytes, byte-order marks and invalid UTF-8; deleted, duplicated and truncated
    spans; swapped lines."""
    import random

    rng = random.Random(seed)
    pieces = [b",", b";", b"\t", b'"', b"\r", b"\n", b"\r\n", b"\x00", b"\x1b", b"\xef\xbb\xbf",
              b"\xff\xfe", b"\xe9", b"#", b"#N/A", b"  ", b",,,", b'""', b"1e309", b"-",
              b"2021-03-04", b"\xe2\x80\x8b", b"patient_id", b"NA"]
    originals = {n_: (VALID / n_).read_bytes() for n_ in ("patients.csv", "kinetics.csv")}
    for _ in range(n):
        files = dict(originals)
        name = rng.choice(sorted(files))
        data = bytearray(files[name])
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1) if data else 0
            if op < 0.5:
                data[pos:pos] = rng.choice(pieces)
            elif op < 0.7 and data:
                del data[pos:pos + rng.randint(1, 40)]
            elif op < 0.8 and data:
                data[pos:pos] = data[max(0, pos - 60):pos]
            elif op < 0.9:
                data = data[:pos]
            else:
                lines = bytes(data).split(b"\n")
                rng.shuffle(lines)
                data = bytearray(b"\n".join(lines))
        files[name] = bytes(data)
        yield files


def test_random_damage_never_crashes_the_validator(tmp_path):
    """200 seeded random corruptions of the valid files: every one is validated without an
    exception, and every problem names a known rule and has a message."""
    for i, files in enumerate(_mutations(13, 200)):
        d = tmp_path / f"m{i:03d}"
        d.mkdir()
        for name, data in files.items():
            (d / name).write_bytes(data)
        report = validate_dir(d)
        for p in report.problems:
            assert p.rule in RULES and p.message, (i, p)
        assert report.ok == (not report.problems)
