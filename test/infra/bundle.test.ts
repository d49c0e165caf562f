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
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Synthesizes with real esbuild bundling and returns the handler's asset directory. */
function synthWithBundling(): string {
  const app = testApp({ bundle: true, outdir });
  const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL });
  const template = app.synth().getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, { Type: string; Properties: { Runtime?: string; Code?: { S3Key?: string } } }>;
  };
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'nodejs22.x',
  );
  const hash = fn?.Properties.Code?.S3Key?.replace(/\.zip$/, '');
  expect(hash, 'the function code is a file asset').toBeTruthy();
  return join(outdir, `asset.${hash}`);
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

    // Assess: it imports in a clean Node process. The Lambda runtime provides
    // the AWS SDK, which the bundle leaves out; a link to the project's copy
    // stands in for it, and nothing else is resolvable from here.
    const probe = await probeBundle(assetDir, bundle);
    expect(probe.stderr).toBe('');
    expect(probe.status).toBe(0);
  });
});
