"""Builds that survive faults (issue 19): one build per build folder, interrupts that stop
everything and say so in one line, no process left behind, and a clear message when the build
folder is deleted, read-only or full.

The tests run the real command line (``cartbook build``) in a subprocess of its own session
and send it real signals. Most use a stub project (three small notebooks, a small book: a
build takes seconds, not a minute); one interrupts a build of the real book.

Every build runs with a unique ``CARTBOOK_TEST_TAG`` in its environment, which every process
it starts inherits (workers, Jupyter kernels, jupyter-book); a process left behind is found by
scanning ``/proc`` for the tag, whoever its parent has become.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from analysis_lib.book import buildlock, pipeline, processes
from analysis_lib.book.buildlock import BuildBusy, BuildLock
from analysis_lib.book.pipeline import (ROOT, STAGES, BuildError, FolderFault, NotebookResult,
                                   build_book, run_notebooks)
from conftest import in_ci

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="scans /proc; the parent-death watch is Linux's")

VALID = Path(__file__).parent / "data" / "valid"
NAMES = ("alpha", "beta", "gamma")
#: seconds each stub notebook sleeps (times $STUB_SLEEP, default 1)
SLEEP = {"alpha": 0.3, "beta": 1.2, "gamma": 0.6}

NOTEBOOK = '''\
# %% tags=["parameters", "remove-cell"]
data_dir = "x"
seconds = {seconds}

# %% [markdown]
# # Chapter {name}

# %%
import os
import time

time.sleep(seconds * float(os.environ.get("STUB_SLEEP", "1")))
print("built for", os.environ["CARTBOOK_DATA_LABEL"])
'''

CONFIG = '''\
title: "stub book"
only_build_toc_files: true
exclude_patterns: ["notebooks", "analysis_lib"]
execute:
  execute_notebooks: "off"
'''

# cartbook's command line, on the stub project instead of the repository's book
DRIVER = '''\
import functools, sys
from pathlib import Path
from analysis_lib import cli
from analysis_lib.book import pipeline
pipeline.build_book = functools.partial(pipeline.build_book, root=Path(sys.argv[1]),
                                        notebooks=sys.argv[2].split(","))
cli.run(sys.argv[3:])
'''


@pytest.fixture(scope="module")
def stub(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stub")
    (root / "notebooks").mkdir()
    (root / "analysis_lib").mkdir()
    (root / "analysis_lib" / "__init__.py").write_text("")
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Stub\n\nA stub book.\n")
    (root / "_config.yml").write_text(CONFIG)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n" + "".join(
        f"- file: book/_generated/{n}\n" for n in NAMES))
    for n in NAMES:
        (root / "notebooks" / f"{n}.py").write_text(NOTEBOOK.format(name=n, seconds=SLEEP[n]))
    (root / "drive.py").write_text(DRIVER)
    return root


def stub_build(stub: Path, build: Path, *args: str) -> list[str]:
    return [sys.executable, str(stub / "drive.py"), str(stub), ",".join(NAMES), "build",
            "--data", str(VALID), "--build-dir", str(build), *args]


class Build:
    """A build in a session of its own (as a terminal runs it), output read as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.tag = uuid.uuid4().hex
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, cwd=ROOT,
                                     env={**os.environ, "CARTBOOK_TEST_TAG": self.tag,
                                          **(env or {})})
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, into), daemon=True)
                         for s, into in ((self.proc.stdout, self.out),
                                         (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, pattern: str, timeout: float = 120.0) -> bool:
        """Whether a line of its output matches ``pattern`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(re.search(pattern, line) for line in list(self.out)):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the readers may still hold the last lines
                return any(re.search(pattern, line) for line in list(self.out))
            time.sleep(0.02)
        return False

    def send(self, sig: int, group: bool = False) -> None:
        """``sig`` to the build, or to its whole process group as a terminal's Ctrl-C does."""
        if group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def finish(self, timeout: float = 300.0) -> int:
        rc = self.proc.wait(timeout)
        for t in self._readers:  # end of output: nothing of the build holds its pipes open
            t.join(15.0)
            assert not t.is_alive(), "a process of the build still holds its output open"
        return rc

    def executed(self) -> set[str]:
        return {m.group(1) for ln in self.out if (m := re.match(r"\[cartbook\]\s+(\w+): "
                                                                  r"executed in", ln))}

    def cached(self) -> set[str]:
        return {m.group(1) for ln in self.out if (m := re.match(r"\[cartbook\]\s+(\w+): "
                                                                  r"unchanged, taken", ln))}


def survivors(tag: str, timeout: float = 10.0) -> list[str]:
    """Processes (not zombies) whose environment carries ``tag``, after waiting up to
    ``timeout`` seconds for them to end."""
    needle = f"CARTBOOK_TEST_TAG={tag}".encode()
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as fh:
                    if needle not in fh.read().split(b"\0"):
                        continue
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    found.append(f"{d}: " + fh.read().replace(b"\0", b" ").decode()[:200])
            except OSError:
                continue
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def complete_book(html: Path, label: str) -> bool:
    """The stub book, whole, built for ``label``."""
    pages = [html / "book" / "_generated" / f"{n}.html" for n in NAMES]
    return ((html / "index.html").is_file() and (html / ".cartbook-key").is_file()
            and all(p.is_file() and f"built for {label}" in p.read_text() for p in pages))


def cache_is_whole(build: Path) -> None:
    """Every cache entry holds its key and its executed notebook; no half-renamed entry."""
    for entry in (build / "cache").iterdir():
        assert not entry.name.endswith(".old"), entry
        assert (entry / ".key").is_file() and (entry / f"{entry.name}.ipynb").is_file(), entry


#: Logged by a kernel (ipykernel) when jupyter_client interrupts it before shutting it down
#: while it is still answering a message: part of a normal notebook's end, now and before
#: this issue (about 1 notebook in 10), never of stopping a build (kernels are killed then).
KERNEL_SHUTDOWN_NOISE = "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel."


#: What a kernel prints when the disk fills under it (its own stderr, which it shares with
#: the build): libzmq's abort on a signalling socket, and tornado's report of an exception in
#: a ZMQ callback with its traceback. Seen in about 1 run in 10 of the full-disk tests on a
#: loaded machine, at the commit before these changes as after; the build's own report is
#: the one line the tests check.
KERNEL_ABORT = re.compile(r"Assertion failed: .* \(src/\w+\.cpp:\d+\)")
KERNEL_TRACEBACK_START = "ERROR:tornado.general:Uncaught exception in ZMQStream callback"


def errors(b: Build) -> list[str]:
    """The build's standard error, without :data:`KERNEL_SHUTDOWN_NOISE` and a dying
    kernel's :data:`KERNEL_ABORT` line or tornado traceback (:data:`KERNEL_TRACEBACK_START`
    and the indented or ``Traceback``/exception lines that follow it)."""
    out: list[str] = []
    in_traceback = False
    for ln in b.err:
        if ln == KERNEL_TRACEBACK_START:
            in_traceback = True
            continue
        if in_traceback:
            if ln.startswith(("Traceback", " ")) or re.match(r"^[\w.]+(Error|Exception)\b", ln):
                continue
            in_traceback = False
        if ln != KERNEL_SHUTDOWN_NOISE and not KERNEL_ABORT.fullmatch(ln):
            out.append(ln)
    return out


def one_line(b: Build, pattern: str) -> None:
    err = errors(b)
    assert len(err) == 1 and re.fullmatch(pattern, err[0]), b.err


def _base(stub: Path, build: Path) -> Path:
    b = Build(stub_build(stub, build, "--label", "base"))
    assert b.finish() == 0, b.err
    assert complete_book(build / "html", "base")
    return build


@pytest.fixture
def base(stub: Path, tmp_path: Path) -> Path:
    """A build folder holding a complete book (label "base"), for one test."""
    return _base(stub, tmp_path / "_build")


@pytest.fixture(scope="module")
def shared_base(stub: Path, tmp_path_factory) -> Path:
    """A build folder holding a complete book, for the tests whose builds fail by design."""
    return _base(stub, tmp_path_factory.mktemp("shared") / "_build")


# --------------------------------------------------------------------------------------------
# One build per build folder
# --------------------------------------------------------------------------------------------

def test_a_second_build_into_the_same_folder_waits_or_stops_with_no_wait(stub, tmp_path):
    build = tmp_path / "_build"
    first = Build(stub_build(stub, build, "--label", "first"), env={"STUB_SLEEP": "4"})
    assert first.wait_for(r"executing 3 notebook"), first.err  # it holds the lock
    busy = subprocess.run(stub_build(stub, build, "--no-wait"), capture_output=True,
                          text=True, timeout=120)
    assert busy.returncode == 2
    assert busy.stderr.splitlines() == [
        f"cartbook build: the build folder {build} is in use by another build "
        f"(pid {first.pid}); not waiting (--no-wait)"]
    clean = subprocess.run([sys.executable, "-m", "analysis_lib.cli", "clean", "--build-dir",
                            str(build), "--no-wait"], capture_output=True, text=True, timeout=60)
    assert clean.returncode == 2 and f"(pid {first.pid})" in clean.stderr
    assert (build / "work").is_dir()  # nothing deleted under the running build
    second = Build(stub_build(stub, build, "--label", "second"))
    assert second.wait_for(rf"in use by another build \(pid {first.pid}\); waiting")
    assert first.proc.poll() is None  # the second one waited while the first still ran
    assert first.finish() == 0, first.err
    assert second.finish() == 0, second.err
    assert errors(first) == [] and errors(second) == []
    assert "[cartbook] the other build has finished" in second.out
    assert second.executed() == set(NAMES)
    assert complete_book(build / "html", "second")
    assert survivors(first.tag) == [] and survivors(second.tag) == []
    clean = subprocess.run([sys.executable, "-m", "analysis_lib.cli", "clean", "--build-dir",
                            str(build), "--no-wait"], capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and not build.exists()


def test_builds_into_different_folders_run_side_by_side(stub, tmp_path):
    one = Build(stub_build(stub, tmp_path / "one", "--label", "one"), env={"STUB_SLEEP": "3"})
    two = Build(stub_build(stub, tmp_path / "two", "--label", "two"), env={"STUB_SLEEP": "3"})
    # both past their lock and executing notebooks at the same time
    assert one.wait_for(r"executing 3 notebook") and two.wait_for(r"executing 3 notebook")
    assert one.proc.poll() is None and two.proc.poll() is None
    assert one.finish() == 0 and two.finish() == 0, (one.err, two.err)
    assert not any("waiting" in ln for ln in one.out + two.out)
    assert complete_book(tmp_path / "one" / "html", "one")
    assert complete_book(tmp_path / "two" / "html", "two")


def test_the_lock_dies_with_its_holder_and_names_it(tmp_path):
    """A holder killed with SIGKILL leaves no stale lock; a busy folder names the holder."""
    folder = tmp_path / "b"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from analysis_lib.book.buildlock import BuildLock; "
         "BuildLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)",
         str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(BuildBusy) as exc:
        BuildLock(folder, "the folder").acquire(wait=False)
    assert exc.value.pid == holder.pid
    assert str(exc.value) == f"the build folder the folder is in use by another build " \
                             f"(pid {holder.pid})"
    holder.kill()
    holder.wait()
    lock = BuildLock(folder).acquire(wait=False)  # at once: the OS released it
    assert (folder / buildlock.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    lock.release()


def test_a_waiting_lock_takes_the_folders_new_lock_file(tmp_path):
    """Deleting a build folder (cartbook clean) while a build waits for it does not give two
    builds the lock: the waiter locks the lock file of the folder as it now is."""
    folder = tmp_path / "b"
    first = BuildLock(folder).acquire()
    state: dict = {}

    def wait() -> None:
        state["lock"] = BuildLock(folder).acquire(on_wait=lambda pid: state.setdefault("pid", pid))

    t = threading.Thread(target=wait)
    t.start()
    deadline = time.monotonic() + 10
    while "pid" not in state and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state.get("pid") == os.getpid()
    shutil.rmtree(folder)
    first.release()
    t.join(10)
    waiter = state["lock"]
    assert (folder / buildlock.LOCK_NAME).is_file()
    assert os.fstat(waiter.fd).st_ino == (folder / buildlock.LOCK_NAME).stat().st_ino
    with pytest.raises(BuildBusy):
        BuildLock(folder).acquire(wait=False)
    waiter.release()


# --------------------------------------------------------------------------------------------
# Signals at random moments
# --------------------------------------------------------------------------------------------

#: (signal, sent to the build's whole process group as a terminal or job control does)
VARIANTS = [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGKILL, False),
            (signal.SIGKILL, True), (signal.SIGHUP, True), (signal.SIGTERM, True),
            (signal.SIGINT, False)]
FIXED = 5  # the first five variants always run, then seeded random ones
TRIALS = 6
INTERRUPTED = (r"interrupted: (the previous book in {x} is unchanged"
               r"|the new book in {x} had already been published)")


def test_signals_at_random_moments_leave_a_whole_book_and_a_reusable_cache(stub, tmp_path,
                                                                            base):
    """SIGINT, SIGTERM, SIGHUP and SIGKILL, to the build or to its process group, at random
    moments of a build (seeded): the right exit code, one line (no traceback), no process
    left, the previous book byte-identical (or, if the signal came after the swap, the
    whole new book), every cache entry whole, and the next build reuses each notebook that
    had finished."""
    rng = random.Random(19)
    timing = Build(stub_build(stub, base, "--label", "timing"))
    # moments count from the build's first line: the driver of this test imports the pipeline
    # before cartbook's main() installs its handlers (cartbook itself installs them at once)
    assert timing.wait_for(r"validating")
    t0 = time.monotonic()
    assert timing.finish() == 0
    duration = time.monotonic() - t0
    plan = VARIANTS[:FIXED] + [rng.choice(VARIANTS) for _ in range(TRIALS - FIXED)]
    rng.shuffle(plan)
    # one moment in each of TRIALS equal slices of a build: validation, kernels starting,
    # notebooks running and finishing, jupyter-book, publishing
    start, end = 0.0, 0.8 * duration
    width = (end - start) / TRIALS
    moments = [rng.uniform(start + k * width, start + (k + 1) * width) for k in range(TRIALS)]
    report = []
    kernels_hit = 0
    for i, ((sig, group), delay) in enumerate(zip(plan, moments)):
        label = f"trial {i}"
        before = tree(base / "html")
        runtime = tmp_path / f"runtime{i}"  # the kernels' connection files
        b = Build(stub_build(stub, base, "--label", label), env={"JUPYTER_RUNTIME_DIR":
                                                                 str(runtime)})
        assert b.wait_for(r"validating")
        time.sleep(delay)
        running = survivors(b.tag, timeout=0)  # the build's processes as the signal is sent
        kernels = sum("ipykernel" in p for p in running)
        kernels_hit += kernels > 0
        sent = time.monotonic()
        b.send(sig, group)
        rc = b.finish()
        left = survivors(b.tag)
        gone_after = time.monotonic() - sent
        assert left == [], (sig, left)
        assert not any("Traceback" in ln for ln in b.err), b.err
        after = tree(base / "html")
        x = re.escape(str(base))
        if rc == 0:  # it finished before the signal arrived
            assert complete_book(base / "html", label)
        elif sig == signal.SIGKILL:
            assert rc == -signal.SIGKILL and errors(b) == []
            assert after == before or complete_book(base / "html", label)
        else:
            assert rc == 128 + sig, (sig, rc, b.err)
            one_line(b, INTERRUPTED.format(x=x))
            if "had already been published" in errors(b)[0]:
                assert complete_book(base / "html", label)
            else:
                assert after == before  # byte for byte
            assert not (base / "work").exists() and not (base / "stage").exists()
        if not (sig == signal.SIGKILL and group):  # a worker killed outright cannot tidy
            assert list(runtime.glob("kernel-*.json")) == []  # connection files removed
        cache_is_whole(base)
        finished = b.executed()
        again = Build(stub_build(stub, base, "--label", label, "--no-wait"))  # no stale lock
        assert again.finish() == 0, again.err
        assert finished <= again.cached(), (finished, again.out)
        assert finished.isdisjoint(again.executed())
        assert complete_book(base / "html", label)
        report.append(f"{signal.Signals(sig).name:7} {'group' if group else 'build'} "
                      f"at {delay:4.1f} s of {duration:.1f} ({len(running)} processes, "
                      f"{kernels} kernels): exit {rc}, "
                      f"{errors(b) or '(silent)'}, "
                      f"finished {sorted(finished)}, reused {sorted(again.cached())}, "
                      f"every process gone {gone_after:.2f} s after the signal")
    print("\n".join(report))
    assert kernels_hit, "no signal reached a build while a kernel ran"


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (``SigCgt`` in /proc/<pid>/status)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            mask = next(ln for ln in fh if ln.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(mask, 16) >> (sig - 1) & 1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_cartbook_starts_up(tmp_path, sig):
    """cartbook build handles the stop signals from the start of main(), before parsing (which
    imports pandas) and long before it validates or writes anything."""
    build = tmp_path / "_build"
    b = Build([sys.executable, "-m", "analysis_lib.cli", "build", "--data", str(VALID),
               "--build-dir", str(build)])
    deadline = time.monotonic() + 30
    while not _catches(b.pid, signal.SIGTERM):
        assert time.monotonic() < deadline and b.proc.poll() is None
        time.sleep(0.001)
    b.send(sig)
    assert b.finish() == 128 + sig
    one_line(b, rf"interrupted: no book was published in {re.escape(str(build))} "
                r"\(there was none before\)")
    assert not build.exists()


def test_a_signal_after_the_command_has_finished_keeps_its_exit_code(tmp_path):
    """Once a command has finished, the program ignores the stop signals: one that arrives
    while the interpreter shuts down (seconds with pandas loaded) cannot turn a finished
    build's exit code 0 into -signal (seen in CI: SIGHUP at the very end of a build). Checked
    in the program itself (the handlers at exit) and by a signal sent during shut-down."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import atexit, os, signal, sys, time\n"
        "from analysis_lib import cli\n"
        "def at_exit():\n"
        "    print([signal.getsignal(s) == signal.SIG_IGN for s in\n"
        "           (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)], flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    time.sleep(0.2)\n"
        "atexit.register(at_exit)\n"
        "cli.run(sys.argv[1:])\n")
    b = Build([sys.executable, str(probe), "clean", "--build-dir", str(tmp_path / "_build")])
    assert b.finish() == 0, b.err
    assert b.out == ["[True, True, True]"]
    # called from Python, main() gives the caller its handlers back
    before = [signal.getsignal(s) for s in processes.STOP_SIGNALS]
    from analysis_lib import cli
    assert cli.main(["clean", "--build-dir", str(tmp_path / "_other")]) == 0
    assert [signal.getsignal(s) for s in processes.STOP_SIGNALS] == before


# --------------------------------------------------------------------------------------------
# The real book
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_during_a_real_book_build(built_book: Path, tmp_path: Path):
    """Ctrl-C while the real book's notebooks run (real kernels with the analysis imports):
    exit 130, one line, no process left, the book byte-identical, and the notebooks that had
    finished are taken from the cache by the next build."""
    build = tmp_path / "_build"
    shutil.copytree(built_book / "html", build / "html", symlinks=True)
    shutil.copytree(built_book / "cache", build / "cache", symlinks=True)
    before = tree(build / "html")
    label = "Interrupted centre"
    b = Build([sys.executable, "-m", "analysis_lib.cli", "build", "--build-dir", str(build),
               "--label", label])
    assert b.wait_for(r"\]\s+\w+: executed in", timeout=600), (b.out, b.err)
    deadline = time.monotonic() + 30
    while not any("ipykernel" in p for p in survivors(b.tag, timeout=0)):
        assert time.monotonic() < deadline, "no kernel running"
        time.sleep(0.05)
    b.send(signal.SIGINT, group=True)
    assert b.finish() == 130
    assert errors(b) == [f"interrupted: the previous book in {build} is unchanged"]
    assert survivors(b.tag) == []
    assert tree(build / "html") == before
    assert not (build / "work").exists() and not (build / "stage").exists()
    cache_is_whole(build)
    finished = b.executed()
    # which notebooks would the next build execute? (the executor records them, runs nothing)
    asked: list[str] = []

    def record(job):
        asked.append(job[0])
        return NotebookResult(job[0], "failed")

    run_notebooks(STAGES[0], ROOT / "data" / "synthetic", build, label=label, executor=record,
                  jobs=1)
    assert finished and set(asked) == set(STAGES[0]) - finished


# --------------------------------------------------------------------------------------------
# The build folder changes under the build
# --------------------------------------------------------------------------------------------

def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        why = f"cannot mount ({proc.stderr.strip()}): needs root with CAP_SYS_ADMIN"
        if in_ci():
            pytest.fail(f"{why}; CI runs as root and must run this test", pytrace=False)
        pytest.skip(why)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 48 MB file system of its own (tmpfs)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt))
    yield mnt
    _umount(mnt)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the file that does it."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while fh.write(b"\0" * chunk):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_during_the_build_is_named_and_keeps_the_book(stub, small_disk):
    build = small_disk / "_build"
    assert Build(stub_build(stub, build, "--label", "base")).finish() == 0
    before = tree(build / "html")
    full = (rf"no space left on the disk of the build folder {re.escape(str(build))}"
            r"( \(writing [^)]*\))?; the previous book is unchanged")
    # 1. the disk fills up while the notebooks run
    # slow notebooks (beta runs ~10 s): the disk is full well before the last one finishes,
    # even on a loaded machine (with 3, all three once finished while the filler was written)
    b = Build(stub_build(stub, build, "--label", "new"), env={"STUB_SLEEP": "8"})
    assert b.wait_for(r"\]\s+\w+: executed in")
    filler = fill(small_disk)
    assert b.finish() == 1
    one_line(b, full)
    assert tree(build / "html") == before
    assert survivors(b.tag) == []
    cache_is_whole(build)
    assert not (build / "work").exists() and not (build / "stage").exists()
    finished = b.executed()
    assert finished and finished != set(NAMES)
    filler.unlink()
    # 2. the disk fills up while jupyter-book writes the book
    b = Build(stub_build(stub, build, "--label", "new"))
    assert b.wait_for(r"building the book")
    filler = fill(small_disk)
    assert b.finish() == 1
    one_line(b, full)
    assert tree(build / "html") == before
    assert survivors(b.tag) == []
    assert finished <= b.cached()
    filler.unlink()
    # room again: the next build reuses every notebook and publishes
    b = Build(stub_build(stub, build, "--label", "new"))
    assert b.finish() == 0, b.err
    assert b.cached() == set(NAMES)
    assert complete_book(build / "html", "new")


def test_a_build_folder_made_read_only_during_the_build(stub, base):
    before = tree(base / "html")
    b = Build(stub_build(stub, base, "--label", "new"), env={"STUB_SLEEP": "3"})
    assert b.wait_for(r"\]\s+\w+: executed in")
    _mount("--bind", str(base), str(base))
    try:
        _mount("-o", "remount,bind,ro", str(base))
        assert b.finish() == 1
        one_line(b, rf"the build folder {re.escape(str(base))} is on a read-only file "
                        r"system( \(writing [^)]*\))?; the previous book is unchanged")
        assert tree(base / "html") == before
        assert survivors(b.tag) == []
        finished = b.executed()
    finally:
        _umount(base)
    again = Build(stub_build(stub, base, "--label", "new"))
    assert again.finish() == 0, again.err
    assert finished <= again.cached()


def test_a_build_folder_read_only_from_the_start(stub, base):
    before = tree(base / "html")
    _mount("--bind", str(base), str(base))
    try:
        _mount("-o", "remount,bind,ro", str(base))
        b = Build(stub_build(stub, base, "--label", "new"))
        assert b.finish() == 1
        one_line(b, rf"the build folder {re.escape(str(base))} is on a read-only file "
                        r"system( \(writing [^)]*\))?; the previous book is unchanged")
        assert tree(base / "html") == before
    finally:
        _umount(base)


def test_a_build_folder_deleted_during_the_build(stub, base, tmp_path):
    b = Build(stub_build(stub, base, "--label", "new"), env={"STUB_SLEEP": "3"})
    assert b.wait_for(r"\]\s+\w+: executed in")
    moved = base.rename(tmp_path / "moved-away")  # as `rm -rf` sees it: the name is gone
    shutil.rmtree(moved, ignore_errors=True)
    assert b.finish() == 1
    one_line(b, rf"the build folder {re.escape(str(base))} was deleted during the build; "
                    r"nothing was published")
    assert survivors(b.tag) == []
    assert not base.exists()  # not created again by the failing build
    again = Build(stub_build(stub, base, "--label", "new"))
    assert again.finish() == 0, again.err
    assert complete_book(base / "html", "new")


# --------------------------------------------------------------------------------------------
# The same faults injected in this process, at each place the build itself writes
# --------------------------------------------------------------------------------------------

def _fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[-1]) if args else None)
    return fail


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left on the disk of the build folder"),
    (errno.EDQUOT, "no space left on the disk of the build folder"),
    (errno.EROFS, "is on a read-only file system"),
    (errno.EACCES, "no permission to write in the build folder"),
    (errno.EIO, "cannot write in the build folder"),
])
@pytest.mark.parametrize("where", ["staging", "publishing"])
def test_write_errors_of_the_build_itself_are_named(stub, shared_base, monkeypatch, code,
                                                    words, where):
    """An error writing the staged book or swapping it in names the fault and the file in one
    line (no traceback), keeps the book and leaves no scratch folders."""
    before = tree(shared_base / "html")
    (stub / "book" / "intro.md").write_text(f"# Stub\n\nChanged for {code} {where}.\n")
    if where == "staging":
        monkeypatch.setattr(pipeline.shutil, "copy2", _fail_with(code))
    else:
        monkeypatch.setattr(pipeline, "_replace_dir", _fail_with(code))
    with pytest.raises(FolderFault) as exc:
        build_book(VALID, shared_base, root=stub, notebooks=NAMES, label="base")
    msg = str(exc.value)
    assert "\n" not in msg and words in msg and f"build folder {shared_base}" in msg, msg
    assert msg.endswith("; the previous book is unchanged")
    assert f"(writing {shared_base}/" in msg  # the file, in the folder as the user named it
    assert tree(shared_base / "html") == before
    assert not (shared_base / "work").exists() and not (shared_base / "stage").exists()


def test_a_notebook_error_is_not_blamed_on_the_folder(stub, shared_base, monkeypatch):
    """A notebook failing with an OSError of its own (a permission error reading something
    else) is reported as the notebook's failure while the build folder is writable."""
    def denied(name, *args, **kwargs):
        return NotebookResult(name, "failed", 0.0, "PermissionError: [Errno 13] Permission "
                              "denied: '/elsewhere'", errno.EACCES)

    monkeypatch.setattr(pipeline, "execute_notebook", denied)  # in the (forked) workers too
    with pytest.raises(BuildError) as exc:
        build_book(VALID, shared_base, root=stub, notebooks=NAMES, label="other", jobs=1)
    assert not isinstance(exc.value, FolderFault)
    assert "notebook 'alpha' failed" in str(exc.value) and "/elsewhere" in str(exc.value)


def test_a_full_disk_reported_by_a_notebook_is_named(stub, shared_base, monkeypatch):
    def full(name, *args, **kwargs):
        return NotebookResult(name, "failed", 0.0, "OSError: [Errno 28] No space left on "
                              "device", errno.ENOSPC)

    monkeypatch.setattr(pipeline, "execute_notebook", full)
    before = tree(shared_base / "html")
    with pytest.raises(FolderFault) as exc:
        build_book(VALID, shared_base, root=stub, notebooks=NAMES, label="other", jobs=1)
    assert str(exc.value) == (f"no space left on the disk of the build folder {shared_base}; "
                              "the previous book is unchanged")
    assert tree(shared_base / "html") == before


def test_an_unwritable_build_folder_at_the_start(tmp_path, monkeypatch):
    """The lock cannot even be taken: the same one-line error, and nothing is created."""
    build = tmp_path / "ro" / "_build"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == build:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(FolderFault) as exc:
        build_book(VALID, build, notebooks=[])
    assert str(exc.value) == (f"the build folder {build} is on a read-only file system "
                              f"(writing {build}); no book was published (there was none "
                              "before)")


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------

def test_a_signal_inside_a_critical_section_waits_for_its_end():
    steps = []
    with pytest.raises(processes.Interrupted) as exc:
        with processes.interrupts():
            with processes.critical():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                steps.append("finished the critical step")
            steps.append("never")
    assert steps == ["finished the critical step"]
    assert exc.value.signum == signal.SIGTERM and exc.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_a_lost_interrupt_is_raised_again_at_the_next_checkpoint():
    """The exception a signal handler raises can be lost in C code that clears errors (seen
    while Python compiled a module being imported): the build stops at its next checkpoint."""
    steps = []
    with pytest.raises(processes.Interrupted) as exc:
        with processes.interrupts():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            except processes.Interrupted:
                steps.append("lost")  # as the compiler did
            steps.append("went on")
            processes.checkpoint()
            steps.append("never")
    assert steps == ["lost", "went on"] and exc.value.exit_code == 130


def test_exchange_swaps_two_folders_atomically(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("new")
    (b / "f").write_text("old")
    assert buildlock.exchange(a, b)  # Linux, on the test's file system
    assert (b / "f").read_text() == "new" and (a / "f").read_text() == "old"


def test_replace_dir_without_exchange_and_recovery(tmp_path, monkeypatch):
    """Where no atomic exchange exists, two renames; a build stopped between them is repaired
    by the next one."""
    monkeypatch.setattr(pipeline, "exchange", lambda a, b: False)
    src, dst = tmp_path / "new", tmp_path / "html"
    src.mkdir()
    dst.mkdir()
    (src / "f").write_text("new")
    (dst / "f").write_text("old")
    old = pipeline._replace_dir(src, dst)
    assert (dst / "f").read_text() == "new" and old == tmp_path / "html.old"
    shutil.rmtree(old)
    os.replace(dst, tmp_path / "html.old")  # as if stopped between the two renames
    pipeline._recover(dst)
    assert (dst / "f").read_text() == "new" and not (tmp_path / "html.old").exists()


def test_workers_die_with_the_build_even_on_sigkill(tmp_path):
    """The parent-death watch alone (no clean-up by the build): a process that forks a worker
    (which starts a child of its own in another session, like a kernel) is killed with
    SIGKILL; worker and child end."""
    script = (
        "import os, subprocess, sys, time\n"
        "from analysis_lib.book import processes\n"
        "parent = os.getpid()\n"
        "if os.fork() == 0:\n"
        "    processes.become_worker(parent)\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        "                     start_new_session=True)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(60)\n")
    tag = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "CARTBOOK_TEST_TAG": tag})
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    assert len(survivors(tag, timeout=0)) == 3
    proc.kill()
    proc.wait()
    assert survivors(tag, timeout=5.0) == []


def test_lock_file_is_not_published(shared_base):
    assert (shared_base / buildlock.LOCK_NAME).is_file()
    assert not any(p.name == buildlock.LOCK_NAME for p in (shared_base / "html").rglob("*"))


def test_errors_leave_out_only_a_dying_kernels_noise():
    class B:
        err = ["ERROR:tornado.general:Uncaught exception in ZMQStream callback",
               "Traceback (most recent call last):",
               '  File "kernelbase.py", line 372, in dispatch_control',
               "    await self.process_control(msg)",
               "zmq.error.ZMQError: Socket operation on non-socket",
               "Assertion failed: pfd.revents & POLLIN (src/signaler.cpp:238)",
               KERNEL_SHUTDOWN_NOISE,
               "cartbook: no space left on the disk of the build folder x",
               "Traceback (most recent call last):"]
    assert errors(B()) == ["cartbook: no space left on the disk of the build folder x",
                           "Traceback (most recent call last):"]
