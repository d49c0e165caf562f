/**
 * The soak's settings: defaults and command-line flags (flags win). Every
 * rate is a share in [0, 1]; every draw it drives comes from `--seed`, so a
 * run with the same options injects the same faults into the same requests.
 */
import { parseArgs } from 'node:util';
import { int, list, num } from './options';

export interface SoakOptions {
  /** Source objects uploaded at the start. */
  readonly images: number;
  /** Invocations at once: the simulated reserved concurrency. */
  readonly concurrency: number;
  /** No invocation starts after this many seconds; the run then settles and is counted. */
  readonly seconds: number;
  readonly seed: number;
  /** C: requests the test server serves at once (429 beyond). */
  readonly capacity: number;
  /** F: synthetic fields per image. */
  readonly fields: number;
  /** Test server latency per request, drawn uniformly from this range. */
  readonly latencyMs: readonly [number, number];
  /** Share of model requests that get one of the faults (`MODEL_FAULTS`). */
  readonly modelFaults: number;
  /** Share of image versions whose first requests per field all fail with 503 (a short outage). */
  readonly outages: number;
  /** Share of result-document writes that fail as S3 fails on a 500. */
  readonly writeFailures: number;
  /** Share of keys whose result writes always fail (their events end in the dead-letter list). */
  readonly stuckKeys: number;
  /** Share of events delivered a second time after the first delivery finished. */
  readonly duplicates: number;
  /** Share of events delivered a second time while the first delivery is in flight. */
  readonly inFlightDuplicates: number;
  /** Share of keys replaced by a new version while their first version is being processed. */
  readonly replacements: number;
  /** `MODEL_TIMEOUT_MS`: one attempt's limit (a hang costs this much). */
  readonly modelTimeoutMs: number;
  /** The Lambda time each invocation has (`getRemainingTimeInMillis` at its start). */
  readonly remainingMs: number;
  /** Waits before Lambda's two retries (Lambda: 1 min and 2 min, scaled down). */
  readonly retryDelaysMs: readonly [number, number];
  /** Size of each noise PNG. */
  readonly imageBytes: number;
  /** Where the figures are written. */
  readonly out: string;
  /** Where the handler's log lines go; none: discarded. */
  readonly log?: string;
  /** Every environment's requests through one fleet gate (`FLEET_GATE_*`, capacity C) in a local DynamoDB server. */
  readonly fleetGate: boolean;
}

export const SOAK_DEFAULTS: SoakOptions = Object.freeze({
  images: 300,
  concurrency: 4,
  seconds: 240,
  seed: 1,
  capacity: 10,
  fields: 4,
  latencyMs: [100, 300] as const,
  modelFaults: 0.12,
  outages: 0.02,
  writeFailures: 0.05,
  stuckKeys: 0.01,
  duplicates: 0.1,
  inFlightDuplicates: 0.1,
  replacements: 0.05,
  modelTimeoutMs: 2_000,
  remainingMs: 30_000,
  retryDelaysMs: [1_000, 2_000] as const,
  imageBytes: 20_000,
  out: 'bench/results/soak-latest.json',
  fleetGate: false,
});

export const SOAK_USAGE = `npm run soak -- [options]

Pushes images through the real on-upload handler with several invocations at
once, at-least-once delivery, model faults and failed result writes, under
Lambda's asynchronous retry semantics (two retries, then a dead-letter list);
then checks that every object ends with a document for its current ETag or a
dead-letter entry. Loopback only; stops itself.

  --images <n>               source objects (default ${SOAK_DEFAULTS.images})
  --concurrency <n>          invocations at once (default ${SOAK_DEFAULTS.concurrency})
  --seconds <n>              no invocation starts after this (default ${SOAK_DEFAULTS.seconds})
  --seed <n>                 seed of every draw (default ${SOAK_DEFAULTS.seed})
  --capacity <n>             C, requests the test server serves at once (default ${SOAK_DEFAULTS.capacity})
  --fields <n>               fields per image (default ${SOAK_DEFAULTS.fields})
  --latency <min,max>        test server latency in ms (default ${SOAK_DEFAULTS.latencyMs.join(',')})
  --model-faults <share>     requests with a fault (default ${SOAK_DEFAULTS.modelFaults})
  --outages <share>          image versions whose first requests fail with 503 (default ${SOAK_DEFAULTS.outages})
  --write-failures <share>   result writes that fail (default ${SOAK_DEFAULTS.writeFailures})
  --stuck-keys <share>       keys whose result writes always fail (default ${SOAK_DEFAULTS.stuckKeys})
  --duplicates <share>       events delivered again after the first finished (default ${SOAK_DEFAULTS.duplicates})
  --in-flight-duplicates <share>  events delivered again while the first runs (default ${SOAK_DEFAULTS.inFlightDuplicates})
  --replacements <share>     keys replaced while their first version runs (default ${SOAK_DEFAULTS.replacements})
  --model-timeout <ms>       MODEL_TIMEOUT_MS (default ${SOAK_DEFAULTS.modelTimeoutMs})
  --remaining <ms>           Lambda time per invocation (default ${SOAK_DEFAULTS.remainingMs})
  --retry-delays <ms,ms>     waits before the two retries (default ${SOAK_DEFAULTS.retryDelaysMs.join(',')})
  --image-bytes <n>          size of each image (default ${SOAK_DEFAULTS.imageBytes})
  --out <file>               results file (default ${SOAK_DEFAULTS.out})
  --log <file>               the handler's log lines (default: discarded)
  --fleet-gate               one fleet gate for every invocation (FLEET_GATE_*, capacity C),
                             in a local DynamoDB server; no slot may be left held at the end
  -h, --help

Exit code: 0 when nothing is lost, no model call is spent on a duplicate,
the endpoint never had more requests in flight than the budget and the run
settled in time; 1 otherwise; 2 on bad options.`;

/** Parses `argv` (without node and the script); throws a readable error on bad input. */
export function parseSoakOptions(argv: readonly string[]): SoakOptions | 'help' {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      images: { type: 'string' },
      concurrency: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      capacity: { type: 'string' },
      fields: { type: 'string' },
      latency: { type: 'string' },
      'model-faults': { type: 'string' },
      outages: { type: 'string' },
      'write-failures': { type: 'string' },
      'stuck-keys': { type: 'string' },
      duplicates: { type: 'string' },
      'in-flight-duplicates': { type: 'string' },
      replacements: { type: 'string' },
      'model-timeout': { type: 'string' },
      remaining: { type: 'string' },
      'retry-delays': { type: 'string' },
      'image-bytes': { type: 'string' },
      out: { type: 'string' },
      log: { type: 'string' },
      'fleet-gate': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return 'help';
  const d = SOAK_DEFAULTS;
  const share = (value: string | undefined, name: string, fallback: number): number =>
    value === undefined ? fallback : num(value, name, 0, 1);
  const whole = (value: string | undefined, name: string, fallback: number, min: number): number =>
    value === undefined ? fallback : int(value, name, min);
  const latency = v.latency === undefined ? d.latencyMs : pair(v.latency, 'latency', 0);
  if (latency[1] < latency[0]) throw new Error(`--latency: expected min,max with min ≤ max, got "${v.latency}"`);
  return {
    images: whole(v.images, 'images', d.images, 1),
    concurrency: whole(v.concurrency, 'concurrency', d.concurrency, 1),
    seconds: whole(v.seconds, 'seconds', d.seconds, 1),
    seed: whole(v.seed, 'seed', d.seed, 0),
    capacity: whole(v.capacity, 'capacity', d.capacity, 1),
    fields: whole(v.fields, 'fields', d.fields, 1),
    latencyMs: latency,
    modelFaults: share(v['model-faults'], 'model-faults', d.modelFaults),
    outages: share(v.outages, 'outages', d.outages),
    writeFailures: share(v['write-failures'], 'write-failures', d.writeFailures),
    stuckKeys: share(v['stuck-keys'], 'stuck-keys', d.stuckKeys),
    duplicates: share(v.duplicates, 'duplicates', d.duplicates),
    inFlightDuplicates: share(v['in-flight-duplicates'], 'in-flight-duplicates', d.inFlightDuplicates),
    replacements: share(v.replacements, 'replacements', d.replacements),
    // MODEL_TIMEOUT_MS accepts 100 ms at the least.
    modelTimeoutMs: whole(v['model-timeout'], 'model-timeout', d.modelTimeoutMs, 100),
    remainingMs: whole(v.remaining, 'remaining', d.remainingMs, 1_000),
    retryDelaysMs: v['retry-delays'] === undefined ? d.retryDelaysMs : pair(v['retry-delays'], 'retry-delays', 0),
    imageBytes: whole(v['image-bytes'], 'image-bytes', d.imageBytes, 100),
    out: v.out ?? d.out,
    ...(v.log !== undefined ? { log: v.log } : {}),
    fleetGate: v['fleet-gate'] ?? d.fleetGate,
  };
}

function pair(value: string, name: string, min: number): readonly [number, number] {
  const items = list(value, name).map((x) => int(x, name, min));
  if (items.length !== 2) throw new Error(`--${name}: expected two comma-separated numbers, got "${value}"`);
  return [items[0]!, items[1]!];
}
