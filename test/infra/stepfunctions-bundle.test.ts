import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ESM_REQUIRE_BANNER } from '../../infra/constructs/lambda-defaults';
import { SFN_ENTRIES } from '../../infra/constructs/stepfunctions-functions';
import type { StepFunctionsPipeline } from '../../infra/constructs/stepfunctions-pipeline';
import { FieldlensStack } from '../../infra/fieldlens-stack';
import { functionLogicalId } from '../support/local-state-machine';
import { MODEL, probeBundle, testApp } from './support';

const MiB = 1024 * 1024;
const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-sfn-bundle-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the Step Functions handler bundles (real esbuild, no Docker)', () => {
  it('bundles each of the five handlers into one ESM file that Node loads, only ExtractField with the model client', async () => {
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
    const bundles: Record<string, string> = {};
    const probes = Object.entries(pipeline.functions).map(async ([name, f]) => {
      const key = template.Resources[functionLogicalId(f.function)]!.Properties.Code!.S3Key!;
      const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      const bundle = join(assetDir, 'index.mjs');
      bundles[name] = readFileSync(bundle, 'utf8');
      expect(bundles[name]!.startsWith(ESM_REQUIRE_BANNER), name).toBe(true);
      sizes[name] = statSync(bundle).size;
      const probe = await probeBundle(assetDir, bundle);
      expect(probe.stderr, name).toBe('');
      expect(probe.status, name).toBe(0);
    });
    await Promise.all(probes);
    for (const [name, size] of Object.entries(sizes)) expect(size, name).toBeLessThan(MiB);
    // The starter stays small: no model client. Powertools' Logger and Metrics, in every function, take it from about 255 to about 297 KiB.
    expect(sizes.start).toBeLessThan(320 * 1024);
    // Only ExtractField asks the model, so only it carries the HTTP client (undici, whose error codes are in every copy).
    for (const name of ['start', 'prepare', 'merge', 'recordFailure']) expect(bundles[name], name).not.toContain('UND_ERR_SOCKET');
    expect(bundles.extractField).toContain('UND_ERR_SOCKET');
  });
});
