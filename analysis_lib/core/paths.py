"""Where the repository's files are: one definition of the repository root for every layer."""

from __future__ import annotations

from pathlib import Path

#: The repository root (the directory holding ``_config.yml``, ``data/`` and ``notebooks/``).
ROOT: Path = Path(__file__).resolve().parents[2]
