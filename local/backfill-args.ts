/**
 * `npm run backfill` arguments: parsed once, every mistake answered with a
 * message that says what was expected (a `CommandError`, exit code 2).
 */
import { parseArgs } from 'node:util';
import { BACKFILL_SELECTIONS, type BackfillSelection } from '../functions/core/backfill';
import { CommandError } from '../functions/core/errors';

/** What the command was asked to do. */
export interface BackfillArgs {
  /** Only objects under this prefix (it must lie under the input prefix). @default the input prefix */
  readonly prefix?: string;
  readonly only: BackfillSelection;
  readonly dryRun: boolean;
  /**
   * `deployed`: start the stack's state machine and follow it; `local`: run
   * the per-item code in-process against the local S3-compatible server.
   */
  readonly mode: 'deployed' | 'local';
  /** The deployed stack's name. */
  readonly stack: string;
  readonly region?: string;
  /** An S3 Inventory `manifest.json` to read the objects from instead of listing (deployed only). */
  readonly inventory?: { readonly bucket: string; readonly key: string };
  /** Local mode: the endpoint's capacity and the backfill's share of it, as the stack would split them. */
  readonly capacity: number;
  readonly share: number;
  /** Local mode: objects per batch (what one invocation gets). */
  readonly batchSize: number;
  readonly help: boolean;
}

export const BACKFILL_USAGE = [
  'usage: npm run backfill -- [--prefix incoming/2025/] [--only missing|stale|retryable|all] [--dry-run]',
  '',
  'Walks the objects already under the input prefix through the same per-object path as an upload:',
  'an object whose result is current costs one HEAD; a missing, stale or retryable one is computed.',
  '',
  '  --prefix <p>       only objects under this prefix (under the input prefix; default: all of it)',
  '  --only <which>     missing (no result), stale (another ETag or configuration), retryable, or all (default)',
  '  --dry-run          ask no model and write nothing: count the objects, those that would be computed, and their model calls',
  '',
  'Against the deployed stack (default): starts its backfill state machine (the BackfillStateMachineArn',
  'output; deploy with -c backfill=true) with your AWS credentials, and follows it.',
  '  --stack <name>     the stack (default: FIELDLENS_STACK, else Fieldlens)',
  '  --region <r>       its region (default: AWS_REGION / your profile)',
  '  --inventory s3://bucket/key/manifest.json   read the objects from an S3 Inventory report (very large buckets)',
  '',
  'Locally (--local, or with AWS_ENDPOINT_URL_S3 set): the same per-item code in-process, against the',
  "local S3-compatible server (npm start's data in .fieldlens/s3/, or AWS_ENDPOINT_URL_S3), with the same budget.",
  '  --capacity <n>     the endpoint capacity, as modelMaxConcurrency (default 10)',
  '  --share <s>        the backfill share of it, as backfillShare (default 0.5)',
  '  --batch-size <n>   objects per invocation (default 10)',
].join('\n');

/**
 * Parses the command line; `env` decides the defaults (`FIELDLENS_STACK`,
 * `AWS_ENDPOINT_URL_S3` for the local mode).
 *
 * @throws {CommandError} naming the bad argument and what it expected.
 */
export function parseBackfillArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): BackfillArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        prefix: { type: 'string' },
        only: { type: 'string' },
        'dry-run': { type: 'boolean' },
        local: { type: 'boolean' },
        stack: { type: 'string' },
        region: { type: 'string' },
        inventory: { type: 'string' },
        capacity: { type: 'string' },
        share: { type: 'string' },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CommandError(`${(err as Error).message.replace(/\.\s*To specify.*$/s, '')}\n\n${BACKFILL_USAGE}`);
  }
  const only = (values.only as string | undefined) ?? 'all';
  if (!(BACKFILL_SELECTIONS as readonly string[]).includes(only)) {
    throw new CommandError(`--only: expected one of ${BACKFILL_SELECTIONS.join(', ')}, got ${JSON.stringify(only)}`);
  }
  const prefix = values.prefix as string | undefined;
  if (prefix !== undefined && (prefix === '' || /[*?]/.test(prefix))) {
    throw new CommandError(`--prefix: expected a key prefix such as incoming/2025/ (no "*" or "?"), got ${JSON.stringify(prefix)}`);
  }
  const mode = values.local || env.AWS_ENDPOINT_URL_S3 ? 'local' : 'deployed';
  const inventory = values.inventory === undefined ? undefined : parseS3Uri('--inventory', values.inventory as string);
  if (inventory && mode === 'local') throw new CommandError('--inventory: S3 Inventory reports are read by the deployed state machine only; locally the prefix is listed');
  for (const flag of ['capacity', 'share', 'batch-size'] as const) {
    if (values[flag] !== undefined && mode === 'deployed') {
      throw new CommandError(`--${flag}: only for the local run (--local); the deployed stack has its own (see its EndpointBudget output)`);
    }
  }
  return {
    ...(prefix !== undefined ? { prefix } : {}),
    only: only as BackfillSelection,
    dryRun: values['dry-run'] === true,
    mode,
    stack: (values.stack as string | undefined) ?? env.FIELDLENS_STACK ?? 'Fieldlens',
    ...(values.region !== undefined ? { region: values.region as string } : {}),
    ...(inventory ? { inventory } : {}),
    capacity: wholeNumber('--capacity', values.capacity as string | undefined, 10, 1, 1000),
    share: fraction('--share', values.share as string | undefined, 0.5),
    batchSize: wholeNumber('--batch-size', values['batch-size'] as string | undefined, 10, 1, 1000),
    help: values.help === true,
  };
}

function wholeNumber(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new CommandError(`${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function fraction(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(n > 0 && n < 1)) throw new CommandError(`${flag}: expected a number above 0 and below 1, such as 0.5, got ${JSON.stringify(text)}`);
  return n;
}

/** `s3://bucket/key` → its parts. */
export function parseS3Uri(flag: string, uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(uri);
  if (!m) throw new CommandError(`${flag}: expected s3://bucket/path/manifest.json, got ${JSON.stringify(uri)}`);
  return { bucket: m[1]!, key: m[2]! };
}
