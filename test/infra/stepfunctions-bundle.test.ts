import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER } from '../../infra/constructs/lambda-defaults';
import { SFN_ENTRIES, type StepFunctionsPipeline } from '../../infra/constructs/stepfunctions-pipeline';
import { FieldlensStack } from '../../infra/fieldlens-stack';
import { functionLogicalId } from '../support/local-state-machine';
import { MODEL, testApp } from './support';

const MiB = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-sfn-bundle-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the Step Functions handler bundles (real esbuild, no Docker)', () => {
  it('bundles each of the five handlers into one ESM file that Node loads, the starter without the model client', async () => {
    // Prepare
    for (const file of Object.values(SFN_ENTRIES)) expect(existsSync(file), `${file} must exist`).toBe(true);
    const app = testApp({ bundle: true, outdir });
    const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL, fanout: 'stepfunctions' });
    const pipeline = stack.pipeline as StepFunctionsPipeline;

    // Act
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<string, { Properties: { Code?: { S3Key?: string } } }>;
    };

    // Assess
    const sizes: Record<string, number> = {};
    const probes = Object.entries(pipeline.functions).map(async ([name, f]) => {
      const key = template.Resources[functionLogicalId(f.function)]!.Properties.Code!.S3Key!;
      const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      const bundle = join(assetDir, 'index.mjs');
      expect(readFileSync(bundle, 'utf8').startsWith(ESM_REQUIRE_BANNER), name).toBe(true);
      sizes[name] = statSync(bundle).size;
      // The Lambda runtime provides the AWS SDK; a link to the project's copy stands in for it.
      mkdirSync(join(assetDir, 'node_modules'), { recursive: true });
      symlinkSync(fileURLToPath(new URL('../../node_modules/@aws-sdk', import.meta.url)), join(assetDir, 'node_modules', '@aws-sdk'));
      const probe = await promisify(execFile)(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          'const m = await import(process.argv[1]); if (typeof m.handler !== "function") { console.error("no handler export"); process.exit(2); }',
          new URL(`file://${bundle}`).href,
        ],
        { cwd: assetDir, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 },
      );
      expect(probe.stderr, name).toBe('');
    });
    await Promise.all(probes);
    for (const [name, size] of Object.entries(sizes)) expect(size, name).toBeLessThan(MiB);
    expect(sizes.start).toBeLessThan(256 * 1024);
  });
});
