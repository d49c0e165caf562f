/**
 * Runs the local S3-compatible server in a process of its own, so its work
 * does not share an event loop with the handlers being measured (on a small
 * machine a shared loop makes every S3 call look slower than S3 is).
 *
 * Started by {@link startBenchS3}; prints `{"endpoint": …}` on one line once
 * listening, and stops when its parent closes stdin.
 */
import { startLocalS3 } from '../local/s3-server';

const [directory, ...buckets] = process.argv.slice(2);
if (!directory || buckets.length === 0) {
  process.stderr.write('usage: s3-process.ts <directory> <bucket>…\n');
  process.exit(2);
}
const s3 = await startLocalS3({ directory, buckets });
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void s3.close().finally(() => process.exit(0));
});
