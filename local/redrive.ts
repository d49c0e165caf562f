/**
 * `npm run redrive`: the dead-letter queue back through the pipeline; see
 * `redrive-command.ts` and docs/deploying.md ("What happens to a failed image").
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { redriveCommand } from './redrive-command';

// The SDK's notice about future Node versions says nothing about the redrive.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await redriveCommand(
  process.argv.slice(2),
  process.env,
  { out: (text) => void process.stdout.write(text), err: (text) => void process.stderr.write(text) },
  (region) => {
    const config = region ? { region } : {};
    return { cfn: new CloudFormationClient(config), sqs: new SQSClient(config), lambda: new LambdaClient(config), sfn: new SFNClient(config) };
  },
);
