/**
 * Turning a model's text into a validated value for one field.
 *
 * The model is asked for `{"value": <answer>}` (`null` = not on the image).
 * Models do not always comply, so the parser accepts the object bare, inside
 * one code fence, or after leading prose, strips a reasoning model's
 * `<think>…</think>` first, and for string fields also takes a plain-text
 * reply. Anything else is invalid and earns the field one re-ask.
 */
import * as z from 'zod';
import type { FieldSpec, JsonSchema } from './fields';
import type { ChatTurn } from './ports';

/** The instruction every field's request starts with. */
export const SYSTEM_PROMPT =
  'You read one image and answer one question about it. ' +
  'Reply with only a JSON object of the form {"value": <answer>} and nothing else. ' +
  'Use null as the value when the answer is not on the image. Never invent text that is not visible.';

export type ParsedAnswer = { ok: true; value: unknown } | { ok: false; error: string };

/** JSON Schema of a field's value, `null` allowed. */
export function valueJsonSchema(field: FieldSpec): JsonSchema {
  switch (field.type) {
    case 'string':
      return { type: ['string', 'null'] };
    case 'string[]':
      return { type: ['array', 'null'], items: { type: 'string' } };
    case 'object':
      return { anyOf: [field.schema!, { type: 'null' }] };
  }
}

/**
 * JSON Schema of the whole answer object, for `response_format`. Strict
 * structured outputs need every property required and no extra properties.
 */
export function answerJsonSchema(field: FieldSpec): JsonSchema {
  return {
    type: 'object',
    properties: { value: valueJsonSchema(field) },
    required: ['value'],
    additionalProperties: false,
  };
}

const validators = new WeakMap<FieldSpec, z.ZodType>();

/** The zod validator of a field's value (compiled once per field spec). */
function validatorFor(field: FieldSpec): z.ZodType {
  let v = validators.get(field);
  if (!v) {
    v =
      field.type === 'string'
        ? z.string().nullable()
        : field.type === 'string[]'
          ? z.array(z.string()).nullable()
          : z.fromJSONSchema(field.schema as Parameters<typeof z.fromJSONSchema>[0]).nullable();
    validators.set(field, v);
  }
  return v;
}

/**
 * Parses and validates a model's reply for `field`.
 *
 * @example
 * ```ts
 * parseAnswer('```json\n{"value": ["危险", "GHS02"]}\n```', tagField) // { ok: true, value: ['危险', 'GHS02'] }
 * ```
 */
export function parseAnswer(text: string, field: FieldSpec): ParsedAnswer {
  const cleaned = stripThinking(text).trim();
  if (cleaned === '') return { ok: false, error: 'the reply was empty' };

  const candidate = findJsonObject(cleaned);
  if (candidate === undefined) {
    // A string field may be answered in plain text; a reply that tried to be
    // JSON (starts with { or [ or a fence) is not plain text, it is broken JSON.
    if (field.type === 'string' && !/^(```|[{[])/.test(cleaned)) {
      return { ok: true, value: cleaned };
    }
    return { ok: false, error: 'the reply is not a JSON object of the form {"value": …}' };
  }
  // A bare JSON null or string is the value itself, not a broken wrapper.
  if (candidate === null) return { ok: true, value: null };
  if (typeof candidate === 'string' && field.type === 'string') return { ok: true, value: candidate };
  if (typeof candidate !== 'object' || Array.isArray(candidate) || !('value' in candidate)) {
    return { ok: false, error: 'the JSON object has no "value" property' };
  }
  const result = validatorFor(field).safeParse((candidate as { value: unknown }).value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? `value.${issue.path.join('.')}` : 'value';
    return { ok: false, error: `${where}: ${issue.message} (expected ${describeType(field)})` };
  }
  return { ok: true, value: result.data };
}

/**
 * The turns of the one re-ask: the model sees its own invalid reply and what
 * was wrong with it (the instructor approach).
 */
export function reaskTurns(previousReply: string, error: string, field: FieldSpec): ChatTurn[] {
  return [
    { role: 'assistant', content: previousReply },
    {
      role: 'user',
      content:
        `That reply was not valid: ${error}. ` +
        `Answer the same question again with only a JSON object {"value": …} where value is ${describeType(field)}.`,
    },
  ];
}

function describeType(field: FieldSpec): string {
  switch (field.type) {
    case 'string':
      return 'a string or null';
    case 'string[]':
      return 'an array of strings or null';
    case 'object':
      return `an object matching ${JSON.stringify(field.schema)} or null`;
  }
}

function stripThinking(text: string): string {
  return text.replace(/<think>[\s\S]*?<\/think>/gi, '').replace(/^[\s\S]*?<\/think>/i, '');
}

/**
 * The JSON object in `text`: the whole text, else the body of one code
 * fence, else the first `{…}` span that parses, scanning past leading prose.
 */
function findJsonObject(text: string): unknown {
  const whole = tryParse(text);
  if (whole !== undefined) return whole;
  const fence = /```[a-zA-Z]*\s*\n?([\s\S]*?)```/.exec(text);
  if (fence) {
    const inner = tryParse(fence[1]!.trim());
    if (inner !== undefined) return inner;
  }
  const end = text.lastIndexOf('}');
  for (let start = text.indexOf('{'); start !== -1 && start < end; start = text.indexOf('{', start + 1)) {
    const found = tryParse(text.slice(start, end + 1));
    if (found !== undefined) return found;
  }
  return undefined;
}

function tryParse(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}
