"""The simulation study: the paper's analysis plan run on many SYNTHETIC trials whose truth
is known, on Dask distributed (``cartbook simulate``).

* :mod:`~analysis_lib.simulation.scenarios`: the data-generating scenarios (the calibrated
  generator and null scenarios with one effect removed) and how one simulated trial is
  drawn (counts at random, per-replicate seeds from one ``numpy.random.SeedSequence``);
* :mod:`~analysis_lib.simulation.plan`: the paper's analysis plan on one trial, by the same
  library functions the chapters call, recorded as one tidy row per estimate;
* :mod:`~analysis_lib.simulation.truth`: the true value of each estimand, from a very large
  simulated population of the same scenario;
* :mod:`~analysis_lib.simulation.cluster`: Dask clients (a local cluster sized to the machine
  or an existing scheduler) and a map over tasks with a progress bar;
* :mod:`~analysis_lib.simulation.engine`: studies in batches, partitioned Parquet written
  atomically, resumption of interrupted runs;
* :mod:`~analysis_lib.simulation.summary` and :mod:`~analysis_lib.simulation.figures`: the
  operating characteristics with their Monte Carlo standard errors, and their figures.

This layer sits above :mod:`analysis_lib.synthetic` (it draws from the generator) and
:mod:`analysis_lib.analyses` (it runs the chapters' analyses), below :mod:`analysis_lib.book`.
"""
