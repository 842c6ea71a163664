"""One build per build folder, and what to say when the folder changes under a build.

:class:`BuildLock` is an exclusive ``flock(2)`` on ``<build>/.cartbook.lock`` held for the
whole build. The operating system releases it when the last process holding the lock file
open ends, however it ends (SIGKILL included), so a crashed build never leaves a stale lock
behind; the file itself stays, and holds the pid of the build that locked it last. A second
build into the same folder waits for the first (saying which pid it waits for) or, with
``wait=False``, stops at once with :class:`BuildBusy`. Builds into different folders do not
meet. The build's forked workers inherit the open lock file, and ``jupyter-book`` is handed
it, so the folder stays locked until every process of the build has ended.

:meth:`BuildLock.fault` names, in words, why writing into the folder failed: it was deleted or
replaced (another folder now has its name), it is read-only or not writable, or its disk is
full.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: The lock file inside the build folder (never published: the book is ``<build>/html``).
LOCK_NAME = ".cartbook.lock"
#: Bytes written by the probe that tells a full disk from other failures.
PROBE_BYTES = 256 * 1024

#: errno values that mean "no room", "read-only", "not allowed".
FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS,)
DENIED = (errno.EACCES, errno.EPERM)
GONE = (errno.ENOENT, errno.ENOTDIR, errno.ESTALE)


class BuildBusy(Exception):
    """Another build holds the build folder (raised with ``wait=False``)."""

    def __init__(self, folder: str, pid: int | None):
        self.folder = folder
        self.pid = pid
        super().__init__(busy_message(folder, pid))


def busy_message(folder: str, pid: int | None) -> str:
    who = f"another build (pid {pid})" if pid else "another build"
    return f"the build folder {folder} is in use by {who}"


@dataclass(frozen=True)
class Fault:
    """Why the build folder cannot be written; ``text`` says it in words. ``kind``: the folder
    was ``deleted``; deleted and ``recreated`` by the build's own writes (it has no lock file);
    ``replaced`` by a folder of another build (with a lock file); ``emptied`` (its lock file
    deleted); or it is ``full``, ``read-only``, ``denied`` (no permission), ``other``."""
    kind: str
    text: str


def _holder(fd: int) -> int | None:
    """The pid written in the lock file by the build that holds it (retried briefly: the
    holder writes it just after locking)."""
    for _ in range(20):
        try:
            raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return None
        if raw.isdigit():
            pid = int(raw)
            try:
                os.kill(pid, 0)
                return pid
            except ProcessLookupError:
                pass  # the previous holder's pid, not yet overwritten
            except PermissionError:
                return pid
        time.sleep(0.05)
    return None


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class BuildLock:
    """The exclusive lock of one build folder (see the module's docstring).

    ``shown`` is how messages name the folder (as the user gave it: never published).
    """

    def __init__(self, folder: Path, shown: str | None = None):
        self.folder = Path(folder)
        self.shown = shown or str(folder)
        self.path = self.folder / LOCK_NAME
        self.fd: int | None = None
        self.waited = False
        self._folder_id: tuple[int, int] | None = None
        self._file_id: tuple[int, int] | None = None

    def acquire(self, wait: bool = True, on_wait: Callable[[int | None], None] | None = None
                ) -> "BuildLock":
        """Create the folder if needed and lock it; if another build holds it, call
        ``on_wait(pid)`` and wait, or raise :class:`BuildBusy` when ``wait`` is false."""
        while True:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    from .processes import checkpoint

                    pid = _holder(fd)
                    if not wait:
                        raise BuildBusy(self.shown, pid) from None
                    if on_wait is not None:
                        on_wait(pid)
                    self.waited = True
                    checkpoint()
                    fcntl.flock(fd, fcntl.LOCK_EX)  # a signal interrupts the wait
                # the file locked must still be the folder's lock file (a folder deleted and
                # created again while we waited has a new one): else lock the new one
                mine = _ident(os.fstat(fd))
                try:
                    current = _ident(os.stat(self.path))
                except FileNotFoundError:
                    current = None
                if current != mine:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            self.fd, self._file_id = fd, mine
            self._folder_id = _ident(os.stat(self.folder))
            return self

    def release(self) -> None:
        """Unlock (the lock file stays; other processes of the build holding it keep the
        lock until they end)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def __enter__(self) -> "BuildLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ----------------------------------------------------------------------------------------
    # Diagnosis
    # ----------------------------------------------------------------------------------------

    def changed(self) -> Fault | None:
        """A fault if the folder or its lock file is no longer the one locked (None before
        the folder was locked)."""
        if self._folder_id is None:
            return None
        deleted = f"the build folder {self.shown} was deleted during the build"
        try:
            folder = _ident(os.stat(self.folder))
        except OSError:
            return Fault("deleted", deleted)
        try:
            lock = _ident(os.stat(self.path))
        except OSError:
            lock = None
        if folder != self._folder_id:
            if lock is None:
                return Fault("recreated", deleted)
            return Fault("replaced", f"the build folder {self.shown} was deleted during the "
                                     "build and another build has created it again")
        if lock != self._file_id:
            return Fault("emptied", f"the contents of the build folder {self.shown} were "
                                    "deleted during the build")
        return None

    def probe(self) -> int | None:
        """Write and remove :data:`PROBE_BYTES` bytes in the folder; the errno if that fails."""
        probe = self.folder / f".cartbook-probe-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            return exc.errno
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        except OSError as exc:
            return exc.errno
        finally:
            os.close(fd)
            try:
                os.unlink(probe)
            except OSError:
                pass
        return None

    def describe(self, code: int | None, where: str = "") -> Fault:
        """The fault that errno ``code`` means for this folder (``where``: what was being
        written, shown in brackets)."""
        at = f" (writing {where})" if where else ""
        x = self.shown
        if code in FULL:
            return Fault("full", f"no space left on the disk of the build folder {x}{at}")
        if code in READ_ONLY:
            return Fault("read-only", f"the build folder {x} is on a read-only file system{at}")
        if code in DENIED:
            return Fault("denied", f"no permission to write in the build folder {x}{at}")
        return Fault("other", f"cannot write in the build folder {x}{at}: "
                              f"{os.strerror(code) if code else 'unknown error'}")

    def fault(self, code: int | None = None, where: str = "", *, confirm: bool = False
              ) -> Fault | None:
        """Why writing into the folder failed, or None if the folder is fine.

        ``code`` is the errno of the failure, if known. With ``confirm`` (the failure came
        from a notebook or a program, which may have meant another folder) a read-only,
        permission or other error counts only if the probe fails too; a full disk counts if it
        was reported or the probe finds it.
        """
        gone = self.changed()
        if gone is not None:
            return gone
        probed = self.probe()
        if probed is not None and probed not in GONE:  # the folder itself refuses a write
            return self.describe(probed, where)
        if code in FULL or (code is not None and not confirm and code not in GONE):
            return self.describe(code, where)
        if probed is not None:  # the folder does not exist (it could not be created)
            return self.describe(probed, where)
        return None


# --------------------------------------------------------------------------------------------
# Atomic exchange of two directories
# --------------------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap the directories ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``), so that a reader of ``b`` sees the old or the new one and never
    neither. Returns False where the system or the file system cannot do it (the caller then
    renames in two steps); raises ``OSError`` for any other failure."""
    import ctypes

    from .processes import _LIBC

    if _LIBC is None or not hasattr(_LIBC, "renameat2"):
        return False
    if _LIBC.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                       _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))
