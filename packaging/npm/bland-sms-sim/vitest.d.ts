/** The global setup: starts one simulator for the run and provides its URL and key. */
export default function setup(project: { provide(key: string, value: unknown): void }): Promise<() => Promise<void>>;
/** The simulator the global setup started. */
export function injectedSimulator(): { baseUrl: string; apiKey: string };
