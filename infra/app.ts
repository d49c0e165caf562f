/**
 * The CDK app `cdk.json` runs: context → props → one FieldlensStack
 * (`app-stack.ts`).
 *
 * A bad context value or prop stops synth with one readable message (and
 * exit code 1) instead of a stack trace.
 */
import { App } from 'aws-cdk-lib';
import { defineFieldlensStack } from './app-stack';
import { ContextError, FieldlensPropsError } from './errors';

const app = new App();
try {
  defineFieldlensStack(app);
} catch (err) {
  if (err instanceof ContextError || err instanceof FieldlensPropsError) {
    process.stderr.write(`fieldlens: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
app.synth();
