import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { OcrLine } from '../../local/model-server/lines';
import { cleanValue, fixCodeDigits, joinLines, readLabel, splitAtInnerStarts, statements } from '../../local/model-server/rules';
import { LABELS } from '../../samples/labels';

const fixture = (name: string): OcrLine[] =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as OcrLine[];
const expected = (id: string) =>
  JSON.parse(readFileSync(new URL(`../../samples/${id}.expected.json`, import.meta.url), 'utf8')) as {
    name: string;
    tag: string[];
    risk_notice: string[];
    pre_notice: string[];
    suppliers: { name: string; address: string; phone: string; emergency_phone: string };
  };
const text = (...lines: string[]): OcrLine[] => lines.map((t) => ({ text: t }));

describe('readLabel on real PP-OCRv4 output of the sample labels', () => {
  // The fixtures are the engine's lines for every sample label, boxes and
  // word spacing included (recorded by test/local/fixtures/record.ts). Two
  // Chinese labels read 眼晴 for 眼睛 and one English label reads `othen`:
  // OCR misreads the rules leave as they are, expected here exactly.
  const misread: Record<string, readonly [string, string]> = {
    'zh-ethanol': ['眼睛：', '眼晴：'],
    'zh-sodium-carbonate': ['眼睛：', '眼晴：'],
    'en-acetone': ['and other', 'and othen'],
  };
  for (const id of LABELS.map((l) => l.id)) {
    it(`reads every field of ${id} as the label prints it`, () => {
      const reading = readLabel(fixture(`ocr-${id}`));
      const want = expected(id);
      expect(reading.name).toBe(want.name);
      expect([reading.signalWord, ...reading.pictograms]).toEqual(want.tag);
      expect(reading.hazards).toEqual(want.risk_notice);
      const [printed, read] = misread[id] ?? ['', ''];
      expect(reading.precautions).toEqual(want.pre_notice.map((p) => (printed ? p.replace(printed, read) : p)));
      expect(reading.supplier).toEqual({
        name: want.suppliers.name,
        address: want.suppliers.address,
        phone: want.suppliers.phone,
        emergencyPhone: want.suppliers.emergency_phone,
      });
    });
  }

  it('takes the tallest line before the first section as the name, not the CAS line above it or pictogram noise', () => {
    const reading = readLabel([
      { text: 'CAS号：64-17-5', box: { x: 300, y: 10, width: 300, height: 24 } },
      { text: '乙醇', box: { x: 400, y: 60, width: 130, height: 70 } },
      { text: '!', box: { x: 500, y: 200, width: 20, height: 90 } },
      { text: 'Ethanol', box: { x: 400, y: 140, width: 120, height: 30 } },
      { text: '危险', box: { x: 450, y: 320, width: 110, height: 56 } },
      { text: '危险性说明', box: { x: 60, y: 400, width: 160, height: 34 } },
    ]);
    expect(reading.name).toBe('乙醇');
    expect(reading.signalWord).toBe('危险');
  });
});

describe('statements', () => {
  it('puts the space OCR drops between a code and Chinese text back, and joins codes as printed', () => {
    expect(statements(['H225高度易燃液体和蒸气。', 'H301 + H311+H331吞咽、皮肤接触或吸入会中毒。'])).toEqual([
      'H225 高度易燃液体和蒸气。',
      'H301+H311+H331 吞咽、皮肤接触或吸入会中毒。',
    ]);
  });

  it('separates a code glued to an English word, but keeps H-code suffix letters', () => {
    expect(statements(['P301+P330+P331IF SWALLOWED: Rinse mouth.', 'H360FD May damage fertility.'])).toEqual([
      'P301+P330+P331 IF SWALLOWED: Rinse mouth.',
      'H360FD May damage fertility.',
    ]);
  });

  it('joins wrapped lines: no space in Chinese, one space in English', () => {
    expect(
      statements([
        'P303+P361+P353如皮肤（或头发）沾染：立即脱掉所有沾染的衣服。用水',
        '清洗皮肤或淋浴。',
        'P210 Keep away from heat, hot surfaces, sparks, open flames and other',
        'ignition sources. No smoking.',
      ]),
    ).toEqual([
      'P303+P361+P353 如皮肤（或头发）沾染：立即脱掉所有沾染的衣服。用水清洗皮肤或淋浴。',
      'P210 Keep away from heat, hot surfaces, sparks, open flames and other ignition sources. No smoking.',
    ]);
  });

  it('with codes, a line after a full stop still continues the coded statement', () => {
    expect(statements(['P301+P330+P331 IF SWALLOWED: Rinse mouth.', 'Do NOT induce vomiting.'])).toEqual([
      'P301+P330+P331 IF SWALLOWED: Rinse mouth. Do NOT induce vomiting.',
    ]);
  });

  it('without codes, splits on the end of each sentence', () => {
    expect(statements(['高度易燃液体和蒸气。', '造成严重眼刺', '激。', 'Keep cool.'])).toEqual([
      '高度易燃液体和蒸气。',
      '造成严重眼刺激。',
      'Keep cool.',
    ]);
  });

  it('restores a lost full stop when most statements of the section have one', () => {
    expect(statements(['P233保持容器密闭。', 'P501按当地法规处置内装物/容器', 'P264 Wash hands thoroughly after handling.'])).toEqual([
      'P233 保持容器密闭。',
      'P501 按当地法规处置内装物/容器。',
      'P264 Wash hands thoroughly after handling.',
    ]);
    // Labels that print no full stops are left alone.
    expect(statements(['P233 Keep container tightly closed', 'P405 Store locked up', 'P501 Dispose of contents.'])).toEqual([
      'P233 Keep container tightly closed',
      'P405 Store locked up',
      'P501 Dispose of contents.',
    ]);
  });
});

describe('joinLines and cleanValue', () => {
  it('keeps a hyphenated word together', () => {
    expect(joinLines(['Store in a well-', 'ventilated place.'])).toBe('Store in a well-ventilated place.');
  });

  it('restores full-width punctuation after Chinese and removes stray spaces between Chinese characters', () => {
    expect(cleanValue('如误吞咽:立即呼叫 解毒中心或就医 (或医生)')).toBe('如误吞咽：立即呼叫解毒中心或就医（或医生）');
  });

  it('lower-cases case-alike letters OCR read as capitals inside a word, and nothing else', () => {
    expect(cleanValue('Rinse for seVeral minutes. Call a POISON CENTER/doctor.')).toBe(
      'Rinse for several minutes. Call a POISON CENTER/doctor.',
    );
  });
});

describe('sections and headings', () => {
  it('drops precaution sub-headings, also when the first statement follows on the same line', () => {
    const reading = readLabel(
      text('防范说明', '预防措施', 'P210 远离热源。', '【事故响应】P301+P310 如误吞咽：立即呼叫解毒中心或就医。', 'Storage:', 'P405 Store locked up.'),
    );
    expect(reading.precautions).toEqual(['P210 远离热源。', 'P301+P310 如误吞咽：立即呼叫解毒中心或就医。', 'P405 Store locked up.']);
  });

  it('keeps a statement that merely starts with a sub-heading word', () => {
    const reading = readLabel(text('Precautionary statements', 'Storage area must be ventilated.'));
    expect(reading.precautions).toEqual(['Storage area must be ventilated.']);
  });

  it('reads content printed on the heading line', () => {
    const reading = readLabel(text('危险性说明：H225 高度易燃液体和蒸气。', 'Precautionary statements: P233 Keep container tightly closed.'));
    expect(reading.hazards).toEqual(['H225 高度易燃液体和蒸气。']);
    expect(reading.precautions).toEqual(['P233 Keep container tightly closed.']);
  });

  it('reads coded statements of a label without headings', () => {
    const reading = readLabel(text('Acetone', 'DANGER', 'H225 Highly flammable liquid and vapour.', 'P210 Keep away from heat.', 'P233 Keep container tightly closed.'));
    expect(reading.name).toBe('Acetone');
    expect(reading.hazards).toEqual(['H225 Highly flammable liquid and vapour.']);
    expect(reading.precautions).toEqual(['P210 Keep away from heat.', 'P233 Keep container tightly closed.']);
    expect(reading.pictograms).toEqual(['GHS02']);
  });

  it('ends a section at a reference line instead of gluing it to the last statement', () => {
    const reading = readLabel(text('防范说明', 'P501 按当地法规处置内装物/容器。', '请参阅化学品安全技术说明书', '批号：20240101'));
    expect(reading.precautions).toEqual(['P501 按当地法规处置内装物/容器。']);
  });

  it('answers null and empty lists for a label without any of it', () => {
    const reading = readLabel(text('*', '!'));
    expect(reading).toEqual({
      name: null,
      signalWord: null,
      pictograms: [],
      hazards: [],
      precautions: [],
      supplier: { name: null, address: null, phone: null, emergencyPhone: null },
    });
  });
});

describe('signal word and name', () => {
  it('reads a labelled signal word and a labelled product name', () => {
    const reading = readLabel(text('化学品安全标签', '产品名称：碳酸钠', '信号词：警告', '危险性说明', 'H319 造成严重眼刺激。'));
    expect(reading.name).toBe('碳酸钠');
    expect(reading.signalWord).toBe('警告');
    expect(reading.pictograms).toEqual(['GHS07']);
  });

  it('finds the signal word inside a bilingual line, and never in a heading', () => {
    const reading = readLabel(text('Methanol', '危险 DANGER', '危险性说明', 'H225 高度易燃液体和蒸气。'));
    expect(reading.signalWord).toBe('危险');
    expect(readLabel(text('Methanol', '危险性说明', 'H225 高度易燃液体和蒸气。')).signalWord).toBeNull();
  });
});

describe('supplier', () => {
  it('reads labelled lines, continues a wrapped address, and splits two labels on one line', () => {
    const reading = readLabel(
      text(
        '供应商：华东示例化工有限公司',
        '地址：浙江省杭州市滨江区',
        '示例路88号',
        '电话： 0571-87654321 传真：0571-87654322',
        '应急咨询电话:0571-86695555',
      ),
    );
    expect(reading.supplier).toEqual({
      name: '华东示例化工有限公司',
      address: '浙江省杭州市滨江区示例路88号',
      phone: '0571-87654321',
      emergencyPhone: '0571-86695555',
    });
  });

  it('knows the English labels, and that a word starting with "Tel" is not one', () => {
    const reading = readLabel(
      text(
        'Manufacturer: Northfield Example Chemicals Ltd',
        'Address: 4 Riverside Park,',
        'Telford TF1 1AA, United Kingdom',
        'Telephone: +44 1952 000000',
        'Emergency telephone (24h): +44 20 7946 0999',
        'E-mail: info@example.com',
      ),
    );
    expect(reading.supplier).toEqual({
      name: 'Northfield Example Chemicals Ltd',
      address: '4 Riverside Park, Telford TF1 1AA, United Kingdom',
      phone: '+44 1952 000000',
      emergencyPhone: '+44 20 7946 0999',
    });
  });
});

describe('fixCodeDigits', () => {
  it('reads an O that OCR put in a code as 0, at the start of a line or after +', () => {
    expect(fixCodeDigits('EUHo66 Repeated exposure may cause skin dryness.')).toBe('EUH066 Repeated exposure may cause skin dryness.');
    expect(fixCodeDigits('P3O5+P351 IF IN EYES')).toBe('P305+P351 IF IN EYES');
    expect(fixCodeDigits('H301+H3O1')).toBe('H301+H301');
  });

  it('leaves words alone', () => {
    expect(fixCodeDigits('Hoo ha')).toBe('Hoo ha');
    expect(fixCodeDigits('Poo1 is not a code')).toBe('Poo1 is not a code');
    expect(fixCodeDigits('Store at H20oC')).toBe('Store at H20oC');
  });

  it('lets a misread code still start its own statement', () => {
    const reading = readLabel(text('Hazard statements', 'H336 May cause drowsiness or dizziness.', 'EUHo66 Repeated exposure may cause skin dryness or cracking.'));
    expect(reading.hazards).toEqual([
      'H336 May cause drowsiness or dizziness.',
      'EUH066 Repeated exposure may cause skin dryness or cracking.',
    ]);
  });
});

describe('phone and emergency phone on one line', () => {
  it('fills both fields from an English line, whatever the gap between them', () => {
    for (const line of [
      'Tel: +1 555 0100    Emergency: +1 555 0199',
      'Tel: +1 555 0100 Emergency: +1 555 0199',
      'Phone: +1 555 0100 | Emergency telephone: +1 555 0199',
    ]) {
      const reading = readLabel(text('Supplier: Example Co.', line));
      expect(reading.supplier).toMatchObject({ phone: '+1 555 0100', emergencyPhone: '+1 555 0199' });
    }
  });

  it('takes a label with a prefix as one label (24h Emergency), not a stray word in the phone', () => {
    const reading = readLabel(text('Supplier: Example Co.', 'Phone: +353 21 555 0147 24h Emergency: +353 21 555 0911'));
    expect(reading.supplier).toMatchObject({ phone: '+353 21 555 0147', emergencyPhone: '+353 21 555 0911' });
  });

  it('fills both fields from a Chinese line, with or without a space before the second label', () => {
    for (const line of ['电话：0571-87654321 应急电话：0571-86695555', '电话：0571-87654321应急咨询电话：0571-86695555']) {
      const reading = readLabel(text('供应商：华东示例化工有限公司', line));
      expect(reading.supplier).toMatchObject({ phone: '0571-87654321', emergencyPhone: '0571-86695555' });
    }
  });
});

describe('statement boundaries', () => {
  it('ends a statement at the next code in mid-line, and lets a wrapped one run on until then', () => {
    const reading = readLabel(
      text(
        'Hazard statements',
        'H290 May be corrosive to metals. H314 Causes severe skin burns and eye',
        'damage. H400 Very toxic to aquatic life.',
        'Precautionary statements',
        'P234 Keep only in original packaging. P260 Do not breathe',
        'mist/vapours/spray. P405 Store locked up. P501',
        'Dispose of contents/container in accordance with local regulations.',
      ),
    );
    expect(reading.hazards).toEqual([
      'H290 May be corrosive to metals.',
      'H314 Causes severe skin burns and eye damage.',
      'H400 Very toxic to aquatic life.',
    ]);
    expect(reading.precautions).toEqual([
      'P234 Keep only in original packaging.',
      'P260 Do not breathe mist/vapours/spray.',
      'P405 Store locked up.',
      'P501 Dispose of contents/container in accordance with local regulations.',
    ]);
  });

  it('ends a Chinese statement at a code that follows it without a space', () => {
    const reading = readLabel(text('危险性说明', 'H225 高度易燃液体和蒸气。H319 造成严重眼刺激。'));
    expect(reading.hazards).toEqual(['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。']);
  });

  it('ends a statement at a section heading on its own line or in mid-line', () => {
    const reading = readLabel(
      text(
        'Hazard statements',
        'H336 May cause drowsiness or dizziness. Precautionary statements: P261 Avoid breathing vapours.',
        'P501 Dispose of contents/container in accordance with local',
        'regulations.',
        'Supplemental information',
        'EUH066 Repeated exposure may cause skin dryness or cracking.',
        'Restricted to professional users.',
      ),
    );
    expect(reading.hazards).toEqual([
      'H336 May cause drowsiness or dizziness.',
      'EUH066 Repeated exposure may cause skin dryness or cracking. Restricted to professional users.',
    ]);
    expect(reading.precautions).toEqual([
      'P261 Avoid breathing vapours.',
      'P501 Dispose of contents/container in accordance with local regulations.',
    ]);
  });

  it('ends a statement at a supplier label in mid-line, in English and in Chinese', () => {
    const en = readLabel(text('Precautionary statements', 'P405 Store locked up. Supplier: Example Co.'));
    expect(en.precautions).toEqual(['P405 Store locked up.']);
    expect(en.supplier.name).toBe('Example Co.');
    const zh = readLabel(text('防范说明', 'P405 存放处须加锁。供应商：示例化工有限公司'));
    expect(zh.precautions).toEqual(['P405 存放处须加锁。']);
    expect(zh.supplier.name).toBe('示例化工有限公司');
  });

  it('ends a statement at a Chinese heading in mid-line', () => {
    const reading = readLabel(text('危险性说明：H225 高度易燃液体和蒸气。防范说明：P210 远离热源。'));
    expect(reading.hazards).toEqual(['H225 高度易燃液体和蒸气。']);
    expect(reading.precautions).toEqual(['P210 远离热源。']);
  });
});

describe('splitAtInnerStarts', () => {
  it('keeps code groups, numbers and labels at the start of a line whole', () => {
    expect(splitAtInnerStarts('P305+P351+P338 IF IN EYES: Rinse. P310 Call a doctor.')).toEqual([
      'P305+P351+P338 IF IN EYES: Rinse.',
      'P310 Call a doctor.',
    ]);
    expect(splitAtInnerStarts('P301 + P310 IF SWALLOWED: Call a doctor.')).toEqual(['P301 + P310 IF SWALLOWED: Call a doctor.']);
    expect(splitAtInnerStarts('CAS No. 1310-73-2 UN 1823')).toEqual(['CAS No. 1310-73-2 UN 1823']);
    expect(splitAtInnerStarts('应急咨询电话:0571-86695555')).toEqual(['应急咨询电话:0571-86695555']);
  });

  it('does not take a word that merely contains a label or a heading word for one', () => {
    expect(splitAtInnerStarts('Address: 4 Riverside Park, Telford TF1 1AA')).toEqual(['Address: 4 Riverside Park, Telford TF1 1AA']);
    expect(splitAtInnerStarts('P280 Wear eye protection/face protection.')).toEqual(['P280 Wear eye protection/face protection.']);
  });
});

describe('OCR letter clean-ups', () => {
  it('lower-cases a case-alike capital that starts a wrapped line in mid-sentence, not after a full stop', () => {
    expect(statements(['P301+P330+P331 IF SWALLOWED: Rinse mouth. Do NOT induce', 'Vomiting.'])).toEqual([
      'P301+P330+P331 IF SWALLOWED: Rinse mouth. Do NOT induce vomiting.',
    ]);
    expect(statements(['P233 Keep container tightly closed.', 'Store locked up.'])).toEqual([
      'P233 Keep container tightly closed. Store locked up.',
    ]);
  });

  it('reads an l between capitals as I', () => {
    expect(cleanValue('Call a POlSON CENTER/doctor. Keep cool.')).toBe('Call a POISON CENTER/doctor. Keep cool.');
  });
});
