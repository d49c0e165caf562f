/**
 * The S3 client the benchmark's handlers use against the local S3-compatible
 * server. Kept apart from the server itself so a child process that only
 * runs the handler does not load the server's code.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../functions/adapters/s3-store';

/** The S3 client settings for the local server (it accepts these fixed credentials). */
export function localS3ClientEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };
}

/** An S3 client for `endpoint`, configured from {@link localS3ClientEnv} without touching `process.env`. */
export function localS3Client(endpoint: string): S3Client {
  const env = localS3ClientEnv(endpoint);
  return createS3Client(env, {
    endpoint,
    region: env.AWS_REGION!,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
}
