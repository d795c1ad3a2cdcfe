"""The pytest plugin (on as soon as the package is installed):

- `bland_sim`: one simulator for the session (manual clock), one per xdist worker;
- `bland`: the same simulator, reset before the test;
- `--bland-sim-arg=ARG` (repeatable) and the ini key `bland_sim_args` (one argument a line) add
  flags; `--bland-sim-url=URL` uses a running simulator instead of starting one;
- files named `*.replay.json` are collected as tests, one per script, run as
  `bland-sms-sim replay` runs them: each in a simulator of its own (with the `--scenarios` the
  flags above give), or, with `--bland-sim-url`, against that simulator and the app behind it
  (`replay --url`: each script's setup replaces its state; run those without xdist).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from ._simulator import Simulator, SimulatorError, find_binary


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("bland-sms-sim", "Bland SMS API simulator")
    group.addoption(
        "--bland-sim-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a flag for the simulator the bland_sim fixture starts (repeatable, one argument "
        "each: --bland-sim-arg=--seed=7)",
    )
    group.addoption(
        "--bland-sim-url",
        default=None,
        metavar="URL",
        help="use the simulator running at URL instead of starting one",
    )
    parser.addini(
        "bland_sim_args",
        type="linelist",
        default=[],
        help="flags for the simulator the bland_sim fixture starts, one argument a line",
    )


def _args(config: Any) -> List[str]:
    return list(config.getini("bland_sim_args")) + list(config.getoption("--bland-sim-arg"))


@pytest.fixture(scope="session")
def bland_sim(request: Any) -> Iterator[Simulator]:
    """One simulator for the session (under xdist, one per worker), on a manual clock."""
    url = request.config.getoption("--bland-sim-url")
    if url:
        yield Simulator.connect(url)
        return
    sim = Simulator(manual_clock=True, args=_args(request.config)).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def bland(bland_sim: Simulator) -> Simulator:
    """The session's simulator, reset: no conversation, webhook or fault of another test."""
    bland_sim.reset()
    return bland_sim


def pytest_collect_file(parent: Any, file_path: Path) -> Optional["ReplayFile"]:
    if file_path.name.endswith(".replay.json"):
        return ReplayFile.from_parent(parent, path=file_path)
    return None


class ReplayFile(pytest.File):
    """A replay script: one test, named by the script's `name`."""

    def collect(self) -> Iterator["ReplayItem"]:
        try:
            name = json.loads(self.path.read_text(encoding="utf-8")).get("name")
        except (ValueError, AttributeError):
            name = None
        yield ReplayItem.from_parent(self, name=name or self.path.name)


class ReplayFailure(Exception):
    """A script that did not pass: its report."""


class ReplayItem(pytest.Item):
    """Runs the script as `bland-sms-sim replay --json FILE` does: in a simulator of its own,
    or against the one `--bland-sim-url` names."""

    def runtest(self) -> None:
        url = self.config.getoption("--bland-sim-url")
        target = ["--url", url] if url else []
        cmd = [find_binary(), "replay", "--json", *target, *_scenario_flags(_args(self.config)), str(self.path)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        try:
            report = json.loads(done.stdout)
            script = report["scripts"][0]
        except (ValueError, KeyError, IndexError):
            raise ReplayFailure((done.stderr or done.stdout).strip()) from None
        if not script.get("passed"):
            raise ReplayFailure(_describe(script))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, (ReplayFailure, SimulatorError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> Any:
        return self.path, 0, f"replay: {self.name}"


def _scenario_flags(args: List[str]) -> List[str]:
    """The `--scenarios` flags among the simulator's flags (the replay runs take those too)."""
    out: List[str] = []
    for i, a in enumerate(args):
        if a.startswith("--scenarios="):
            out += ["--scenarios", a.split("=", 1)[1]]
        elif a == "--scenarios" and i + 1 < len(args):
            out += ["--scenarios", args[i + 1]]
    return out


def _describe(script: Any) -> str:
    """The failing steps and their diffs, as `bland-sms-sim replay` prints them."""
    lines = [f"{script.get('name')} ({script.get('file')})"]
    if script.get("error"):
        lines.append(f"  {script['error']}")
    for step in script.get("steps", []):
        if step.get("outcome") == "failed":
            lines.append(f"  {step.get('step')}: failed")
            diff = step.get("diff")
            for d in diff if isinstance(diff, list) else [diff]:
                lines.append(f"    {d}")
    return "\n".join(lines)
