import { describe, expect, it } from 'vitest';
import { checkSupplierContacts } from '../../../functions/core/checks/supplier';

const codes = (findings: { code: string }[]) => findings.map((f) => f.code);
const full = { name: '华东示例化工有限公司', address: '杭州', phone: '0571-87654321', emergency_phone: '0571-86695555' };

describe('supplier contacts', () => {
  it('finds nothing wrong with a complete supplier', () => {
    expect(checkSupplierContacts(full, 'suppliers')).toEqual([]);
  });

  it('reports missing phone and emergency phone', () => {
    expect(checkSupplierContacts({ ...full, phone: null, emergency_phone: '  ' }, 'suppliers')).toEqual([
      expect.objectContaining({ code: 'SUPPLIER_PHONE_MISSING', severity: 'warning', field: 'suppliers', values: ['phone'] }),
      expect.objectContaining({ code: 'SUPPLIER_EMERGENCY_PHONE_MISSING', values: ['emergency_phone'] }),
    ]);
  });

  it('reports a supplier without a name, and no supplier at all', () => {
    expect(codes(checkSupplierContacts({ ...full, name: '' }, 'suppliers'))).toEqual(['SUPPLIER_NAME_MISSING']);
    expect(codes(checkSupplierContacts(null, 'suppliers'))).toEqual(['SUPPLIER_MISSING']);
  });

  it('reports a phone with too few digits, naming it, and accepts full-width digits', () => {
    expect(checkSupplierContacts({ ...full, phone: 'see website' }, 'suppliers')).toEqual([
      expect.objectContaining({ code: 'SUPPLIER_PHONE_INVALID', values: ['phone', 'see website'] }),
    ]);
    expect(checkSupplierContacts({ ...full, emergency_phone: '０５７１－８６６９５５５５' }, 'suppliers')).toEqual([]);
  });

  it('reports a value that is not an object', () => {
    for (const bad of ['Acme', 42, ['Acme']]) expect(codes(checkSupplierContacts(bad, 'suppliers'))).toEqual(['CHECK_INPUT_UNREADABLE']);
  });
});
