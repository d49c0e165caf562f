import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { defineFieldlensStack } from '../../infra/app-stack';
import { FieldlensPropsError } from '../../infra/errors';
import { CDK_JSON_CONTEXT } from './support';

const root = new URL('../..', import.meta.url).pathname;
const outdirs: string[] = [];
afterAll(() => outdirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs infra/app.ts as the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
function runApp(context: Record<string, unknown>): { status: number | null; stderr: string; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-app-'));
  outdirs.push(outdir);
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context }),
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stderr: result.stderr, outdir };
}

/**
 * The app's stack synthesized in this process, as `app.ts` defines it for
 * the CLI (one process per case would load CDK each time): the template
 * files in `outdir`, and the warnings and errors the CLI would print.
 */
function synthInProcess(context: Record<string, unknown>): { outdir: string; problems: string[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'fieldlens-app-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
  defineFieldlensStack(app);
  const assembly = app.synth();
  const problems = assembly.stacks
    .flatMap((s) => s.messages)
    .filter((m) => m.level === 'warning' || m.level === 'error')
    .map((m) => `${m.level}: ${String(m.entry.data)}`);
  return { outdir, problems };
}

describe('infra/app.ts', () => {
  it('synthesizes the stack from the two required context values, without credentials', () => {
    // Act
    const { status, stderr, outdir } = runApp({ modelBaseUrl: 'https://models.example.com/v1', modelName: 'qwen' });

    // Assess
    expect(stderr).not.toMatch(/error/i);
    expect(status).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'Fieldlens.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    expect(Object.values(template.Resources).some((r) => r.Type === 'AWS::Lambda::Function')).toBe(true);
  });

  it('synthesizes the Step Functions fan-out with fanout=stepfunctions under its own stack name', () => {
    // Act
    const { outdir, problems } = synthInProcess({
      modelBaseUrl: 'https://models.example.com/v1',
      modelName: 'qwen',
      fanout: 'stepfunctions',
      stackName: 'FieldlensSfn',
      inputPrefix: 'incoming-sfn/',
    });

    // Assess
    expect(problems.filter((p) => p.startsWith('error'))).toEqual([]);
    const template = JSON.parse(readFileSync(join(outdir, 'Fieldlens.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')).toHaveLength(1);
  });

  it('places the function in the VPC given as -c strings, offline (no lookup left for the CLI)', () => {
    // Act
    const { outdir, problems } = synthInProcess({
      modelBaseUrl: 'http://10.0.0.5:8000/v1',
      modelName: 'qwen',
      vpcId: 'vpc-0a1b2c3d4e5f67890',
      subnetIds: 'subnet-0a1b2c3d,subnet-4e5f6a7b',
    });

    // Assess
    expect(problems).toEqual([]);
    const template = JSON.parse(readFileSync(join(outdir, 'Fieldlens.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { VpcConfig?: { SubnetIds: string[] } } }>;
    };
    const placed = Object.values(template.Resources).filter((r) => r.Properties.VpcConfig !== undefined);
    expect(placed.map((r) => r.Properties.VpcConfig!.SubnetIds)).toEqual([['subnet-0a1b2c3d', 'subnet-4e5f6a7b']]);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as { missing?: unknown[] };
    expect(manifest.missing ?? []).toEqual([]);
  });

  it('synthesizes Amazon Bedrock from -c modelProvider=bedrock and -c modelId, with no secret and the budget from the quota', () => {
    // Act
    const { outdir, problems } = synthInProcess({
      modelProvider: 'bedrock',
      modelId: 'eu.amazon.nova-lite-v1:0',
      bedrockRequestsPerMinute: '50',
      bedrockTokensPerMinute: '200000',
      bedrockTokensPerRequest: '1600',
    });

    // Assess
    expect(problems).toEqual([]);
    const template = JSON.parse(readFileSync(join(outdir, 'Fieldlens.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, any> }>;
      Outputs: Record<string, { Value: unknown }>;
    };
    const resources = Object.values(template.Resources);
    expect(resources.filter((r) => r.Type === 'AWS::SecretsManager::Secret')).toEqual([]);
    expect(JSON.stringify(resources.filter((r) => r.Type === 'AWS::IAM::Policy'))).toContain('bedrock:InvokeModel');
    expect(template.Outputs.ModelApiKeySecretArn).toBeUndefined();
    expect(template.Outputs.EndpointBudget?.Value).toMatch(/^2 requests per image x 1 images at once = 2 in flight at most \(capacity 2 from the Bedrock quota/);
  });

  it('stops with one readable message naming the missing key, not a stack trace', () => {
    // Act
    const { status, stderr, outdir } = runApp({ modelName: 'qwen', modelMaxConcurrency: 'ten' });

    // Assess
    expect(status).toBe(1);
    expect(stderr).toContain('fieldlens: invalid CDK context');
    expect(stderr).toContain('context key "modelBaseUrl"');
    expect(stderr).toContain('context key "modelMaxConcurrency": expected a whole number from 1 to 1000 (got "ten")');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(outdir, 'Fieldlens.template.json'))).toBe(false);
  });

  it('stops with a readable message when the props cannot work (queue trigger, one-request endpoint)', () => {
    const act = () => synthInProcess({ modelBaseUrl: 'https://models.example.com/v1', modelName: 'qwen', trigger: 'queue', modelMaxConcurrency: '1' });

    // The CLI entry prints this message as `fieldlens: …` and exits 1, as the missing-key case shows.
    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(/^model\.maxConcurrency \(modelMaxConcurrency\): the queue trigger needs a capacity of at least 2, got 1/);
  });
});
