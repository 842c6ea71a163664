"""The simulation study on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes started here on localhost (ports chosen by the scheduler, found through its
scheduler file). A small study run through ``cartbook simulate --scheduler`` gives the same
bytes as the local-cluster and serial runs; killing a worker mid-run still completes with
identical results; an interrupted run resumes computing only the missing partitions. The
calibration's stage 3 runs on the same engine with the same result as the serial search.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis_lib.simulation import engine

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The small study: the whole plan (calibrated) and Table 3 alone (null_expansion), batches of
#: one replicate so that a run has several tasks in flight.
STUDY = ["--scenario", "calibrated", "--scenario", "null_expansion", "--n", "40",
         "--replicates", "6", "--batch-size", "1", "--seed", "11"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "wb")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(),
                            start_new_session=True)  # its own process group: killed whole


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="20s") as c:
        return len(c.scheduler_info(n_workers=-1)["workers"])


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers, each in its own process group."""
    d = tmp_path_factory.mktemp("cluster")
    sched_file = d / "scheduler.json"
    procs = {"scheduler": _start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--dashboard-address", ":0",
                                  "--scheduler-file", str(sched_file)], d / "scheduler.log")}
    try:
        _wait(sched_file.is_file, 60, "the scheduler file")
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")

        def worker(name: str) -> subprocess.Popen:
            return _start([str(BIN / "dask"), "worker", address, "--nworkers", "1",
                           "--nthreads", "1", "--dashboard-address", ":0", "--name", name,
                           "--no-nanny"], d / f"{name}.log")

        procs["w1"], procs["w2"] = worker("w1"), worker("w2")
        _wait(lambda: _workers(address) == 2, 120, "two workers")
        yield SimpleNamespace(address=address, procs=procs, worker=worker, dir=d)
    finally:
        for p in procs.values():
            _kill(p)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "cartbook"), "simulate", *args, "--no-truth",
                           "--no-summary", "--progress", "never"], capture_output=True,
                          text=True, env=_env(), timeout=900)


def _hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "replicates").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("serial")
    r = _cli(*STUDY, "--out", str(out), "--serial")
    assert r.returncode == 0, r.stderr
    h = _hashes(out)
    assert len([k for k in h if k.endswith(".parquet")]) == 12  # 2 studies x 6 partitions
    return h


def test_scheduler_run_equals_local_cluster_and_serial(cluster, serial, tmp_path):
    r = _cli(*STUDY, "--out", str(tmp_path / "sched"), "--scheduler", cluster.address)
    assert r.returncode == 0, r.stderr
    assert "calibrated, n = 40: 6 partition(s) computed, 0 reused" in r.stdout
    assert _hashes(tmp_path / "sched") == serial
    r = _cli(*STUDY, "--out", str(tmp_path / "local"), "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert _hashes(tmp_path / "local") == serial
    # the rows themselves, read back: 6 replicates of each study
    res = engine.load_results(tmp_path / "sched")
    assert res.groupby("scenario")["replicate"].nunique().to_dict() == {
        "calibrated": 6, "null_expansion": 6}


def test_resume_after_interruption_recomputes_only_missing_partitions(cluster, serial,
                                                                     tmp_path):
    out = tmp_path / "resume"
    d = engine.StudySpec("calibrated", 40, 6, 1, seed=11).directory(out)
    proc = subprocess.Popen([str(BIN / "cartbook"), "simulate", *STUDY, "--out", str(out),
                             "--scheduler", cluster.address, "--no-truth", "--no-summary",
                             "--progress", "never"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)
    try:
        _wait(lambda: len(list(d.glob("part-*.parquet"))) >= 2, 600, "two partitions")
    finally:
        _kill(proc)  # killed outright, as by a crash: no chance to tidy up
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in d.glob("part-*.parquet")}
    total = 12
    done = len(list(out.rglob("part-*.parquet")))
    assert 2 <= done < total, "the interruption should leave a partial run"
    r = _cli(*STUDY, "--out", str(out), "--scheduler", cluster.address)
    assert r.returncode == 0, r.stderr
    computed = sum(int(m) for m in re.findall(r"(\d+) partition\(s\) computed", r.stdout))
    reused = sum(int(m) for m in re.findall(r"(\d+) reused", r.stdout))
    assert (computed, reused) == (total - done, done)
    for p in d.glob("part-*.parquet"):  # the partitions present before were not rewritten
        if p.name in kept:
            assert (p.stat().st_ino, p.stat().st_mtime_ns) == kept[p.name], p.name
    assert _hashes(out) == serial


def test_seed_search_on_dask_equals_the_serial_search(monkeypatch, tmp_path):
    """Stage 3's orchestration on Dask (threads, so the stand-in scorer is visible to the
    workers): the same table and scorecards as the serial search."""
    from analysis_lib.book import calibration_run
    from analysis_lib.simulation.cluster import dask_client
    from analysis_lib.synthetic import generator as synthetic

    def card(seed: int) -> pd.DataFrame:
        return pd.DataFrame({"seed": [seed], "score": [seed % 5]})

    monkeypatch.setattr(calibration_run, "cohort_scorecard",
                        lambda d, b, **k: card(int(Path(d).parent.name.split("_")[1])))
    monkeypatch.setattr(synthetic, "write_cohort", lambda c, d: [])
    monkeypatch.setattr(synthetic, "generate_cohort",
                        lambda **k: SimpleNamespace(patients=None, kinetics=None))
    monkeypatch.setattr(calibration_run, "targets_met", lambda p, k: True)
    monkeypatch.setattr("analysis_lib.paper.scorecard.score",
                        lambda c: {"score": int(c["score"].iloc[0]), "direction": 0,
                                   "eligible": 9})
    seeds = pd.DataFrame({"seed": [14, 11, 12, 13, 99, 7], "distance": [1.0, 2, 3, 4, 5, 6]})
    serial_table, serial_cards = calibration_run.search_seeds_by_scorecard(seeds, 5, tmp_path)
    with dask_client(workers=2, processes=False) as c:
        table, cards = calibration_run.search_seeds_by_scorecard_on_dask(seeds, 5, client=c)
    pd.testing.assert_frame_equal(table, serial_table)
    assert cards.keys() == serial_cards.keys()
    for k in cards:
        pd.testing.assert_frame_equal(cards[k], serial_cards[k])


def test_a_real_candidate_scored_on_the_cluster_matches_the_record(cluster):
    """The shipped seed scored by executing the four result chapters on a worker of the real
    cluster: the same score as the serial stage-3 run recorded in data/calibration."""
    from distributed import Client

    from analysis_lib.book import calibration_run
    from analysis_lib.synthetic import calibration
    from analysis_lib.synthetic.generator import DEFAULT_SEED

    recorded = calibration.load_scorecard_search().set_index("seed").loc[DEFAULT_SEED]
    seeds = pd.DataFrame({"seed": [DEFAULT_SEED], "distance": [float(recorded["distance"])]})
    with Client(cluster.address, timeout="20s") as c:
        table, cards = calibration_run.search_seeds_by_scorecard_on_dask(seeds, 1, client=c)
    row = table.iloc[0]
    for col in ("score", "eligible", "direction", "targets_met"):
        assert row[col] == recorded[col], col
    shipped = calibration.load_shipped_scorecard()
    assert cards[DEFAULT_SEED]["status"].tolist() == shipped["status"].tolist()


def test_killing_a_worker_mid_run_still_gives_identical_results(cluster, serial, tmp_path):
    """Runs last: one of the two workers is killed (SIGKILL, its whole process group) once
    the run has written its first partition; the scheduler gives its tasks to the other."""
    out = tmp_path / "kill"
    proc = subprocess.Popen([str(BIN / "cartbook"), "simulate", *STUDY, "--out", str(out),
                             "--scheduler", cluster.address, "--no-truth", "--no-summary",
                             "--progress", "never"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait(lambda: any(out.rglob("part-*.parquet")), 600, "the first partition")
        _kill(cluster.procs["w1"])
        done_at_kill = len(list(out.rglob("part-*.parquet")))
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert done_at_kill < 12, "the worker should be killed mid-run"
    assert _workers(cluster.address) == 1
    assert _hashes(out) == serial
