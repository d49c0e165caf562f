import { describe, expect, it } from 'vitest';
import { answerJsonSchema } from '../../functions/core/answer';
import { DEFAULT_LABEL_FIELDS, parseFieldSet } from '../../functions/core/fields';
import { answerValue, identifyField, valueShape } from '../../local/model-server/questions';
import type { LabelReading } from '../../local/model-server/rules';

const reading: LabelReading = {
  name: '乙醇',
  signalWord: '危险',
  pictograms: ['GHS02', 'GHS07'],
  hazards: ['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。'],
  precautions: ['P233 保持容器密闭。'],
  supplier: { name: '华东示例化工有限公司', address: '浙江省杭州市', phone: '0571-87654321', emergencyPhone: '0571-86695555' },
};
const empty: LabelReading = {
  name: null,
  signalWord: null,
  pictograms: [],
  hazards: [],
  precautions: [],
  supplier: { name: null, address: null, phone: null, emergencyPhone: null },
};

describe('identifyField', () => {
  it('identifies every default field from its question alone', () => {
    const kinds = Object.fromEntries(DEFAULT_LABEL_FIELDS.map((f) => [f.name, identifyField(f.prompt)]));
    expect(kinds).toEqual({ name: 'name', tag: 'tag', risk_notice: 'hazards', pre_notice: 'precautions', suppliers: 'supplier' });
  });

  it('understands Chinese questions', () => {
    expect(identifyField('这张标签上的产品名称是什么？')).toBe('name');
    expect(identifyField('列出危险性说明')).toBe('hazards');
    expect(identifyField('列出防范说明')).toBe('precautions');
    expect(identifyField('供应商是谁？')).toBe('supplier');
    expect(identifyField('信号词是什么？')).toBe('signalWord');
    expect(identifyField('有哪些象形图？')).toBe('pictograms');
  });

  it('falls back to the schema name, and gives up on anything else', () => {
    expect(identifyField('Read the label.', 'risk_notice')).toBe('hazards');
    expect(identifyField('Read the label.', 'Suppliers')).toBe('supplier');
    expect(identifyField('What colour is the cap?', 'cap_colour')).toBeUndefined();
    expect(identifyField('What colour is the cap?')).toBeUndefined();
  });
});

describe('valueShape', () => {
  it('reads the shapes the pipeline sends for each field type', () => {
    const [name, tag, , , suppliers] = DEFAULT_LABEL_FIELDS;
    expect(valueShape(answerJsonSchema(name!))).toEqual({ kind: 'string', nullable: true });
    expect(valueShape(answerJsonSchema(tag!))).toEqual({ kind: 'array', nullable: true });
    const shape = valueShape(answerJsonSchema(suppliers!));
    expect(shape.kind).toBe('object');
    expect(shape.kind === 'object' && shape.properties.map((p) => p.key)).toEqual(['name', 'address', 'phone', 'emergency_phone']);
  });

  it('is "any" without a schema', () => {
    expect(valueShape(undefined)).toEqual({ kind: 'any' });
    expect(valueShape({ type: 'object' })).toEqual({ kind: 'any' });
  });
});

describe('answerValue', () => {
  it('answers the natural shape without a schema', () => {
    expect(answerValue('tag', { kind: 'any' }, reading)).toEqual(['危险', 'GHS02', 'GHS07']);
    expect(answerValue('supplier', { kind: 'any' }, reading)).toEqual({
      name: '华东示例化工有限公司',
      address: '浙江省杭州市',
      phone: '0571-87654321',
      emergency_phone: '0571-86695555',
    });
  });

  it('answers null for an unknown field and for what the label does not show', () => {
    expect(answerValue(undefined, { kind: 'string', nullable: true }, reading)).toBeNull();
    expect(answerValue('hazards', { kind: 'array', nullable: true }, empty)).toBeNull();
    expect(answerValue('tag', { kind: 'any' }, empty)).toBeNull();
    expect(answerValue('supplier', { kind: 'any' }, empty)).toBeNull();
  });

  it("answers an object with exactly the schema's properties, matched by key, title or description", () => {
    const [field] = parseFieldSet([
      {
        name: 'maker',
        type: 'object',
        prompt: 'Who made it?',
        schema: {
          type: 'object',
          properties: {
            company: { type: ['string', 'null'] },
            tel: { type: ['string', 'null'] },
            hotline: { type: ['string', 'null'], description: 'the 24 h emergency number' },
            fax: { type: ['string', 'null'] },
          },
          required: ['company', 'tel', 'hotline', 'fax'],
          additionalProperties: false,
        },
      },
    ]);
    expect(answerValue('supplier', valueShape(answerJsonSchema(field!)), reading)).toEqual({
      company: '华东示例化工有限公司',
      tel: '0571-87654321',
      hotline: '0571-86695555',
      fax: null,
    });
  });

  it('fills every property with null when the schema does not allow a null object', () => {
    const shape = { kind: 'object', nullable: false, properties: [{ key: 'name', words: 'name' }] } as const;
    expect(answerValue('supplier', shape, empty)).toEqual({ name: null });
    expect(answerValue('name', shape, reading)).toEqual({ name: null });
  });

  it('converts between string and list when the schema asks for the other', () => {
    expect(answerValue('name', { kind: 'array', nullable: true }, reading)).toEqual(['乙醇']);
    expect(answerValue('hazards', { kind: 'string', nullable: true }, reading)).toBe('H225 高度易燃液体和蒸气。\nH319 造成严重眼刺激。');
    expect(answerValue('supplier', { kind: 'string', nullable: true }, reading, "What is the supplier's emergency phone?")).toBe(
      '0571-86695555',
    );
    expect(answerValue('supplier', { kind: 'string', nullable: true }, reading, 'Who is the supplier?')).toBe(
      '华东示例化工有限公司, 浙江省杭州市, 0571-87654321, 0571-86695555',
    );
  });
});
