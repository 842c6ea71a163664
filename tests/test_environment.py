"""The pins: requirements.lock, requirements.in, pyproject.toml and environment.yml agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from write_environment import locked_requirements, render  # noqa: E402


def _name(req: str) -> str:
    return re.split(r"[=<>!~ ]", req, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for ln in lines:
        assert "==" in ln, f"not an exact pin: {ln}"
        name, version = ln.split("==", 1)
        out[_name(name)] = version.strip()
    return out


def test_lock_pins_every_package_exactly():
    pins = _pins(locked_requirements())
    assert len(pins) > 50  # the full transitive set, not just direct dependencies
    assert pins["jupyter-book"] == "1.0.4.post1"  # Jupyter Book 1: JB2 needs the internet
    assert pins["pandas"].split(".")[0] == "2"  # lifelines (later chapters) needs pandas < 3


def test_environment_yml_has_the_lock_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pins(locked_requirements())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("python=3.11") for d in conda)
    for pkg in ("r-base", "r-survival", "r-cmprsk", "r-brglm2"):
        assert any(d.split("=")[0] == pkg for d in conda), pkg


def test_environment_yml_is_generated_from_the_lock():
    assert (ROOT / "environment.yml").read_text() == render()


def test_direct_dependencies_are_locked_at_their_pins():
    lock = _pins(locked_requirements())
    direct = [ln.strip() for ln in (ROOT / "requirements.in").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    for req in direct:
        name, version = req.split("==")
        assert lock[_name(name)] == version, req
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert _name(dep) in lock, dep


def test_installed_versions_match_the_lock():
    from importlib.metadata import version

    lock = _pins(locked_requirements())
    for name in ("numpy", "pandas", "scipy", "papermill", "jupyter-book", "matplotlib"):
        assert version(name) == lock[name], name
