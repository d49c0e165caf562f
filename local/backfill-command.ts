/**
 * `npm run backfill`: the objects already under the input prefix, through
 * the per-object path, with progress. Against the deployed stack it starts
 * and follows the backfill state machine; locally (`--local`, or with
 * `AWS_ENDPOINT_URL_S3`) it runs the same item handler in process, with the
 * same budget. See docs/backfill.md.
 */
import { resolve } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { closeSharedPools } from '../functions/adapters/openai-chat';
import { createS3Client } from '../functions/adapters/s3-store';
import { createBackfillItemsHandler } from '../functions/backfill-items';
import { loadConfig } from '../functions/config';
import { CommandError, FieldlensError } from '../functions/core/errors';
import { createModelClient } from '../functions/model-client';
import { loadModelRuntime, once } from '../functions/runtime';
import { describeBudget, shareEndpoint } from '../infra/backfill-budget';
import { BACKFILL_USAGE, parseBackfillArgs, type BackfillArgs } from './backfill-args';
import { runDeployedBackfill } from './backfill-deployed';
import { runLocalBackfill } from './backfill-local';
import { startLocalModelServer } from './model-server/server';
import { progressLine, summary, type ProgressSnapshot } from './progress';
import { startLocalS3 } from './s3-server';

/** Where the command writes, and whether its error stream is a terminal (progress on one line). */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly tty?: boolean;
}

const DATA_DIR = resolve('.fieldlens/s3');

/**
 * Runs the command; resolves to its exit code: 0 when every object was
 * done, 1 when some failed (or the run did), 2 for a command that cannot run.
 */
export async function backfillCommand(argv: readonly string[], env: Record<string, string | undefined>, io: CommandIo): Promise<number> {
  let args: BackfillArgs;
  try {
    args = parseBackfillArgs(argv, env);
  } catch (err) {
    if (err instanceof CommandError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    io.out(`${BACKFILL_USAGE}\n`);
    return 0;
  }
  try {
    return args.mode === 'local' ? await runLocal(args, env, io) : await runDeployed(args, env, io);
  } catch (err) {
    if (err instanceof FieldlensError) {
      io.err(`${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** A progress writer: one line rewritten on a terminal, a line every few seconds otherwise. */
function progressWriter(io: CommandIo, everyMs = io.tty ? 250 : 5_000): { show: (p: ProgressSnapshot, final?: boolean) => void } {
  let last = 0;
  let lastLine = '';
  return {
    show(p, final = false) {
      if (!final && p.now - last < everyMs) return;
      const line = progressLine(p);
      if (!io.tty && final && line === lastLine) return;
      last = p.now;
      lastLine = line;
      io.err(io.tty ? `\r\u001b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
    },
  };
}

async function runLocal(args: BackfillArgs, parentEnv: Record<string, string | undefined>, io: CommandIo): Promise<number> {
  const env: Record<string, string | undefined> = { LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...parentEnv };
  const bucket = env.FIELDLENS_BUCKET ?? 'fieldlens-local';
  const stops: Array<() => Promise<void>> = [];
  try {
    if (!env.AWS_ENDPOINT_URL_S3) {
      const s3 = await startLocalS3({ directory: DATA_DIR, buckets: [bucket] });
      stops.push(s3.close);
      Object.assign(env, { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: env.AWS_REGION ?? 'us-east-1', AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? 'S3RVER', AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? 'S3RVER' });
      io.err(`S3: embedded server at ${s3.endpoint} (npm start's data in ${DATA_DIR}), bucket ${bucket}\n`);
    } else {
      io.err(`S3: ${env.AWS_ENDPOINT_URL_S3} (AWS_ENDPOINT_URL_S3), bucket ${bucket}\n`);
    }
    if (!env.MODEL_BASE_URL) {
      // The model's name is part of each result's fingerprint, so a dry run needs the same one as a real run.
      const local = await startLocalModelServer({});
      stops.push(local.close);
      Object.assign(env, { MODEL_BASE_URL: local.baseUrl, MODEL_NAME: local.modelName });
      io.err(`model: the offline local model at ${local.baseUrl}${args.dryRun ? ' (not asked: dry run)' : ''}\n`);
    }
    const config = loadConfig(env);
    const prefix = args.prefix ?? config.inputPrefix;
    if (!prefix.startsWith(config.inputPrefix)) {
      throw new CommandError(`--prefix ${JSON.stringify(prefix)} lies outside the input prefix ${JSON.stringify(config.inputPrefix)} (INPUT_PREFIX): only objects under it are ever processed`);
    }
    const shared = shareEndpoint({ capacity: args.capacity, fieldCount: config.fields.length, share: args.share });
    // The backfill's part of the budget, as the stack sets it on the item function.
    env.MODEL_MAX_CONCURRENCY = String(shared.backfill.perImage);
    io.err(`budget: backfill ${describeBudget(shared.backfill)} (share ${args.share} of a capacity of ${args.capacity})\n`);

    // This environment, not the process's: the region and keys of the local server.
    const client = createS3Client(env, {
      endpoint: env.AWS_ENDPOINT_URL_S3,
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } }
        : {}),
    });
    stops.push(async () => client.destroy());
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
    // The progress display is the summary here; no EMF line interleaves with it.
    const handler = createBackfillItemsHandler(
      once(() => loadModelRuntime(env, createModelClient, { s3Client: client, metrics: { publish: () => undefined } })),
    );
    stops.push(closeSharedPools);

    const startedAt = Date.now();
    const progress = progressWriter(io);
    io.err(`backfill of s3://${bucket}/${prefix}: --only ${args.only}${args.dryRun ? ', dry run' : ''}\n`);
    const result = await runLocalBackfill({
      client,
      bucket,
      prefix,
      only: args.only,
      dryRun: args.dryRun,
      batchSize: args.batchSize,
      imagesAtOnce: shared.backfill.concurrentImages,
      handler,
      onProgress: ({ tally, total }) => progress.show({ done: tally.items, total, startedAt, now: Date.now(), outcomes: tally.outcomes }),
    });
    progress.show({ done: result.tally.items, total: result.listed, startedAt, now: Date.now(), outcomes: result.tally.outcomes }, true);
    io.out(`${summary(result.tally, { dryRun: args.dryRun, elapsedMs: Date.now() - startedAt })}\n`);
    return (result.tally.outcomes.failed ?? 0) > 0 ? 1 : 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

async function runDeployed(args: BackfillArgs, env: Record<string, string | undefined>, io: CommandIo): Promise<number> {
  const region = args.region ? { region: args.region } : {};
  const cfn = new CloudFormationClient(region);
  const sfn = new SFNClient(region);
  const s3 = createS3Client(env, region);
  const progress = progressWriter(io);
  try {
    const startedAt = Date.now();
    const result = await runDeployedBackfill(args, {
      cfn,
      sfn,
      s3,
      onStarted: ({ executionArn, consoleUrl }) =>
        io.err(`started ${executionArn}\n  ${consoleUrl}\n  (Ctrl-C stops following it, not the run: aws stepfunctions stop-execution --execution-arn ${executionArn})\n`),
      onProgress: (p) => progress.show(p),
    });
    const elapsedMs = Date.now() - startedAt;
    io.err('\n');
    if (result.status !== 'SUCCEEDED') {
      io.err(`the run ended ${result.status}: ${result.error ?? ''}\n  ${result.failedItems} items were in failed batches; run the command again to retry what is not done (done objects cost one HEAD)\n`);
    }
    io.out(`${summary(result.tally, { dryRun: args.dryRun, elapsedMs })}\n`);
    return result.status === 'SUCCEEDED' && (result.tally.outcomes.failed ?? 0) === 0 ? 0 : 1;
  } finally {
    cfn.destroy();
    sfn.destroy();
    s3.destroy();
  }
}
