/**
 * The starter's job for one S3 record: guard the key, name the run after the
 * object version, start it. A duplicate event finds the name taken and
 * starts nothing.
 */
import type { S3ObjectEvent } from '../events';
import { keyGuard, type SkipReason } from '../keys';
import type { ExecutionStarter, Logger } from '../ports';
import type { PipelineSettings } from '../settings';
import type { RunInput } from './contract';
import { executionNameFor } from './execution-name';

/** What the starter needs. */
export interface StartDeps {
  readonly starter: ExecutionStarter;
  readonly logger: Logger;
  readonly settings: Pick<PipelineSettings, 'inputPrefix' | 'outputPrefix'>;
}

/** What happened to one record. */
export type StartOutcome =
  | { readonly kind: 'started'; readonly name: string | undefined; readonly executionArn: string }
  | { readonly kind: 'duplicate'; readonly name: string }
  | { readonly kind: 'skipped'; readonly reason: SkipReason };

/**
 * Starts the run for one object-created record.
 *
 * Without an ETag (S3 always sends one for object-created events; a
 * hand-made event might not) the run gets no name rather than a name that
 * two versions of the object would share: it is still processed, and
 * Prepare's result check still skips a version that has a result.
 *
 * @throws whatever the starter throws other than a duplicate (throttling,
 *   permissions), so the invocation fails and Lambda retries the event.
 */
export async function startRunFor(deps: StartDeps, record: S3ObjectEvent): Promise<StartOutcome> {
  const guard = keyGuard(record.key, deps.settings);
  if (guard) return { kind: 'skipped', reason: guard };
  const input: RunInput = {
    bucket: record.bucket,
    key: record.key,
    ...(record.etag ? { etag: record.etag } : {}),
    ...(record.size !== undefined ? { size: record.size } : {}),
  };
  const name = record.etag ? executionNameFor({ bucket: record.bucket, key: record.key, etag: record.etag }) : undefined;
  if (!name) deps.logger.warn('the event has no ETag; starting an unnamed run (no duplicate detection)');
  const result = await deps.starter.start(name, input);
  if (result.kind === 'duplicate') return { kind: 'duplicate', name: name! };
  return { kind: 'started', name, executionArn: result.executionArn };
}
