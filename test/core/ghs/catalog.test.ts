import { describe, expect, it } from 'vitest';
import { ghsCatalog, kindOf } from '../../../functions/core/ghs/catalog';
import hazardData from '../../../functions/core/ghs/hazard-statements.json';
import precautionData from '../../../functions/core/ghs/precautionary-statements.json';
import euhData from '../../../functions/core/ghs/euh-statements.json';
import labelData from '../../../functions/core/ghs/label-elements.json';

const files = { hazardData, precautionData, euhData, labelData };

describe('GHS data files', () => {
  it('each names its source', () => {
    for (const [name, data] of Object.entries(files)) {
      expect(data.source.title, name).toMatch(/\S/);
      expect(data.source.en, name).toMatch(/Rev\.10|CLP|1272\/2008/);
    }
  });

  it('lists every code once, each of the kind its file holds', () => {
    const lists = [
      ['H', hazardData.statements],
      ['P', precautionData.statements],
      ['EUH', euhData.statements],
    ] as const;
    for (const [kind, list] of lists) {
      const codes = list.map((s) => s.code);
      expect(new Set(codes).size, kind).toBe(codes.length);
      for (const code of codes) expect(code.split('+').every((p) => kindOf(p) === kind), code).toBe(true);
    }
  });

  it('covers H200-H420 with the combined acute-toxicity statements and the CLP variants', () => {
    const { statements } = ghsCatalog();
    for (const code of ['H200', 'H225', 'H290', 'H300', 'H314', 'H336', 'H373', 'H400', 'H413', 'H420', 'H350i', 'H360Fd', 'H361fd']) {
      expect(statements.has(code), code).toBe(true);
    }
    for (const combo of ['H300+H310', 'H300+H310+H330', 'H301+H311+H331', 'H302+H312+H332', 'H315+H320', 'H400+H410']) {
      expect(statements.get(combo)?.parts.length, combo).toBe(combo.split('+').length);
    }
  });

  it('has a text for every part of every combined code', () => {
    const { statements } = ghsCatalog();
    for (const s of statements.values()) {
      expect(s.en, s.code).toMatch(/\S/);
      for (const part of s.parts) expect(statements.has(part), `${part} of ${s.code}`).toBe(true);
    }
  });

  it('has the English and Chinese texts labels print for common codes', () => {
    const { statements } = ghsCatalog();
    expect(statements.get('H225')).toMatchObject({ en: 'Highly flammable liquid and vapour', zh: '高度易燃液体和蒸气' });
    expect(statements.get('H301+H311+H331')?.zh).toBe('吞咽、皮肤接触或吸入会中毒');
    expect(statements.get('P305+P351+P338')?.zh).toBe('如进入眼睛：用水小心冲洗几分钟。如戴隐形眼镜并可方便地取出，取出隐形眼镜。继续冲洗。');
    expect(statements.get('EUH066')?.en).toBe('Repeated exposure may cause skin dryness or cracking.');
  });

  it('marks the medical-response statements Rev.10 replaced as superseded, not unknown', () => {
    const { statements } = ghsCatalog();
    expect(statements.get('P310')?.superseded).toBe(true);
    expect(statements.get('P301+P310')?.superseded).toBe(true);
    expect(statements.get('P316')?.superseded).toBe(false);
    expect(statements.get('P305+P351+P338')?.superseded).toBe(false);
  });

  it('has the nine pictograms GHS01-GHS09 with English and Chinese names', () => {
    const { pictograms } = ghsCatalog();
    expect([...pictograms.keys()]).toEqual(['GHS01', 'GHS02', 'GHS03', 'GHS04', 'GHS05', 'GHS06', 'GHS07', 'GHS08', 'GHS09']);
    expect(pictograms.get('GHS02')).toMatchObject({ en: 'Flame', zh: '火焰' });
    for (const p of pictograms.values()) expect(p.zh, p.code).toMatch(/\p{Script=Han}/u);
  });

  it('has the two signal words in both languages', () => {
    expect(ghsCatalog().signalWords).toEqual([
      { word: 'danger', en: 'Danger', zh: '危险' },
      { word: 'warning', en: 'Warning', zh: '警告' },
    ]);
  });

  it('names in its implication table only codes and pictograms that exist', () => {
    const { statements, pictograms, implications, pictogramPrecedence, statementOmissions } = ghsCatalog();
    for (const row of labelData.implications) {
      for (const code of row.codes) expect(statements.has(code), code).toBe(true);
      for (const p of row.pictograms) expect(pictograms.has(p as never), p).toBe(true);
      expect(['danger', 'warning', 'none']).toContain(row.signalWord);
    }
    for (const rule of pictogramPrecedence) {
      expect(pictograms.has(rule.if.pictogram)).toBe(true);
      expect(pictograms.has(rule.omit)).toBe(true);
    }
    const hazards = new Set([...implications.values()].flatMap((i) => i.hazards));
    for (const rule of pictogramPrecedence) {
      if (rule.forHazards !== 'all') for (const h of rule.forHazards) expect(hazards.has(h), h).toBe(true);
      if (rule.if.hazard) expect(hazards.has(rule.if.hazard)).toBe(true);
    }
    for (const rule of statementOmissions) {
      expect(statements.has(rule.keep)).toBe(true);
      expect(statements.has(rule.mayOmit)).toBe(true);
    }
  });

  it('implies the Annex 1 pictogram and signal word for single codes', () => {
    const { implications } = ghsCatalog();
    const expected: [string, string[], string][] = [
      ['H225', ['GHS02'], 'danger'],
      ['H226', ['GHS02'], 'warning'],
      ['H301', ['GHS06'], 'danger'],
      ['H302', ['GHS07'], 'warning'],
      ['H314', ['GHS05'], 'danger'],
      ['H319', ['GHS07'], 'warning'],
      ['H336', ['GHS07'], 'warning'],
      ['H350', ['GHS08'], 'danger'],
      ['H400', ['GHS09'], 'warning'],
      ['H411', ['GHS09'], 'none'],
      ['H412', [], 'none'],
      ['H290', ['GHS05'], 'warning'],
      ['H241', ['GHS01', 'GHS02'], 'danger'],
    ];
    for (const [code, pictos, word] of expected) {
      expect(implications.get(code), code).toMatchObject({ requiredPictograms: pictos, minSignalWord: word, maxSignalWord: word });
    }
  });

  it('demands of a code shared by several categories only what every category demands', () => {
    const { implications } = ghsCatalog();
    // Flammable solids: category 1 Danger, category 2 Warning, both the flame.
    expect(implications.get('H228')).toMatchObject({ requiredPictograms: ['GHS02'], minSignalWord: 'warning', maxSignalWord: 'danger' });
    // Flammable gas: category 1B flame + Danger, category 2 no pictogram + Warning.
    expect(implications.get('H221')).toMatchObject({ requiredPictograms: [], allowedPictograms: ['GHS02'], minSignalWord: 'warning' });
  });

  it('builds the catalog once', () => {
    expect(ghsCatalog()).toBe(ghsCatalog());
  });
});
