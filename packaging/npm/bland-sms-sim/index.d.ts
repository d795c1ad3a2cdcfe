/** Options of `startSimulator`; each maps to the binary's flag of the same name. */
export interface SimulatorOptions {
  /** Time moves only by `advance` (`--clock manual`). */
  manualClock?: boolean;
  /** Ids and the scenarios' random choices are reproducible for a seed. */
  seed?: number | string;
  /** Where the manual clock starts (RFC 3339). */
  startTime?: string;
  /** A fixtures file's path, or a fixtures document. Default: the embedded fixtures. */
  fixtures?: string | Record<string, unknown>;
  /** Scenario files or folders, or scenario documents. */
  scenarios?: Array<string | Record<string, unknown>>;
  /** Every webhook goes here instead of the conversation's or number's URL. */
  webhookUrl?: string;
  /** The first key to use an unowned agent number gets it. */
  autoProvision?: boolean;
  /** Any other flag, one argument each: `["--request-log", "5000"]`. */
  args?: string[];
  /** Another binary than the platform package's (as `BLAND_SMS_SIM_BINARY`). */
  binary?: string;
}

/** Filters of `waitForWebhooks`. */
export interface WaitOptions {
  count?: number;
  timeoutMs?: number;
  conversation_id?: string;
  event?: string;
  type?: "message" | "status";
}

/** A JSON document as the simulator answers it. */
export type Json = any;

/** An answer in Bland's error envelope, or a simulator that could not start. */
export class SimulatorError extends Error {
  /** The HTTP status (0 when the process did not start). */
  status: number;
  /** Bland's error code (`WAIT_TIMEOUT`, `INVALID_PARAMETER`, …; `START_FAILED`). */
  code: string;
  /** The envelope's message: what went wrong and how to fix it (the process's own words for
   * `START_FAILED`). */
  message: string;
}

/** A running simulator. */
export class Simulator {
  /** `http://127.0.0.1:PORT`. */
  baseUrl: string;
  /** The first fixtures key. */
  apiKey: string;
  /** What the process wrote to stderr lately. */
  readonly output: string;
  /** A text from the user to the agent number; the agent's replies due now. */
  inbound(text: { user: string; agent: string; text: string }): Promise<string[]>;
  /** Moves the clock ahead by `seconds`, firing every timer due on the way. */
  advance(seconds: number): Promise<Json>;
  /** Every delivery kept, oldest first, each with its whole payload. */
  webhooks(): Promise<Json[]>;
  /** Waits for matching deliveries' first attempts; rejects with 408 `WAIT_TIMEOUT`. */
  waitForWebhooks(options?: WaitOptions): Promise<Json[]>;
  /** The request journal. */
  requests(): Promise<Json[]>;
  /** Adds a fault rule; the rule with its `id`. */
  addFault(rule: Record<string, unknown>): Promise<Json>;
  /** Removes every fault rule. */
  clearFaults(): Promise<void>;
  /** The whole state as one document. */
  state(): Promise<Json>;
  /** Replaces the state with a document. */
  loadState(doc: Json): Promise<Json>;
  /** Clears all state and reloads the fixtures. */
  reset(): Promise<void>;
  /** Any call, with this simulator's key on `/v1` (or `key`). */
  call(method: string, path: string, body?: unknown, key?: string): Promise<Json>;
  /** Stops the process; a `connect`ed simulator keeps running. (`await using` calls it too:
   * `Symbol.asyncDispose` is defined at run time; its type needs `lib: ["esnext.disposable"]`,
   * so it is not declared here.) */
  stop(): Promise<void>;
}

/** Starts a simulator on a free port; resolves once it listens. */
export function startSimulator(options?: SimulatorOptions): Promise<Simulator>;

/** A client for a simulator already running at `url`; starts nothing. Its `apiKey` is the
 * given one, else the one a global setup provided, else `sk_sim_default`. */
export function connect(url: string, options?: { adminToken?: string; apiKey?: string }): Simulator;

/** One replay script's result. */
export interface ReplayResult {
  name: string;
  file: string;
  passed: boolean;
  /** The failing step and its diff. */
  failure?: { step: string; diff: unknown };
}

/** Runs replay scripts as `bland-sms-sim replay` does: each in a simulator of its own
 * (`scenarios` added to each), or, with `url`, against that running simulator and the app
 * behind it (each script's setup replaces its state; `adminToken` for its /_sim API;
 * `timeoutMs` for how long steps wait for the app when they do not say). */
export function runReplays(
  paths: string[],
  options?: { url?: string; adminToken?: string; timeoutMs?: number; scenarios?: string[] },
): Promise<ReplayResult[]>;

/** The simulator binary this package runs. */
export function findBinary(): string;
