/**
 * Small fakes and factories for the core's unit tests: a scripted model, a
 * clock that never waits, an in-memory object store, a logger that keeps
 * its lines. No network, no timers unless a test asks for them.
 */
import { ModelError, ErrorCode, WriteConflictError } from '../../functions/core/errors';
import type { FieldSpec } from '../../functions/core/fields';
import type { PipelineSettings } from '../../functions/core/settings';
import { parseFieldSet, type FieldSet } from '../../functions/core/fields';
import type {
  Clock,
  CompleteOptions,
  ImagePayload,
  Logger,
  ModelClient,
  ModelReply,
  ModelRequest,
  ObjectInfo,
  ObjectRef,
  ObjectStore,
  PutOptions,
  ReadOptions,
  StoreCallOptions,
} from '../../functions/core/ports';

/** A field spec; `type` defaults to `string`. */
export function aField(overrides: Partial<FieldSpec> & { name: string }): FieldSpec {
  return { prompt: `What is the ${overrides.name}?`, type: 'string', ...overrides };
}

/** A validated set of `count` string fields named f0, f1, … */
/**
 * Plain settings of the direct job for core tests: two string fields,
 * `incoming/` → `results/`, a 1 KiB image limit, the given fingerprint.
 */
export function pipelineSettings(fingerprint: string, overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    fields: stringFields(2),
    inputPrefix: 'incoming/',
    outputPrefix: 'results/',
    maxImageBytes: 1024,
    fingerprint,
    ...overrides,
  };
}

export function stringFields(count: number): FieldSet {
  return parseFieldSet(Array.from({ length: count }, (_, i) => aField({ name: `f${i}` })));
}

export const SUPPLIER_FIELD: FieldSpec = aField({
  name: 'suppliers',
  type: 'object',
  schema: {
    type: 'object',
    properties: { name: { type: ['string', 'null'] }, phone: { type: ['string', 'null'] } },
    required: ['name', 'phone'],
    additionalProperties: false,
  },
});

/** The smallest byte strings each format is recognised by. */
export const JPEG_BYTES = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
export const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);

export function anImage(bytes: Buffer = JPEG_BYTES): ImagePayload {
  return { mime: 'image/jpeg', bytes: bytes.length, base64: Buffer.from(bytes.toString('base64'), 'latin1') };
}

/** A reply with `{"value": value}` as its text. */
export function aReply(value: unknown, overrides: Partial<ModelReply> = {}): ModelReply {
  return { text: JSON.stringify({ value }), finishReason: 'stop', ...overrides };
}

export function retryableError(
  code: ErrorCode = ErrorCode.MODEL_SERVER_ERROR,
  extra: { retryAfterMs?: number; status?: number } = {},
): ModelError {
  return new ModelError(code, `transient ${code}`, { retryable: true, ...extra });
}

export function finalError(code: ErrorCode = ErrorCode.MODEL_BAD_REQUEST): ModelError {
  return new ModelError(code, `final ${code}`, { retryable: false, status: 400 });
}

/** One scripted step for a field: a reply, an error to throw, or a function of the request. */
export type Step =
  | ModelReply
  | Error
  | ((request: ModelRequest, options: CompleteOptions) => ModelReply | Promise<ModelReply>);

/**
 * A model whose answers are scripted per field (keyed by `schemaName`, which
 * is the field name). Once a field's script runs out, its last step repeats.
 */
export class FakeModel implements ModelClient {
  readonly modelName = 'fake-vl';
  readonly calls: Array<{ request: ModelRequest; options: CompleteOptions }> = [];
  readonly #scripts: Map<string, Step[]>;
  readonly #fallback: Step;

  constructor(scripts: Record<string, Step[]> = {}, fallback: Step = aReply('an answer')) {
    this.#scripts = new Map(Object.entries(scripts).map(([k, v]) => [k, [...v]]));
    this.#fallback = fallback;
  }

  callsFor(field: string): Array<{ request: ModelRequest; options: CompleteOptions }> {
    return this.calls.filter((c) => c.request.schemaName === field);
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelReply> {
    this.calls.push({ request, options });
    const script = this.#scripts.get(request.schemaName);
    const step = script && script.length > 1 ? script.shift()! : (script?.[0] ?? this.#fallback);
    if (step instanceof Error) throw step;
    if (typeof step === 'function') return step(request, options);
    return step;
  }
}

/** A clock whose sleeps resolve at once (unless aborted) and advance its time. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(public time = Date.UTC(2026, 0, 2, 3, 4, 5)) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.time += ms;
  }
}

/** A promise with its resolve and reject exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise callback run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/** A logger that keeps its lines for assertions. */
export function memoryLogger(lines: LogLine[] = [], base: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (message: string, data?: Record<string, unknown>): void => {
      lines.push({ level, message, data: { ...base, ...data } });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (data) => memoryLogger(lines, { ...base, ...data }),
  };
}

interface StoredObject {
  body: Buffer;
  etag: string;
  contentType?: string;
  metadata: Record<string, string>;
}

/** An in-memory object store that implements the port, with a failure switch for writes. */
export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, StoredObject>();
  readonly writes: Array<{ ref: ObjectRef; value: unknown; metadata: Readonly<Record<string, string>> }> = [];
  readonly reads: Array<{ ref: ObjectRef; options: ReadOptions & StoreCallOptions }> = [];
  readonly deletes: ObjectRef[] = [];
  /** Writes of lease objects (keys ending in `.lease`); `writes` has the documents. */
  readonly leaseWrites: Array<{ ref: ObjectRef; value: unknown; metadata: Readonly<Record<string, string>> }> = [];
  failWrites: Error | undefined;
  /** Objects that vanish after `head` and before `read`. */
  readonly vanishOnRead = new Set<string>();
  #etags = 0;

  static keyOf(ref: ObjectRef): string {
    return `${ref.bucket}/${ref.key}`;
  }

  put(ref: ObjectRef, body: Buffer, options: { contentType?: string; metadata?: Record<string, string>; etag?: string } = {}): string {
    const etag = options.etag ?? `etag-${++this.#etags}`;
    this.objects.set(MemoryStore.keyOf(ref), {
      body,
      etag,
      ...(options.contentType ? { contentType: options.contentType } : {}),
      metadata: options.metadata ?? {},
    });
    return etag;
  }

  #info(ref: ObjectRef, o: StoredObject): ObjectInfo {
    return {
      bucket: ref.bucket,
      key: ref.key,
      etag: o.etag,
      bytes: o.body.length,
      ...(o.contentType ? { contentType: o.contentType } : {}),
      metadata: o.metadata,
    };
  }

  async head(ref: ObjectRef): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(MemoryStore.keyOf(ref));
    return o ? this.#info(ref, o) : undefined;
  }

  async read(ref: ObjectRef, options: ReadOptions & StoreCallOptions): Promise<{ info: ObjectInfo; body: Buffer } | undefined> {
    this.reads.push({ ref: { bucket: ref.bucket, key: ref.key }, options });
    const k = MemoryStore.keyOf(ref);
    if (this.vanishOnRead.has(k)) this.objects.delete(k);
    const o = this.objects.get(k);
    if (!o || (options.etag !== undefined && o.etag !== options.etag)) return undefined;
    return { info: this.#info(ref, o), body: o.body };
  }

  async putJson(
    ref: ObjectRef,
    value: unknown,
    metadata: Readonly<Record<string, string>>,
    options: PutOptions = {},
  ): Promise<{ etag: string }> {
    if (this.failWrites) throw this.failWrites;
    const current = this.objects.get(MemoryStore.keyOf(ref));
    const c = options.condition;
    if (c && ('ifNoneMatch' in c ? current !== undefined : current?.etag !== c.ifMatch)) {
      throw new WriteConflictError(`${ref.key} changed before this write`);
    }
    // Leases are bookkeeping, not documents: kept apart so tests count documents.
    (ref.key.endsWith('.lease') ? this.leaseWrites : this.writes).push({ ref: { bucket: ref.bucket, key: ref.key }, value, metadata });
    const etag = this.put(ref, Buffer.from(JSON.stringify(value)), { contentType: 'application/json', metadata: { ...metadata } });
    return { etag };
  }

  async delete(ref: ObjectRef, options: { ifMatch?: string } = {}): Promise<void> {
    const k = MemoryStore.keyOf(ref);
    if (options.ifMatch !== undefined && this.objects.get(k)?.etag !== options.ifMatch) return;
    this.deletes.push({ bucket: ref.bucket, key: ref.key });
    this.objects.delete(k);
  }
}
