/**
 * Section 5: S3 overhead per image, apart from model time.
 *
 * The handler's store is wrapped in a timing decorator (bench/timing-store.ts),
 * so each image's S3 time splits into the admission heads (source and any
 * earlier result, side by side), the read of the image and the write of the
 * result; the rest of the handler's wall time is the model and fieldlens's
 * own work.
 */
import { createBenchHandler, type Invocation, type ModelEndpoint } from './handler';
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
  const handler = await createBenchHandler({
    s3: client,
    model: o.endpoint ?? bench!.endpoint,
    fields: o.endpoint ? labelFields(o.fields) : syntheticFields(o.fields),
    maxImageBytes: Math.max(...images.map((i) => i.bytes.length)),
  });
  let uploads = 0;
  const invoke = async (image: BenchImage): Promise<Invocation> =>
    handler.invoke(await s3.put(`incoming/s3/${uploads++}.png`, image.bytes));
  try {
    const warmImage = images[0]!;
    if (bench) await bench.warm(() => invoke(warmImage));
    else await invoke(warmImage);

    const rows: S3OverheadRow[] = [];
    for (const image of images) {
      const runs: Invocation[] = [];
      for (let r = 0; r < o.runs; r++) runs.push(await invoke(image));
      const s3Ms = median(runs.map((r) => r.s3.totalMs));
      const totalMs = median(runs.map((r) => r.wallMs));
      rows.push({
        image: image.label,
        bytes: image.bytes.length,
        headMs: round(median(runs.map((r) => r.s3.headMs)), 1),
        readMs: round(median(runs.map((r) => r.s3.readMs)), 1),
        writeMs: round(median(runs.map((r) => r.s3.writeMs)), 1),
        s3Ms: round(s3Ms, 1),
        totalMs: round(totalMs, 1),
        restMs: round(median(runs.map((r) => r.wallMs - r.s3.totalMs)), 1),
        s3Share: round(s3Ms / totalMs, 3),
        complete: runs.filter((r) => r.document.status === 'complete').length,
        runs: runs.length,
      });
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
            'head = the two admission HEADs (source, earlier result) side by side; read = GET of the image; write = PUT of the result;',
            'S3 = time inside any S3 call; rest = total − S3 (model requests, base64, parsing, merging). No target: reported apart from model time.',
          ],
        },
      ],
      checks: [],
    };
  } finally {
    await handler.close();
    client.destroy();
    await bench?.close();
    await s3.close();
  }
}
