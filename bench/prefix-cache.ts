/**
 * A model of a prefix-caching model server, for the benchmark's endpoint
 * section: how much work the endpoint does for the requests fieldlens sends.
 *
 * A request's prompt is what a chat template renders, in order: the system
 * prompt, each part of each message (text, image), the follow-up turns. A
 * server like vLLM or SGLang keeps the prompts it has computed and reuses
 * the longest prefix a new prompt shares with one of them; an image is
 * shared whole or not at all (it is hashed into the cache by its content).
 *
 * Its time for a request:
 *
 *     wait (for a shared prefix still being computed) + base
 *       + uncached prompt KiB × msPerPromptKiB + output tokens × msPerOutputToken
 *
 * and the endpoint computes at most `capacity` requests at once, on
 * `capacity` units: a request's compute goes, from the time its shared
 * prefix is ready, into the idle time of the unit that finishes it first,
 * in pieces if need be (as a server with chunked prefill and continuous
 * batching fits work around other requests). A request waiting for its
 * prefix holds no compute. Only the compute counts as busy time. Prompt sizes are bytes of the request (the image as its
 * base64): a proxy for tokens, the same for every strategy compared.
 *
 * Pure: time is passed in, so the model is tested without waiting.
 */

/** One part of a rendered prompt. */
export type PromptSegment =
  | { readonly kind: 'text'; readonly text: string }
  /** An image, by the hash of its bytes, and its size in the request. */
  | { readonly kind: 'image'; readonly sha256: string; readonly bytes: number };

/** The cost parameters. */
export interface PrefixCacheParams {
  /** Fixed time per request (scheduling, the first token). */
  readonly baseMs: number;
  /** Prefill time per KiB of prompt not found in the cache. */
  readonly msPerPromptKiB: number;
  /** Decode time per output token. */
  readonly msPerOutputToken: number;
  /** Requests computed at once. */
  readonly capacity: number;
  /** Prompts kept in the cache (oldest dropped first). @default 4096 */
  readonly maxEntries?: number;
}

/** What the model decided for one request. */
export interface ServedRequest {
  readonly promptBytes: number;
  readonly cachedBytes: number;
  readonly outputTokens: number;
  /** Time waiting for a shared prefix or for compute. */
  readonly waitMs: number;
  /** Compute time: the endpoint's busy time for this request. */
  readonly computeMs: number;
  /** Arrival to answer. */
  readonly latencyMs: number;
}

interface Entry {
  readonly segments: readonly PromptSegment[];
  /** When its prefill starts: its first `b` bytes are there `baseMs + b/1024 × msPerPromptKiB` later. */
  readonly prefillFrom: number;
  /** Bytes it found in the cache: there at once. */
  readonly cachedBytes: number;
}

/** `length` of compute in the idle time of `slots` (sorted reservations) from `from`, as pieces. */
function fillIdle(slots: ReadonlyArray<readonly [number, number]>, from: number, length: number): Array<[number, number]> {
  const pieces: Array<[number, number]> = [];
  let t = from;
  let left = length;
  for (const [s, e] of slots) {
    if (e <= t) continue;
    if (s > t) {
      const take = Math.min(left, s - t);
      pieces.push([t, t + take]);
      left -= take;
      if (left <= 0) return pieces;
    }
    t = Math.max(t, e);
  }
  pieces.push([t, t + left]);
  return pieces;
}

/** Bytes a segment counts for. */
function segmentBytes(s: PromptSegment): number {
  return s.kind === 'image' ? s.bytes : Buffer.byteLength(s.text, 'utf8');
}

/** Bytes two prompts share from their start (text by character, an image whole or not at all). */
export function sharedPrefixBytes(a: readonly PromptSegment[], b: readonly PromptSegment[]): number {
  let shared = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind === 'image' || y.kind === 'image') {
      if (x.kind === 'image' && y.kind === 'image' && x.sha256 === y.sha256) {
        shared += x.bytes;
        continue;
      }
      return shared;
    }
    if (x.text === y.text) {
      shared += segmentBytes(x);
      continue;
    }
    let j = 0;
    while (j < x.text.length && j < y.text.length && x.text[j] === y.text[j]) j++;
    return shared + Buffer.byteLength(x.text.slice(0, j), 'utf8');
  }
  return shared;
}

/** The prefix-caching endpoint: one per benchmark case (`reset` between cases). */
export class PrefixCacheModel {
  readonly params: PrefixCacheParams;
  #entries: Entry[] = [];
  /** Each compute unit's reservations, `[start, end)`, in time order. */
  #units: Array<Array<[number, number]>>;
  #busyMs = 0;
  #promptBytes = 0;
  #cachedBytes = 0;
  #requests = 0;

  constructor(params: PrefixCacheParams) {
    if (!(Number.isInteger(params.capacity) && params.capacity >= 1)) {
      throw new TypeError(`Expected capacity to be a whole number ≥ 1, got ${params.capacity}`);
    }
    this.params = params;
    this.#units = Array.from({ length: params.capacity }, () => []);
  }

  /** A request arriving at `now` (ms) with this prompt and answer size. */
  serve(segments: readonly PromptSegment[], outputTokens: number, now: number): ServedRequest {
    const p = this.params;
    const promptBytes = segments.reduce((n, s) => n + segmentBytes(s), 0);
    // The longest shared prefix, and of the prompts holding it, the one that has it soonest.
    let cachedBytes = 0;
    let prefixReadyAt = now;
    for (const e of this.#entries) {
      const shared = sharedPrefixBytes(segments, e.segments);
      if (shared === 0 || shared < cachedBytes) continue;
      const readyAt =
        shared <= e.cachedBytes ? e.prefillFrom : e.prefillFrom + p.baseMs + ((shared - e.cachedBytes) / 1024) * p.msPerPromptKiB;
      if (shared > cachedBytes || readyAt < prefixReadyAt) {
        cachedBytes = shared;
        prefixReadyAt = readyAt;
      }
    }
    prefixReadyAt = Math.max(now, prefixReadyAt);
    const prefillMs = ((promptBytes - cachedBytes) / 1024) * p.msPerPromptKiB;
    const computeMs = p.baseMs + prefillMs + outputTokens * p.msPerOutputToken;
    // The unit that finishes it first, once the shared prefix exists.
    const from = Math.max(now, prefixReadyAt);
    let best: { unit: number; pieces: Array<[number, number]> } | undefined;
    for (const [u, slots] of this.#units.entries()) {
      // Reservations that ended are history.
      while (slots.length > 0 && slots[0]![1] <= now) slots.shift();
      const pieces = fillIdle(slots, from, computeMs);
      if (!best || pieces.at(-1)![1] < best.pieces.at(-1)![1]) best = { unit: u, pieces };
    }
    const slots = this.#units[best!.unit]!;
    slots.push(...best!.pieces);
    slots.sort((a, b) => a[0] - b[0]);
    const start = best!.pieces[0]![0];
    const end = best!.pieces.at(-1)![1];
    this.#entries.push({ segments, prefillFrom: start, cachedBytes });
    const latencyMs = end - now;
    if (this.#entries.length > (p.maxEntries ?? 4096)) this.#entries.shift();
    this.#busyMs += computeMs;
    this.#promptBytes += promptBytes;
    this.#cachedBytes += cachedBytes;
    this.#requests++;
    return { promptBytes, cachedBytes, outputTokens, waitMs: latencyMs - computeMs, computeMs, latencyMs };
  }

  /** Busy time, prompt and cached bytes, and requests since the last reset. */
  totals(): { busyMs: number; promptBytes: number; cachedBytes: number; requests: number } {
    return { busyMs: this.#busyMs, promptBytes: this.#promptBytes, cachedBytes: this.#cachedBytes, requests: this.#requests };
  }

  /** Forgets the cache, the units' schedule and the totals. */
  reset(): void {
    this.#entries = [];
    this.#units = this.#units.map(() => []);
    this.#busyMs = 0;
    this.#promptBytes = 0;
    this.#cachedBytes = 0;
    this.#requests = 0;
  }
}

/**
 * The prompt of an OpenAI chat request as the test server records it
 * (data URIs replaced by `"<image>"`, the first image's hash and length beside).
 */
export function promptOf(body: { readonly messages?: unknown }, image: { readonly sha256: string; readonly length: number }): PromptSegment[] {
  const out: PromptSegment[] = [];
  for (const m of (Array.isArray(body.messages) ? body.messages : []) as Array<{ role?: unknown; content?: unknown }>) {
    out.push({ kind: 'text', text: `<${String(m.role)}>` });
    if (typeof m.content === 'string') out.push({ kind: 'text', text: m.content });
    else if (Array.isArray(m.content)) {
      for (const part of m.content as Array<{ type?: unknown; text?: unknown }>) {
        if (part?.type === 'text' && typeof part.text === 'string') out.push({ kind: 'text', text: part.text });
        else if (part?.type === 'image_url') out.push({ kind: 'image', sha256: image.sha256, bytes: image.length });
      }
    }
  }
  return out;
}

/** Tokens of an answer, as the usual four bytes per token. */
export function tokensOf(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, 'utf8') / 4));
}

/** The longest common prefix of byte strings, as a share of the first one. */
export function commonPrefixShare(bodies: readonly Buffer[]): number {
  const first = bodies[0];
  if (!first || first.length === 0) return 0;
  let n = first.length;
  for (const b of bodies.slice(1)) {
    let i = 0;
    const max = Math.min(n, b.length);
    while (i < max && b[i] === first[i]) i++;
    n = i;
  }
  return n / first.length;
}
