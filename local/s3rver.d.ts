// Types for the parts of s3rver 3.7 that fieldlens uses (it ships none).
declare module 's3rver' {
  import type { EventEmitter } from 'node:events';
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: Array<{ name: string; configs?: Array<string | Buffer> }>;
  }

  /** The S3 event s3rver emits; its keys are raw, not URL-encoded as real S3 sends them. */
  interface S3rverEvent {
    Records: Array<{
      eventName: string;
      s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer?: string } };
    }>;
  }

  class S3rver extends EventEmitter {
    constructor(options?: S3rverOptions);
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    on(event: 'event', listener: (event: S3rverEvent) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
  export default S3rver;
}
