/**
 * Admission, shared by both fan-outs: guard the key, find the object, skip
 * duplicates, reject what is empty or too large, all before any image byte
 * is read or any model is asked.
 */
import { ErrorCode, InputRejectedError } from './errors';
import { keyGuard, resultRefFor, type SkipReason } from './keys';
import type { ObjectInfo, ObjectRef, ObjectStore } from './ports';
import { SOURCE_ETAG_METADATA } from './result-writer';
import type { PipelineSettings } from './settings';

/** What the event told us about the object (size and ETag may be missing). */
export interface SourceHint extends ObjectRef {
  readonly etag?: string;
  readonly size?: number;
}

/** The outcome of admitting an object, before any model call. */
export type Admission =
  | { readonly kind: 'skip'; readonly reason: SkipReason; readonly resultRef?: ObjectRef }
  | { readonly kind: 'reject'; readonly info: ObjectInfo; readonly resultRef: ObjectRef; readonly error: InputRejectedError }
  | { readonly kind: 'accept'; readonly info: ObjectInfo; readonly resultRef: ObjectRef };

/** What admission reads. */
export interface AdmissionDeps {
  readonly store: ObjectStore;
  readonly settings: PipelineSettings;
}

/**
 * Guards the key, finds the object, skips duplicates, rejects what is empty
 * or too large. Reads no image bytes.
 */
export async function admit(deps: AdmissionDeps, hint: SourceHint): Promise<Admission> {
  const { store, settings } = deps;
  const guard = keyGuard(hint.key, settings);
  if (guard) return { kind: 'skip', reason: guard };
  const resultRef = resultRefFor(hint, settings);

  const [info, existing] = await Promise.all([
    store.head(hint),
    store.head(resultRef, { forbiddenMeansAbsent: true }),
  ]);
  if (!info) return { kind: 'skip', reason: 'not-found', resultRef };
  if (hint.etag && info.etag !== hint.etag) {
    // Replaced since the event: the newer object's own event will process it.
    return { kind: 'skip', reason: 'not-found', resultRef };
  }
  if (existing && existing.metadata[SOURCE_ETAG_METADATA] === info.etag) {
    return { kind: 'skip', reason: 'duplicate', resultRef };
  }
  if (info.bytes === 0) {
    return { kind: 'reject', info, resultRef, error: new InputRejectedError(ErrorCode.INPUT_EMPTY, 'the object is empty') };
  }
  if (info.bytes > settings.maxImageBytes) {
    return {
      kind: 'reject',
      info,
      resultRef,
      error: new InputRejectedError(
        ErrorCode.INPUT_TOO_LARGE,
        `the object is ${info.bytes} bytes, over the limit of ${settings.maxImageBytes} bytes (MAX_IMAGE_BYTES)`,
      ),
    };
  }
  return { kind: 'accept', info, resultRef };
}
