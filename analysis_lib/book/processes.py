"""Processes that die with the build, and interrupts that stop it cleanly.

The build (:mod:`analysis_lib.book.pipeline`) runs notebooks in worker processes, each of which
starts a Jupyter kernel, and runs ``jupyter-book`` as a subprocess. None of them may outlive
the build, however the build ends:

- **Parent-death watch** (Linux): every worker asks the kernel for ``SIGTERM`` when the build
  dies (``prctl(PR_SET_PDEATHSIG)``, see prctl(2)), even by ``SIGKILL``; its handler kills the
  worker's own children (the kernel and whatever the kernel started; kernels run in a session
  of their own, as ``jupyter_client`` starts them) and exits. ``jupyter-book`` gets ``SIGKILL``
  the same way. A process checks its parent right after asking, so a build that died in between
  is noticed too. Kernels also watch their worker themselves (ipykernel's parent poller,
  ``JPY_PARENT_PID``): a worker killed outright takes its kernel with it within a second.
- **Interrupts** (:func:`interrupts`): SIGINT, SIGTERM and SIGHUP become an :class:`Interrupted`
  exception in the build's main thread, so the build stops its workers and kernels (see
  :func:`stop_workers`) and the command line prints one line instead of a traceback. Inside a
  :func:`critical` section (renaming a finished result into place) a signal is held until the
  section ends, so nothing is ever left half-done. An exception raised by a signal handler
  can be lost in C code that clears errors (seen: a signal while Python compiled a module
  being imported), so the signal is also remembered and raised again at the build's next
  :func:`checkpoint` (between steps and before every wait).

Workers ignore SIGINT: Ctrl-C reaches every process of the terminal's foreground group, and
it is the build that decides what happens to them. On systems without ``/proc`` and ``prctl``
the same steps run with what is available (``ps`` to find children; no parent-death signal).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

#: prctl(2) option: the signal this process gets when its parent (thread) dies.
PR_SET_PDEATHSIG = 1
#: The signals that stop a build (:func:`interrupts`).
STOP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_LINUX = sys.platform.startswith("linux")
# loaded once here: a forked child must not dlopen between fork and exec
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if _LINUX else None


class Interrupted(BaseException):
    """The build was stopped by a signal (SIGINT, SIGTERM or SIGHUP).

    A ``BaseException`` like ``KeyboardInterrupt``: no ``except Exception`` on the way up may
    swallow it. ``published`` tells whether the new book had already replaced the previous one
    when the signal arrived (set by :func:`analysis_lib.book.pipeline.build_book`).
    """

    def __init__(self, signum: int, published: bool = False):
        self.signum = signum
        self.published = published
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (SIGINT 130, SIGTERM 143)."""
        return 128 + self.signum


# --------------------------------------------------------------------------------------------
# Interrupts as an exception, with critical sections
# --------------------------------------------------------------------------------------------

@dataclass
class _State:
    active: int = 0          # nesting depth of interrupts()
    owner: int = 0           # pid that installed the handlers (a forked child is not it)
    depth: int = 0           # nesting depth of critical()
    pending: int = 0         # a signal held back by critical()
    fired: bool = False      # Interrupted was raised: later signals are ignored
    saved: dict | None = None


_STATE = _State()


def _handler(signum: int, frame: Any) -> None:
    st = _STATE
    if os.getpid() != st.owner:
        # a worker forked by the build, before it installed its own handlers (become_worker)
        if signum == signal.SIGINT:
            return
        os._exit(128 + signum)
    st.pending = st.pending or signum
    if st.fired or st.depth:
        # raised once already (the clean-up must not be broken by a second Ctrl-C; if the
        # exception was lost, checkpoint() raises it again), or held by critical()
        return
    st.fired = True
    raise Interrupted(st.pending)


@contextmanager
def interrupts(then: Any = None) -> Iterator[None]:
    """Within this block (main thread only; elsewhere it does nothing), SIGINT, SIGTERM and
    SIGHUP raise :class:`Interrupted` once; the previous handlers are restored afterwards,
    or, with ``then`` (``signal.SIG_IGN``), replaced by it: a program whose command has
    finished must not be killed by a signal while the interpreter shuts down (its exit code
    would become -signal instead of the command's). Re-entrant: nested blocks share the
    outermost one's handlers."""
    st = _STATE
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if st.active == 0:
        st.owner, st.depth, st.pending, st.fired = os.getpid(), 0, 0, False
        st.saved = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    st.active += 1
    try:
        yield
    finally:
        st.active -= 1
        if st.active == 0:
            for s, h in (st.saved or {}).items():
                signal.signal(s, h if then is None else then)
            st.saved = None


def settled() -> None:
    """The command has finished: a stop signal from now on changes nothing (it is ignored
    by the handler of :func:`interrupts` instead of raising :class:`Interrupted`)."""
    _STATE.fired = True


@contextmanager
def critical() -> Iterator[None]:
    """Hold back the stop signals until the block has finished; then raise the held one.

    For the few steps that must not be cut in half (a rename and its bookkeeping). Does
    nothing outside :func:`interrupts`.
    """
    st = _STATE
    st.depth += 1
    try:
        yield
    finally:
        st.depth -= 1
    if st.depth == 0 and st.pending and not st.fired and st.active:
        signum, st.pending = st.pending, 0
        st.fired = True
        raise Interrupted(signum)


def checkpoint() -> None:
    """Raise :class:`Interrupted` if a stop signal has arrived (within :func:`interrupts`,
    outside :func:`critical`). Called on the build's way forward, never in its clean-up: if
    the exception the signal raised was lost, the build still stops here."""
    st = _STATE
    if st.pending and st.active and not st.depth:
        st.fired = True
        raise Interrupted(st.pending)


# --------------------------------------------------------------------------------------------
# Parent-death watch
# --------------------------------------------------------------------------------------------

def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux,
    ``PR_SET_PDEATHSIG``); if the parent is already gone (it is no longer ``parent``), act on
    it now. Safe between fork and exec. Elsewhere: nothing."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def _worker_stop(signum: int, frame: Any) -> None:
    """A worker told to stop (or whose build died): kill what it started, then exit."""
    kill(descendants([os.getpid()]))
    os._exit(128 + signum)


def become_worker(parent: int) -> None:
    """Set up a freshly forked worker of the build ``parent``: SIGINT is left to the build,
    SIGTERM and SIGHUP kill the worker's children and end it, and the worker gets SIGTERM when
    the build dies."""
    signal.signal(signal.SIGINT, lambda signum, frame: None)  # not SIG_IGN: kernels reset it
    signal.signal(signal.SIGTERM, _worker_stop)
    signal.signal(signal.SIGHUP, _worker_stop)
    die_with_parent(parent, signal.SIGTERM)


def popen(cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` for a helper program of the build: in a session of its own (the
    terminal's Ctrl-C goes to the build, which stops it) and killed when the build dies."""
    parent = os.getpid()
    return subprocess.Popen(cmd, start_new_session=True,
                            preexec_fn=lambda: die_with_parent(parent, signal.SIGKILL),
                            **kwargs)


# --------------------------------------------------------------------------------------------
# Finding and killing descendants
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    """A process as found by :func:`descendants`; ``start`` (clock ticks after boot, Linux)
    tells it apart from a later process that reuses its pid."""
    pid: int
    start: int = 0
    kernel_file: str = ""  # a Jupyter kernel's connection file (removed when it is killed)


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time) of ``pid`` from /proc, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def _kernel_file(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return ""
    if not any("ipykernel" in a for a in args):
        return ""
    for flag, value in zip(args, args[1:]):
        if flag == "-f" and value.endswith(".json"):
            return value
    return ""


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st is not None:
                    out.setdefault(st[0], []).append(int(name))
        return out
    try:  # no /proc (macOS, BSD)
        ps = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True,
                            check=False)
    except OSError:
        return out
    for line in ps.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.setdefault(int(parts[1]), []).append(int(parts[0]))
    return out


def descendants(roots: Iterable[int]) -> list[Proc]:
    """Every living descendant of the processes ``roots`` (not the roots), children first."""
    children = _children_map()
    out: list[Proc] = []
    todo = list(roots)
    seen = set(todo)
    while todo:
        for child in children.get(todo.pop(0), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
                st = _stat(child)
                out.append(Proc(child, st[2] if st else 0, _kernel_file(child)))
    return out


def alive(p: Proc) -> bool:
    """Whether ``p`` still runs (the same process, not a reuse of its pid)."""
    if os.path.isdir("/proc/self"):
        st = _stat(p.pid)
        return st is not None and (not p.start or st[2] == p.start)
    try:
        os.kill(p.pid, 0)
    except OSError:
        return False
    return True


def kill(procs: Iterable[Proc]) -> None:
    """SIGKILL each of ``procs`` that still runs, and the process group it leads (a kernel's
    session holds whatever the kernel started); remove killed kernels' connection files."""
    own_group = os.getpgrp()
    for p in procs:
        if not alive(p):
            continue
        try:
            if os.getpgid(p.pid) == p.pid and p.pid != own_group:
                os.killpg(p.pid, signal.SIGKILL)
            else:
                os.kill(p.pid, signal.SIGKILL)
        except OSError:
            pass
        if p.kernel_file:
            try:
                os.unlink(p.kernel_file)
            except OSError:
                pass


def wait_gone(procs: Iterable[Proc], timeout: float) -> list[Proc]:
    """Wait up to ``timeout`` seconds for ``procs`` to end; returns those still running."""
    left = list(procs)
    deadline = time.monotonic() + timeout
    while left:
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return left


def stop_workers(workers: Sequence[Any], grace: float = 3.0) -> None:
    """Stop the build's ``workers`` (``multiprocessing.Process``) and everything they started.

    Each worker gets SIGTERM (its handler kills its kernel and exits); whatever still runs
    after ``grace`` seconds, workers and their descendants alike, gets SIGKILL. Returns when
    all of them have ended (workers reaped).
    """
    pids = [w.pid for w in workers if w.pid is not None]
    tree = descendants(pids)  # before the workers die: afterwards kernels are nobody's children
    for w in workers:
        if w.is_alive():
            try:
                os.kill(w.pid, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + grace
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    kill([Proc(w.pid) for w in workers if w.is_alive()] + tree + descendants(pids))
    for w in workers:
        w.join(5.0)
    wait_gone(tree, 5.0)
