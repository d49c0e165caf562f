/**
 * Supplier contact checks: a label names who supplies the chemical and how
 * to reach them, and an emergency number (GB 15258 requires 应急咨询电话;
 * GHS 1.4.10.5.2 (d) the supplier's identity and telephone number).
 */
import { CheckCode, finding, type Finding } from './findings';

/** Fewer digits than this cannot be a phone number (short national emergency numbers have 3, e.g. 119). */
const MIN_PHONE_DIGITS = 3;

/** Checks a `suppliers`-like object `{ name, address, phone, emergency_phone }`. */
export function checkSupplierContacts(value: unknown, field: string): Finding[] {
  if (value === null || value === undefined) {
    return [finding(CheckCode.SUPPLIER_MISSING, field, 'no supplier is given')];
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return [finding(CheckCode.CHECK_INPUT_UNREADABLE, field, `expected an object with name, address, phone and emergency_phone, got ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}`)];
  }
  const v = value as Record<string, unknown>;
  const text = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const x = v[k];
      if (typeof x === 'string' && x.trim() !== '') return x.trim();
      if (typeof x === 'number') return String(x);
    }
    return undefined;
  };
  const out: Finding[] = [];
  if (!text('name')) out.push(finding(CheckCode.SUPPLIER_NAME_MISSING, field, 'the supplier has no name'));
  const phones: [string, string | undefined, CheckCode][] = [
    ['phone', text('phone', 'telephone', 'tel'), CheckCode.SUPPLIER_PHONE_MISSING],
    ['emergency_phone', text('emergency_phone', 'emergencyPhone'), CheckCode.SUPPLIER_EMERGENCY_PHONE_MISSING],
  ];
  for (const [part, phone, missing] of phones) {
    if (phone === undefined) {
      out.push(finding(missing, field, `the supplier has no ${part.replace('_', ' ')}`, [part]));
    } else if ((phone.normalize('NFKC').match(/\d/g) ?? []).length < MIN_PHONE_DIGITS) {
      out.push(finding(CheckCode.SUPPLIER_PHONE_INVALID, field, `${part} "${phone}" has too few digits to be a phone number`, [part, phone]));
    }
  }
  return out;
}
