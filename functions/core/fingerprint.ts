/**
 * The configuration fingerprint: a sha-256 over everything that decides a
 * document's answers. A stored result is current only when its source ETag
 * and its fingerprint both match; change the field set, a prompt, a schema,
 * the model or the response format, and every image is computed again the
 * next time its event arrives.
 */
import { createHash } from 'node:crypto';
import { SYSTEM_PROMPT } from './answer';
import { RESULT_VERSION } from './document';
import type { FieldSet } from './fields';

/** What the fingerprint covers, besides the document version and the system prompt. */
export interface FingerprintInput {
  readonly fields: FieldSet;
  readonly modelName: string;
  /** How the answer is requested (`json_schema`, `json_object`, `none`). */
  readonly responseFormat: string;
}

/**
 * The fingerprint of a configuration, as 64 hex digits. Key order inside
 * schemas does not change it; field order does (it is the document's order).
 *
 * @example
 * ```ts
 * configFingerprint({ fields: DEFAULT_LABEL_FIELDS, modelName: 'qwen2.5-vl-7b', responseFormat: 'json_schema' })
 * ```
 */
export function configFingerprint(input: FingerprintInput): string {
  const basis = {
    version: RESULT_VERSION,
    system: SYSTEM_PROMPT,
    model: input.modelName,
    responseFormat: input.responseFormat,
    fields: input.fields.map((f) => ({
      name: f.name,
      type: f.type,
      prompt: f.prompt,
      schema: f.schema ?? null,
      required: f.required ?? false,
    })),
  };
  return createHash('sha256').update(canonicalJson(basis), 'utf8').digest('hex');
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}
