/**
 * Lambda handler of the Step Functions mode's trigger: an S3 object-created
 * event → one execution per piece of work (object version, configuration,
 * generation of its result), so a duplicate event starts nothing while a
 * retry or a recomputation still can.
 *
 * Every record is tried; if any start failed for a reason other than a
 * duplicate, the invocation fails afterwards so Lambda retries the event
 * and, in the end, the dead-letter queue has it. Lambda's retry keeps the
 * request id, so a run this delivery already started gets the same name
 * and the same input again: Step Functions answers with that execution
 * while it runs, or refuses the name once it has ended.
 */
import type { Context } from 'aws-lambda';
import { RunStartError, toErrorInfo } from './core/errors';
import { readEvent } from './core/events';
import type { Logger } from './core/ports';
import { startRunFor, type StartOutcome } from './core/stepfunctions/start';
import { loadStarterRuntime, once, type StarterRuntime } from './runtime';
import { metric } from './telemetry/catalogue';
import { startInvocation } from './telemetry/telemetry';

/** What an invocation returns (Lambda ignores it for S3's asynchronous events; tests read it). */
export interface StartResponse {
  readonly outcomes: ReadonlyArray<{ readonly bucket: string; readonly key: string; readonly outcome: StartOutcome }>;
}

export type SfnStartHandler = (event: unknown, context: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>) => Promise<StartResponse>;

/** Builds the handler from a runtime factory (the real one in Lambda, a loopback server in tests). */
export function createSfnStartHandler(getRuntime: () => Promise<StarterRuntime>): SfnStartHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const telemetry = startInvocation(rt.telemetry, 'sfn-start', context, { now: Date.now });
    try {
      return await startRuns(rt, event, context, (duplicates) => telemetry.record(metric('DuplicatesSkipped', duplicates)));
    } finally {
      telemetry.end();
    }
  };
}

/** Starts a run per record; `countDuplicates` hears how many were duplicates (no run started, no model call). */
async function startRuns(
  rt: StarterRuntime,
  event: unknown,
  context: Pick<Context, 'awsRequestId'>,
  countDuplicates: (n: number) => void,
): Promise<StartResponse> {
  const logger = rt.logger.child({ requestId: context.awsRequestId });
  const records = readEvent(event).flatMap((item) => item.records);
  const deps = { starter: rt.starter, store: rt.store, settings: rt.settings, logger };
  const settled = await Promise.allSettled(
    records.map(async (record, index) => {
      const log = logger.child({ bucket: record.bucket, key: record.key });
      const outcome = await startRunFor({ ...deps, logger: log }, record, `${context.awsRequestId}/${index}`);
      logOutcome(log, outcome);
      return { bucket: record.bucket, key: record.key, outcome };
    }),
  );
  const duplicates = settled.filter((s) => s.status === 'fulfilled' && s.value.outcome.kind === 'duplicate').length;
  if (duplicates > 0) countDuplicates(duplicates);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  for (const f of failures) logger.error('run not started; the event will be retried', { error: toErrorInfo(f.reason) });
  if (failures.length > 0) {
    throw new RunStartError(`${failures.length} run(s) could not be started: ${toErrorInfo(failures[0]!.reason).message}`, {
      cause: failures[0]!.reason,
    });
  }
  return { outcomes: settled.map((s) => (s as PromiseFulfilledResult<StartResponse['outcomes'][number]>).value) };
}

function logOutcome(log: Logger, outcome: StartOutcome): void {
  if (outcome.kind === 'started') {
    log.info('run started', { executionArn: outcome.executionArn, ...(outcome.generation !== undefined ? { generation: outcome.generation } : {}) });
  } else if (outcome.kind === 'duplicate' && outcome.because === 'final-result') {
    log.info('duplicate event: a final result for this version and configuration exists; nothing started', { resultKey: outcome.resultKey });
  } else if (outcome.kind === 'duplicate') {
    log.info('duplicate event: a run for this version, configuration and result exists (running or finished); nothing started', {
      name: outcome.name,
    });
  } else {
    log.info('skipped', { reason: outcome.reason });
  }
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnStartHandler = createSfnStartHandler(once(() => loadStarterRuntime(process.env)));
