/**
 * Section 6: the endpoint's work, not the client's time.
 *
 * Asking F questions about one image sends the image F times. A server that
 * caches prompt prefixes computes it once, but only when every request of
 * the image starts with the same bytes: the system prompt, then the image,
 * then the question. This section measures that, three ways:
 *
 * 1. layout: the longest common prefix of one image's F request bodies, as
 *    the real client builds them, as a share of one body (new layout beside
 *    the old, question-first one), and whether a re-ask keeps the prefix;
 * 2. busy time: one image through the real handler against a test server
 *    that models a prefix-caching endpoint (`bench/prefix-cache.ts`), for
 *    sequential, pool-4, fan-out, fan-out with the old layout, and a single
 *    request asking every field at once with a combined schema;
 * 3. makespan: N images under an endpoint that computes C requests at once,
 *    per layout and for the single request;
 * and, beside them, what the content cache saves for a copy of an image.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { OpenAIChatClient, type PromptLayout } from '../functions/adapters/openai-chat';
import { answerJsonSchema, reaskTurns, SYSTEM_PROMPT, valueJsonSchema } from '../functions/core/answer';
import { parseFieldSet, type FieldSet } from '../functions/core/fields';
import { prepareImage } from '../functions/core/image';
import type { ModelRequest } from '../functions/core/ports';
import type { S3NotificationEvent } from '../local/s3-server';
import { syntheticFields } from './fields';
import { createBenchHandler, type BenchHandler, type Invocation } from './handler';
import { noisePng } from './images';
import { startBenchS3, type BenchS3 } from './local-s3';
import { commonPrefixShare, type PrefixCacheParams } from './prefix-cache';
import { fixed, mark, ms, type Check, type SectionResult } from './report';
import { localS3Client } from './s3-client';
import { round } from './stats';
import { startBenchModel, type BenchModelServer } from './test-model';

export const ENDPOINT_STRATEGIES = ['sequential', 'pool-4', 'fan-out', 'fan-out, question first', 'single request'] as const;
export type EndpointStrategy = (typeof ENDPOINT_STRATEGIES)[number];

/** Targets. */
export const MIN_PREFIX_SHARE = 0.95;
export const MAX_BUSY_RATIO_AT_5 = 1.5;

export interface EndpointWorkOptions {
  /** Field counts of the busy-time table. */
  readonly fieldCounts: readonly number[];
  /** Size of the image (a PNG of noise). */
  readonly imageBytes: number;
  /** Fields of the layout measurement and the makespan runs. */
  readonly fields: number;
  /** N of the makespan runs. */
  readonly images: number;
  /** C: requests the modelled endpoint computes at once. */
  readonly capacity: number;
  /** Images in progress at once in the makespan runs (the same for every strategy). */
  readonly imagesAtOnce: number;
  /** The modelled endpoint's costs (its capacity is `capacity`). */
  readonly cost: Omit<PrefixCacheParams, 'capacity'>;
}

export const DEFAULT_ENDPOINT_COST: EndpointWorkOptions['cost'] = Object.freeze({ baseMs: 20, msPerPromptKiB: 1.5, msPerOutputToken: 4 });

export interface LayoutRow {
  readonly layout: PromptLayout;
  readonly fields: number;
  readonly bodyBytes: number;
  readonly sharedBytes: number;
  /** Longest common prefix of the F bodies / one body. */
  readonly share: number;
  /** A re-ask's body shares another field's first body's bytes through the end of the image. */
  readonly reaskKeepsImagePrefix: boolean;
}

export interface BusyRow {
  readonly fields: number;
  readonly strategy: EndpointStrategy;
  /** Requests the endpoint received for the image. */
  readonly requests: number;
  /** The modelled endpoint's compute for the image. */
  readonly busyMs: number;
  /** busy / busy of the same strategy at 1 field. */
  readonly busyRatio: number;
  /** Handler wall time of the image. */
  readonly wallMs: number;
  /** The document's cached tokens / prompt tokens (as the endpoint reported them). */
  readonly cachedShare: number;
  readonly complete: boolean;
}

export interface MakespanRow {
  readonly strategy: EndpointStrategy;
  readonly makespanMs: number;
  /** Σ busy / C: the makespan of an endpoint never idle. */
  readonly idealMs: number;
  readonly busyPerImageMs: number;
  readonly requests: number;
  readonly complete: number;
}

export interface CacheRow {
  readonly run: 'first upload' | 'same bytes, another key';
  readonly requests: number;
  readonly wallMs: number;
  readonly cacheHit: boolean;
}

export interface EndpointWorkFigures {
  readonly imageBytes: number;
  readonly cost: PrefixCacheParams;
  readonly layout: readonly LayoutRow[];
  readonly busy: readonly BusyRow[];
  readonly makespan: { readonly images: number; readonly fields: number; readonly imagesAtOnce: number; readonly rows: readonly MakespanRow[] };
  readonly contentCache: readonly CacheRow[];
}

/** The fields a strategy sends: the field set, or one object field asking them all. */
export function strategyFields(strategy: EndpointStrategy, fields: FieldSet): FieldSet {
  return strategy === 'single request' ? combinedField(fields) : fields;
}

/** `MODEL_MAX_CONCURRENCY` of a strategy. */
export function endpointConcurrency(strategy: EndpointStrategy, fields: number): number {
  return strategy === 'sequential' || strategy === 'single request' ? 1 : strategy === 'pool-4' ? Math.min(4, fields) : fields;
}

/** One object field whose answer has every field's value: the "single request" strategy. */
export function combinedField(fields: FieldSet): FieldSet {
  return parseFieldSet([
    {
      name: 'all_fields',
      type: 'object',
      prompt:
        'Answer every question below about the image. The value is an object with one property per question, named as given:\n' +
        fields.map((f) => `${f.name}: ${f.prompt}`).join('\n'),
      schema: {
        type: 'object',
        properties: Object.fromEntries(fields.map((f) => [f.name, valueJsonSchema(f)])),
        required: fields.map((f) => f.name),
        additionalProperties: false,
      },
    },
  ]);
}

export async function runEndpointWorkSection(o: EndpointWorkOptions): Promise<SectionResult<EndpointWorkFigures>> {
  const cost: PrefixCacheParams = { ...o.cost, capacity: o.capacity };
  const layout = await measureLayout(o.imageBytes, o.fields);
  const s3 = await startBenchS3();
  const bench = await startBenchModel({ prefixCache: cost });
  try {
    const busy = await measureBusy(s3, bench, o);
    const makespan = await measureMakespan(s3, bench, o);
    const contentCache = await measureContentCache(s3, bench, o);
    const figures: EndpointWorkFigures = {
      imageBytes: o.imageBytes,
      cost,
      layout,
      busy,
      makespan: { images: o.images, fields: o.fields, imagesAtOnce: o.imagesAtOnce, rows: makespan },
      contentCache,
    };
    return { id: 'endpoint', title: 'Endpoint work: one image, F questions', figures, ...present(figures) };
  } finally {
    await bench.close();
    await s3.close();
  }
}

/** A transport that keeps each request body and answers at once: the bodies are what is measured. */
function capturing(): { dispatcher: Dispatcher; bodies: Buffer[] } {
  const bodies: Buffer[] = [];
  const answer = Buffer.from(JSON.stringify({ choices: [{ message: { content: '{"value": null}' }, finish_reason: 'stop' }] }));
  const dispatcher = {
    request: async (opts: Dispatcher.RequestOptions) => {
      bodies.push(Buffer.concat(opts.body as unknown as Buffer[]));
      return { statusCode: 200, headers: {}, body: Readable.from([answer]) };
    },
  } as unknown as Dispatcher;
  return { dispatcher, bodies };
}

async function measureLayout(imageBytes: number, count: number): Promise<LayoutRow[]> {
  const png = noisePng(imageBytes).bytes;
  const image = prepareImage(png, 'image/png');
  const fields = syntheticFields(count);
  const request = (i: number, followUp: ModelRequest['followUp'] = []): ModelRequest => ({
    image,
    system: SYSTEM_PROMPT,
    prompt: fields[i]!.prompt,
    followUp,
    schemaName: fields[i]!.name,
    answerSchema: answerJsonSchema(fields[i]!),
    maxTokens: 1024,
  });
  const signal = new AbortController().signal;
  const base64 = image.base64.toString('latin1');
  const rows: LayoutRow[] = [];
  for (const layout of ['image-first', 'question-first'] as const) {
    const { dispatcher, bodies } = capturing();
    const client = new OpenAIChatClient({ baseUrl: 'http://127.0.0.1:9/v1', model: 'bench-model', dispatcher, promptLayout: layout });
    for (let i = 0; i < count; i++) await client.complete(request(i), { signal, timeoutMs: 10_000 });
    const share = commonPrefixShare(bodies);
    const body = bodies[0]!;
    await client.complete(request(0, reaskTurns('{"value": ', 'the reply was not valid JSON', fields[0]!)), { signal, timeoutMs: 10_000 });
    const reask = bodies[count]!;
    // Compared with another field's request: the prefix all of the image's requests share.
    const other = bodies[1] ?? body;
    const imageEnd = body.indexOf(base64, 0, 'latin1') + base64.length;
    rows.push({
      layout,
      fields: count,
      bodyBytes: body.length,
      sharedBytes: Math.round(share * body.length),
      share: round(share, 4),
      reaskKeepsImagePrefix: commonPrefixShare([other.subarray(0, imageEnd), reask.subarray(0, imageEnd)]) === 1,
    });
  }
  return rows;
}

/** A handler for a strategy, its fields, and an image of its own. */
async function strategyHandler(s3: BenchS3, bench: BenchModelServer, strategy: EndpointStrategy, fields: FieldSet, extra: { contentCache?: boolean } = {}) {
  const client = localS3Client(s3.endpoint);
  const handler = await createBenchHandler({
    s3: client,
    model: bench.endpoint,
    fields: strategyFields(strategy, fields),
    maxConcurrency: endpointConcurrency(strategy, fields.length),
    ...(strategy === 'fan-out, question first' ? { promptLayout: 'question-first' as const } : {}),
    ...extra,
  });
  return {
    handler,
    close: async () => {
      await handler.close();
      client.destroy();
    },
  };
}

let uploads = 0;
const put = (s3: BenchS3, bytes: Buffer): Promise<S3NotificationEvent> => s3.put(`incoming/endpoint/${uploads++}.png`, bytes);

async function measureBusy(s3: BenchS3, bench: BenchModelServer, o: EndpointWorkOptions): Promise<BusyRow[]> {
  const rows: BusyRow[] = [];
  const atOne = new Map<EndpointStrategy, number>();
  for (const count of o.fieldCounts) {
    const fields = syntheticFields(count);
    for (const strategy of ENDPOINT_STRATEGIES) {
      const { handler, close } = await strategyHandler(s3, bench, strategy, fields);
      try {
        await bench.warm(async () => handler.invoke(await put(s3, noisePng(o.imageBytes).bytes)));
        const event = await put(s3, noisePng(o.imageBytes).bytes);
        // The warm-up's prompts are forgotten: each image meets a cold cache.
        await bench.reset();
        const run = await handler.invoke(event);
        const stats = await bench.stats();
        const busyMs = stats.endpoint!.busyMs;
        if (count === 1) atOne.set(strategy, busyMs);
        const usage = run.document.usage;
        rows.push({
          fields: count,
          strategy,
          requests: stats.requests,
          busyMs: round(busyMs, 1),
          busyRatio: round(busyMs / (atOne.get(strategy) ?? atOne.get('fan-out') ?? busyMs), 3),
          wallMs: round(run.wallMs, 1),
          cachedShare: usage?.cachedTokens !== undefined && usage.promptTokens > 0 ? round(usage.cachedTokens / usage.promptTokens, 3) : 0,
          complete: run.document.status === 'complete',
        });
      } finally {
        await close();
      }
    }
  }
  return rows;
}

async function measureMakespan(s3: BenchS3, bench: BenchModelServer, o: EndpointWorkOptions): Promise<MakespanRow[]> {
  const fields = syntheticFields(o.fields);
  const rows: MakespanRow[] = [];
  for (const strategy of ['fan-out', 'fan-out, question first', 'single request'] as const) {
    const workers: Array<{ handler: BenchHandler; close: () => Promise<void> }> = [];
    try {
      for (let w = 0; w < o.imagesAtOnce; w++) workers.push(await strategyHandler(s3, bench, strategy, fields));
      const events: S3NotificationEvent[] = [];
      for (let i = 0; i < o.images; i++) events.push(await put(s3, noisePng(o.imageBytes).bytes));
      await bench.warm(async () => {
        for (const w of workers) await w.handler.invoke(await put(s3, noisePng(o.imageBytes).bytes));
      });
      await bench.reset();
      const done: Invocation[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        workers.map(async ({ handler }) => {
          for (let i = next++; i < events.length; i = next++) done.push(await handler.invoke(events[i]!));
        }),
      );
      const makespanMs = performance.now() - started;
      const stats = await bench.stats();
      const busy = stats.endpoint!.busyMs;
      rows.push({
        strategy,
        makespanMs: round(makespanMs, 1),
        idealMs: round(busy / o.capacity, 1),
        busyPerImageMs: round(busy / o.images, 1),
        requests: stats.requests,
        complete: done.filter((d) => d.document.status === 'complete').length,
      });
    } finally {
      for (const w of workers) await w.close();
    }
  }
  return rows;
}

async function measureContentCache(s3: BenchS3, bench: BenchModelServer, o: EndpointWorkOptions): Promise<CacheRow[]> {
  const { handler, close } = await strategyHandler(s3, bench, 'fan-out', syntheticFields(o.fields), { contentCache: true });
  try {
    const bytes = noisePng(o.imageBytes).bytes;
    await bench.warm(async () => handler.invoke(await put(s3, noisePng(o.imageBytes).bytes)));
    const rows: CacheRow[] = [];
    for (const run of ['first upload', 'same bytes, another key'] as const) {
      const event = await put(s3, bytes);
      await bench.reset();
      const r = await handler.invoke(event);
      rows.push({ run, requests: (await bench.stats()).requests, wallMs: round(r.wallMs, 1), cacheHit: r.document.cache?.hit === true });
    }
    return rows;
  } finally {
    await close();
  }
}

function present(f: EndpointWorkFigures): Pick<SectionResult, 'tables' | 'checks'> {
  const image = f.layout.find((r) => r.layout === 'image-first')!;
  const question = f.layout.find((r) => r.layout === 'question-first')!;
  const at5 = f.busy.find((r) => r.fields === 5 && r.strategy === 'fan-out');
  const at5Old = f.busy.find((r) => r.fields === 5 && r.strategy === 'fan-out, question first');
  const hit = f.contentCache.find((r) => r.run === 'same bytes, another key');
  const complete = f.busy.filter((r) => r.complete).length;
  const checks: Check[] = [
    {
      name: `layout: common prefix of an image's ${image.fields} request bodies / one body`,
      target: `≥ ${MIN_PREFIX_SHARE}`,
      value: `${fixed(image.share, 4)} (question first: ${fixed(question.share, 4)})`,
      pass: image.share >= MIN_PREFIX_SHARE,
    },
    {
      name: 'layout: a re-ask keeps the prefix through the image',
      target: 'yes',
      value: image.reaskKeepsImagePrefix ? 'yes' : 'no',
      pass: image.reaskKeepsImagePrefix,
    },
    ...(at5
      ? [
          {
            name: 'busy time per image at 5 fields / 1 field, fan-out',
            target: `≤ ${MAX_BUSY_RATIO_AT_5}`,
            value: `${fixed(at5.busyRatio, 2)}× (question first: ${at5Old ? fixed(at5Old.busyRatio, 2) : '–'}×)`,
            pass: at5.busyRatio <= MAX_BUSY_RATIO_AT_5,
          },
        ]
      : []),
    { name: 'documents complete', target: 'all', value: `${complete}/${f.busy.length}`, pass: complete === f.busy.length },
    ...(hit
      ? [{ name: 'content cache: a copy of an image asks the endpoint nothing', target: '0 requests', value: `${hit.requests} requests`, pass: hit.requests === 0 && hit.cacheHit }]
      : []),
  ];
  const c = f.cost;
  return {
    tables: [
      {
        title: `Request layout: ${image.fields} fields of one ${f.imageBytes} B PNG, bodies as the real client builds them`,
        columns: ['layout', 'body B', 'shared prefix B', 'share', 're-ask shares it through the image', 'target'],
        rows: f.layout.map((r) => [
          r.layout === 'image-first' ? 'image first (now)' : 'question first (before)',
          String(r.bodyBytes),
          String(r.sharedBytes),
          fixed(r.share, 4),
          r.reaskKeepsImagePrefix ? 'yes' : 'no',
          r.layout === 'image-first' ? mark(r.share >= MIN_PREFIX_SHARE && r.reaskKeepsImagePrefix) : '',
        ]),
        notes: ['shared prefix = the longest common prefix of the F bodies; share = shared / one body (the bodies differ only after it).'],
      },
      {
        title:
          `Endpoint busy time per image, prefix-caching test server (${c.baseMs} ms + ${c.msPerPromptKiB} ms per uncached prompt KiB + ` +
          `${c.msPerOutputToken} ms per output token; ${c.capacity} at once)`,
        columns: ['fields', 'strategy', 'requests', 'busy ms', '/ 1 field', 'cached share', 'image ms', 'complete'],
        rows: f.busy.map((r) => [
          String(r.fields),
          r.strategy,
          String(r.requests),
          ms(r.busyMs),
          `${fixed(r.busyRatio, 2)}×`,
          fixed(r.cachedShare, 3),
          ms(r.wallMs),
          r.complete ? 'yes' : 'NO',
        ]),
        notes: [
          'busy = the modelled endpoint’s compute for the image: a prompt prefix shared with an earlier request (the system prompt, the image) is not computed again.',
          'cached share = cachedTokens / promptTokens of the document, as the server reported them (usage.prompt_tokens_details.cached_tokens).',
          'image ms = handler wall time; a request that shares a prefix still being computed waits for it, so fan-out takes about one uncached request plus one cached one.',
          'single request = one request asking every field, with a combined object schema: least work, but its answer is decoded in one stream, and one bad answer is re-asked whole.',
        ],
      },
      {
        title: `Makespan: N = ${f.makespan.images} images × F = ${f.makespan.fields} fields, the endpoint computing ${c.capacity} requests at once, ${f.makespan.imagesAtOnce} images in progress at once`,
        columns: ['strategy', 'requests', 'busy ms / image', 'ideal ms', 'makespan ms', '/ question first', 'complete'],
        rows: f.makespan.rows.map((r) => {
          const old = f.makespan.rows.find((x) => x.strategy === 'fan-out, question first')!;
          return [
            r.strategy,
            String(r.requests),
            ms(r.busyPerImageMs),
            ms(r.idealMs),
            ms(r.makespanMs),
            fixed(r.makespanMs / old.makespanMs, 2),
            `${r.complete}/${f.makespan.images}`,
          ];
        }),
        notes: ['ideal = Σ busy / C: the makespan of an endpoint never idle. The same images at once for every strategy, enough to keep the endpoint busy.'],
      },
      {
        title: 'Content cache: the same bytes uploaded again under another key (fan-out, cache on)',
        columns: ['upload', 'requests', 'image ms', 'cache'],
        rows: f.contentCache.map((r) => [r.run, String(r.requests), ms(r.wallMs), r.cacheHit ? 'hit' : 'miss']),
      },
    ],
    checks,
  };
}
