/**
 * Field answers by reference: each ExtractField task writes its field's
 * outcome to S3 (a "part", under the output prefix) and hands the state
 * machine only where it is; Merge reads the parts back. Whatever the
 * answers hold, the state stays a few hundred bytes per field, far below
 * Step Functions' 256 KiB, so no field set can lose a document to the
 * state limit.
 */
import * as z from 'zod';
import { resultDocumentSchema, type FieldOutcome, type FieldResult } from '../document';
import { ErrorCode } from '../errors';
import { fieldPartRefFor, type FieldPartRun } from '../keys';
import type { ObjectRef, ObjectStore } from '../ports';
import type { PipelineSettings } from '../settings';
import type { FieldPartRef } from './contract';

/** Largest part worth reading: an answer bigger than this is not one we wrote. */
export const MAX_PART_BYTES = 1024 * 1024;

/** A field result exactly as the document schema checks it. */
const fieldResultSchema = resultDocumentSchema.shape.fieldResults.valueType;
const partSchema = z.object({ name: z.string(), value: z.unknown(), result: fieldResultSchema });

type PartSettings = Pick<PipelineSettings, 'outputPrefix' | 'outputBucket'>;

/**
 * Writes one field's outcome as its part and returns the reference the
 * state machine carries. A second write of the same part (the task retried
 * after it had run) replaces the first: both are this run's answer.
 *
 * @throws whatever the store throws: the task fails, and the Map's Catch
 *   records the field as `TASK_FAILED`.
 */
export async function writeFieldPart(
  store: ObjectStore,
  run: FieldPartRun,
  outcome: FieldOutcome,
  settings: PartSettings,
): Promise<FieldPartRef> {
  const ref = fieldPartRefFor(run, outcome.name, settings);
  await store.putJson(ref, { name: outcome.name, value: outcome.value, result: outcome.result }, {});
  return { name: outcome.name, status: outcome.result.status, ref };
}

/**
 * Reads one field's part back. A part that is missing, unreadable, for
 * another field or not a valid outcome makes that field failed with
 * `TASK_FAILED` (a passing failure: the next run asks it again); the other
 * fields are unaffected.
 *
 * @param expected the part's key as Merge derives it; a reference from the
 *   state that names any other key is not trusted.
 */
export async function readFieldPart(store: ObjectStore, name: string, given: ObjectRef, expected: ObjectRef): Promise<FieldOutcome> {
  if (given.bucket !== expected.bucket || given.key !== expected.key) {
    return partFailure(name, `the field's outcome was reported at s3://${given.bucket}/${given.key}, not at its own key`);
  }
  let body: Buffer;
  try {
    const read = await store.read(expected, { maxBytes: MAX_PART_BYTES });
    if (!read) return partFailure(name, `the field's outcome is missing at s3://${expected.bucket}/${expected.key}`);
    body = read.body;
  } catch (err) {
    return partFailure(name, `the field's outcome could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return partFailure(name, `the field's outcome at s3://${expected.bucket}/${expected.key} is not JSON`);
  }
  const part = partSchema.safeParse(parsed);
  if (!part.success || part.data.name !== name) {
    return partFailure(name, `the field's outcome at s3://${expected.bucket}/${expected.key} is not a valid outcome of "${name}"`);
  }
  return { name, value: part.data.value, result: part.data.result };
}

/**
 * Deletes the parts of `fields` for one run; best effort: a part left
 * behind only costs storage until the lifecycle rule (where the stack
 * created the bucket) expires it.
 *
 * @returns how many could not be deleted.
 */
export async function deleteFieldParts(
  store: ObjectStore,
  run: FieldPartRun,
  fields: readonly string[],
  settings: PartSettings,
): Promise<number> {
  const results = await Promise.allSettled(fields.map((f) => store.delete(fieldPartRefFor(run, f, settings))));
  return results.filter((r) => r.status === 'rejected').length;
}

/** A field failed because its task's outcome cannot be used. */
export function partFailure(name: string, message: string): FieldOutcome {
  const result: FieldResult = { status: 'error', attempts: 0, latencyMs: 0, error: { code: ErrorCode.TASK_FAILED, message } };
  return { name, value: null, result };
}
