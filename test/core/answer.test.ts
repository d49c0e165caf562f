import { describe, expect, it } from 'vitest';
import { answerJsonSchema, parseAnswer, reaskTurns, SYSTEM_PROMPT, valueJsonSchema } from '../../functions/core/answer';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { aField, SUPPLIER_FIELD } from './fakes';

const nameField = aField({ name: 'name', type: 'string' });
const tagField = aField({ name: 'tag', type: 'string[]' });

describe('parseAnswer: where the JSON object is found', () => {
  it('accepts a bare {"value": …} object', () => {
    // Act
    const parsed = parseAnswer('{"value": "乙醇"}', nameField);

    // Assess
    expect(parsed).toEqual({ ok: true, value: '乙醇' });
  });

  it('accepts the object inside a ```json fence', () => {
    const parsed = parseAnswer('```json\n{"value": ["危险", "GHS02"]}\n```', tagField);

    expect(parsed).toEqual({ ok: true, value: ['危险', 'GHS02'] });
  });

  it('accepts the object inside a plain ``` fence', () => {
    const parsed = parseAnswer('```\n{"value": ["WARNING"]}\n```', tagField);

    expect(parsed).toEqual({ ok: true, value: ['WARNING'] });
  });

  it('accepts a fenced object that follows prose', () => {
    const parsed = parseAnswer('Here is the answer:\n```json\n{"value": ["GHS07"]}\n```\nDone.', tagField);

    expect(parsed).toEqual({ ok: true, value: ['GHS07'] });
  });

  it('finds the object after leading prose', () => {
    const parsed = parseAnswer('Sure! The label shows: {"value": ["DANGER", "GHS02"]}', tagField);

    expect(parsed).toEqual({ ok: true, value: ['DANGER', 'GHS02'] });
  });

  it('finds the object between leading prose and trailing prose', () => {
    const parsed = parseAnswer('Answer: {"value": "Ethanol"} I hope this helps.', nameField);

    expect(parsed).toEqual({ ok: true, value: 'Ethanol' });
  });

  it('strips a reasoning model’s <think>…</think> before parsing', () => {
    // Prepare: the thinking holds braces that would otherwise be found first
    const text = '<think>The user wants {"value": "wrong"}? Let me look.</think>\n{"value": "Acetone"}';

    // Act
    const parsed = parseAnswer(text, nameField);

    // Assess
    expect(parsed).toEqual({ ok: true, value: 'Acetone' });
  });

  it('strips text up to a closing </think> whose opening tag was not sent', () => {
    const parsed = parseAnswer('looking at the label…</think>{"value": ["GHS05"]}', tagField);

    expect(parsed).toEqual({ ok: true, value: ['GHS05'] });
  });

  it('drops a <think> block that spans lines even when the tag is upper case', () => {
    const parsed = parseAnswer('<THINK>\nline one\nline two\n</THINK>\n{"value": null}', nameField);

    expect(parsed).toEqual({ ok: true, value: null });
  });
});

describe('parseAnswer: plain text and null', () => {
  it('takes a plain-text reply as the value of a string field', () => {
    const parsed = parseAnswer('  Sodium hydroxide solution\n', nameField);

    expect(parsed).toEqual({ ok: true, value: 'Sodium hydroxide solution' });
  });

  it('does not take plain text as the value of a string[] field', () => {
    const parsed = parseAnswer('DANGER, GHS02', tagField);

    expect(parsed.ok).toBe(false);
  });

  it('does not take broken JSON as plain text for a string field', () => {
    const parsed = parseAnswer('{"value": "Ethan', nameField);

    expect(parsed).toMatchObject({ ok: false });
  });

  it('does not take a broken fence as plain text for a string field', () => {
    const parsed = parseAnswer('```json\n{"value": ', nameField);

    expect(parsed.ok).toBe(false);
  });

  it('reads a bare JSON null as "not on the image"', () => {
    expect(parseAnswer('null', tagField)).toEqual({ ok: true, value: null });
    expect(parseAnswer('null', SUPPLIER_FIELD)).toEqual({ ok: true, value: null });
  });

  it('reads {"value": null} as "not on the image" for every type', () => {
    for (const field of [nameField, tagField, SUPPLIER_FIELD]) {
      expect(parseAnswer('{"value": null}', field)).toEqual({ ok: true, value: null });
    }
  });

  it('reads a bare JSON string as the value of a string field', () => {
    expect(parseAnswer('"Ethanol"', nameField)).toEqual({ ok: true, value: 'Ethanol' });
  });

  it('refuses an empty reply', () => {
    expect(parseAnswer('   ', nameField)).toEqual({ ok: false, error: 'the reply was empty' });
  });

  it('refuses a reply that is only thinking', () => {
    expect(parseAnswer('<think>hmm</think>', nameField)).toEqual({ ok: false, error: 'the reply was empty' });
  });
});

describe('parseAnswer: invalid answers say what is wrong', () => {
  it('refuses text that holds no JSON object for an object field', () => {
    const parsed = parseAnswer('The supplier is ACME.', SUPPLIER_FIELD);

    expect(parsed).toEqual({ ok: false, error: expect.stringContaining('not a JSON object') });
  });

  it('refuses an object without "value"', () => {
    const parsed = parseAnswer('{"answer": "Ethanol"}', nameField);

    expect(parsed).toEqual({ ok: false, error: 'the JSON object has no "value" property' });
  });

  it('refuses a bare JSON array as a wrapper without "value"', () => {
    const parsed = parseAnswer('["DANGER"]', tagField);

    expect(parsed).toEqual({ ok: false, error: 'the JSON object has no "value" property' });
  });

  it('refuses a string where a string[] is expected', () => {
    const parsed = parseAnswer('{"value": "DANGER"}', tagField);

    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/^value: .*\(expected an array of strings or null\)$/);
  });

  it('names the item that is not a string inside a string[]', () => {
    const parsed = parseAnswer('{"value": ["DANGER", 2]}', tagField);

    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/^value\.1: /);
  });

  it('refuses a number for a string field', () => {
    const parsed = parseAnswer('{"value": 42}', nameField);

    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain('expected a string or null');
  });

  it('refuses an object that fails the field schema, naming the property', () => {
    const parsed = parseAnswer('{"value": {"name": "ACME", "phone": 12345}}', SUPPLIER_FIELD);

    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toMatch(/^value\.phone: /);
      expect(parsed.error).toContain('an object matching');
    }
  });

  it('refuses an object missing a required property', () => {
    const parsed = parseAnswer('{"value": {"name": "ACME"}}', SUPPLIER_FIELD);

    expect(parsed.ok).toBe(false);
  });

  it('refuses an object with a property the schema does not allow (additionalProperties: false)', () => {
    const parsed = parseAnswer('{"value": {"name": "ACME", "phone": null, "fax": "1"}}', SUPPLIER_FIELD);

    expect(parsed.ok).toBe(false);
  });

  it('accepts an object that matches the schema', () => {
    const parsed = parseAnswer('{"value": {"name": "ACME", "phone": null}}', SUPPLIER_FIELD);

    expect(parsed).toEqual({ ok: true, value: { name: 'ACME', phone: null } });
  });

  it('validates the default suppliers field against its own schema', () => {
    // Prepare
    const suppliers = DEFAULT_LABEL_FIELDS.find((f) => f.name === 'suppliers')!;
    const value = { name: '某某化工有限公司', address: null, phone: '010-1234', emergency_phone: '0532-83889090' };

    // Act
    const good = parseAnswer(JSON.stringify({ value }), suppliers);
    const extra = parseAnswer(JSON.stringify({ value: { ...value, fax: 'x' } }), suppliers);

    // Assess
    expect(good).toEqual({ ok: true, value });
    expect(extra.ok).toBe(false);
  });
});

describe('reaskTurns', () => {
  it('shows the model its own reply and the validation error, then asks again for the type', () => {
    // Act
    const turns = reaskTurns('{"value": "DANGER"}', 'value: expected array', tagField);

    // Assess
    expect(turns).toHaveLength(2);
    expect(turns[0]).toEqual({ role: 'assistant', content: '{"value": "DANGER"}' });
    expect(turns[1]!.role).toBe('user');
    expect(turns[1]!.content).toContain('value: expected array');
    expect(turns[1]!.content).toContain('an array of strings or null');
  });

  it('includes the object schema when re-asking for an object field', () => {
    const turns = reaskTurns('nope', 'bad', SUPPLIER_FIELD);

    expect(turns[1]!.content).toContain(JSON.stringify(SUPPLIER_FIELD.schema));
  });
});

describe('answerJsonSchema', () => {
  it('is strict-compatible: only "value", required, no additional properties', () => {
    for (const field of [nameField, tagField, SUPPLIER_FIELD]) {
      // Act
      const schema = answerJsonSchema(field);

      // Assess
      expect(schema).toMatchObject({ type: 'object', required: ['value'], additionalProperties: false });
      expect(Object.keys(schema.properties as object)).toEqual(['value']);
    }
  });

  it('allows null as the value of every type', () => {
    expect(valueJsonSchema(nameField)).toEqual({ type: ['string', 'null'] });
    expect(valueJsonSchema(tagField)).toEqual({ type: ['array', 'null'], items: { type: 'string' } });
    expect(valueJsonSchema(SUPPLIER_FIELD)).toEqual({ anyOf: [SUPPLIER_FIELD.schema, { type: 'null' }] });
  });

  it('nests the value schema under properties.value', () => {
    expect(answerJsonSchema(tagField).properties).toEqual({ value: valueJsonSchema(tagField) });
  });
});

describe('SYSTEM_PROMPT', () => {
  it('asks for the {"value": …} object and null for what is not on the image', () => {
    expect(SYSTEM_PROMPT).toContain('{"value": <answer>}');
    expect(SYSTEM_PROMPT).toContain('null');
  });
});
