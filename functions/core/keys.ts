/**
 * Which keys are ours and where their results go. Keys here are always
 * decoded (never URL-encoded).
 */
import type { ObjectRef } from './ports';
import type { PipelineSettings } from './settings';

/** Why an event's object is not processed (nothing is written for it). */
export type SkipReason = 'outside-input-prefix' | 'under-output-prefix' | 'folder-marker' | 'duplicate' | 'not-found';

/**
 * Why a key is not ours to process, or `undefined` when it is. Keys under
 * the output prefix are never processed, even when they also lie under the
 * input prefix: that is what keeps a shared bucket from looping.
 */
export function keyGuard(key: string, settings: Pick<PipelineSettings, 'inputPrefix' | 'outputPrefix'>): SkipReason | undefined {
  if (settings.outputPrefix !== '' && key.startsWith(settings.outputPrefix)) return 'under-output-prefix';
  if (!key.startsWith(settings.inputPrefix)) return 'outside-input-prefix';
  if (key.endsWith('/')) return 'folder-marker';
  return undefined;
}

/**
 * Where a source key's result goes: the output prefix, the key without the
 * input prefix, then `.json` (`incoming/2026/a.jpg` → `results/2026/a.jpg.json`).
 */
export function resultKeyFor(sourceKey: string, inputPrefix: string, outputPrefix: string): string {
  const rest = sourceKey.startsWith(inputPrefix) ? sourceKey.slice(inputPrefix.length) : sourceKey;
  return `${outputPrefix}${rest}.json`;
}

/** Where the result of `source` is written. */
export function resultRefFor(source: ObjectRef, settings: PipelineSettings): ObjectRef {
  return {
    bucket: settings.outputBucket ?? source.bucket,
    key: resultKeyFor(source.key, settings.inputPrefix, settings.outputPrefix),
  };
}
