/**
 * Field sets: what fieldlens asks the model about an image, one focused
 * question per field.
 *
 * A field set is JSON (the `FIELDS` variable, or `fieldsFile` in the stack);
 * {@link parseFieldSet} validates it once at start-up and fails with a
 * message that names the field and the problem.
 */
import * as z from 'zod';
import { CHECKS, CHECK_NAMES, DEFAULT_LABEL_CHECKS, isCheckName, type CheckName } from './checks/registry';
import { FieldSetError } from './errors';

/** The shape a field's answer must take. */
export const FieldType = z.enum(['string', 'string[]', 'object']);
export type FieldType = z.infer<typeof FieldType>;

/** A JSON Schema, kept as plain data (it is sent to the model and compiled by zod). */
export type JsonSchema = Record<string, unknown>;

/** Names that cannot be keys of a plain object without touching its prototype. */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

const fieldSpecSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9 or _')
      // Field names become keys of plain objects (the document's `fields`);
      // these would reach the prototype instead of holding a value.
      .refine((n) => !RESERVED_NAMES.has(n), 'is reserved (__proto__, constructor and prototype reach the prototype of an object)'),
    prompt: z.string().trim().min(1, 'must be a non-empty string'),
    type: FieldType,
    schema: z.record(z.string(), z.unknown()).optional(),
    required: z.boolean().optional(),
    checks: z.array(z.string()).optional(),
  })
  .strict();

/**
 * One field: its result key, the question, the answer's type, and for
 * `object` fields the JSON Schema of the object.
 */
export interface FieldSpec {
  readonly name: string;
  readonly prompt: string;
  readonly type: FieldType;
  /** JSON Schema of the value, for `object` fields. */
  readonly schema?: JsonSchema;
  /** A required field whose answer is `null` counts as failed. @default false */
  readonly required?: boolean;
  /**
   * The checks run over the field's answer (see `checks/registry.ts`). They
   * never change a value or fail a field, so they are not part of what the
   * model is asked (nor of the configuration fingerprint). @default none
   */
  readonly checks?: readonly CheckName[];
}

/** A validated, frozen field set. */
export type FieldSet = readonly FieldSpec[];

/**
 * Validates a field set and returns it frozen.
 *
 * @throws {FieldSetError} naming the field (by name or index) and the problem.
 * @example
 * ```ts
 * const fields = parseFieldSet(JSON.parse(process.env.FIELDS));
 * ```
 */
export function parseFieldSet(input: unknown): FieldSet {
  if (!Array.isArray(input)) {
    throw new FieldSetError(`field set must be a JSON array of fields, got ${describe(input)}`);
  }
  if (input.length === 0) throw new FieldSetError('field set must have at least one field');
  const seen = new Set<string>();
  const out: FieldSpec[] = [];
  input.forEach((raw, index) => {
    // An empty name identifies nothing; name such a field by its index.
    const rawName: unknown = raw && typeof raw === 'object' ? (raw as { name?: unknown }).name : undefined;
    const label = typeof rawName === 'string' && rawName !== '' ? `field "${rawName}"` : `field #${index}`;
    const parsed = fieldSpecSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? issue.path.join('.') : 'value';
      throw new FieldSetError(`${label}: ${where} ${issue.message}`);
    }
    const spec = parsed.data;
    if (seen.has(spec.name)) throw new FieldSetError(`${label}: name is used by more than one field`);
    seen.add(spec.name);
    if (spec.type === 'object') {
      if (!spec.schema) throw new FieldSetError(`${label}: type "object" needs a JSON Schema in "schema"`);
      checkObjectSchema(label, spec.schema);
    } else if (spec.schema) {
      throw new FieldSetError(`${label}: "schema" is only for type "object"`);
    }
    const { checks: names, ...rest } = spec;
    out.push(Object.freeze({ ...rest, ...(names === undefined ? {} : { checks: checkNames(label, names) }) }));
  });
  checkInputs(out);
  return Object.freeze(out);
}

/** A field's check names, each one the registry knows. */
function checkNames(label: string, names: readonly string[]): readonly CheckName[] {
  names.forEach((name, i) => {
    if (!isCheckName(name)) {
      throw new FieldSetError(`${label}: checks.${i} "${name}" is not a check (known: ${CHECK_NAMES.join(', ')})`);
    }
  });
  return Object.freeze([...new Set(names as readonly CheckName[])]);
}

/**
 * A check that reads another field (the pictograms read the hazard
 * statements) needs a field that carries that field's check; without one it
 * could never judge anything, so the set is refused at start-up.
 */
function checkInputs(fields: readonly FieldSpec[]): void {
  const carried = new Set(fields.flatMap((f) => f.checks ?? []));
  for (const f of fields) {
    for (const name of f.checks ?? []) {
      const lacking = CHECKS[name].alsoReads.filter((n) => !carried.has(n));
      if (lacking.length > 0) {
        throw new FieldSetError(
          `field "${f.name}": check "${name}" reads the field that carries ${lacking.map((n) => `"${n}"`).join(', ')}, and no field does`,
        );
      }
    }
  }
}

/** Object schemas must describe an object and compile; a typo must not reach the model. */
function checkObjectSchema(label: string, schema: JsonSchema): void {
  if (schema.type !== 'object') {
    throw new FieldSetError(`${label}: schema.type must be "object", got ${describe(schema.type)}`);
  }
  const props = schema.properties;
  if (props !== undefined && (typeof props !== 'object' || props === null || Array.isArray(props))) {
    throw new FieldSetError(`${label}: schema.properties must be an object`);
  }
  try {
    z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    throw new FieldSetError(`${label}: schema is not a valid JSON Schema: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `"${v}"` : typeof v;
}

const LANGUAGE_RULE =
  'Answer in the language printed on the label; copy the text exactly as written, do not translate. ' +
  'If it is not on the label, the value is null.';

/**
 * The built-in field set: chemical safety labels (Chinese GB 15258 and
 * English GHS).
 */
export const DEFAULT_LABEL_FIELDS: FieldSet = parseFieldSet([
  {
    name: 'name',
    type: 'string',
    checks: DEFAULT_LABEL_CHECKS.name,
    prompt: `What is the product name on this chemical safety label (the chemical or product name, usually the largest text at the top)? ${LANGUAGE_RULE}`,
  },
  {
    name: 'tag',
    checks: DEFAULT_LABEL_CHECKS.tag,
    type: 'string[]',
    prompt:
      'List the signal word on this chemical safety label (for example 危险, 警告, DANGER or WARNING) and the codes of the GHS hazard pictograms shown (GHS01 to GHS09), signal word first. ' +
      LANGUAGE_RULE,
  },
  {
    name: 'risk_notice',
    checks: DEFAULT_LABEL_CHECKS.risk_notice,
    type: 'string[]',
    prompt: `List the hazard statements on this chemical safety label (危险性说明 / Hazard statements), one statement per item, with their H-codes if printed. ${LANGUAGE_RULE}`,
  },
  {
    name: 'pre_notice',
    checks: DEFAULT_LABEL_CHECKS.pre_notice,
    type: 'string[]',
    prompt: `List the precautionary statements on this chemical safety label (防范说明 / Precautionary statements: prevention, response, storage, disposal), one statement per item, with their P-codes if printed. ${LANGUAGE_RULE}`,
  },
  {
    name: 'suppliers',
    checks: DEFAULT_LABEL_CHECKS.suppliers,
    type: 'object',
    prompt: `Who is the supplier or manufacturer on this chemical safety label (供应商 / Supplier)? Give its name, address, phone and emergency phone (应急咨询电话 / Emergency). ${LANGUAGE_RULE} Use null for any part that is not printed.`,
    schema: {
      type: 'object',
      properties: {
        name: { type: ['string', 'null'] },
        address: { type: ['string', 'null'] },
        phone: { type: ['string', 'null'] },
        emergency_phone: { type: ['string', 'null'] },
      },
      required: ['name', 'address', 'phone', 'emergency_phone'],
      additionalProperties: false,
    },
  },
]);
