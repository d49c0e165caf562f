import { describe, expect, it } from 'vitest';
import { checkHazardStatements, checkPrecautionaryStatements, readStatementList } from '../../../functions/core/checks/statements';

const codes = (findings: { code: string }[]) => findings.map((f) => f.code);

describe('hazard statements', () => {
  it('finds nothing wrong with correct English and Chinese statements', () => {
    expect(checkHazardStatements(['H225 Highly flammable liquid and vapour.', 'H319 Causes serious eye irritation.'], 'risk_notice')).toEqual([]);
    expect(checkHazardStatements(['H225 高度易燃液体和蒸气。', 'H301+H311+H331 吞咽、皮肤接触或吸入会中毒。'], 'risk_notice')).toEqual([]);
  });

  it('reports an unknown H-code as an error naming the code', () => {
    const [f] = checkHazardStatements(['H999 Something odd'], 'risk_notice');
    expect(f).toMatchObject({ code: 'GHS_UNKNOWN_H_CODE', severity: 'error', field: 'risk_notice', values: ['H999'] });
    expect(f?.message).toContain('H999');
  });

  it('reports the unknown part of a combined code', () => {
    expect(checkHazardStatements(['H301+H399 Toxic'], 'risk_notice')).toEqual([
      expect.objectContaining({ code: 'GHS_UNKNOWN_H_CODE', values: ['H399'], message: expect.stringContaining('H301+H399') }),
    ]);
  });

  it('reports an unknown EUH-code with its own code', () => {
    expect(codes(checkHazardStatements(['EUH999 nothing'], 'risk_notice'))).toEqual(['GHS_UNKNOWN_EUH_CODE']);
  });

  it('accepts EUH statements among the hazard statements', () => {
    expect(checkHazardStatements(['EUH066 Repeated exposure may cause skin dryness or cracking.'], 'risk_notice')).toEqual([]);
  });

  it('reports a P-code among the hazard statements', () => {
    expect(checkHazardStatements(['P210 Keep away from heat.'], 'risk_notice')).toEqual([
      expect.objectContaining({ code: 'GHS_CODE_IN_WRONG_FIELD', severity: 'warning', values: ['P210'] }),
    ]);
  });

  it('reports a text that contradicts its code, in both languages, naming the better match', () => {
    const [en] = checkHazardStatements(['H319 Causes serious eye damage.'], 'risk_notice');
    expect(en).toMatchObject({ code: 'GHS_TEXT_CONTRADICTS_CODE', severity: 'warning', values: ['H319', 'H318'] });
    expect(en?.message).toContain('Causes serious eye irritation');
    const [zh] = checkHazardStatements(['H225 造成严重眼刺激。'], 'risk_notice');
    expect(zh).toMatchObject({ code: 'GHS_TEXT_CONTRADICTS_CODE', values: ['H225', 'H319'] });
    expect(zh?.message).toContain('高度易燃液体和蒸气');
  });

  it('says H318 may be omitted beside H314', () => {
    expect(checkHazardStatements(['H314 Causes severe skin burns and eye damage.', 'H318 Causes serious eye damage.'], 'risk_notice')).toEqual([
      expect.objectContaining({ code: 'GHS_STATEMENT_REDUNDANT', severity: 'info', values: ['H318', 'H314'] }),
    ]);
  });

  it('notes a duplicate code', () => {
    expect(codes(checkHazardStatements(['H225', 'H225 高度易燃液体和蒸气'], 'risk_notice'))).toEqual(['GHS_STATEMENT_DUPLICATE']);
  });

  it('infers the code of a statement printed without one', () => {
    expect(checkHazardStatements(['高度易燃液体和蒸气'], 'risk_notice')).toEqual([
      expect.objectContaining({ code: 'GHS_CODE_INFERRED', severity: 'info', values: ['H225'] }),
    ]);
  });

  it('judges codes printed without text on their code alone', () => {
    expect(checkHazardStatements(['H225', 'H319'], 'risk_notice')).toEqual([]);
  });
});

describe('precautionary statements', () => {
  it('finds nothing wrong with correct combined statements', () => {
    expect(
      checkPrecautionaryStatements(
        ['P303+P361+P353 如皮肤（或头发）沾染：立即脱掉所有沾染的衣服。用水清洗皮肤或淋浴。', 'P305 + P351 + P338 IF IN EYES: Rinse cautiously with water for several minutes.'],
        'pre_notice',
      ),
    ).toEqual([]);
  });

  it('reports an unknown P-code', () => {
    expect(checkPrecautionaryStatements(['P299 Dance.'], 'pre_notice')).toEqual([expect.objectContaining({ code: 'GHS_UNKNOWN_P_CODE', values: ['P299'] })]);
  });

  it('reports an H-code among the precautionary statements', () => {
    expect(codes(checkPrecautionaryStatements(['H225 Highly flammable'], 'pre_notice'))).toEqual(['GHS_CODE_IN_WRONG_FIELD']);
  });

  it('marks a code Rev.10 replaced as superseded, an info only', () => {
    expect(checkPrecautionaryStatements(['P301+P310 如误吞咽：立即呼叫解毒中心或就医。'], 'pre_notice')).toEqual([
      expect.objectContaining({ code: 'GHS_CODE_SUPERSEDED', severity: 'info', values: ['P301+P310'] }),
    ]);
  });

  it('notes an unlisted combination of known codes and compares its text with its parts', () => {
    expect(codes(checkPrecautionaryStatements(['P210+P233 Keep away from heat, sparks and open flames. Keep container tightly closed.'], 'pre_notice'))).toEqual([
      'GHS_UNLISTED_COMBINATION',
    ]);
    expect(codes(checkPrecautionaryStatements(['P210+P233 Wear protective gloves.'], 'pre_notice'))).toEqual(['GHS_UNLISTED_COMBINATION', 'GHS_TEXT_CONTRADICTS_CODE']);
  });
});

describe('odd input', () => {
  it('reads null, empty arrays and one multi-line string without complaint', () => {
    expect(checkHazardStatements(null, 'risk_notice')).toEqual([]);
    expect(checkHazardStatements([], 'risk_notice')).toEqual([]);
    expect(checkHazardStatements(undefined, 'risk_notice')).toEqual([]);
    expect(readStatementList('H225 高度易燃液体和蒸气\nH319 造成严重眼刺激\n')).toEqual({ ok: true, items: ['H225 高度易燃液体和蒸气', 'H319 造成严重眼刺激'] });
  });

  it('skips non-string items and reports a value it cannot read', () => {
    expect(checkHazardStatements([42, null, 'H225'], 'risk_notice')).toEqual([]);
    for (const bad of [42, { a: 1 }, [1, 2], true]) {
      expect(codes(checkHazardStatements(bad, 'risk_notice'))).toEqual(['CHECK_INPUT_UNREADABLE']);
    }
  });
});
