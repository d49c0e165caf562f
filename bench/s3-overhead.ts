/**
 * Section 5: S3 overhead per image, apart from model time.
 *
 * The handler's store is wrapped in a timing decorator (bench/timing-store.ts),
 * so each image's S3 time splits into time in HEADs, GETs and PUTs; the rest
 * of the handler's wall time is the model and fieldlens's own work. Two more
 * rows show what the content cache costs an image: a miss and a hit.
 */
import { createBenchHandler, type BenchHandler, type Invocation, type ModelEndpoint } from './handler';
import { labelFields, syntheticFields } from './fields';
import { pngSignedBytes, type BenchImage } from './images';
import { startBenchS3 } from './local-s3';
import { fixed, ms, type SectionResult } from './report';
import { localS3Client } from './s3-client';
import { median, mb, round } from './stats';
import { startBenchModel, type BenchModelServer } from './test-model';

export interface S3OverheadOptions {
  /** Image sizes in bytes (test server); ignored when `images` is given. */
  readonly sizes: readonly number[];
  /** Images to send instead of synthetic ones of `sizes` (a real model needs decodable images). */
  readonly images?: readonly BenchImage[];
  /** Runs per image; figures are medians. */
  readonly runs: number;
  readonly fields: number;
  /** Test server latency per field. */
  readonly latencyMs: number;
  /** A real model endpoint; unset → the test server. */
  readonly endpoint?: ModelEndpoint;
}

export interface S3OverheadRow {
  readonly image: string;
  readonly bytes: number;
  readonly headMs: number;
  readonly readMs: number;
  readonly writeMs: number;
  /** Time inside any S3 call. */
  readonly s3Ms: number;
  /** Handler wall time. */
  readonly totalMs: number;
  /** total − S3: the model, base64, parsing, merging. */
  readonly restMs: number;
  /** S3 / total. */
  readonly s3Share: number;
  readonly complete: number;
  readonly runs: number;
}

export interface S3OverheadFigures {
  readonly model: 'test-server' | 'endpoint';
  readonly fields: number;
  readonly latencyMs: number | null;
  readonly rows: readonly S3OverheadRow[];
}

export async function runS3OverheadSection(o: S3OverheadOptions): Promise<SectionResult<S3OverheadFigures>> {
  const images = o.images && o.images.length > 0 ? o.images : o.sizes.map((size) => pngSignedBytes(size));
  const s3 = await startBenchS3();
  const bench: BenchModelServer | undefined = o.endpoint ? undefined : await startBenchModel({ defaultLatencyMs: o.latencyMs });
  const client = localS3Client(s3.endpoint);
  const handlerOptions = {
    s3: client,
    model: o.endpoint ?? bench!.endpoint,
    fields: o.endpoint ? labelFields(o.fields) : syntheticFields(o.fields),
    maxImageBytes: Math.max(...images.map((i) => i.bytes.length)),
  };
  const handler = await createBenchHandler(handlerOptions);
  // The cache rows need images of fresh bytes: synthetic ones only.
  const synthetic = !o.images || o.images.length === 0;
  const cached = synthetic ? await createBenchHandler({ ...handlerOptions, contentCache: true }) : undefined;
  let uploads = 0;
  const invoke = async (image: BenchImage, through: BenchHandler = handler): Promise<Invocation> =>
    through.invoke(await s3.put(`incoming/s3/${uploads++}.png`, image.bytes));
  try {
    const warmImage = images[0]!;
    for (const through of cached ? [handler, cached] : [handler]) {
      if (bench) await bench.warm(() => invoke(warmImage, through));
      else await invoke(warmImage, through);
    }

    const rows: S3OverheadRow[] = [];
    for (const image of images) {
      const runs: Invocation[] = [];
      for (let r = 0; r < o.runs; r++) runs.push(await invoke(image));
      rows.push(rowOf(image.label, image.bytes.length, runs));
    }
    // The content cache's cost to an image, with the first image's size:
    // a miss (new bytes every run: a lookup before the model calls, an entry
    // stored after the document) and a hit (the same bytes again: S3 only).
    if (cached) {
      const size = images[0]!.bytes.length;
      const misses: Invocation[] = [];
      const hits: Invocation[] = [];
      for (let r = 0; r < o.runs; r++) {
        const fresh = pngSignedBytes(size);
        misses.push(await invoke(fresh, cached));
        hits.push(await invoke(fresh, cached));
      }
      rows.push(rowOf(`${images[0]!.label}, cache miss`, size, misses));
      rows.push(rowOf(`${images[0]!.label}, cache hit`, size, hits));
    }
    const figures: S3OverheadFigures = {
      model: o.endpoint ? 'endpoint' : 'test-server',
      fields: o.fields,
      latencyMs: o.endpoint ? null : o.latencyMs,
      rows,
    };
    return {
      id: 's3',
      title: 'S3 overhead per image',
      figures,
      tables: [
        {
          title: `${o.fields} fields, ${o.endpoint ? 'real model endpoint' : `test server L = ${o.latencyMs} ms`}, local S3-compatible server; medians of ${o.runs} runs`,
          columns: ['image', 'MB', 'head ms', 'read ms', 'write ms', 'S3 ms', 'total ms', 'rest ms', 'S3 share', 'complete'],
          rows: rows.map((r) => [
            r.image.length > 40 ? `${r.image.slice(0, 39)}…` : r.image,
            fixed(mb(r.bytes), 2),
            fixed(r.headMs, 1),
            fixed(r.readMs, 1),
            fixed(r.writeMs, 1),
            fixed(r.s3Ms, 1),
            ms(r.totalMs),
            ms(r.restMs),
            `${fixed(r.s3Share * 100, 1)}%`,
            `${r.complete}/${r.runs}`,
          ]),
          notes: [
            'head = time in HEADs (admission’s two side by side, the look at the result after the lease claim, the source check before the write); read = in GETs; write = in PUTs (lease, result);',
            'S3 = time inside any S3 call; rest = total − S3 (model requests, base64, parsing, merging). No target: reported apart from model time.',
            'The content cache is off in the other rows. cache miss: new bytes every run (the entry is looked up beside the lease claim’s second look at the result, and stored beside the lease’s release);',
            'cache hit: the same bytes again under another key (S3 only, no model call). read and write include the entry’s GET and PUT.',
          ],
        },
      ],
      checks: [],
    };
  } finally {
    await handler.close();
    await cached?.close();
    client.destroy();
    await bench?.close();
    await s3.close();
  }
}

/** One row: the medians of `runs`. */
function rowOf(image: string, bytes: number, runs: readonly Invocation[]): S3OverheadRow {
  const s3Ms = median(runs.map((r) => r.s3.totalMs));
  const totalMs = median(runs.map((r) => r.wallMs));
  return {
    image,
    bytes,
    headMs: round(median(runs.map((r) => r.s3.headMs)), 1),
    readMs: round(median(runs.map((r) => r.s3.readMs)), 1),
    writeMs: round(median(runs.map((r) => r.s3.writeMs)), 1),
    s3Ms: round(s3Ms, 1),
    totalMs: round(totalMs, 1),
    restMs: round(median(runs.map((r) => r.wallMs - r.s3.totalMs)), 1),
    s3Share: round(s3Ms / totalMs, 3),
    complete: runs.filter((r) => r.document.status === 'complete').length,
    runs: runs.length,
  };
}
