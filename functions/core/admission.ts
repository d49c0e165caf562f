/**
 * Admission, shared by both fan-outs: guard the key, find the object, decide
 * from the stored result whether there is work to do, reject what cannot be
 * processed, all before any image byte is read or any model is asked.
 *
 * A stored result makes an event a duplicate only when it is for the same
 * source ETag, the same configuration fingerprint, and final. A retryable
 * one for the same version and configuration is resumed: its good fields
 * are kept and only the failed ones are asked again.
 */
import type { ResultDocument } from './document';
import { ErrorCode, InputRejectedError } from './errors';
import { fallbackResultKeyFor, keyGuard, resultKeyProblem, resultRefFor, type SkipReason } from './keys';
import type { ObjectInfo, ObjectRef, ObjectStore } from './ports';
import { readStoredDocument, storedResultOf, type StoredResult } from './result-writer';
import type { PipelineSettings } from './settings';

/** What the event told us about the object (size and ETag may be missing). */
export interface SourceHint extends ObjectRef {
  readonly etag?: string;
  readonly size?: number;
}

/** The result object as admission saw it, for the conditional write that follows. */
export interface ResultSlot {
  readonly ref: ObjectRef;
  /** Its ETag when it existed (`If-Match`), `undefined` when absent (`If-None-Match: *`). */
  readonly seenEtag: string | undefined;
}

/** The outcome of admitting an object, before any model call. */
export type Admission =
  | { readonly kind: 'skip'; readonly reason: SkipReason; readonly resultRef?: ObjectRef }
  | {
      readonly kind: 'reject';
      readonly info: ObjectInfo;
      readonly slot: ResultSlot;
      readonly error: InputRejectedError;
      /** The result is not at the source's own result key (see `resultKeyProblem`): no source check before writing it. */
      readonly fallback?: boolean;
    }
  | {
      readonly kind: 'accept';
      readonly info: ObjectInfo;
      readonly slot: ResultSlot;
      /** A retryable document of the same version and configuration: keep its good fields. */
      readonly resume?: ResultDocument;
    };

/** What admission reads. */
export interface AdmissionDeps {
  readonly store: ObjectStore;
  readonly settings: PipelineSettings;
}

/**
 * Guards the key, finds the object and its stored result (two HEADs side by
 * side), skips duplicates, rejects what is empty, too large or has a key no
 * result can live at. Reads no image bytes.
 *
 * @param signal aborts the store calls (the invocation's hard deadline).
 */
export async function admit(deps: AdmissionDeps, hint: SourceHint, signal?: AbortSignal): Promise<Admission> {
  const { store, settings } = deps;
  const guard = keyGuard(hint.key, settings);
  if (guard) return { kind: 'skip', reason: guard };
  const callOptions = signal ? { signal } : {};

  const problem = resultKeyProblem(hint.key, settings);
  if (problem) {
    const info = await store.head(hint, callOptions);
    if (!info) return { kind: 'skip', reason: 'not-found' };
    const ref = { bucket: settings.outputBucket ?? hint.bucket, key: fallbackResultKeyFor(hint.key, settings.outputPrefix) };
    const existing = await store.head(ref, { forbiddenMeansAbsent: true, ...callOptions });
    if (existing && isCurrent(storedResultOf(existing), info.etag, settings) === 'final') {
      return { kind: 'skip', reason: 'duplicate', resultRef: ref };
    }
    return {
      kind: 'reject',
      info,
      slot: { ref, seenEtag: existing?.etag },
      error: new InputRejectedError(ErrorCode.INPUT_KEY_INVALID, `no result can be written for this key: ${problem}`),
      fallback: true,
    };
  }

  const resultRef = resultRefFor(hint, settings);
  // Both HEADs share one controller: when one fails, the other is cancelled
  // rather than left running after the handler has returned.
  const both = new AbortController();
  const headSignal = signal ? AbortSignal.any([signal, both.signal]) : both.signal;
  let info: ObjectInfo | undefined;
  let existing: ObjectInfo | undefined;
  try {
    [info, existing] = await Promise.all([
      store.head(hint, { signal: headSignal }),
      store.head(resultRef, { forbiddenMeansAbsent: true, signal: headSignal }),
    ]);
  } catch (err) {
    both.abort(err);
    throw err;
  }
  if (!info) return { kind: 'skip', reason: 'not-found', resultRef };
  // Replaced since the event: the newer version's own event processes it.
  if (hint.etag && info.etag !== hint.etag) return { kind: 'skip', reason: 'superseded', resultRef };

  const stored = existing ? storedResultOf(existing) : undefined;
  const current = stored ? isCurrent(stored, info.etag, settings) : undefined;
  if (current === 'final') return { kind: 'skip', reason: 'duplicate', resultRef };
  const slot: ResultSlot = { ref: resultRef, seenEtag: existing?.etag };

  if (info.bytes === 0) {
    return { kind: 'reject', info, slot, error: new InputRejectedError(ErrorCode.INPUT_EMPTY, 'the object is empty') };
  }
  if (info.bytes > settings.maxImageBytes) {
    return {
      kind: 'reject',
      info,
      slot,
      error: new InputRejectedError(
        ErrorCode.INPUT_TOO_LARGE,
        `the object is ${info.bytes} bytes, over the limit of ${settings.maxImageBytes} bytes (MAX_IMAGE_BYTES)`,
      ),
    };
  }
  const resume =
    current === 'retryable'
      ? await readStoredDocument(store, resultRef, { sourceEtag: info.etag, fingerprint: settings.fingerprint, ...callOptions })
      : undefined;
  return { kind: 'accept', info, slot, ...(resume ? { resume } : {}) };
}

/**
 * Whether a stored result is current for this version and configuration,
 * and if so whether it is final. A result without a state (written before
 * results had one) counts as final only if its fingerprint matches, which
 * such a result never has: it is recomputed once.
 */
export function isCurrent(stored: StoredResult, etag: string, settings: Pick<PipelineSettings, 'fingerprint'>): 'final' | 'retryable' | undefined {
  if (stored.sourceEtag !== etag || stored.fingerprint !== settings.fingerprint) return undefined;
  return stored.state;
}
