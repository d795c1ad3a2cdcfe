"use strict";
// bland-sms-sim for Node: start the Bland SMS API simulator from a test, point your client at it,
// and drive the user's side, the clock and the inspection API. The simulator is the binary of
// the platform package (@bland-sms-sim/linux-x64, …) or the one BLAND_SMS_SIM_BINARY names.
// No runtime dependencies.

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

/** An answer in Bland's error envelope, or a simulator that could not start. */
class SimulatorError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "SimulatorError";
    this.status = status;
    this.code = code;
  }

  toString() {
    return this.status ? `SimulatorError: ${this.status} ${this.code}: ${this.message}` : `SimulatorError: ${this.code}: ${this.message}`;
  }
}

/** The platform package for this machine, as npm names it. The Linux binaries are static, so
 * one package serves glibc and musl (Alpine) alike. */
function platformPackage() {
  return `@bland-sms-sim/${process.platform}-${process.arch}`;
}

/** The simulator binary: BLAND_SMS_SIM_BINARY, else the platform package's. */
function findBinary() {
  const given = process.env.BLAND_SMS_SIM_BINARY;
  if (given) {
    if (!fs.existsSync(given)) {
      throw new SimulatorError(0, "START_FAILED", `BLAND_SMS_SIM_BINARY=${given} is not a file`);
    }
    return given;
  }
  const pkg = platformPackage();
  const exe = process.platform === "win32" ? "bland-sms-sim.exe" : "bland-sms-sim";
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch {
    throw new SimulatorError(
      0,
      "START_FAILED",
      `no simulator binary for ${process.platform}-${process.arch}: add the package ${pkg} ` +
        `(npm installs it with bland-sms-sim unless optional dependencies are left out), ` +
        `or point BLAND_SMS_SIM_BINARY at a binary`,
    );
  }
}

/** The last 64 KiB a stream wrote, for error messages. */
function drain(stream, kept) {
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    kept.text = (kept.text + chunk).slice(-64 * 1024);
  });
}

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Lines of a stream, one at a time, until `stop` is called. */
function lineReader(stream) {
  let buffered = "";
  const waiting = [];
  const lines = [];
  let ended = false;
  stream.setEncoding("utf8");
  const onData = (chunk) => {
    buffered += chunk;
    let i;
    while ((i = buffered.indexOf("\n")) >= 0) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    while (waiting.length && lines.length) waiting.shift()(lines.shift());
  };
  const onEnd = () => {
    ended = true;
    while (waiting.length) waiting.shift()(null);
  };
  stream.on("data", onData);
  stream.on("end", onEnd);
  return {
    next: () =>
      lines.length ? Promise.resolve(lines.shift()) : ended ? Promise.resolve(null) : new Promise((r) => waiting.push(r)),
    stop: () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.resume();
    },
  };
}

/** A running simulator: started by `startSimulator`, or already running (`connect`). */
class Simulator {
  constructor(baseUrl, apiKey, child, adminToken, cleanup) {
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this._child = child;
    this._adminToken = adminToken;
    this._cleanup = cleanup;
    this._stderr = { text: "" };
  }

  /** What the process wrote to stderr lately (its logs). */
  get output() {
    return this._stderr.text;
  }

  async _call(method, pathname, body, key) {
    const headers = { "content-type": "application/json" };
    if (key) headers.authorization = key;
    else if (this._adminToken && pathname.startsWith("/_sim")) headers.authorization = `Bearer ${this._adminToken}`;
    let res;
    try {
      res = await fetch(this.baseUrl + pathname, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new SimulatorError(0, "UNREACHABLE", `${this.baseUrl}: ${e.cause?.message ?? e.message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let err;
      try {
        err = JSON.parse(text).errors[0];
      } catch {
        throw new SimulatorError(res.status, "HTTP_ERROR", text);
      }
      throw new SimulatorError(res.status, err.error ?? "", err.message ?? "");
    }
    return text ? JSON.parse(text) : null;
  }

  async _data(method, pathname, body) {
    return (await this._call(method, pathname, body)).data;
  }

  /** A text from `user` to the agent number `agent`; the agent's replies due now. */
  async inbound({ user, agent, text }) {
    const data = await this._data("POST", "/_sim/inbound", { user_number: user, agent_number: agent, message: text });
    return (data.replies ?? []).map((r) => r.message);
  }

  /** Moves the clock ahead by `seconds`, firing every timer due on the way; the clock after. */
  advance(seconds) {
    return this._data("POST", "/_sim/clock/advance", { seconds });
  }

  /** Every delivery kept, oldest first, each with its whole payload. */
  async webhooks() {
    const out = [];
    let cursor;
    for (;;) {
      const page = await this._call(
        "GET",
        `/_sim/webhooks?payload=full&limit=1000${cursor === undefined ? "" : `&cursor=${cursor}`}`,
      );
      out.push(...page.data);
      if (!page.has_more || page.next_cursor == null) return out;
      cursor = page.next_cursor;
    }
  }

  /** Waits for `count` matching deliveries' first attempts; rejects with 408 WAIT_TIMEOUT. */
  waitForWebhooks({ count = 1, timeoutMs = 5000, ...filters } = {}) {
    return this._data("POST", "/_sim/webhooks/wait", { count, timeout_ms: timeoutMs, ...filters });
  }

  /** The request journal: every API call with the answer it got. */
  requests() {
    return this._data("GET", "/_sim/requests");
  }

  /** Adds a fault rule; the rule with its `id`. */
  addFault(rule) {
    return this._data("POST", "/_sim/faults", rule);
  }

  /** Removes every fault rule. */
  async clearFaults() {
    await this._call("DELETE", "/_sim/faults");
  }

  /** The whole state as one document. */
  state() {
    return this._call("GET", "/_sim/state");
  }

  /** Replaces the state with a document. */
  loadState(doc) {
    return this._data("PUT", "/_sim/state", doc);
  }

  /** Clears all state and reloads the fixtures. */
  async reset() {
    await this._call("POST", "/_sim/reset");
  }

  /** Any call, with this simulator's key on `/v1` (or `key`). */
  call(method, pathname, body, key) {
    return this._call(method, pathname, body, key ?? (pathname.startsWith("/v1") ? this.apiKey : undefined));
  }

  /** Stops the process (SIGTERM, then a kill after 5 s); a `connect`ed one keeps running. */
  async stop() {
    const child = this._child;
    this._child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (child) running.delete(child);
    this._cleanup?.();
    this._cleanup = null;
  }

  async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")]() {
    await this.stop();
  }
}

/** A document option as a file path: a path as given, or an object written to `dir`. */
function asFile(value, dir, name) {
  if (typeof value === "string") return value;
  const file = path.join(dir(), name);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Starts a simulator on a free port and resolves once it listens. */
async function startSimulator(options = {}) {
  const o = options;
  let tmp;
  const dir = () => (tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), "bland-sms-sim-")));
  const args = ["--host", "127.0.0.1", "--port", "0"];
  if (o.manualClock) args.push("--clock", "manual");
  if (o.seed !== undefined) args.push("--seed", String(o.seed));
  if (o.startTime !== undefined) args.push("--start-time", o.startTime);
  if (o.webhookUrl !== undefined) args.push("--webhook-url", o.webhookUrl);
  if (o.autoProvision) args.push("--auto-provision");
  if (o.fixtures !== undefined) args.push("--fixtures", asFile(o.fixtures, dir, "fixtures.json"));
  (o.scenarios ?? []).forEach((s, i) => args.push("--scenarios", asFile(s, dir, `scenario-${i}.json`)));
  args.push(...(o.args ?? []).map(String));
  const cleanup = () => tmp && fs.rmSync(tmp, { recursive: true, force: true });
  const binary = o.binary ?? findBinary();
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const sim = new Simulator("", "", child, undefined, cleanup);
  drain(child.stderr, sim._stderr);
  const spawnError = new Promise((_, reject) =>
    child.once("error", (e) => reject(new SimulatorError(0, "START_FAILED", `cannot run ${binary}: ${e.message}`))),
  );
  const lines = lineReader(child.stdout);
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new SimulatorError(0, "START_FAILED", "no answer within 30 s")), 30000).unref(),
  );
  try {
    const first = await Promise.race([lines.next(), spawnError, timeout]);
    if (!first || !first.startsWith("listening on ")) {
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      const said = `${first ?? ""}\n${sim._stderr.text}`.trim();
      throw new SimulatorError(0, "START_FAILED", said || "the simulator exited at start");
    }
    sim.baseUrl = first.split(" ").pop();
    const second = (await lines.next()) ?? "";
    sim.apiKey = second.startsWith("api key:") ? second.slice("api key:".length).trim() : "";
  } catch (e) {
    lines.stop();
    await sim.stop();
    throw e;
  }
  lines.stop();
  return sim;
}

/** A client for a simulator that is already running at `url` (a CI service); starts nothing.
 * Its `apiKey` is `apiKey` if given, else the one a global setup provided, else the default
 * fixtures' `sk_sim_default` (it cannot ask the simulator: `connect` is synchronous). */
function connect(url, { adminToken, apiKey = process.env.BLAND_SMS_SIM_API_KEY ?? "sk_sim_default" } = {}) {
  return new Simulator(url.replace(/\/+$/, ""), apiKey, null, adminToken, null);
}

/** Runs replay scripts as `bland-sms-sim replay` does; one result per script. */
async function runReplays(paths, { url, adminToken, timeoutMs, scenarios = [] } = {}) {
  const args = [
    "replay",
    "--json",
    ...(url ? ["--url", url] : []),
    ...(adminToken ? ["--admin-token", adminToken] : []),
    ...(timeoutMs ? ["--timeout-ms", String(timeoutMs)] : []),
    ...scenarios.flatMap((s) => ["--scenarios", s]),
    ...paths,
  ];
  const done = spawnSync(findBinary(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  let report;
  try {
    report = JSON.parse(done.stdout);
  } catch {
    throw new SimulatorError(0, "REPLAY_FAILED", (done.stderr || done.stdout || "").trim());
  }
  return report.scripts.map((s) => {
    const result = { name: s.name, file: s.file, passed: s.passed };
    if (!s.passed) {
      const step = s.steps.find((x) => x.outcome === "failed");
      result.failure = step ? { step: step.step, diff: step.diff } : { step: "setup", diff: s.error };
    }
    return result;
  });
}

module.exports = { Simulator, SimulatorError, startSimulator, connect, runReplays, findBinary };
