/**
 * The Step Functions mode end to end: the state machine the stack
 * synthesizes, run by aws-local-stepfunctions, its tasks bound to the real
 * handlers, against s3rver and the OpenAI test server on loopback.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readEvent } from '../../functions/core/events';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import type { ResultDocument } from '../../functions/core/document';
import { resultDocumentSchema } from '../../functions/core/document';
import type { RunInput } from '../../functions/core/stepfunctions/contract';
import { SFN_STATES } from '../../infra/constructs/stepfunctions-definition';
import { BUCKET, distinctPng, LABEL_ANSWERS, labelHandler, lambdaContext, TINY_PNG } from '../support/harness';
import type { S3NotificationEvent } from '../../local/s3-server';
import type { LocalRun } from '../support/local-state-machine';
import { startSfnRig, type SfnRig } from '../support/sfn-rig';

/** The execution input the starter would send for this event. */
function runInput(event: S3NotificationEvent): RunInput {
  const record = readEvent(event)[0]!.records[0]!;
  return { bucket: record.bucket, key: record.key, etag: record.etag!, size: record.size! };
}

/** A document without what differs between two runs of the same job: times and latencies. */
function timeless(doc: ResultDocument | undefined): unknown {
  if (!doc) return doc;
  const { startedAt: _s, finishedAt: _f, durationMs: _d, ...rest } = doc;
  return {
    ...rest,
    fieldResults: Object.fromEntries(Object.entries(doc.fieldResults).map(([k, { latencyMs: _l, ...r }]) => [k, r])),
  };
}

/** The error a run ended with, as Step Functions would name it (the Fail state's `Error`). */
function failedWith(run: LocalRun): string | undefined {
  return (run.error?.cause as Error | undefined)?.name;
}

let rig: SfnRig;
beforeAll(async () => {
  rig = await startSfnRig();
  // The first synthesis loads all of CDK: done here, under the hook's longer timeout.
  rig.machine();
});
afterAll(async () => rig?.close());
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
});

describe('the synthesized state machine, run locally with the real handlers', () => {
  it('writes the same document as direct mode for the same image and answers', async () => {
    // Prepare: the same object, direct mode writing under results/, Step Functions under sfn-results/.
    const event = await rig.put('incoming/2026/same.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const direct = await rig.result('results/2026/same.png.json');

    // Act
    const run = await rig.run(runInput(event), { env: { OUTPUT_PREFIX: 'sfn-results/' } });

    // Assess
    expect(run.error).toBeUndefined();
    const viaSfn = await rig.result('sfn-results/2026/same.png.json');
    expect(direct?.status).toBe('complete');
    expect(resultDocumentSchema.safeParse(viaSfn).success).toBe(true);
    expect(timeless(viaSfn)).toEqual(timeless(direct));
    expect(run.output).toEqual({ status: 'complete', retryable: false, resultBucket: BUCKET, resultKey: 'sfn-results/2026/same.png.json' });
    expect(run.statesEntered.filter((s) => s === SFN_STATES.extractField)).toHaveLength(DEFAULT_LABEL_FIELDS.length);
    expect(run.statesEntered).not.toContain(SFN_STATES.recordFailure);
  });

  it('writes a partial document when one field fails at the model, keeping the others', async () => {
    rig.model.setHandler(labelHandler({ suppliers: () => ({ kind: 'status', status: 400 }) }));
    const event = await rig.put('incoming/partial.png', TINY_PNG);

    const run = await rig.run(runInput(event));

    const doc = (await rig.result('results/partial.png.json'))!;
    expect(run.output).toMatchObject({ status: 'partial' });
    expect(doc.status).toBe('partial');
    expect(doc.fields).toEqual({ ...LABEL_ANSWERS, suppliers: null });
    expect(doc.fieldResults.suppliers).toMatchObject({ status: 'error', attempts: 1, error: { code: 'MODEL_BAD_REQUEST' } });
  });

  it('writes a rejected document for an object that is not an image, and asks no model', async () => {
    const event = await rig.put('incoming/notes.png', 'these are not image bytes', 'image/png');

    const run = await rig.run(runInput(event));

    const doc = (await rig.result('results/notes.png.json'))!;
    expect(doc.status).toBe('rejected');
    expect(doc.error).toMatchObject({ code: 'INPUT_NOT_IMAGE' });
    expect(doc.source).toMatchObject({ key: 'incoming/notes.png', contentType: 'image/png' });
    expect(run.output).toEqual({ action: 'done', status: 'rejected', resultKey: 'results/notes.png.json' });
    expect(run.statesEntered).toEqual([SFN_STATES.prepare, SFN_STATES.isAdmitted, SFN_STATES.done]);
    expect(rig.model.requests).toHaveLength(0);
  });

  it('skips an object version that already has its result, and writes nothing again', async () => {
    const event = await rig.put('incoming/twice.png', TINY_PNG);
    await rig.run(runInput(event));
    const first = await rig.result('results/twice.png.json');
    rig.model.reset();

    const again = await rig.run(runInput(event));

    expect(again.output).toMatchObject({ action: 'done', status: 'skipped', reason: 'duplicate' });
    expect(rig.model.requests).toHaveLength(0);
    expect(await rig.result('results/twice.png.json')).toEqual(first);
  });

  it('records a field whose task breaks as TASK_FAILED (written as its outcome) and keeps the other fields', async () => {
    // Prepare: the real ExtractField handler, except that it crashes for one field.
    const real = rig.handlersWith();
    const event = await rig.put('incoming/crash-one.png', TINY_PNG);

    // Act
    const run = await rig.run(runInput(event), {
      handlers: {
        extractField: async (input) => {
          if ((input as { field: string }).field === 'tag') throw new TypeError('out of memory, in effect');
          return real.extractField(input);
        },
      },
    });

    // Assess
    const doc = (await rig.result('results/crash-one.png.json'))!;
    expect(run.statesEntered).toContain(SFN_STATES.recordFieldFailure);
    expect(run.statesEntered).not.toContain(SFN_STATES.fieldTaskFailed);
    expect(doc.status).toBe('partial');
    expect(doc.fields.name).toBe(LABEL_ANSWERS.name);
    expect(doc.fields.tag).toBeNull();
    expect(doc.fieldResults.tag).toEqual({
      status: 'error',
      attempts: 0,
      latencyMs: 0,
      error: { code: 'TASK_FAILED', message: 'TypeError: out of memory, in effect' },
    });
  });

  it('writes the failed document when a task breaks as a whole (Prepare throws), then ends FAILED', async () => {
    const event = await rig.put('incoming/crash-prepare.png', TINY_PNG);

    const run = await rig.run(runInput(event), {
      handlers: {
        prepare: async () => {
          throw new Error('S3 said no');
        },
      },
    });

    // Every field failed for a passing reason: written, and the run fails so the dead-letter queue has it.
    expect(failedWith(run)).toBe('RESULT_RETRYABLE');
    expect(run.statesEntered).toEqual([SFN_STATES.prepare, SFN_STATES.recordFailure, SFN_STATES.isRetryableFailure, SFN_STATES.retryLater]);
    const doc = (await rig.result('results/crash-prepare.png.json'))!;
    expect(resultDocumentSchema.safeParse(doc).success).toBe(true);
    expect(doc.status).toBe('failed');
    expect(doc.error).toEqual({ code: 'TASK_FAILED', message: 'Error: S3 said no' });
    expect(doc.source).toEqual({ bucket: BUCKET, key: 'incoming/crash-prepare.png', etag: runInput(event).etag, bytes: TINY_PNG.length });
    expect(Object.keys(doc.fieldResults)).toEqual(DEFAULT_LABEL_FIELDS.map((f) => f.name));
    expect(doc.fieldResults.name).toMatchObject({ status: 'error', error: { code: 'TASK_FAILED' } });
  });

  it('writes the failed document when Merge throws, from the references Prepare returned', async () => {
    const event = await rig.put('incoming/crash-merge.png', TINY_PNG);

    const run = await rig.run(runInput(event), {
      handlers: {
        merge: async () => {
          throw new RangeError('merge broke');
        },
      },
    });

    expect(run.statesEntered).toContain(SFN_STATES.recordFailure);
    expect(failedWith(run)).toBe('RESULT_RETRYABLE');
    const doc = (await rig.result('results/crash-merge.png.json'))!;
    expect(doc.status).toBe('failed');
    expect(doc.error).toEqual({ code: 'TASK_FAILED', message: 'RangeError: merge broke' });
    expect(doc.source.contentType).toBe('image/png');
  });

  it('never runs more fields at once than the Map\'s MaxConcurrency (2 for a 2-request endpoint)', async () => {
    // Prepare: 5 fields, each answered after 150 ms.
    rig.model.setHandler(labelHandler({}, 150));
    const props = { model: { baseUrl: 'https://models.example.com/v1', name: 'qwen', maxConcurrency: 2 } };
    const event = await rig.put('incoming/capped.png', TINY_PNG);

    // Act
    const run = await rig.run(runInput(event), { props });

    // Assess
    expect(rig.machine(props).pipeline.budget.perImage).toBe(2);
    expect(run.output).toMatchObject({ status: 'complete' });
    expect(rig.model.requests).toHaveLength(5);
    expect(rig.model.maxInFlight).toBe(2);
  });

  it('ends FAILED after writing a failed, retryable document when every field fails for a passing reason', async () => {
    // Prepare: the endpoint answers 503 to every request; no transport retries, to keep it quick.
    rig.model.setHandler(() => ({ kind: 'status', status: 503 }));
    const event = await rig.put('incoming/all-503.png', TINY_PNG);

    // Act
    const run = await rig.run(runInput(event), { env: { MODEL_MAX_RETRIES: '0' } });

    // Assess
    expect(failedWith(run)).toBe('RESULT_RETRYABLE');
    expect(run.statesEntered.slice(-3)).toEqual([SFN_STATES.merge, SFN_STATES.isRetryableFailure, SFN_STATES.retryLater]);
    const doc = (await rig.result('results/all-503.png.json'))!;
    expect(doc).toMatchObject({ status: 'failed', retryable: true, runs: 1 });
    expect(Object.values(doc.fieldResults).map((r) => r.error?.code)).toEqual(DEFAULT_LABEL_FIELDS.map(() => 'MODEL_SERVER_ERROR'));
  });

  it('ends a partial, retryable run successfully; the next generation asks only the failed field and completes', async () => {
    // Prepare: a first run in which suppliers gets 503.
    rig.model.setHandler(labelHandler({ suppliers: () => ({ kind: 'status', status: 503 }) }));
    const event = await rig.put('incoming/resume.png', TINY_PNG);
    const env = { MODEL_MAX_RETRIES: '0' };
    const first = await rig.run(runInput(event), { env });
    const afterFirst = (await rig.result('results/resume.png.json'))!;
    rig.model.reset();
    rig.model.setHandler(labelHandler());

    // Act: the run the starter names after generation 1.
    const second = await rig.run({ ...runInput(event), generation: afterFirst.runs }, { env });

    // Assess
    expect(first.error).toBeUndefined();
    expect(first.output).toMatchObject({ status: 'partial', retryable: true });
    expect(afterFirst.fieldResults.suppliers).toMatchObject({ status: 'error', error: { code: 'MODEL_SERVER_ERROR' } });
    expect(second.error).toBeUndefined();
    expect(second.output).toMatchObject({ status: 'complete', retryable: false });
    expect(rig.model.requests.map((r) => r.field)).toEqual(['suppliers']);
    expect(second.statesEntered.filter((s) => s === SFN_STATES.extractField)).toHaveLength(1);
    const doc = (await rig.result('results/resume.png.json'))!;
    expect(doc).toMatchObject({ status: 'complete', retryable: false, runs: 2, fields: LABEL_ANSWERS });
    expect(doc.fieldResults.name).toEqual(afterFirst.fieldResults.name);
  });

  it('with the content cache on, answers the same bytes under another key in Prepare, with no model call', async () => {
    // Prepare: one image answered by the model through the state machine
    const env = { CONTENT_CACHE: 'on' };
    const bytes = distinctPng('sfn-content-cache');
    const first = await rig.run(runInput(await rig.put('incoming/cached/first.png', bytes)), { env });
    const asked = rig.model.requests.length;

    // Act: the same bytes under another key
    const second = await rig.run(runInput(await rig.put('incoming/cached/second.png', bytes)), { env });

    // Assess: the first run stored its answers after its document; the second ran Prepare alone
    expect(first.output).toMatchObject({ status: 'complete' });
    expect(asked).toBe(DEFAULT_LABEL_FIELDS.length);
    expect((await rig.result('results/cached/first.png.json'))?.cache).toEqual({ hit: false });
    expect(second.output).toEqual({ action: 'done', status: 'complete', resultKey: 'results/cached/second.png.json' });
    expect(second.statesEntered).not.toContain(SFN_STATES.extractField);
    expect(rig.model.requests).toHaveLength(asked);
    const copy = await rig.result('results/cached/second.png.json');
    expect(copy).toMatchObject({ status: 'complete', fields: { name: LABEL_ANSWERS.name }, cache: { hit: true, source: { key: 'incoming/cached/first.png' } } });
  });

  it('passes answers by reference: the state carries no answer, and Merge deletes the parts it read', async () => {
    const event = await rig.put('incoming/by-ref.png', TINY_PNG);
    const seen: unknown[] = [];
    const real = rig.handlersWith();

    await rig.run(runInput(event), {
      handlers: {
        merge: async (input) => {
          seen.push(input);
          return real.merge(input);
        },
      },
    });

    expect(JSON.stringify(seen)).not.toContain(LABEL_ANSWERS.name);
    expect((await rig.result('results/by-ref.png.json'))?.fields.name).toBe(LABEL_ANSWERS.name);
    const parts = await rig.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'results/.fieldlens/parts/' }));
    expect(parts.KeyCount ?? 0).toBe(0);
  });
});
