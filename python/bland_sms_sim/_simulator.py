"""The `Simulator` handle: a `bland-sms-sim` process this package starts (or one already
running), and the control API's calls, named as in the Rust API."""

from __future__ import annotations

import collections
import datetime
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import urllib.error
import urllib.request
import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

__all__ = ["Simulator", "SimulatorError", "find_binary"]

#: Bytes of the process's own output kept for error messages.
_OUTPUT_KEPT = 64 * 1024
#: How long `stop` waits after SIGTERM before it kills the process.
_GRACE_SECONDS = 5.0
#: How long a start may take before it is given up.
_START_SECONDS = 30.0


class SimulatorError(Exception):
    """An answer in Bland's error envelope, or a simulator that could not start.

    `status` is the HTTP status (0 when the process did not start), `code` Bland's error code
    (`WAIT_TIMEOUT`, `INVALID_PARAMETER`, …; `START_FAILED` for a process that did not start),
    and `message` what went wrong and how to fix it.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def find_binary() -> str:
    """The `bland-sms-sim` binary: `BLAND_SMS_SIM_BINARY`, else the one this package installed
    (in this environment's scripts folder, or the user scheme's), else one on `PATH`."""
    given = os.environ.get("BLAND_SMS_SIM_BINARY")
    if given:
        if not os.path.isfile(given):
            raise SimulatorError(0, "START_FAILED", f"BLAND_SMS_SIM_BINARY={given!r} is not a file")
        return given
    exe = "bland-sms-sim" + (".exe" if sys.platform == "win32" else "")
    candidates = [os.path.join(sysconfig.get_path("scripts"), exe)]
    user_scheme = {"nt": "nt_user", "posix": "posix_user"}.get(os.name)
    if user_scheme:
        try:
            candidates.append(os.path.join(sysconfig.get_path("scripts", scheme=user_scheme), exe))
        except KeyError:
            pass
    for path in candidates:
        if os.path.isfile(path):
            return path
    on_path = shutil.which(exe)
    if on_path:
        return on_path
    raise SimulatorError(
        0,
        "START_FAILED",
        "the bland-sms-sim binary was not found: install the `bland-sms-sim` wheel for this "
        "platform, or point BLAND_SMS_SIM_BINARY at a binary",
    )


class _Output:
    """The process's stdout and stderr, drained on threads (a full pipe would block it), the
    last `_OUTPUT_KEPT` bytes kept for error messages."""

    def __init__(self) -> None:
        self._lines: collections.deque = collections.deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def drain(self, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            with self._lock:
                self._lines.append(line)
                self._bytes += len(line)
                while self._bytes > _OUTPUT_KEPT and len(self._lines) > 1:
                    self._bytes -= len(self._lines.popleft())
        stream.close()

    def text(self) -> str:
        with self._lock:
            return "".join(self._lines).strip()


def _stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then a kill after the grace period (a finalizer: takes no `self`)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


Json = Any


class Simulator:
    """A bland-sms-sim simulator: started by this object (on a free port), or already running
    (`Simulator.connect`). Use it in a `with` block, or `start()` and `stop()`; it also stops
    when garbage-collected. Several may run at once.

    Options map to the binary's flags: `manual_clock` (`--clock manual`: time moves only by
    `advance`), `seed`, `start_time` (RFC 3339), `fixtures` (a path, or a fixtures document as a
    dict), `scenarios` (paths of files or folders, or scenario documents as dicts),
    `webhook_url` (every webhook goes there), `auto_provision`, and `args` for any other flag
    (`["--request-log", "5000"]`).
    """

    def __init__(
        self,
        *,
        manual_clock: bool = False,
        seed: Optional[Union[int, str]] = None,
        start_time: Optional[str] = None,
        fixtures: Optional[Union[str, os.PathLike, Mapping[str, Json]]] = None,
        scenarios: Optional[Sequence[Union[str, os.PathLike, Mapping[str, Json]]]] = None,
        webhook_url: Optional[str] = None,
        auto_provision: bool = False,
        args: Optional[Iterable[str]] = None,
        binary: Optional[str] = None,
    ) -> None:
        self._options = dict(
            manual_clock=manual_clock,
            seed=seed,
            start_time=start_time,
            fixtures=fixtures,
            scenarios=list(scenarios or []),
            webhook_url=webhook_url,
            auto_provision=auto_provision,
            args=list(args or []),
        )
        self._binary = binary
        self._proc: Optional[subprocess.Popen] = None
        self._output = _Output()
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._finalizer: Optional[weakref.finalize] = None
        self._admin_token: Optional[str] = None
        self.base_url: str = ""
        self.api_key: str = ""

    # ---- the process ---------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str, admin_token: Optional[str] = None) -> "Simulator":
        """A handle on a simulator that is already running at `url` (a CI service, a container);
        `stop` leaves it running."""
        sim = cls()
        sim.base_url = url.rstrip("/")
        sim._admin_token = admin_token
        sim.api_key = sim._first_key()
        return sim

    def _command(self) -> List[str]:
        o = self._options
        cmd = [self._binary or find_binary(), "--host", "127.0.0.1", "--port", "0"]
        if o["manual_clock"]:
            cmd += ["--clock", "manual"]
        if o["seed"] is not None:
            cmd += ["--seed", str(o["seed"])]
        if o["start_time"] is not None:
            cmd += ["--start-time", o["start_time"]]
        if o["webhook_url"] is not None:
            cmd += ["--webhook-url", o["webhook_url"]]
        if o["auto_provision"]:
            cmd += ["--auto-provision"]
        if o["fixtures"] is not None:
            cmd += ["--fixtures", self._as_file(o["fixtures"], "fixtures.json")]
        for i, s in enumerate(o["scenarios"]):
            cmd += ["--scenarios", self._as_file(s, f"scenario-{i}.json")]
        return cmd + [str(a) for a in o["args"]]

    def _as_file(self, value: Union[str, os.PathLike, Mapping[str, Json]], name: str) -> str:
        """A path as given, or a document written to a file of this simulator's own."""
        if isinstance(value, Mapping):
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="bland-sms-sim-")
            path = os.path.join(self._tmp.name, name)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(value, f)
            return path
        return os.fspath(value)

    def start(self) -> "Simulator":
        """Starts the process on a free port and waits for it to listen.

        Raises `SimulatorError` (`START_FAILED`) with the process's own words when it cannot
        start: a bad flag, a bad fixtures file, a busy port."""
        if self._proc is not None:
            return self
        cmd = self._command()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as e:
            raise SimulatorError(0, "START_FAILED", f"cannot run {cmd[0]}: {e}") from e
        self._proc = proc
        self._finalizer = weakref.finalize(self, _stop_process, proc)
        threading.Thread(target=self._output.drain, args=(proc.stderr,), daemon=True).start()
        first = self._read_line(proc)
        if not first.startswith("listening on "):
            # It is exiting: let it finish writing why.
            try:
                proc.wait(timeout=_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            self.stop()
            said = (first + "\n" + self._output.text()).strip()
            raise SimulatorError(0, "START_FAILED", said or "the simulator exited at start")
        self.base_url = first.split()[-1]
        # The banner's next line names the first fixtures key.
        second = self._read_line(proc)
        self.api_key = second.split(":", 1)[1].strip() if second.startswith("api key:") else ""
        threading.Thread(target=self._output.drain, args=(proc.stdout,), daemon=True).start()
        if not self.api_key:
            self.api_key = self._first_key()
        return self

    @staticmethod
    def _read_line(proc: subprocess.Popen) -> str:
        """The next line of stdout, within the start timeout."""
        box: List[str] = []
        reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_SECONDS)
        if not box:
            _stop_process(proc)
            raise SimulatorError(0, "START_FAILED", f"no answer within {_START_SECONDS:.0f} s")
        return box[0].strip()

    def stop(self) -> None:
        """Stops the process (SIGTERM, then a kill after a grace period); a handle from
        `connect` leaves its simulator running."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def output(self) -> str:
        """What the process wrote to stderr lately (its logs), for a failing test's report."""
        return self._output.text()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Simulator({self.base_url or 'not started'})"

    # ---- HTTP ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Optional[Json] = None,
        key: Optional[str] = None,
        timeout: float = 30.0,
    ) -> Json:
        """One call; the JSON answer, or `SimulatorError` from Bland's error envelope."""
        if not self.base_url:
            raise SimulatorError(0, "NOT_STARTED", "start the simulator first (start() or `with`)")
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = key
        elif self._admin_token and path.startswith("/_sim"):
            headers["authorization"] = f"Bearer {self._admin_token}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                err = json.loads(text)["errors"][0]
                raise SimulatorError(e.code, err.get("error", ""), err.get("message", "")) from None
            except (ValueError, KeyError, IndexError, TypeError):
                raise SimulatorError(e.code, "HTTP_ERROR", text or str(e)) from None
        except urllib.error.URLError as e:
            raise SimulatorError(0, "UNREACHABLE", f"{self.base_url}: {e.reason}") from e
        return json.loads(text) if text else None

    def _data(self, method: str, path: str, body: Optional[Json] = None, **kw: Any) -> Json:
        return self._call(method, path, body, **kw)["data"]

    def _first_key(self) -> str:
        """The first fixtures account's key: the owner of the first number provisioned (the
        numbers are a short list, where the state would be every conversation), else the
        state's first account."""
        numbers = self._data("GET", "/_sim/numbers") or []
        if numbers:
            return min(numbers, key=lambda n: n.get("inbound_id", 0)).get("api_key", "")
        accounts = self.state().get("accounts") or [{}]
        return accounts[0].get("api_key", "")

    # ---- the control API (the Rust API's names) ------------------------------------------

    def inbound(self, user: str, agent: str, text: str) -> List[str]:
        """A text from `user` to the agent number `agent` (`POST /_sim/inbound`); the agent's
        replies due now, once stored and their webhooks tried."""
        data = self._data(
            "POST", "/_sim/inbound", {"user_number": user, "agent_number": agent, "message": text}
        )
        return [r["message"] for r in data.get("replies", [])]

    def advance(self, by: Union[int, float, datetime.timedelta]) -> Json:
        """Moves the clock ahead by seconds (or a `timedelta`), firing every timer due on the
        way (`POST /_sim/clock/advance`); the clock as it stands after."""
        seconds = by.total_seconds() if isinstance(by, datetime.timedelta) else by
        return self._data("POST", "/_sim/clock/advance", {"seconds": seconds})

    def webhooks(self) -> List[Json]:
        """Every delivery kept, oldest first, each with its whole payload (`GET /_sim/webhooks`,
        page after page)."""
        out: List[Json] = []
        cursor: Optional[int] = None
        while True:
            path = "/_sim/webhooks?payload=full&limit=1000"
            if cursor is not None:
                path += f"&cursor={cursor}"
            page = self._call("GET", path)
            out.extend(page["data"])
            cursor = page.get("next_cursor")
            if not page.get("has_more") or cursor is None:
                return out

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0, **filters: Any) -> List[Json]:
        """Waits until `count` matching deliveries had their first attempt (filters:
        `conversation_id`, `event`, `type`); raises `SimulatorError` 408 `WAIT_TIMEOUT` when
        `timeout` seconds pass first."""
        body = {"count": count, "timeout_ms": int(timeout * 1000), **filters}
        return self._data("POST", "/_sim/webhooks/wait", body, timeout=timeout + 30.0)

    def requests(self) -> List[Json]:
        """The request journal (`GET /_sim/requests`): every API call with the answer it got."""
        return self._data("GET", "/_sim/requests")

    def add_fault(self, rule: Mapping[str, Json]) -> Json:
        """Adds a fault rule (`POST /_sim/faults`); the rule with its `id`."""
        return self._data("POST", "/_sim/faults", dict(rule))

    def clear_faults(self) -> None:
        """Removes every fault rule (`DELETE /_sim/faults`)."""
        self._call("DELETE", "/_sim/faults")

    def state(self) -> Json:
        """The whole state as one document (`GET /_sim/state`): save it, or load it back."""
        return self._call("GET", "/_sim/state")

    def load_state(self, doc: Mapping[str, Json]) -> Json:
        """Replaces the state with a document (`PUT /_sim/state`)."""
        return self._data("PUT", "/_sim/state", dict(doc))

    def reset(self) -> None:
        """Clears all state and reloads the fixtures (`POST /_sim/reset`)."""
        self._call("POST", "/_sim/reset")

    def call(self, method: str, path: str, body: Optional[Json] = None, key: Optional[str] = None) -> Json:
        """Any call, with this simulator's first key on `/v1` (or `key`): the JSON answer, or
        `SimulatorError`."""
        if key is None and path.startswith("/v1"):
            key = self.api_key
        return self._call(method, path, body, key=key)
