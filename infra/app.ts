/**
 * The CDK app `cdk.json` runs: context → props → one FieldlensStack.
 *
 * A bad context value or prop stops synth with one readable message (and
 * exit code 1) instead of a stack trace.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { parseContext, stackPropsFromContext } from './context';
import { ContextError, FieldlensPropsError } from './errors';
import { FieldlensStack } from './fieldlens-stack';

const app = new App();
try {
  const ctx = parseContext(app.node.getAllContext() as Record<string, unknown>);
  new FieldlensStack(app, 'Fieldlens', stackPropsFromContext(ctx, (path) => readFileSync(path, 'utf8')));
} catch (err) {
  if (err instanceof ContextError || err instanceof FieldlensPropsError) {
    process.stderr.write(`fieldlens: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
app.synth();
