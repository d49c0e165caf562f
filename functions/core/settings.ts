/**
 * The plain values the core runs with. The function's config
 * (`functions/config.ts`) is parsed once per cold start and the runtime
 * (`functions/runtime.ts`) turns it into these; the core never reads the
 * environment itself.
 */
import type { ContentCacheSettings } from './content-cache';
import type { TokenPrices } from './cost';
import type { FieldSet } from './fields';

/** Where things are and how much is allowed. */
export interface PipelineSettings {
  readonly fields: FieldSet;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  /** Results bucket; the source bucket when unset. */
  readonly outputBucket?: string;
  readonly maxImageBytes: number;
  /**
   * The configuration fingerprint (see `fingerprint.ts`), computed once per
   * cold start: recorded in every document and compared at admission.
   */
  readonly fingerprint: string;
  /** A field's confidence below this flags its document for review (see `review.ts`). @default 0.8 */
  readonly reviewThreshold?: number;
  /** Where the content cache lives (`content-cache.ts`); absent: the cache is off. */
  readonly contentCache?: ContentCacheSettings;
  /** Prices per million tokens; absent: documents carry no cost. */
  readonly prices?: TokenPrices;
}

/** How one field's requests are made. The in-flight cap is the invocation's `Limit`, not a setting here. */
export interface ModelSettings {
  /** One attempt's limit. */
  readonly timeoutMs: number;
  /** Transport retries per field. */
  readonly maxRetries: number;
  /** `max_tokens` of each request. */
  readonly maxTokens: number;
}
