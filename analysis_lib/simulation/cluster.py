"""Dask distributed for the project's heavy loops: a client on a local cluster sized to the
machine or on an existing cluster, and a map over tasks that hands each result back in the
order tasks finish, with a progress bar.

Where the work runs
-------------------
* Default: a :class:`distributed.LocalCluster` on this machine, one single-threaded worker
  process per core (:func:`default_workers`).
* ``scheduler="tcp://host:8786"`` (or the path of a scheduler file written by
  ``dask scheduler --scheduler-file``): an existing cluster. On one machine::

      dask scheduler --port 8786 --dashboard-address :0
      dask worker tcp://127.0.0.1:8786 --nworkers 2 --nthreads 1 --dashboard-address :0

  On a Slurm cluster, dask-jobqueue's ``SLURMCluster`` submits the workers as batch jobs, and
  on Kubernetes dask-kubernetes' ``KubeCluster`` runs them as pods; either prints the
  scheduler address to pass here (the README shows both). Every worker needs this package
  installed at the same version (``pip install -r requirements.lock && pip install --no-deps
  -e .``), so that every replicate runs the same code.

Results travel back to the client, which writes them: workers need no shared file system.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = ["default_workers", "dask_client", "map_tasks", "progress_bar"]


def default_workers() -> int:
    """Workers of the default local cluster: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, *,
                processes: bool = True) -> Iterator[Any]:
    """A :class:`distributed.Client`: on the cluster at ``scheduler`` (an address such as
    ``tcp://127.0.0.1:8786``, or a scheduler file), else on a new local cluster of ``workers``
    single-threaded worker processes (default :func:`default_workers`; ``processes=False``
    runs them as threads of this process, for tests of the plumbing). The local cluster is
    shut down on exit; an existing cluster is left running."""
    from distributed import Client, LocalCluster

    if scheduler:
        if Path(scheduler).is_file():
            client = Client(scheduler_file=str(scheduler), timeout="30s")
        else:
            client = Client(scheduler, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else default_workers()
    if n < 1:
        raise ValueError("a local cluster needs at least one worker")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def progress_bar(total: int, unit: str, desc: str, enabled: bool | None) -> Any:
    from tqdm import tqdm

    """A tqdm bar on stderr, drawn when ``enabled`` (None: when stderr is a terminal)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, unit=unit, desc=desc, disable=not show, dynamic_ncols=True,
                smoothing=0.05)


def map_tasks(client: Any, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]],
              on_result: Callable[[int, Any], None], *, weights: Iterable[int] | None = None,
              unit: str = "task", desc: str = "", progress: bool | None = None,
              keys: Sequence[str] | None = None) -> None:
    """Run ``fn(*tasks[i])`` for every ``i`` on the cluster of ``client`` and call
    ``on_result(i, result)`` in this process as each finishes (in completion order, so the
    caller must not depend on it). ``weights`` (e.g. replicates per task) drive the progress
    bar, drawn on the terminal when ``progress`` is None and stderr is one. A task whose
    worker dies is rerun by the scheduler on another worker; a task that raises raises here,
    after the results already handed back. ``keys`` name the tasks on the dashboard."""
    from distributed import as_completed

    w = list(weights) if weights is not None else [1] * len(tasks)
    bar = progress_bar(sum(w), unit, desc, progress)
    futures = {}
    try:
        for i, args in enumerate(tasks):
            kw = {"key": keys[i]} if keys is not None else {"pure": False}
            futures[client.submit(fn, *args, **kw)] = i
        for fut in as_completed(list(futures)):
            i = futures.pop(fut)
            on_result(i, fut.result())
            fut.release()
            bar.update(w[i])
    finally:
        for fut in futures:
            fut.cancel()
        bar.close()
