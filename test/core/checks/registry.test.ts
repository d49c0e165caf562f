import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checksSchema } from '../../../functions/core/checks/findings';
import { CHECK_NAMES, CHECKS, DEFAULT_LABEL_CHECKS, runChecks } from '../../../functions/core/checks/registry';
import { DEFAULT_LABEL_FIELDS } from '../../../functions/core/fields';

const samplesDir = new URL('../../../samples/', import.meta.url);
const samples = readdirSync(samplesDir).filter((f) => f.endsWith('.expected.json'));

describe('check registry', () => {
  it('registers every check under its own name, with what it reads', () => {
    expect(Object.keys(CHECKS)).toEqual([...CHECK_NAMES]);
    for (const [name, check] of Object.entries(CHECKS)) {
      expect(check.name).toBe(name);
      expect(check.reads).toMatch(/\S/);
      for (const other of check.alsoReads) expect(CHECK_NAMES).toContain(other);
    }
  });

  it('gives every built-in field an entry in the default mapping', () => {
    expect(Object.keys(DEFAULT_LABEL_CHECKS).sort()).toEqual(DEFAULT_LABEL_FIELDS.map((f) => f.name).sort());
  });
});

describe('runChecks', () => {
  it('puts findings under the field their check is attached to and sums them up', () => {
    // Prepare
    const fields = { tag: ['WARNING', 'GHS02'], risk_notice: ['H225 Highly flammable liquid and vapour.', 'H999 ?'], suppliers: null, pre_notice: null, name: 'X' };

    // Act
    const result = runChecks(fields, DEFAULT_LABEL_CHECKS);

    // Assess
    expect(result.byField.name).toEqual([]);
    expect(result.byField.tag?.map((f) => f.code)).toEqual(['GHS_SIGNAL_WORD_TOO_WEAK']);
    expect(result.byField.risk_notice?.map((f) => f.code)).toEqual(['GHS_UNKNOWN_H_CODE']);
    expect(result.byField.suppliers?.map((f) => f.code)).toEqual(['SUPPLIER_MISSING']);
    expect(result.summary).toEqual({ errors: 2, warnings: 1, infos: 0, codes: ['GHS_SIGNAL_WORD_TOO_WEAK', 'GHS_UNKNOWN_H_CODE', 'SUPPLIER_MISSING'] });
    expect(checksSchema.parse(result)).toEqual(result);
  });

  it('finds the hazard statements through the field that carries ghs.hazard-codes, whatever its name', () => {
    const result = runChecks({ signal: ['DANGER'], hazards: ['H225'] }, { signal: ['ghs.pictograms'], hazards: ['ghs.hazard-codes'] });
    expect(result.byField.signal?.map((f) => f.values)).toEqual([['GHS02', 'H225']]);
  });

  it('reports an unknown check name and a check whose other field no field provides', () => {
    const result = runChecks({ tag: ['DANGER'] }, { tag: ['ghs.nope', 'ghs.signal-word'] });
    expect(result.byField.tag?.map((f) => f.code)).toEqual(['CHECK_UNKNOWN', 'CHECK_INPUT_MISSING']);
    expect(result.summary.infos).toBe(2);
  });

  it('never throws and never changes a value, whatever the fields hold', () => {
    const odd = [null, undefined, 42, 'text', [], [null], { a: [1, { b: 2 }] }, true];
    for (const value of odd) {
      const fields = { name: value, tag: value, risk_notice: value, pre_notice: value, suppliers: value };
      const before = JSON.stringify(fields);
      expect(() => checksSchema.parse(runChecks(fields, DEFAULT_LABEL_CHECKS))).not.toThrow();
      expect(JSON.stringify(fields)).toBe(before);
    }
    expect(() => runChecks(null, DEFAULT_LABEL_CHECKS)).not.toThrow();
  });

  it('finds no errors and no warnings on the correct sample labels', () => {
    expect(samples.length).toBeGreaterThanOrEqual(6);
    for (const file of samples) {
      const fields = JSON.parse(readFileSync(new URL(file, samplesDir), 'utf8')) as Record<string, unknown>;
      const { summary, byField } = runChecks(fields, DEFAULT_LABEL_CHECKS);
      expect({ file, errors: summary.errors, warnings: summary.warnings, findings: Object.values(byField).flat().filter((f) => f.severity !== 'info') }).toEqual({
        file,
        errors: 0,
        warnings: 0,
        findings: [],
      });
    }
  });

  it('catches a sample label whose pictogram and signal word were misread', () => {
    const fields = JSON.parse(readFileSync(new URL('zh-methanol.expected.json', samplesDir), 'utf8')) as Record<string, unknown>;
    const result = runChecks({ ...fields, tag: ['警告', 'GHS02', 'GHS08'] }, DEFAULT_LABEL_CHECKS);
    expect(result.byField.tag?.map((f) => f.code)).toEqual(['GHS_PICTOGRAM_MISSING', 'GHS_SIGNAL_WORD_TOO_WEAK']);
  });
});
