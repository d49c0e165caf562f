/**
 * The backfill against the deployed stack: start its state machine (the
 * `BackfillStateMachineArn` output) with the user's credentials, follow the
 * Map Run (items done of the total, rate, time left), and at the end read
 * the Map Run's result files (each batch's tally) for the counts by outcome.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, DescribeMapRunCommand, ListMapRunsCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { addTallies, EMPTY_TALLY, type BackfillTally } from '../functions/core/backfill';
import { CommandError, ErrorCode } from '../functions/core/errors';
import type { BackfillArgs } from './backfill-args';
import type { ProgressSnapshot } from './progress';
import { readStackOutputs, requireOutput } from './stack-outputs';

/** The clients and the clock of a deployed run. */
export interface DeployedBackfillDeps {
  readonly cfn: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly s3: S3Client;
  /** Told of every look at the run. */
  readonly onProgress: (p: ProgressSnapshot) => void;
  /** Told once, when the run has started. */
  readonly onStarted: (started: { readonly executionArn: string; readonly consoleUrl: string; readonly input: unknown }) => void;
  /** @default 5000 */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How a deployed run ended. */
export interface DeployedBackfillResult {
  readonly executionArn: string;
  readonly status: string;
  /** The sum of the batches' tallies from the Map Run's result files (empty when none were written). */
  readonly tally: BackfillTally;
  /** Items whose batch failed as a whole, from the Map Run's counts. */
  readonly failedItems: number;
  /** The run's error and cause, when it did not succeed. */
  readonly error?: string;
}

/** The input prefix in an `InputUri` output (`s3://bucket/incoming/`). */
export function inputPrefixOf(inputUri: string): string {
  const m = /^s3:\/\/[^/]+\/(.*)$/.exec(inputUri);
  return m ? m[1]! : '';
}

/** The execution's name: readable and unique (Step Functions keeps names for 90 days). */
export function executionName(now: Date, random: string): string {
  return `backfill-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${random}`.slice(0, 80);
}

/** The console page of an execution. */
export function consoleUrl(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * Starts the stack's backfill and follows it to its end.
 *
 * @throws {CommandError} for a missing stack or output, a prefix outside the
 *   input prefix, and a run that could not be started.
 */
export async function runDeployedBackfill(args: BackfillArgs, deps: DeployedBackfillDeps): Promise<DeployedBackfillResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { outputs, address } = await readStackOutputs(deps.cfn, args.stack);
  const stateMachineArn = requireOutput(
    outputs,
    'BackfillStateMachineArn',
    address,
    'deploy it with the backfill on (npx cdk deploy -c backfill=true …, see docs/backfill.md)',
  );
  const inputPrefix = outputs.InputUri ? inputPrefixOf(outputs.InputUri) : undefined;
  const prefix = args.prefix ?? inputPrefix;
  if (prefix !== undefined && inputPrefix !== undefined && !prefix.startsWith(inputPrefix)) {
    throw new CommandError(`--prefix ${JSON.stringify(prefix)} lies outside the stack's input prefix ${JSON.stringify(inputPrefix)}: only objects under it are ever processed`);
  }
  const input = {
    ...(prefix !== undefined ? { prefix } : {}),
    only: args.only,
    dryRun: args.dryRun,
    source: args.inventory ? 'inventory' : 'list',
    ...(args.inventory ? { manifestKey: args.inventory.key } : {}),
  };
  let executionArn: string;
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: executionName(new Date(now()), Math.random().toString(36).slice(2, 8)), input: JSON.stringify(input) }),
    );
    executionArn = started.executionArn!;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    throw new CommandError(`cannot start the backfill ${stateMachineArn}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
  }
  deps.onStarted({ executionArn, consoleUrl: consoleUrl(executionArn), input });
  const startedAt = now();

  let mapRunArn: string | undefined;
  for (;;) {
    const execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
    mapRunArn ??= (await deps.sfn.send(new ListMapRunsCommand({ executionArn }))).mapRuns?.[0]?.mapRunArn;
    const counts = mapRunArn ? (await deps.sfn.send(new DescribeMapRunCommand({ mapRunArn }))).itemCounts : undefined;
    const failedItems = (counts?.failed ?? 0) + (counts?.timedOut ?? 0) + (counts?.aborted ?? 0);
    deps.onProgress({
      done: (counts?.succeeded ?? 0) + failedItems,
      total: counts?.total,
      failed: failedItems,
      startedAt,
      now: now(),
    });
    if (execution.status !== 'RUNNING') {
      const tally = execution.status === 'SUCCEEDED' ? await readMapRunResults(deps.s3, execution.output) : EMPTY_TALLY;
      return {
        executionArn,
        status: execution.status ?? 'UNKNOWN',
        tally,
        failedItems,
        ...(execution.status !== 'SUCCEEDED' ? { error: [execution.error, execution.cause].filter(Boolean).join(': ') || execution.status } : {}),
      };
    }
    await sleep(deps.pollMs ?? 5_000);
  }
}

/**
 * The sum of the batches' tallies the Map Run's ResultWriter wrote: the
 * execution output names its manifest, which names the result files.
 */
export async function readMapRunResults(s3: S3Client, executionOutput: string | undefined): Promise<BackfillTally> {
  const details = (JSON.parse(executionOutput ?? '{}') as { ResultWriterDetails?: { Bucket?: string; Key?: string } }).ResultWriterDetails;
  if (!details?.Bucket || !details.Key) return EMPTY_TALLY;
  const manifest = (await readJson(s3, details.Bucket, details.Key)) as { ResultFiles?: Record<string, Array<{ Key: string }>> };
  let tally = EMPTY_TALLY;
  for (const [status, files] of Object.entries(manifest.ResultFiles ?? {})) {
    for (const file of files) tally = addTallies(tally, tallyOfResultFile(status, await readJson(s3, details.Bucket, file.Key)));
  }
  return tally;
}

/**
 * One result file's tallies. A SUCCEEDED entry is a batch's tally, as is
 * (COMPACT), or inside `Output` as a JSON string (the full form); a FAILED
 * entry is a batch that failed as a whole, counted as one failure with its error.
 */
export function tallyOfResultFile(status: string, entries: unknown): BackfillTally {
  let tally = EMPTY_TALLY;
  for (const entry of Array.isArray(entries) ? entries : []) {
    const e = entry as Record<string, unknown>;
    const output = typeof e.Output === 'string' ? (JSON.parse(e.Output) as unknown) : e;
    if (status === 'SUCCEEDED' && isTally(output)) {
      tally = addTallies(tally, output);
      continue;
    }
    const error = [e.Error, e.Cause].filter((x) => typeof x === 'string').join(': ') || `a batch ended ${status}`;
    tally = addTallies(tally, { items: 0, outcomes: { 'batch-failed': 1 }, modelCalls: 0, failures: [{ key: '(a batch)', code: ErrorCode.BACKFILL_BATCH_FAILED, message: error }] });
  }
  return tally;
}

function isTally(x: unknown): x is BackfillTally {
  const t = x as BackfillTally;
  return typeof t === 'object' && t !== null && typeof t.items === 'number' && typeof t.outcomes === 'object' && Array.isArray(t.failures);
}

async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as unknown;
}
