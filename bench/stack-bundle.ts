/**
 * Builds the on-upload handler bundle exactly as the stack does: synthesizes
 * the FieldlensStack (cdk.json's context, real esbuild bundling, no Docker)
 * into a directory and prints `{"assetDir", "logicalId"}` of the on-upload
 * function, whose asset is an ESM bundle (`index.mjs`).
 *
 * Run in a child process by bench/cold-start.ts, so the CDK library and the
 * bundler's output stay out of the benchmark's own process and terminal.
 *
 * Usage: `tsx bench/stack-bundle.ts <outdir>`
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { FieldlensStack } from '../infra/fieldlens-stack';

const [outdir, variant] = process.argv.slice(2);
if (!outdir || (variant !== undefined && variant !== 'traced')) {
  process.stderr.write('usage: stack-bundle.ts <outdir> [traced]\n');
  process.exit(2);
}
const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
  context?: Record<string, unknown>;
};
const app = new App({ context: cdkJson.context ?? {}, outdir });
const stack = new FieldlensStack(app, 'FieldlensBench', {
  model: { baseUrl: 'https://models.example.com/v1', name: 'bench' },
  // `traced`: as `-c tracing=true` builds it, with the tracer in the bundle.
  ...(variant === 'traced' ? { tracing: true } : {}),
});
const template = app.synth().getStackArtifact(stack.artifactId).template as {
  Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: unknown } } }>;
};
const found = Object.entries(template.Resources).flatMap(([logicalId, r]) => {
  const key = r.Type === 'AWS::Lambda::Function' ? r.Properties.Code?.S3Key : undefined;
  if (typeof key !== 'string') return [];
  const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
  return existsSync(join(assetDir, 'index.mjs')) ? [{ logicalId, assetDir }] : [];
});
if (found.length === 0) {
  process.stderr.write('the synthesized stack has no function with an ESM bundle (index.mjs)\n');
  process.exit(1);
}
// Direct mode has one ESM function, on-upload; prefer it by name should there be more.
process.stdout.write(`${JSON.stringify(found.find((f) => /OnUpload/i.test(f.logicalId)) ?? found[0])}\n`);
