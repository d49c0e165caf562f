/**
 * `npm run backfill -- [--prefix incoming/2025/] [--only missing|stale|retryable|all] [--dry-run]`:
 * see `backfill-command.ts` and docs/backfill.md.
 */
import { backfillCommand } from './backfill-command';

// The SDK's notice about future Node versions says nothing about the backfill.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await backfillCommand(process.argv.slice(2), process.env, {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  tty: process.stderr.isTTY === true,
});
