/**
 * The backfill state machine the stack synthesizes, run by aws-local-stepfunctions
 * with its task bound to the real item handler (s3rver and the OpenAI test
 * server on loopback).
 *
 * The interpreter (3.0.0) runs a Map state over `ItemsPath` and honours
 * `MaxConcurrency`, but ignores `ItemReader`, `ItemBatcher`, `ResultWriter`
 * and `ToleratedFailurePercentage`. So what runs here is: the child workflow
 * as it is (ProcessBatch, the MoreItems loop, BatchDone), and the whole
 * definition with the listing and batching done the way ItemReader and
 * ItemBatcher do them (the objects listed by ListObjectsV2, cut into
 * batches, each given the definition's own `BatchInput`). The reader, the
 * batcher, the ResultWriter and the tolerated failures are asserted on the
 * template (test/infra/backfill.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackfillBatchOutput } from '../../functions/core/backfill-batch';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { BACKFILL_STATES } from '../../infra/constructs/backfill';
import { newStack, logicalId } from '../infra/support';
import { Template } from 'aws-cdk-lib/assertions';
import { backfillHandlerFor, batchesOf, listedObjects } from '../support/backfill-rig';
import { BUCKET, labelHandler, lambdaContext, startRig, distinctPng, type Rig } from '../support/harness';
import { functionLogicalId, runLocally, synthesizedStateMachine, type SynthesizedStateMachine } from '../support/local-state-machine';

type State = Record<string, any>;

let rig: Rig;
let machine: SynthesizedStateMachine;
let itemsFunction: string;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  rig = await startRig();
  const { stack } = newStack({ backfill: { batchSize: 3 } });
  const bucket = logicalId(Template.fromStack(stack), 'AWS::S3::Bucket', 'Bucket');
  machine = synthesizedStateMachine(stack, { machine: stack.backfill!.stateMachine, refs: { [bucket]: BUCKET } });
  itemsFunction = functionLogicalId(stack.backfill!.items.function);
});
afterAll(async () => {
  for (const c of closers) await c();
  await rig?.close();
});
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
});

function states(): Record<string, State> {
  return (machine.definition as unknown as { States: Record<string, State> }).States;
}

/** The real item handler, as the task sees it. */
function realHandler() {
  const { handler, close } = backfillHandlerFor(rig);
  closers.push(close);
  return (input: unknown) => handler(input, lambdaContext());
}

/** The Distributed Map's child workflow, as a state machine of its own (what each child execution runs). */
function childWorkflow(): SynthesizedStateMachine {
  const { StartAt, States } = states()[BACKFILL_STATES.objects]!.ItemProcessor;
  return { definition: { StartAt, States } as never, taskFunctions: { [BACKFILL_STATES.processBatch]: itemsFunction } };
}

/**
 * The whole definition, with ItemReader + ItemBatcher done ahead: the Map
 * iterates over the batches given in the run's input, and each iteration
 * gets `{ Items, BatchInput }` with the definition's own BatchInput template.
 */
function wholeMachineWithBatchesFromInput(): SynthesizedStateMachine {
  const definition = JSON.parse(JSON.stringify(machine.definition)) as { States: Record<string, State> };
  const map = definition.States[BACKFILL_STATES.objects]!;
  const batchInput = map.ItemBatcher.BatchInput;
  for (const k of ['ItemReader', 'ItemBatcher', 'ResultWriter', 'ToleratedFailurePercentage', 'Label']) delete map[k];
  map.ItemsPath = '$.args.batches';
  map.ItemSelector = { 'Items.$': '$$.Map.Item.Value', BatchInput: batchInput };
  delete map.ItemProcessor.ProcessorConfig;
  // The 30-day execution timeout overflows the interpreter's timer (above 2^31 ms, setTimeout fires at once).
  delete (definition as { TimeoutSeconds?: number }).TimeoutSeconds;
  return { definition: definition as never, taskFunctions: machine.taskFunctions };
}

async function imagesUnder(prefix: string, count: number) {
  for (let i = 0; i < count; i++) await rig.put(`${prefix}${i}.png`, distinctPng(`${prefix}${i}`));
  return listedObjects(rig.client, prefix);
}

describe('the backfill child workflow, run locally', () => {
  it('runs a batch through the real handler and ends with its tally', async () => {
    // Prepare
    const [batch] = batchesOf(await imagesUnder('incoming/child/', 3), 3);

    // Act
    const run = await runLocally(childWorkflow(), batch, { [itemsFunction]: realHandler() });

    // Assess
    expect(run.error).toBeUndefined();
    expect(run.output).toEqual({ items: 3, outcomes: { 'written:complete': 3 }, modelCalls: 3 * DEFAULT_LABEL_FIELDS.length, failures: [] });
    expect(run.statesEntered).toEqual([BACKFILL_STATES.processBatch, BACKFILL_STATES.moreItems, BACKFILL_STATES.batchDone]);
  });

  it('invokes the function again with the items it left, carrying the tally, until none are left', async () => {
    // Prepare: an invocation that has time for one object only, as a slow model would leave it
    const [batch] = batchesOf(await imagesUnder('incoming/loop/', 3), 3);
    const real = realHandler();
    const invocations: number[] = [];
    const oneAtATime = async (input: unknown) => {
      const { Items, ...rest } = input as { Items: unknown[] };
      invocations.push(Items.length);
      const out = (await real({ ...rest, Items: Items.slice(0, 1) })) as BackfillBatchOutput;
      return { ...out, Items: [...out.Items, ...Items.slice(1)] };
    };

    // Act
    const run = await runLocally(childWorkflow(), batch, { [itemsFunction]: oneAtATime });

    // Assess
    expect(run.error).toBeUndefined();
    expect(invocations).toEqual([3, 2, 1]);
    expect(run.output).toMatchObject({ items: 3, outcomes: { 'written:complete': 3 } });
    expect(run.statesEntered.filter((s) => s === BACKFILL_STATES.processBatch)).toHaveLength(3);
  });
});

describe('the backfill state machine, run locally with the listing done ahead', () => {
  it('merges the run input over the defaults, checks the prefix, and runs every batch', async () => {
    // Prepare: 7 objects in batches of 3 (the stack's batchSize), one of them already current
    const listed = await imagesUnder('incoming/whole/', 7);
    await realHandler()(batchesOf(listed.slice(0, 1), 3)[0]);
    rig.model.reset();
    const batches = batchesOf(listed, 3).map((b) => b.Items);

    // Act
    const run = await runLocally(wholeMachineWithBatchesFromInput(), { prefix: 'incoming/whole/', batches }, { [itemsFunction]: realHandler() });

    // Assess
    expect(run.error).toBeUndefined();
    const tallies = run.output as Array<{ items: number; outcomes: Record<string, number> }>;
    expect(tallies.map((t) => t.items)).toEqual([3, 3, 1]);
    expect(tallies[0]!.outcomes).toEqual({ current: 1, 'written:complete': 2 });
    expect(rig.model.requests).toHaveLength(6 * DEFAULT_LABEL_FIELDS.length);
    expect(run.statesEntered.slice(0, 4)).toEqual([BACKFILL_STATES.defaults, BACKFILL_STATES.argumentsState, BACKFILL_STATES.prefixAllowed, BACKFILL_STATES.objects]);
  });

  it('passes --only and --dry-run from the run input to every batch', async () => {
    const listed = await imagesUnder('incoming/dryrun/', 2);

    const run = await runLocally(
      wholeMachineWithBatchesFromInput(),
      { prefix: 'incoming/dryrun/', only: 'missing', dryRun: true, batches: batchesOf(listed, 3).map((b) => b.Items) },
      { [itemsFunction]: realHandler() },
    );

    expect(run.error).toBeUndefined();
    expect(run.output).toEqual([{ items: 2, outcomes: { 'would-compute:missing': 2 }, modelCalls: 2 * DEFAULT_LABEL_FIELDS.length, failures: [] }]);
    expect(rig.model.requests).toHaveLength(0);
  });

  it('fails a run whose prefix lies outside the input prefix before any batch', async () => {
    let invoked = 0;

    const run = await runLocally(wholeMachineWithBatchesFromInput(), { prefix: 'private/', batches: [] }, { [itemsFunction]: async () => ++invoked });

    expect((run.error?.cause as { name?: string } | undefined)?.name).toBe('PrefixOutsideInput');
    expect(invoked).toBe(0);
  });
});
