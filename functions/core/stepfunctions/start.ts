/**
 * The starter's job for one S3 record: guard the key, look at the stored
 * result (one HEAD), and start a run only when there is work, named after
 * the work (see `execution-name.ts`). A true duplicate starts nothing: a
 * final result for this version and configuration is there already, or a
 * run for the same work exists.
 */
import { RunStartError } from '../errors';
import type { S3ObjectEvent } from '../events';
import { fallbackResultKeyFor, keyGuard, resultKeyProblem, resultRefFor, type SkipReason } from '../keys';
import type { ExecutionStarter, Logger, ObjectRef, ObjectStore } from '../ports';
import { storedResultOf } from '../result-writer';
import type { PipelineSettings } from '../settings';
import type { RunInput } from './contract';
import { executionNameFor, runGenerationOf } from './execution-name';

/** What the starter needs: it reads result metadata, never an image, and asks no model. */
export interface StartDeps {
  readonly starter: ExecutionStarter;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
}

/** Why a record started nothing because its work is done or under way. */
export type DuplicateReason =
  /** A final result for this object version and configuration exists. */
  | 'final-result'
  /** A run with this name exists: running (another delivery of the event started it) or finished. */
  | 'execution-exists';

/** What happened to one record. */
export type StartOutcome =
  | { readonly kind: 'started'; readonly name: string | undefined; readonly executionArn: string; readonly generation?: number }
  | { readonly kind: 'duplicate'; readonly because: DuplicateReason; readonly name?: string; readonly resultKey: string }
  | { readonly kind: 'skipped'; readonly reason: SkipReason };

/**
 * Starts the run for one object-created record.
 *
 * Without an ETag (S3 always sends one for object-created events; a
 * hand-made event might not) the run gets no name rather than a name that
 * two versions of the object would share: it is still processed, and
 * Prepare's result check still skips a version that has a result.
 *
 * @param delivery identifies this delivery of the record (request id and
 *   record index); it goes into the execution input so that a second
 *   delivery's StartExecution, same name but another input, is refused as
 *   `ExecutionAlreadyExists` while the first run is still going (with an
 *   identical input Step Functions would answer with success instead).
 * @throws whatever the store or the starter throw other than a duplicate
 *   (throttling, permissions), so the invocation fails and Lambda retries the event.
 */
export async function startRunFor(deps: StartDeps, record: S3ObjectEvent, delivery: string): Promise<StartOutcome> {
  const { settings } = deps;
  const guard = keyGuard(record.key, settings);
  if (guard) return { kind: 'skipped', reason: guard };
  const base: RunInput = {
    bucket: record.bucket,
    key: record.key,
    ...(record.etag ? { etag: record.etag } : {}),
    ...(record.size !== undefined ? { size: record.size } : {}),
  };
  if (!record.etag) {
    deps.logger.warn('the event has no ETag; starting an unnamed run (no duplicate detection)');
    const result = await deps.starter.start(undefined, { ...base, delivery });
    if (result.kind === 'duplicate') throw new RunStartError('Step Functions refused an unnamed execution as a duplicate');
    return { kind: 'started', name: undefined, executionArn: result.executionArn };
  }

  const resultRef = resultSlotOf(record, settings);
  const existing = await deps.store.head(resultRef, { forbiddenMeansAbsent: true });
  const generation = runGenerationOf(existing ? storedResultOf(existing) : undefined, record.etag, settings.fingerprint);
  if (!generation) return { kind: 'duplicate', because: 'final-result', resultKey: resultRef.key };

  const name = executionNameFor({ bucket: record.bucket, key: record.key, etag: record.etag, fingerprint: settings.fingerprint, ...generation });
  const result = await deps.starter.start(name, { ...base, generation: generation.generation, delivery });
  if (result.kind === 'duplicate') return { kind: 'duplicate', because: 'execution-exists', name, resultKey: resultRef.key };
  return { kind: 'started', name, executionArn: result.executionArn, generation: generation.generation };
}

/** Where the record's result lives: its own key, or the fallback key of a key that cannot have one (see `resultKeyProblem`). */
function resultSlotOf(record: ObjectRef, settings: PipelineSettings): ObjectRef {
  if (resultKeyProblem(record.key, settings)) {
    return { bucket: settings.outputBucket ?? record.bucket, key: fallbackResultKeyFor(record.key, settings.outputPrefix) };
  }
  return resultRefFor(record, settings);
}
