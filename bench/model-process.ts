/**
 * Runs the project's OpenAI-compatible test server in a process of its own,
 * so parsing request bodies (the base64 image in every field's request) does
 * not share an event loop with the handlers being measured. Started by
 * bench/test-model.ts.
 *
 * Protocol: argv[2] is the server's options as JSON (no handler: every field
 * is answered with a short string after the server's latency). Prints
 * `{"baseUrl": …}` once listening, then answers one JSON line per command
 * line on stdin: `{"id", "cmd": "stats" | "reset" | "instant", "on"?}` →
 * `{"id", "stats"?}`. Closes when stdin ends.
 */
import { createInterface } from 'node:readline';
import { startOpenAITestServer, type TestServerOptions } from '../test/support/openai-test-server';

/** The counters the benchmark reads. */
export interface ModelServerStats {
  readonly requests: number;
  readonly rejected: number;
  readonly maxInFlight: number;
  readonly maxServing: number;
}

/** A command on stdin (each line also carries an `id`, echoed in the reply). */
export type ModelServerCommand =
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'reset' }
  | { readonly cmd: 'instant'; readonly on: boolean };

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<TestServerOptions, 'handler'>;
let instant = false;
const server = await startOpenAITestServer({
  ...options,
  handler: (req) => ({ kind: 'answer', value: `value of ${req.field ?? 'field'}`, ...(instant ? { latencyMs: 0 } : {}) }),
});
const reply = (data: unknown): void => void process.stdout.write(`${JSON.stringify(data)}\n`);
reply({ baseUrl: server.baseUrl });

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const c = JSON.parse(line) as ModelServerCommand & { readonly id: number };
  if (c.cmd === 'reset') server.reset();
  if (c.cmd === 'instant') instant = c.on;
  const stats: ModelServerStats = {
    requests: server.requests.length,
    rejected: server.rejected,
    maxInFlight: server.maxInFlight,
    maxServing: server.maxServing,
  };
  reply({ id: c.id, ...(c.cmd === 'stats' ? { stats } : {}) });
});
lines.on('close', () => {
  void server.close().finally(() => process.exit(0));
});
