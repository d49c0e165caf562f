/**
 * Which field a chat request asks about, and the answer in the shape its
 * schema wants. Pure: the server passes in the question text, the answer
 * schema from `response_format`, and the label's reading.
 */
import type { LabelReading, SupplierReading } from './rules';

/** The kinds of question the local model can answer. */
export type FieldKind = 'name' | 'tag' | 'signalWord' | 'pictograms' | 'hazards' | 'precautions' | 'supplier';

/** The JSON shape of the answer's `value`, read from the answer schema. */
export type ValueShape =
  | { readonly kind: 'string'; readonly nullable: boolean }
  | { readonly kind: 'array'; readonly nullable: boolean }
  | { readonly kind: 'object'; readonly nullable: boolean; readonly properties: readonly PropertyInfo[] }
  /** No schema (`json_object` mode or no `response_format`): answer in the field's natural shape. */
  | { readonly kind: 'any' };

export interface PropertyInfo {
  readonly key: string;
  /** The key, title and description, for matching a property to a supplier part. */
  readonly words: string;
}

/**
 * Question keywords, checked in this order: the supplier question also says
 * "name" and "phone", so it goes first; the pictogram question says
 * "hazard pictograms", so hazard statements need the word "statement".
 */
const BY_QUESTION: readonly (readonly [FieldKind | 'signalOrPictograms', RegExp])[] = [
  ['supplier', /supplier|manufacturer|distributor|供应商|生产商|制造商|生产企业|生产厂家/i],
  ['precautions', /precaution|防范/i],
  ['hazards', /hazard statement|hazard phrase|\bh-?codes?\b|危险性说明|危害性说明|危险说明|危害说明/i],
  ['signalOrPictograms', /signal word|pictogram|\bghs ?0\d|信号词|象形图|警示词/i],
  ['name', /product name|chemical name|product identifier|name of the (?:product|chemical|substance)|产品名称|化学品名称|品名|名称/i],
];

/** Field names of the default set and common synonyms, used when the question says nothing known. */
const BY_SCHEMA_NAME: Readonly<Record<string, FieldKind>> = {
  name: 'name',
  product_name: 'name',
  tag: 'tag',
  tags: 'tag',
  signal_word: 'signalWord',
  pictograms: 'pictograms',
  risk_notice: 'hazards',
  hazards: 'hazards',
  hazard_statements: 'hazards',
  pre_notice: 'precautions',
  precautions: 'precautions',
  precautionary_statements: 'precautions',
  supplier: 'supplier',
  suppliers: 'supplier',
  manufacturer: 'supplier',
};

/**
 * Identifies the field from the question, else from the schema name
 * (`response_format.json_schema.name`). `undefined`: not a question the
 * local model has a rule for.
 */
export function identifyField(question: string, schemaName?: string): FieldKind | undefined {
  for (const [kind, pattern] of BY_QUESTION) {
    if (!pattern.test(question)) continue;
    if (kind !== 'signalOrPictograms') return kind;
    const signal = /signal word|信号词|警示词/i.test(question);
    const pictograms = /pictogram|\bghs ?0\d|象形图/i.test(question);
    return signal && pictograms ? 'tag' : signal ? 'signalWord' : 'pictograms';
  }
  if (schemaName) {
    const key = schemaName.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    return BY_SCHEMA_NAME[key] ?? BY_SCHEMA_NAME[key.replace(/^(?:fieldlens_|field_)/, '')];
  }
  return undefined;
}

/** Reads the shape of `value` from the answer schema `{type: object, properties: {value: …}}`. */
export function valueShape(answerSchema: unknown): ValueShape {
  const value = asRecord(asRecord(asRecord(answerSchema)?.properties)?.value);
  if (!value) return { kind: 'any' };
  const types = new Set<string>();
  let properties: PropertyInfo[] | undefined;
  const visit = (schema: Record<string, unknown> | undefined): void => {
    if (!schema) return;
    const t = schema.type;
    for (const type of Array.isArray(t) ? t : t === undefined ? [] : [t]) types.add(String(type));
    const props = asRecord(schema.properties);
    if (props && !properties) {
      types.add('object');
      properties = Object.entries(props).map(([key, p]) => {
        const r = asRecord(p);
        return { key, words: [key, r?.title, r?.description].filter((w) => typeof w === 'string').join(' ') };
      });
    }
    for (const k of ['anyOf', 'oneOf'] as const) {
      const list = schema[k];
      if (Array.isArray(list)) for (const s of list) visit(asRecord(s));
    }
  };
  visit(value);
  const nullable = types.has('null');
  if (types.has('object')) return { kind: 'object', nullable, properties: properties ?? [] };
  if (types.has('array')) return { kind: 'array', nullable };
  if (types.has('string')) return { kind: 'string', nullable };
  return { kind: 'any' };
}

/**
 * The answer's `value`: the reading for `kind`, in `shape`. `null` when the
 * label does not show it or the field is unknown (an empty object, with
 * every property null, when the schema does not allow null).
 */
export function answerValue(
  kind: FieldKind | undefined,
  shape: ValueShape,
  reading: LabelReading,
  question = '',
): unknown {
  if (shape.kind === 'object') {
    const parts = kind === 'supplier' ? reading.supplier : undefined;
    const values = shape.properties.map((p) => {
      const part = supplierPart(p.words);
      return [p.key, parts && part ? parts[part] : null] as const;
    });
    if (values.every(([, v]) => v === null) && shape.nullable) return null;
    return Object.fromEntries(values);
  }
  const natural = kind ? naturalValue(kind, reading) : null;
  if (natural === null || shape.kind === 'any') return natural;
  if (shape.kind === 'array') {
    if (Array.isArray(natural)) return natural;
    if (typeof natural === 'string') return [natural];
    return null;
  }
  // A string is wanted.
  if (typeof natural === 'string') return natural;
  if (Array.isArray(natural)) return natural.join(kind === 'hazards' || kind === 'precautions' ? '\n' : ', ');
  return supplierText(reading.supplier, question);
}

/**
 * The supplier as one string: the one part the question names alone
 * ("the supplier's emergency phone"), else every printed part.
 */
function supplierText(s: SupplierReading, question: string): string | null {
  // "emergency phone" names the emergency number, not the phone as well.
  const q = question.replace(/(?:emergency|应急咨询|应急|紧急)\s*(?:phone|telephone|tel|number|contact|电话)?/gi, 'emergency');
  const named = PART_WORDS.filter(([part, pattern]) => part !== 'name' && pattern.test(q)).map(([part]) => part);
  if (named.length === 1) return s[named[0]!];
  const all = [s.name, s.address, s.phone, s.emergencyPhone].filter((v): v is string => v !== null);
  return all.length > 0 ? all.join(', ') : null;
}

function naturalValue(kind: FieldKind, r: LabelReading): string | readonly string[] | SupplierObject | null {
  const list = (items: readonly string[]) => (items.length > 0 ? [...items] : null);
  switch (kind) {
    case 'name':
      return r.name;
    case 'signalWord':
      return r.signalWord;
    case 'pictograms':
      return list(r.pictograms);
    case 'tag':
      return list([...(r.signalWord ? [r.signalWord] : []), ...r.pictograms]);
    case 'hazards':
      return list(r.hazards);
    case 'precautions':
      return list(r.precautions);
    case 'supplier': {
      const s = r.supplier;
      if (!s.name && !s.address && !s.phone && !s.emergencyPhone) return null;
      return { name: s.name, address: s.address, phone: s.phone, emergency_phone: s.emergencyPhone };
    }
  }
}

/** The supplier object of the default field set, for answers without a schema. */
interface SupplierObject {
  readonly name: string | null;
  readonly address: string | null;
  readonly phone: string | null;
  readonly emergency_phone: string | null;
}

/** Supplier part keywords, most specific first: "emergency phone" is not the phone. */
const PART_WORDS: readonly (readonly [keyof SupplierReading, RegExp])[] = [
  ['emergencyPhone', /emergency|应急|紧急|24\s*h/i],
  ['address', /address|addr|地址/i],
  ['phone', /phone|\btel\b|telephone|电话/i],
  ['name', /name|company|supplier|manufacturer|名称|供应商|企业/i],
];

/** Which supplier part a schema property names (by its key, title and description). */
function supplierPart(words: string): keyof SupplierReading | undefined {
  // Keys are often snake_case (emergency_phone): compare on words.
  const text = words.replace(/[_-]+/g, ' ');
  return PART_WORDS.find(([, pattern]) => pattern.test(text))?.[0];
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
