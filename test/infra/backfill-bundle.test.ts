import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKFILL_ENTRY } from '../../infra/constructs/backfill';
import { FieldlensStack } from '../../infra/fieldlens-stack';
import { MODEL, probeBundle, testApp } from './support';

const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-backfill-bundle-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the backfill item function bundle (real esbuild, no Docker)', () => {
  it('bundles functions/backfill-items.ts into one ESM file under 1 MiB that Node loads', async () => {
    // Prepare
    expect(existsSync(BACKFILL_ENTRY), `${BACKFILL_ENTRY} must exist`).toBe(true);
    const app = testApp({ bundle: true, outdir });
    const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL, backfill: {} });

    // Act
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
    };

    // Assess
    const [, fn] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('BackfillItems'))!;
    const assetDir = join(outdir, `asset.${fn.Properties.Code!.S3Key!.replace(/\.zip$/, '')}`);
    const bundle = join(assetDir, 'index.mjs');
    expect(statSync(bundle).size).toBeLessThan(1024 * 1024);
    const probe = await probeBundle(assetDir, bundle);
    expect(probe.stderr).toBe('');
    expect(probe.status).toBe(0);
  });
});
