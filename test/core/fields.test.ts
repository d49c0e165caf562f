import { describe, expect, it } from 'vitest';
import { ErrorCode, FieldSetError } from '../../functions/core/errors';
import { DEFAULT_LABEL_FIELDS, parseFieldSet } from '../../functions/core/fields';

const OBJECT_SCHEMA = { type: 'object', properties: { a: { type: 'string' } } };

/** The FieldSetError `input` causes. */
function fieldSetError(input: unknown): FieldSetError {
  try {
    parseFieldSet(input);
  } catch (err) {
    if (err instanceof FieldSetError) return err;
    throw err;
  }
  throw new Error('parseFieldSet accepted the input');
}

describe('DEFAULT_LABEL_FIELDS', () => {
  it('has the label fields with their types, in order', () => {
    // Act
    const shape = DEFAULT_LABEL_FIELDS.map((f) => [f.name, f.type]);

    // Assess
    expect(shape).toEqual([
      ['name', 'string'],
      ['tag', 'string[]'],
      ['risk_notice', 'string[]'],
      ['pre_notice', 'string[]'],
      ['suppliers', 'object'],
    ]);
  });

  it('is itself a valid field set', () => {
    expect(() => parseFieldSet(JSON.parse(JSON.stringify(DEFAULT_LABEL_FIELDS)))).not.toThrow();
  });

  it('describes the supplier’s name, address, phone and emergency phone', () => {
    const suppliers = DEFAULT_LABEL_FIELDS.find((f) => f.name === 'suppliers')!;

    expect(suppliers.schema).toMatchObject({
      type: 'object',
      required: ['name', 'address', 'phone', 'emergency_phone'],
      additionalProperties: false,
    });
  });

  it('tells the model to keep the label’s language and to return null for what is missing', () => {
    for (const field of DEFAULT_LABEL_FIELDS) {
      expect(field.prompt).toContain('do not translate');
      expect(field.prompt).toContain('null');
    }
  });

  it('is frozen, set and fields alike', () => {
    expect(Object.isFrozen(DEFAULT_LABEL_FIELDS)).toBe(true);
    expect(DEFAULT_LABEL_FIELDS.every((f) => Object.isFrozen(f))).toBe(true);
  });
});

describe('parseFieldSet: accepts', () => {
  it('a valid set and returns it frozen, keeping required', () => {
    // Prepare
    const input = [
      { name: 'Product_Name1', prompt: 'Name?', type: 'string', required: true },
      { name: 'codes', prompt: 'Codes?', type: 'string[]' },
      { name: 'box', prompt: 'Box?', type: 'object', schema: OBJECT_SCHEMA },
    ];

    // Act
    const set = parseFieldSet(input);

    // Assess
    expect(set.map((f) => f.name)).toEqual(['Product_Name1', 'codes', 'box']);
    expect(set[0]!.required).toBe(true);
    expect(set[2]!.schema).toEqual(OBJECT_SCHEMA);
    expect(Object.isFrozen(set)).toBe(true);
    expect(Object.isFrozen(set[0])).toBe(true);
  });

  it('a name of exactly 64 characters', () => {
    expect(parseFieldSet([{ name: 'a'.repeat(64), prompt: 'p', type: 'string' }])).toHaveLength(1);
  });
});

describe('parseFieldSet: errors name the field and the problem', () => {
  it('refuses a name with characters outside [A-Za-z0-9_]', () => {
    // Act
    const err = fieldSetError([{ name: 'risk-notice', prompt: 'p', type: 'string' }]);

    // Assess
    expect(err.code).toBe(ErrorCode.FIELDS_INVALID);
    expect(err.message).toContain('field "risk-notice"');
    expect(err.message).toContain('name must be 1-64 characters');
  });

  it('refuses a name of 65 characters', () => {
    const long = 'n'.repeat(65);

    const err = fieldSetError([{ name: long, prompt: 'p', type: 'string' }]);

    expect(err.message).toContain(`field "${long}"`);
    expect(err.message).toContain('1-64 characters');
  });

  it('refuses an empty name, naming the field by its index', () => {
    const err = fieldSetError([
      { name: 'ok', prompt: 'p', type: 'string' },
      { name: '', prompt: 'p', type: 'string' },
    ]);

    expect(err.message).toBe('field #1: name must be 1-64 characters of A-Z, a-z, 0-9 or _');
  });

  it('refuses a field without a name, naming it by its index', () => {
    const err = fieldSetError([{ name: 'ok', prompt: 'p', type: 'string' }, { prompt: 'p', type: 'string' }]);

    expect(err.message).toContain('field #1');
    expect(err.message).toContain('name');
  });

  it('refuses duplicate names', () => {
    const err = fieldSetError([
      { name: 'tag', prompt: 'a', type: 'string' },
      { name: 'tag', prompt: 'b', type: 'string[]' },
    ]);

    expect(err.message).toBe('field "tag": name is used by more than one field');
  });

  it('refuses an empty prompt', () => {
    const err = fieldSetError([{ name: 'name', prompt: '', type: 'string' }]);

    expect(err.message).toBe('field "name": prompt must be a non-empty string');
  });

  it('refuses a prompt of only spaces', () => {
    const err = fieldSetError([{ name: 'name', prompt: '   ', type: 'string' }]);

    expect(err.message).toContain('prompt must be a non-empty string');
  });

  it('refuses an unknown type', () => {
    const err = fieldSetError([{ name: 'age', prompt: 'p', type: 'number' }]);

    expect(err.message).toContain('field "age": type');
  });

  it('refuses a property it does not know (a typo must not pass silently)', () => {
    const err = fieldSetError([{ name: 'age', prompt: 'p', type: 'string', requred: true }]);

    expect(err.message).toContain('field "age"');
  });

  it('refuses an object field without a schema', () => {
    const err = fieldSetError([{ name: 'box', prompt: 'p', type: 'object' }]);

    expect(err.message).toBe('field "box": type "object" needs a JSON Schema in "schema"');
  });

  it('refuses an object schema whose type is not "object"', () => {
    const err = fieldSetError([{ name: 'box', prompt: 'p', type: 'object', schema: { type: 'array' } }]);

    expect(err.message).toBe('field "box": schema.type must be "object", got "array"');
  });

  it('refuses an object schema without a type', () => {
    const err = fieldSetError([{ name: 'box', prompt: 'p', type: 'object', schema: { properties: {} } }]);

    expect(err.message).toContain('schema.type must be "object"');
  });

  it('refuses schema.properties that is not an object', () => {
    const err = fieldSetError([
      { name: 'box', prompt: 'p', type: 'object', schema: { type: 'object', properties: ['a'] } },
    ]);

    expect(err.message).toBe('field "box": schema.properties must be an object');
  });

  it('refuses an object schema that is not a valid JSON Schema', () => {
    // Prepare
    const schema = { type: 'object', properties: { a: { type: 'bogus' } } };

    // Act
    const err = fieldSetError([{ name: 'box', prompt: 'p', type: 'object', schema }]);

    // Assess
    expect(err.message).toContain('field "box": schema is not a valid JSON Schema');
    expect(err.cause).toBeDefined();
  });

  it('refuses a schema on a string field', () => {
    const err = fieldSetError([{ name: 'name', prompt: 'p', type: 'string', schema: OBJECT_SCHEMA }]);

    expect(err.message).toBe('field "name": "schema" is only for type "object"');
  });

  it('refuses a field that is not an object', () => {
    const err = fieldSetError(['name']);

    expect(err.message).toContain('field #0');
  });

  it('refuses input that is not an array', () => {
    expect(fieldSetError({ name: 'name', prompt: 'p', type: 'string' }).message).toBe(
      'field set must be a JSON array of fields, got object',
    );
    expect(fieldSetError(null).message).toContain('got null');
    expect(fieldSetError('[]').message).toContain('got "[]"');
  });

  it('refuses an empty array', () => {
    expect(fieldSetError([]).message).toBe('field set must have at least one field');
  });
});

describe('parseFieldSet: names that would reach an object’s prototype', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses a field named %s, also when it comes from JSON', (name) => {
    // Prepare: JSON.parse makes "__proto__" an own property, as FIELDS would
    const fromJson: unknown = JSON.parse(`[{"name": "${name}", "type": "string", "prompt": "What?"}]`);

    // Act
    const error = fieldSetError(fromJson);

    // Assess
    expect(error.code).toBe(ErrorCode.FIELDS_INVALID);
    expect(error.message).toBe(`field "${name}": name is reserved (__proto__, constructor and prototype reach the prototype of an object)`);
  });

  it('still accepts names that only contain those words', () => {
    expect(parseFieldSet([{ name: 'proto', type: 'string', prompt: 'What?' }, { name: 'constructor_name', type: 'string', prompt: 'Who?' }])).toHaveLength(2);
  });
});

describe('parseFieldSet: checks', () => {
  const statements = { name: 'hazards', prompt: 'Hazard statements?', type: 'string[]' };

  it('gives the built-in label set the default label checks', () => {
    // Act
    const checks = Object.fromEntries(DEFAULT_LABEL_FIELDS.map((f) => [f.name, f.checks ?? []]));

    // Assess
    expect(checks).toEqual({
      name: [],
      tag: ['ghs.pictograms', 'ghs.signal-word'],
      risk_notice: ['ghs.hazard-codes'],
      pre_notice: ['ghs.precaution-codes'],
      suppliers: ['supplier.contacts'],
    });
  });

  it('keeps the checks a custom field names, and none for a field that names none', () => {
    const fields = parseFieldSet([{ ...statements, checks: ['ghs.hazard-codes'] }, { name: 'note', prompt: 'Note?', type: 'string' }]);

    expect(fields[0]!.checks).toEqual(['ghs.hazard-codes']);
    expect(fields[1]!.checks).toBeUndefined();
  });

  it('refuses a check name that does not exist, naming the field, the name and the known checks', () => {
    const err = fieldSetError([{ ...statements, checks: ['ghs.hazard-codes', 'ghs.hazard-code'] }]);

    expect(err.code).toBe(ErrorCode.FIELDS_INVALID);
    expect(err.message).toBe(
      'field "hazards": checks.1 "ghs.hazard-code" is not a check (known: ghs.hazard-codes, ghs.precaution-codes, ghs.pictograms, ghs.signal-word, supplier.contacts)',
    );
  });

  it('refuses checks that are not a list of names', () => {
    expect(fieldSetError([{ ...statements, checks: 'ghs.hazard-codes' }]).message).toMatch(/^field "hazards": checks /);
    expect(fieldSetError([{ ...statements, checks: [3] }]).message).toMatch(/^field "hazards": checks\.0 /);
  });

  it('refuses a check that reads another field when no field carries what it reads', () => {
    const err = fieldSetError([{ name: 'tag', prompt: 'Pictograms?', type: 'string[]', checks: ['ghs.pictograms'] }]);

    expect(err.message).toBe('field "tag": check "ghs.pictograms" reads the field that carries "ghs.hazard-codes", and no field does');
  });

  it('accepts that check when another field carries what it reads', () => {
    const fields = parseFieldSet([
      { name: 'tag', prompt: 'Pictograms?', type: 'string[]', checks: ['ghs.pictograms'] },
      { ...statements, checks: ['ghs.hazard-codes'] },
    ]);

    expect(fields.map((f) => f.checks)).toEqual([['ghs.pictograms'], ['ghs.hazard-codes']]);
  });
});
