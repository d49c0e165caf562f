/**
 * Builds the stack the way `cdk synth` does (same feature flags as
 * cdk.json), with bundling skipped so Template tests stay fast.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FieldlensStack, type FieldlensStackProps } from '../../infra/fieldlens-stack';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/** The feature flags `cdk synth` runs with. */
export const CDK_JSON_CONTEXT: Readonly<Record<string, unknown>> = cdkJson.context;

/** An app with cdk.json's context; `bundle: false` skips esbuild (the asset is a placeholder). */
export function testApp(options: { readonly bundle?: boolean; readonly outdir?: string } = {}): App {
  return new App({
    context: { ...CDK_JSON_CONTEXT, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
}

/** An https endpoint on a public name: no VPC needed, no plain-http warning. */
export const MODEL = Object.freeze({ baseUrl: 'https://models.example.com/v1', name: 'qwen' });

/** A stack with the given props over a minimal valid model (or the Bedrock model given), not synthesized yet. */
/** The cdk-nag AwsSolutions findings left unacknowledged in a stack with these props, as `rule at construct path`. */
export function nagFindings(props: Partial<FieldlensStackProps> = {}): string[] {
  const { app } = newStack(props);
  app.synth();
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${(r as { constructPath?: string }).constructPath ?? '?'}`),
  );
}

export function newStack(props: Partial<FieldlensStackProps> = {}): { app: App; stack: FieldlensStack } {
  const app = testApp();
  // A Bedrock model takes no URL or name: it is given whole.
  const model = props.model?.provider === 'bedrock' ? props.model : { ...MODEL, ...props.model };
  const stack = new FieldlensStack(app, 'Fieldlens', { ...props, model });
  return { app, stack };
}

/** A stack with the given props over a minimal valid model, and its template. */
export function buildStack(props: Partial<FieldlensStackProps> = {}): {
  app: App;
  stack: FieldlensStack;
  template: Template;
} {
  const { app, stack } = newStack(props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** One IAM statement, flattened to one action and one resource per entry. */
export interface Permission {
  readonly policy: string;
  readonly action: string;
  readonly resource: string;
  /** The statement's `Condition`, when it has one. */
  readonly condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Permission['condition'] };

/**
 * Every Allow permission in the template's IAM policies (AWS::IAM::Policy
 * and inline role policies), with resources rendered as readable strings:
 * `{"Fn::GetAtt": ["Bucket", "Arn"]}` → `<Bucket.Arn>`.
 */
export function allowedPermissions(template: Template): Permission[] {
  const out: Permission[] = [];
  const add = (policy: string, statements: Statement[]) => {
    for (const s of statements) {
      if (s.Effect !== 'Allow') continue;
      const actions = ([] as string[]).concat(s.Action);
      const resources = ([] as unknown[]).concat(s.Resource);
      for (const action of actions) {
        for (const r of resources) out.push({ policy, action, resource: render(r), ...(s.Condition ? { condition: s.Condition } : {}) });
      }
    }
  };
  for (const [id, res] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    add(id, (res.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  }
  for (const [id, res] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const p of (res.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
      add(id, p.PolicyDocument.Statement);
    }
  }
  return out;
}

/** A CloudFormation value as a readable string: Ref → `<Id>`, GetAtt → `<Id.Attr>`, Join joined. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v.Ref !== undefined) return `<${String(v.Ref)}>`;
  if (Array.isArray(v['Fn::GetAtt'])) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  return JSON.stringify(value);
}

/** The logical id of the only resource of a type whose id contains `hint`. */
export function logicalId(template: Template, type: string, hint: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.includes(hint));
  if (ids.length !== 1) throw new Error(`expected one ${type} with "${hint}" in its id, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/**
 * Imports a handler bundle in a clean Node process, as Lambda would, and
 * resolves to its stderr and exit status. The Lambda runtime provides the
 * AWS SDK, which bundles leave out; a link to the project's copy stands in
 * for it, and nothing else is resolvable from the asset directory.
 */
export async function probeBundle(
  assetDir: string,
  bundle: string,
  options: { readonly invoke?: boolean; readonly env?: Readonly<Record<string, string>> } = {},
): Promise<{ status: number; stderr: string }> {
  mkdirSync(join(assetDir, 'node_modules'), { recursive: true });
  symlinkSync(fileURLToPath(new URL('../../node_modules/@aws-sdk', import.meta.url)), join(assetDir, 'node_modules', '@aws-sdk'));
  // With `invoke`, the handler also runs once on an event without records.
  const script =
    'const m = await import(process.argv[1]); if (typeof m.handler !== "function") { console.error("no handler export"); process.exit(2); }' +
    (options.invoke ? ' await m.handler({ Records: [] }, { awsRequestId: "probe", getRemainingTimeInMillis: () => 60000 });' : '');
  try {
    const out = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(bundle).href], {
      cwd: assetDir,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: 0, stderr: out.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string; message: string };
    return { status: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr || e.message };
  }
}
