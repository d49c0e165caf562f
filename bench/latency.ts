/**
 * Section 1: latency against the number of fields.
 *
 * One image through the real handler and the local S3 server, answered by
 * the test server after L ms (± jitter) per field, or by a real model. Three
 * strategies in the same run, differing only in `MODEL_MAX_CONCURRENCY`:
 * sequential (1, one field after another), a fixed pool of 4, and fieldlens's
 * fan-out (the number of fields). The fan-out should take as long as its
 * slowest field.
 */
import { createBenchHandler, slowestFieldMs, type Invocation, type ModelEndpoint } from './handler';
import { labelFields, syntheticFields } from './fields';
import { noisePng, type BenchImage } from './images';
import { startBenchS3 } from './local-s3';
import { localS3Client } from './s3-client';
import { fixed, mark, ms, type Check, type SectionResult, type Table } from './report';
import { median, round } from './stats';
import { startBenchModel, type BenchModelServer } from './test-model';

export const STRATEGIES = ['sequential', 'pool-4', 'fan-out'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** `MODEL_MAX_CONCURRENCY` of a strategy at `fields` fields. */
export function strategyConcurrency(strategy: Strategy, fields: number): number {
  return strategy === 'sequential' ? 1 : strategy === 'pool-4' ? 4 : fields;
}

/** Targets of the fan-out. */
export const FAN_OUT_MAX_RATIO = 1.05;
/** Speed-up over sequential counted as "≈ the number of fields" (checked from 5 fields). */
export const FAN_OUT_MIN_SPEEDUP_SHARE = 0.8;
/** The share of the fields the speed-up should reach at the largest field count, or be explained. */
export const FAN_OUT_FULL_SPEEDUP_SHARE = 0.9;

export interface LatencyOptions {
  readonly fieldCounts: readonly number[];
  /** Test server latency per field (ignored with a real endpoint). */
  readonly latencyMs: number;
  /** Test server jitter as a share of the latency (0.1 = ±10%). */
  readonly jitter: number;
  /** Runs per field count and strategy; figures are medians. @default 1 */
  readonly repeat?: number;
  /** A real model endpoint; unset → the test server. */
  readonly endpoint?: ModelEndpoint;
  /** Images to send (in turn); default one 200 kB noise PNG. */
  readonly images?: readonly BenchImage[];
}

export interface LatencyRow {
  readonly fields: number;
  readonly strategy: Strategy;
  /** `MODEL_MAX_CONCURRENCY`. */
  readonly concurrency: number;
  /** Most requests the test server saw at once (null against a real endpoint). */
  readonly serverMaxInFlight: number | null;
  /** Handler wall time for the image. */
  readonly totalMs: number;
  /** The slowest single field (`fieldResults` latencyMs max). */
  readonly slowestFieldMs: number;
  /** total / slowest field. */
  readonly ratio: number;
  /** (total − S3 time) / slowest field: what the fan-out itself adds to its slowest field. */
  readonly ratioExS3: number;
  /** Sequential total / this total. */
  readonly speedup: number;
  /** S3 head + read + write inside the total. */
  readonly s3Ms: number;
  /** Documents whose status was `complete`, of `runs`. */
  readonly complete: number;
  readonly runs: number;
  /** Mean of the fields' own latencies (`fieldResults` latencyMs). */
  readonly meanFieldMs: number;
  /** The test server's drawn latencies for the image (L ± jitter): mean and largest; null against a real endpoint. */
  readonly drawnMeanMs: number | null;
  readonly drawnMaxMs: number | null;
}

/**
 * Where the fan-out's time goes at one field count, against the ideal of
 * sequential / F. The four parts add up to the gap exactly.
 */
export interface TimeBreakdown {
  readonly fields: number;
  readonly sequentialMs: number;
  readonly fanOutMs: number;
  /** sequential / F */
  readonly idealMs: number;
  readonly speedup: number;
  /** The slowest of the F drawn latencies above the mean sequential draw: the test server's spread. */
  readonly spreadMs: number;
  /** Per-field time beyond the draw (transport, both event loops), fan-out's slowest field less sequential's mean. */
  readonly transportMs: number;
  /** S3 time of the fan-out less a 1/F share of sequential's. */
  readonly s3Ms: number;
  /** The rest of the handler (base64, building requests, merging) of the fan-out, less a 1/F share of sequential's. */
  readonly handlerMs: number;
  /** Sequential / (fan-out − spread): the speed-up if every field took the same time. */
  readonly speedupWithoutSpread: number;
}

export interface LatencyFigures {
  readonly model: 'test-server' | 'endpoint';
  readonly latencyMs: number | null;
  readonly jitterMs: number | null;
  readonly images: ReadonlyArray<{ readonly label: string; readonly bytes: number }>;
  readonly rows: readonly LatencyRow[];
  /** At the largest field count (test server only). */
  readonly breakdown: TimeBreakdown | null;
}

export async function runLatencySection(o: LatencyOptions): Promise<SectionResult<LatencyFigures>> {
  const images = o.images && o.images.length > 0 ? o.images : [noisePng(200_000)];
  const repeat = Math.max(1, o.repeat ?? 1);
  const s3 = await startBenchS3();
  const bench: BenchModelServer | undefined = o.endpoint
    ? undefined
    : await startBenchModel({ defaultLatencyMs: o.latencyMs, jitterMs: o.latencyMs * o.jitter });
  const endpoint = o.endpoint ?? bench!.endpoint;
  const client = localS3Client(s3.endpoint);
  let uploads = 0;

  const put = (image: BenchImage, name: string) => s3.put(`incoming/latency/${uploads++}-${name}.png`, image.bytes);

  /**
   * One image with a handler of its own, as a warm Lambda environment would
   * run it: against the test server, a first image answered at once opens
   * the connections and warms the code paths, then the measured one runs.
   */
  const runOnce = async (image: BenchImage, fields: number, strategy: Strategy): Promise<Invocation> => {
    const handler = await createBenchHandler({
      s3: client,
      model: endpoint,
      fields: o.endpoint ? labelFields(fields) : syntheticFields(fields),
      maxConcurrency: strategyConcurrency(strategy, fields),
    });
    try {
      if (bench) await bench.warm(async () => handler.invoke(await put(image, `${fields}-${strategy}-warm`)));
      const event = await put(image, `${fields}-${strategy}`);
      await bench?.reset();
      return await handler.invoke(event);
    } finally {
      await handler.close();
    }
  };

  try {
    // Against a real endpoint, one small image first: the first S3 calls and
    // the first compilation of the code paths are not what is measured.
    if (!bench) await runOnce(images[0]!, 1, 'fan-out');

    const rows: LatencyRow[] = [];
    for (const [index, fields] of o.fieldCounts.entries()) {
      // The same image for every strategy at this field count.
      const image = images[index % images.length]!;
      const measured = new Map<Strategy, { runs: Invocation[]; inFlight: number[]; drawnMean: number[]; drawnMax: number[] }>();
      for (const strategy of STRATEGIES) {
        const runs: Invocation[] = [];
        const inFlight: number[] = [];
        const drawnMean: number[] = [];
        const drawnMax: number[] = [];
        for (let r = 0; r < repeat; r++) {
          runs.push(await runOnce(image, fields, strategy));
          if (bench) {
            const stats = await bench.stats();
            inFlight.push(stats.maxInFlight);
            drawnMean.push(stats.drawn.meanMs);
            drawnMax.push(stats.drawn.maxMs);
          }
        }
        measured.set(strategy, { runs, inFlight, drawnMean, drawnMax });
      }
      const sequentialMs = median(measured.get('sequential')!.runs.map((r) => r.wallMs));
      for (const strategy of STRATEGIES) {
        const { runs, inFlight, drawnMean, drawnMax } = measured.get(strategy)!;
        const totalMs = median(runs.map((r) => r.wallMs));
        rows.push({
          fields,
          strategy,
          concurrency: strategyConcurrency(strategy, fields),
          serverMaxInFlight: bench ? Math.max(...inFlight) : null,
          totalMs: round(totalMs, 1),
          slowestFieldMs: median(runs.map((r) => slowestFieldMs(r.document))),
          ratio: round(median(runs.map((r) => r.wallMs / Math.max(1, slowestFieldMs(r.document)))), 3),
          ratioExS3: round(median(runs.map((r) => (r.wallMs - r.s3.totalMs) / Math.max(1, slowestFieldMs(r.document)))), 3),
          speedup: round(sequentialMs / totalMs, 2),
          s3Ms: round(median(runs.map((r) => r.s3.totalMs)), 1),
          complete: runs.filter((r) => r.document.status === 'complete').length,
          runs: runs.length,
          meanFieldMs: round(median(runs.map((r) => meanFieldLatency(r.document))), 1),
          drawnMeanMs: bench ? round(median(drawnMean), 1) : null,
          drawnMaxMs: bench ? round(median(drawnMax), 1) : null,
        });
      }
    }

    const figures: LatencyFigures = {
      model: o.endpoint ? 'endpoint' : 'test-server',
      latencyMs: o.endpoint ? null : o.latencyMs,
      jitterMs: o.endpoint ? null : round(o.latencyMs * o.jitter, 1),
      images: images.map((i) => ({ label: i.label, bytes: i.bytes.length })),
      rows,
      breakdown: bench ? breakdownAt(rows, Math.max(...o.fieldCounts)) : null,
    };
    return { id: 'latency', title: 'Latency vs number of fields', figures, ...present(figures) };
  } finally {
    client.destroy();
    await bench?.close();
    await s3.close();
  }
}

function meanFieldLatency(doc: Invocation['document']): number {
  const all = Object.values(doc.fieldResults).map((r) => r.latencyMs);
  return all.length ? all.reduce((a, b) => a + b, 0) / all.length : 0;
}

/** Where the fan-out's time goes at `fields`, from its row and the sequential row. */
export function breakdownAt(rows: readonly LatencyRow[], fields: number): TimeBreakdown | null {
  const seq = rows.find((r) => r.fields === fields && r.strategy === 'sequential');
  const fan = rows.find((r) => r.fields === fields && r.strategy === 'fan-out');
  if (!seq || !fan || fields < 2 || seq.drawnMeanMs === null || fan.drawnMaxMs === null) return null;
  const idealMs = seq.totalMs / fields;
  // Sequential: total = Σ field latencies + S3 + rest; fan-out: total = slowest + S3 + rest.
  const seqRest = seq.totalMs - seq.s3Ms - seq.meanFieldMs * fields;
  const fanRest = fan.totalMs - fan.s3Ms - fan.slowestFieldMs;
  const spreadMs = fan.drawnMaxMs - seq.drawnMeanMs;
  return {
    fields,
    sequentialMs: seq.totalMs,
    fanOutMs: fan.totalMs,
    idealMs: round(idealMs, 1),
    speedup: fan.speedup,
    spreadMs: round(spreadMs, 1),
    transportMs: round(fan.slowestFieldMs - fan.drawnMaxMs - (seq.meanFieldMs - seq.drawnMeanMs), 1),
    s3Ms: round(fan.s3Ms - seq.s3Ms / fields, 1),
    handlerMs: round(fanRest - seqRest / fields, 1),
    speedupWithoutSpread: round(seq.totalMs / (fan.totalMs - spreadMs), 2),
  };
}

function speedupTarget(fields: number): number | undefined {
  return fields >= 5 ? FAN_OUT_MIN_SPEEDUP_SHARE * fields : undefined;
}

function present(f: LatencyFigures): Pick<SectionResult, 'tables' | 'checks'> {
  const checks: Check[] = [];
  for (const r of f.rows.filter((x) => x.strategy === 'fan-out')) {
    checks.push({
      name: `fan-out (total − S3)/slowest at ${r.fields} field${r.fields === 1 ? '' : 's'}`,
      target: `≤ ${FAN_OUT_MAX_RATIO}`,
      value: `${fixed(r.ratioExS3, 3)} (with S3: ${fixed(r.ratio, 3)})`,
      pass: r.ratioExS3 <= FAN_OUT_MAX_RATIO,
    });
    const min = speedupTarget(r.fields);
    if (min !== undefined) {
      checks.push({
        name: `fan-out speed-up over sequential at ${r.fields} fields`,
        target: `≈ ${r.fields} (≥ ${fixed(min, 1)})`,
        value: `${fixed(r.speedup, 1)}×`,
        pass: r.speedup >= min,
      });
    }
  }
  const b = f.breakdown;
  if (b) {
    const min = FAN_OUT_FULL_SPEEDUP_SHARE * b.fields;
    checks.push({
      name: `fan-out speed-up at ${b.fields} fields (where the time goes: the table above)`,
      target: `≥ ${fixed(min, 1)} (${FAN_OUT_FULL_SPEEDUP_SHARE} × fields)`,
      value: `${fixed(b.speedup, 1)}× (${fixed(b.speedupWithoutSpread, 1)}× with the test server's spread set apart)`,
      pass: b.speedup >= min,
    });
  }
  const complete = f.rows.reduce((n, r) => n + r.complete, 0);
  const runs = f.rows.reduce((n, r) => n + r.runs, 0);
  checks.push({ name: 'documents complete', target: 'all', value: `${complete}/${runs}`, pass: complete === runs });

  const source =
    f.model === 'test-server'
      ? `test server, L = ${f.latencyMs} ms ± ${f.jitterMs} ms per field`
      : 'real model endpoint (latency is the model’s own)';
  const rows = f.rows.map((r) => {
    const fan = r.strategy === 'fan-out';
    const min = speedupTarget(r.fields);
    const ok = !fan || (r.ratioExS3 <= FAN_OUT_MAX_RATIO && (min === undefined || r.speedup >= min));
    return [
      String(r.fields),
      r.strategy,
      String(r.concurrency),
      r.serverMaxInFlight === null ? '–' : String(r.serverMaxInFlight),
      ms(r.totalMs),
      ms(r.slowestFieldMs),
      ms(r.s3Ms),
      fixed(r.ratio, 3),
      fixed(r.ratioExS3, 3),
      `${fixed(r.speedup, 1)}×`,
      `${r.complete}/${r.runs}`,
      fan ? mark(ok) : '',
    ];
  });
  return {
    tables: [
      {
        title: `One image, ${source}; ${imageList(f.images)}`,
        columns: ['fields', 'strategy', 'cap', 'in flight', 'total ms', 'slowest ms', 'S3 ms', 'total/slowest', '−S3', 'speed-up', 'complete', 'target'],
        rows,
        notes: [
          'cap = MODEL_MAX_CONCURRENCY; in flight = most requests the server saw at once; total = handler wall time;',
          'slowest = the slowest field’s own latency; S3 = head + read + write inside the total (section 5); −S3 = (total − S3)/slowest.',
          `Fan-out targets: (total − S3)/slowest ≤ ${FAN_OUT_MAX_RATIO}; speed-up ≈ fields (≥ ${FAN_OUT_MIN_SPEEDUP_SHARE}× fields from 5 fields).`,
        ],
      },
      ...(b ? [breakdownTable(b)] : []),
    ],
    checks,
  };
}

function breakdownTable(b: TimeBreakdown): Table {
  const gap = b.fanOutMs - b.idealMs;
  const part = (v: number): string => (gap > 0 ? `${fixed((100 * v) / gap, 0)}%` : '–');
  return {
    title: `Where the time goes: fan-out at ${b.fields} fields (${ms(b.fanOutMs)} ms) against sequential / ${b.fields} (${ms(b.idealMs)} ms)`,
    columns: ['part', 'ms', 'share of the gap'],
    rows: [
      ['the test server’s spread: slowest of the draws − mean draw', fixed(b.spreadMs, 1), part(b.spreadMs)],
      ['transport and both event loops, beyond the draw', fixed(b.transportMs, 1), part(b.transportMs)],
      [`S3, less 1/${b.fields} of sequential’s`, fixed(b.s3Ms, 1), part(b.s3Ms)],
      ['the rest of the handler (base64, requests, merge)', fixed(b.handlerMs, 1), part(b.handlerMs)],
      ['gap: fan-out − sequential / fields', fixed(gap, 1), '100%'],
    ],
    notes: [
      `speed-up ${fixed(b.speedup, 1)}× as measured; ${fixed(b.speedupWithoutSpread, 1)}× with the spread of the draws set apart (every field as long as the mean).`,
      'The spread is the test server’s ± jitter: an image waits for its slowest field, sequential pays the mean. The other parts are what fieldlens and this machine add.',
    ],
  };
}

function imageList(images: LatencyFigures['images']): string {
  if (images.length === 1) return `image ${images[0]!.label} (${images[0]!.bytes} B)`;
  return `${images.length} images, one per field count in turn (${images.map((i) => i.label).join(', ')})`;
}
