"""The figure checks (analysis_lib.book.figures.style.problems) on figures made to fail, and
the book's style. Every figure of the book passes the checks when it is glued
(analysis_lib.book.report.glue_figure), so a build with a bad figure fails."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from analysis_lib.book import report  # noqa: E402
from analysis_lib.book.figures import style  # noqa: E402


def test_a_clean_figure_passes():
    fig, ax = style.figure(width=6, height=3)
    ax = ax[0, 0]
    ax.plot([0, 1, 2], [0, 2, 1], label="a")
    ax.set_xlabel("Days since infusion")
    ax.set_ylabel("Patients")
    style.count_axis(ax)
    style.legend_right(ax)
    assert style.problems(fig) == []
    plt.close(fig)


def test_overlapping_text_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "a long annotation", fontsize=10)
    ax.text(0.52, 0.5, "another annotation", fontsize=10)
    found = style.problems(fig)
    assert any("overlaps" in p for p in found), found
    plt.close(fig)


def test_tiny_text_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_title("fine")
    ax.text(0.1, 0.1, "too small", fontsize=5)
    assert any("5.0 pt" in p for p in style.problems(fig))
    plt.close(fig)


def test_glue_figure_refuses_a_bad_figure():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.1, 0.1, "too small", fontsize=4)
    with pytest.raises(ValueError, match="not fit to publish"):
        report.glue_figure("bad", fig)
    plt.close(fig)


def test_count_axis_has_integer_ticks_only():
    fig, ax = style.figure(width=4, height=3)
    ax = ax[0, 0]
    ax.bar([0, 1], [3, 7])
    style.count_axis(ax)
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_yticks())
    plt.close(fig)


def test_svg_output_is_reproducible(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    out = []
    for _ in range(2):
        fig, ax = style.figure(width=4, height=3)
        ax[0, 0].plot([1, 2, 3], [3, 1, 2])
        with plt.rc_context({"svg.hashsalt": "cartbook"}):
            buf = io.BytesIO()
            fig.savefig(buf, format="svg")
        out.append(buf.getvalue())
        plt.close(fig)
    assert out[0] == out[1]
