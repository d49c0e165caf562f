/**
 * Runs the project's OpenAI-compatible test server in a process of its own,
 * so parsing request bodies (the base64 image in every field's request) does
 * not share an event loop with the handlers being measured. Started by
 * bench/test-model.ts.
 *
 * Two modes. By default every field is answered with a short string after
 * the server's latency ± jitter, drawn here so the benchmark can tell the
 * spread of the draws apart from time lost elsewhere. With `prefixCache`,
 * the latency and usage come from the prefix-cache model
 * (`bench/prefix-cache.ts`): what a caching endpoint would take for each
 * request, with its cached tokens reported as OpenAI reports them.
 *
 * A field whose answer schema is an object (the "single request" strategy:
 * every field in one request) is answered with an object of its properties.
 *
 * Protocol: argv[2] is the options as JSON. Prints `{"baseUrl": …}` once
 * listening, then answers one JSON line per command line on stdin:
 * `{"id", "cmd": "stats" | "reset" | "instant", "on"?}` → `{"id", "stats"?}`.
 * Closes when stdin ends.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { startOpenAITestServer, type RecordedRequest, type TestServerOptions, type TestUsage } from '../test/support/openai-test-server';
import { PrefixCacheModel, promptOf, tokensOf, type PrefixCacheParams } from './prefix-cache';

/** The counters the benchmark reads. */
export interface ModelServerStats {
  readonly requests: number;
  readonly rejected: number;
  readonly maxInFlight: number;
  readonly maxServing: number;
  /** The latencies drawn for answers (default mode): how many, their mean and largest. */
  readonly drawn: { readonly count: number; readonly meanMs: number; readonly maxMs: number };
  /** The prefix-cache model's totals (with `prefixCache`). */
  readonly endpoint?: { readonly busyMs: number; readonly promptBytes: number; readonly cachedBytes: number; readonly requests: number };
}

/** The options of the process: the test server's, and the prefix-cache model's. */
export interface ModelProcessOptions extends Omit<TestServerOptions, 'handler' | 'prompts'> {
  readonly prefixCache?: PrefixCacheParams;
}

/** A command on stdin (each line also carries an `id`, echoed in the reply). */
export type ModelServerCommand =
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'reset' }
  | { readonly cmd: 'instant'; readonly on: boolean };

/** `value of <field>`, or for an object answer schema one such value per property. */
function answerFor(req: Pick<RecordedRequest, 'field' | 'body'>): unknown {
  const value = req.body?.response_format?.json_schema?.schema?.properties?.value;
  const properties = (value?.anyOf?.[0] ?? value)?.properties;
  if (properties && typeof properties === 'object') {
    return Object.fromEntries(Object.keys(properties as object).map((k) => [k, `value of ${k}`]));
  }
  return `value of ${req.field ?? 'field'}`;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ModelProcessOptions;
const model = options.prefixCache ? new PrefixCacheModel(options.prefixCache) : undefined;
let instant = false;
let drawn = { count: 0, sum: 0, max: 0 };
const server = await startOpenAITestServer({
  ...options,
  handler: (req) => {
    const value = answerFor(req);
    if (instant) return { kind: 'answer', value, latencyMs: 0 };
    if (model) {
      const served = model.serve(
        promptOf(req.body, { sha256: req.imageSha256, length: req.imageBase64Length }),
        tokensOf(JSON.stringify({ value })),
        performance.now(),
      );
      const usage = {
        prompt_tokens: Math.ceil(served.promptBytes / 4),
        completion_tokens: served.outputTokens,
        prompt_tokens_details: { cached_tokens: Math.floor(served.cachedBytes / 4) },
      } as TestUsage;
      return { kind: 'answer', value, latencyMs: served.latencyMs, usage };
    }
    const jitter = options.jitterMs ? (Math.random() * 2 - 1) * options.jitterMs : 0;
    const latencyMs = Math.max(0, (options.defaultLatencyMs ?? 0) + jitter);
    drawn = { count: drawn.count + 1, sum: drawn.sum + latencyMs, max: Math.max(drawn.max, latencyMs) };
    return { kind: 'answer', value, latencyMs };
  },
});
const reply = (data: unknown): void => void process.stdout.write(`${JSON.stringify(data)}\n`);
reply({ baseUrl: server.baseUrl });

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const c = JSON.parse(line) as ModelServerCommand & { readonly id: number };
  if (c.cmd === 'reset') {
    server.reset();
    model?.reset();
    drawn = { count: 0, sum: 0, max: 0 };
  }
  if (c.cmd === 'instant') instant = c.on;
  const stats: ModelServerStats = {
    requests: server.requests.length,
    rejected: server.rejected,
    maxInFlight: server.maxInFlight,
    maxServing: server.maxServing,
    drawn: { count: drawn.count, meanMs: drawn.count ? drawn.sum / drawn.count : 0, maxMs: drawn.max },
    ...(model ? { endpoint: model.totals() } : {}),
  };
  reply({ id: c.id, ...(c.cmd === 'stats' ? { stats } : {}) });
});
lines.on('close', () => {
  void server.close().finally(() => process.exit(0));
});
