/**
 * The direct mode's whole job for one object: admission, lease, bounded
 * read, fan-out, merge, conditional write. The Step Functions variant runs
 * the same pieces as separate tasks (`stepfunctions/steps.ts`), so both
 * write the same document.
 */
import { admit, type SourceHint } from './admission';
import { cacheEntryRef, imageDigest, lookupCachedAnswers, storeCachedAnswers, type CacheLookup } from './content-cache';
import {
  failedResult,
  mergeResult,
  rejectedResult,
  sourceOf,
  type CacheInfo,
  type DocumentFrame,
  type ErrorInfo,
  type FieldOutcome,
  type ResultDocument,
} from './document';
import { InputRejectedError, ObjectNotFoundError, toErrorInfo } from './errors';
import { extractFields } from './extract';
import { notImageError, prepareImage, sniffImage, SNIFF_BYTES } from './image';
import { leaseRefFor, type SkipReason } from './keys';
import { claimLease, releaseLease, type ClaimOutcome } from './lease';
import type { Gate } from './adaptive-limit';
import type { Clock, ImageMime, Logger, ModelClient, ObjectRef, ObjectStore } from './ports';
import { publishResult, storedResultOf } from './result-writer';
import type { ModelSettings, PipelineSettings } from './settings';

/** What the direct job needs; the runtime builds it once per cold start, the limit once per invocation. */
export interface DirectDeps {
  readonly store: ObjectStore;
  readonly model: ModelClient;
  /** The invocation's request gate (`createLimit` or `createAdaptiveLimit`), shared by every image of the invocation. */
  readonly limit: Gate;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
  readonly modelSettings: ModelSettings;
}

/** The invocation one object is processed in. */
export interface Invocation {
  /** Who is working (the request id): recorded in the lease. */
  readonly id: string;
  /** The model work's deadline (see `startDeadline`): aborts `margin` before the end. */
  readonly deadline: { readonly signal: AbortSignal; readonly at: number };
  /**
   * Aborts just before the invocation ends: every store call honours it, so
   * a stuck S3 call fails in time instead of outliving the invocation.
   */
  readonly storeSignal?: AbortSignal;
  /** When the invocation ends, epoch milliseconds: the lease expires a little after. */
  readonly endsAt: number;
}

export type ProcessOutcome =
  | { readonly kind: 'skipped'; readonly reason: SkipReason; readonly resultKey?: string }
  | {
      readonly kind: 'written';
      readonly resultKey: string;
      readonly document: ResultDocument;
      /** Fields kept from the retryable document this run resumed (not asked again). */
      readonly kept: readonly string[];
    };

/** How long after the invocation's end its lease still counts: clock skew between invocations. */
export const LEASE_GRACE_MS = 10_000;

/**
 * The direct mode's whole job for one object.
 *
 * @throws only when the object cannot be read or the result cannot be
 *   written (so the platform retries the event and, in the end, the
 *   dead-letter queue has it).
 */
export async function processObject(deps: DirectDeps, hint: SourceHint, invocation: Invocation): Promise<ProcessOutcome> {
  const { store, settings, clock, logger } = deps;
  const storeOptions = invocation.storeSignal ? { signal: invocation.storeSignal } : {};
  const startedAt = new Date(clock.now());
  const admission = await admit(deps, hint, invocation.storeSignal);
  if (admission.kind === 'skip') {
    return { kind: 'skipped', reason: admission.reason, ...(admission.resultRef ? { resultKey: admission.resultRef.key } : {}) };
  }
  const { info, slot } = admission;
  const resume = admission.kind === 'accept' ? admission.resume : undefined;
  const frame = (mime?: ImageMime, cache?: CacheInfo): DocumentFrame => ({
    source: sourceOf(info, mime),
    modelName: deps.model.modelName,
    fingerprint: settings.fingerprint,
    runs: (resume?.runs ?? 0) + 1,
    ...(settings.prices ? { prices: settings.prices } : {}),
    ...(cache ? { cache } : {}),
    startedAt,
    finishedAt: new Date(clock.now()),
  });
  const write = async (document: ResultDocument, kept: readonly string[] = []): Promise<ProcessOutcome> => {
    const published = await publishResult({
      store,
      ref: slot.ref,
      document,
      seenEtag: slot.seenEtag,
      checkSource: !(admission.kind === 'reject' && admission.fallback),
      ...storeOptions,
    });
    if (published.kind !== 'written') return { kind: 'skipped', reason: published.kind, resultKey: slot.ref.key };
    return { kind: 'written', resultKey: slot.ref.key, document, kept };
  };

  if (admission.kind === 'reject') return write(rejectedResult(frame(), admission.error.toJSON()));

  const leaseRef = leaseRefFor(info, settings);
  // The image is read while the lease is claimed and the result is looked at
  // once more: one S3 round trip fewer before the first model call. When the
  // claim or the look finds nothing to do, the read is cancelled (a wasted
  // GET only when two deliveries of one version race).
  const reading = new AbortController();
  const readSignal = invocation.storeSignal ? AbortSignal.any([invocation.storeSignal, reading.signal]) : reading.signal;
  const image: Promise<ImageRead> = store.read(info, { maxBytes: settings.maxImageBytes, etag: info.etag, signal: readSignal }).then(
    (read) => ({ read }),
    (error: unknown) => ({ error }),
  );
  let claim: ClaimOutcome;
  try {
    claim = await claimLease({
      store,
      ref: leaseRef,
      lease: { etag: info.etag, fingerprint: settings.fingerprint, owner: invocation.id, expiresAt: invocation.endsAt + LEASE_GRACE_MS },
      now: clock.now(),
      ...storeOptions,
    });
  } catch (err) {
    reading.abort();
    throw err;
  }
  if (claim.kind === 'held') {
    reading.abort();
    logger.info('another invocation is working on this object version; nothing to do', {
      leaseOwner: claim.by.owner,
      leaseExpiresAt: new Date(claim.by.expiresAt).toISOString(),
    });
    return { kind: 'skipped', reason: 'in-flight', resultKey: slot.ref.key };
  }
  // Work that follows the document and may overlap the lease's release
  // (storing the content-cache entry): awaited with it.
  let afterWrite: Promise<unknown> = Promise.resolve();
  try {
    // The result may have become final between admission and the claim (a
    // delivery that finished and released its lease just then): look once
    // more, so that window costs a HEAD, not every field again. Meanwhile the
    // image arrives and, with the content cache on, its entry is looked up:
    // the first model call waits for one round trip after the claim, not two.
    const recheck = store.head(slot.ref, { forbiddenMeansAbsent: true, ...storeOptions });
    const prepared = image.then((read) => prepareRead(read, readSignal));
    // Settled either way below; a failed HEAD must not leave `prepared` unwatched.
    prepared.catch(() => undefined);
    const now = await recheck;
    const stored = now ? storedResultOf(now) : undefined;
    if (stored && stored.state === 'final' && stored.sourceEtag === info.etag && stored.fingerprint === settings.fingerprint) {
      return { kind: 'skipped', reason: 'duplicate', resultKey: slot.ref.key };
    }
    return await extractAndWrite(await prepared);
  } finally {
    reading.abort();
    await Promise.all([afterWrite, releaseLease(store, leaseRef, claim.etag, invocation.storeSignal)]);
  }

  /** The image as read, sniffed and hashed, with its cache lookup when the cache is on: no writes yet. */
  async function prepareRead(image: ImageRead, signal: AbortSignal): Promise<Prepared> {
    if ('error' in image) return { kind: 'unreadable', error: image.error };
    if (!image.read) return { kind: 'gone' };
    const body = image.read.body;
    const mime = sniffImage(body.subarray(0, SNIFF_BYTES));
    if (!mime) return { kind: 'not-image' };
    if (!settings.contentCache) return { kind: 'image', body, mime };
    // The content cache: the same bytes under the same configuration were
    // answered before; that document is written with no model call.
    const digest = imageDigest(body);
    const cacheRef = cacheEntryRef(slot.ref.bucket, settings.contentCache, settings.fingerprint, digest);
    const lookup = await lookupCachedAnswers({ store, ref: cacheRef, digest, scope: settings, logger, signal });
    return { kind: 'image', body, mime, cache: { ref: cacheRef, digest, lookup } };
  }

  async function extractAndWrite(image: Prepared): Promise<ProcessOutcome> {
    if (image.kind === 'unreadable') {
      const err = image.error;
      if (err instanceof ObjectNotFoundError) return { kind: 'skipped', reason: 'not-found', resultKey: slot.ref.key };
      if (err instanceof InputRejectedError) return write(rejectedResult(frame(), err.toJSON()));
      throw err;
    }
    if (image.kind === 'gone') return { kind: 'skipped', reason: 'not-found', resultKey: slot.ref.key };
    if (image.kind === 'not-image') return write(rejectedResult(frame(), notImageError(info.contentType).toJSON()));
    const { body, mime, cache } = image;

    if (cache?.lookup.kind === 'hit') {
      logger.info('content cache hit: answers of an identical image, no model call', {
        cacheSourceKey: cache.lookup.cache.source?.key,
      });
      return write(mergeResult(frame(mime, cache.lookup.cache), cache.lookup.outcomes, settings));
    }

    const kept = keptOutcomes(resume, settings);
    const toAsk = settings.fields.filter((f) => !kept.has(f.name));
    let document: ResultDocument;
    try {
      const asked = await extractFields({
        image: prepareImage(body, mime),
        fields: toAsk,
        model: deps.model,
        deadline: invocation.deadline.signal,
        deadlineAt: invocation.deadline.at,
        limit: deps.limit,
        ...deps.modelSettings,
        clock,
        logger,
      });
      const byName = new Map(asked.map((o) => [o.name, o]));
      document = mergeResult(
        frame(mime, cache ? { hit: false } : undefined),
        settings.fields.map((f) => kept.get(f.name) ?? byName.get(f.name)!),
        settings,
      );
    } catch (err) {
      // Fields never throw; reaching here is a bug. Still write a document.
      logger.error('extraction failed as a whole', { error: toErrorInfo(err) });
      document = failedResult(frame(mime), settings.fields.map((f) => f.name), toErrorInfo(err) as ErrorInfo);
    }
    const outcome = await write(document, [...kept.keys()]);
    if (cache && outcome.kind === 'written') {
      // After the document (an entry never exists without its result), beside
      // the lease's release: nothing the lease guards depends on the entry.
      afterWrite = storeCachedAnswers({
        store,
        ref: cache.ref,
        digest: cache.digest,
        document,
        logger,
        now: new Date(clock.now()),
        replace: cache.lookup.invalid,
        ...storeOptions,
      });
    }
    return outcome;
  }
}

/** The image read, or why it could not be: settled, so a cancelled read is never an unhandled rejection. */
type ImageRead = { readonly read: Awaited<ReturnType<ObjectStore['read']>> } | { readonly error: unknown };

/** The image read and looked at, before anything is written (see `prepareRead`). */
type Prepared =
  | { readonly kind: 'unreadable'; readonly error: unknown }
  | { readonly kind: 'gone' }
  | { readonly kind: 'not-image' }
  | {
      readonly kind: 'image';
      readonly body: Buffer;
      readonly mime: ImageMime;
      /** With the content cache on: the entry's key, the image's digest, what the lookup found. */
      readonly cache?: { readonly ref: ObjectRef; readonly digest: string; readonly lookup: CacheLookup };
    };

/** The fields of a resumed document that succeeded: kept as they are, never asked again. */
function keptOutcomes(resume: ResultDocument | undefined, settings: PipelineSettings): Map<string, FieldOutcome> {
  const kept = new Map<string, FieldOutcome>();
  if (!resume) return kept;
  for (const f of settings.fields) {
    const result = resume.fieldResults[f.name];
    if (result?.status === 'ok') kept.set(f.name, { name: f.name, value: resume.fields[f.name] ?? null, result });
  }
  return kept;
}
