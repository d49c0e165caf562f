import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER } from '../../infra/constructs/lambda-defaults';
import { ON_UPLOAD_ENTRY } from '../../infra/constructs/on-upload-function';
import { FieldlensStack } from '../../infra/fieldlens-stack';
import { MODEL, probeBundle, testApp } from './support';

const MiB = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-bundle-'));
afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
  rmSync(`${outdir}-traced`, { recursive: true, force: true });
});

/** Synthesizes with real esbuild bundling and returns the handler's asset directory. */
function synthWithBundling(props: { readonly tracing?: boolean } = {}): string {
  const dir = props.tracing ? `${outdir}-traced` : outdir;
  const app = testApp({ bundle: true, outdir: dir });
  const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL, ...props });
  const template = app.synth().getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, { Type: string; Properties: { Runtime?: string; Code?: { S3Key?: string } } }>;
  };
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'nodejs22.x',
  );
  const hash = fn?.Properties.Code?.S3Key?.replace(/\.zip$/, '');
  expect(hash, 'the function code is a file asset').toBeTruthy();
  return join(dir, `asset.${hash}`);
}

describe('the handler bundle (real esbuild, no Docker)', () => {
  it('bundles functions/on-upload.ts into one ESM file under 1 MiB that Node loads', async () => {
    // Prepare
    expect(existsSync(ON_UPLOAD_ENTRY), `${ON_UPLOAD_ENTRY} must exist`).toBe(true);

    // Act
    const assetDir = synthWithBundling();

    // Assess: one minified ESM file with its source map and the require banner.
    const bundle = join(assetDir, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    expect(existsSync(`${bundle}.map`)).toBe(true);
    expect(statSync(bundle).size).toBeLessThan(MiB);
    expect(readFileSync(bundle, 'utf8').startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    // Without tracing, the tracer and the X-Ray SDK are left out of the bundle.
    expect(readFileSync(bundle, 'utf8')).not.toContain('captureAWSv3Client');
    expect(readFileSync(bundle, 'utf8')).not.toContain('AWS_XRAY_DAEMON_ADDRESS');
    // Only the S3 SDK loads with the bundle. The Bedrock, Secrets Manager and
    // DynamoDB (the fleet gate's) SDKs load when used (dynamic imports); the
    // Step Functions one, which only the starter uses, is not in it at all.
    // (Tested as booleans: a failed match would print the whole bundle.)
    const code = readFileSync(bundle, 'utf8');
    const staticImport = (sdk: string) => new RegExp(`from\\s*"${sdk}"`).test(code);
    const dynamicImport = (sdk: string) => code.includes(`import("${sdk}")`);
    expect(staticImport('@aws-sdk/client-s3'), 'S3 SDK imported statically').toBe(true);
    for (const sdk of ['@aws-sdk/client-bedrock-runtime', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-dynamodb', '@aws-sdk/client-sfn']) {
      expect(staticImport(sdk), `${sdk} imported statically`).toBe(false);
    }
    expect(dynamicImport('@aws-sdk/client-bedrock-runtime'), 'Bedrock SDK imported when used').toBe(true);
    expect(dynamicImport('@aws-sdk/client-secrets-manager'), 'Secrets Manager SDK imported when used').toBe(true);
    expect(dynamicImport('@aws-sdk/client-dynamodb'), 'DynamoDB SDK imported when used').toBe(true);

    // Assess: it imports in a clean Node process. The Lambda runtime provides
    // the AWS SDK, which the bundle leaves out; a link to the project's copy
    // stands in for it, and nothing else is resolvable from here.
    const probe = await probeBundle(assetDir, bundle);
    expect(probe.stderr).toBe('');
    expect(probe.status).toBe(0);
  });

  it('with tracing, bundles the tracer too, under 1 MiB, and the handler loads it and runs with tracing on', async () => {
    // Act
    const assetDir = synthWithBundling({ tracing: true });

    // Assess: the tracer is in; the bundle stays under the limit.
    const bundle = join(assetDir, 'index.mjs');
    const code = readFileSync(bundle, 'utf8');
    expect(code).toContain('captureAWSv3Client');
    expect(statSync(bundle).size).toBeLessThan(MiB);

    // Assess: an invocation with POWERTOOLS_TRACE_ENABLED=true builds the
    // runtime, which loads the tracer from the bundle (no records: no network).
    const probe = await probeBundle(assetDir, bundle, {
      invoke: true,
      env: { MODEL_BASE_URL: 'http://127.0.0.1:9/v1', MODEL_NAME: 'm', AWS_REGION: 'us-east-1', POWERTOOLS_TRACE_ENABLED: 'true', POWERTOOLS_METRICS_DISABLED: 'true' },
    });
    expect(probe.stderr).not.toMatch(/Error:|without the tracer/);
    expect(probe.status).toBe(0);
  });
});
