import { describe, expect, it } from 'vitest';
import { formatTable, languageOf, levenshtein, lowestCells, normaliseText, scoreValue, stringSimilarity, summarise } from '../../local/eval/score';

describe('text similarity', () => {
  it('counts edits in code points, so a Chinese character is one edit', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('如进入眼睛', '如进入眼晴')).toBe(1);
    expect(levenshtein('', 'abc')).toBe(3);
  });

  it('is 1 − distance / longer length, after trimming and collapsing whitespace', () => {
    expect(normaliseText('  H225\n高度  易燃 ')).toBe('H225 高度 易燃');
    expect(stringSimilarity(' Acetone ', 'Acetone')).toBe(1);
    expect(stringSimilarity('眼睛', '眼晴')).toBe(0.5);
    expect(stringSimilarity('', '')).toBe(1);
  });
});

describe('scoreValue', () => {
  it('scores strings', () => {
    expect(scoreValue('Acetone', 'Acetone')).toEqual({ exact: true, similarity: 1 });
    expect(scoreValue('Acetone', 'Acetane')).toEqual({ exact: false, similarity: 1 - 1 / 7 });
  });

  it('pairs list items regardless of order', () => {
    expect(scoreValue(['DANGER', 'GHS02', 'GHS07'], ['GHS07', 'DANGER', 'GHS02'])).toEqual({ exact: true, similarity: 1 });
  });

  it('charges missing and extra items', () => {
    expect(scoreValue(['a', 'b', 'c', 'd'], ['a', 'b'])).toEqual({ exact: false, similarity: 0.5 });
    expect(scoreValue(['a'], ['a', 'x', 'y', 'z'])).toEqual({ exact: false, similarity: 0.25 });
  });

  it('pairs each item with its closest counterpart', () => {
    const s = scoreValue(['H225 Highly flammable.', 'H319 Causes eye irritation.'], ['H319 Causes eye irritatlon.', 'H225 Highly flammable.']);
    expect(s.exact).toBe(false);
    expect(s.similarity).toBeCloseTo((1 + (1 - 1 / 27)) / 2, 10);
  });

  it('averages object properties over both sides', () => {
    const expected = { name: 'Co', address: 'Street 1', phone: '123', emergency_phone: '999' };
    expect(scoreValue(expected, { ...expected })).toEqual({ exact: true, similarity: 1 });
    expect(scoreValue(expected, { ...expected, phone: null })).toEqual({ exact: false, similarity: 0.75 });
    expect(scoreValue({ name: 'Co' }, { name: 'Co', fax: '1' })).toEqual({ exact: false, similarity: 0.5 });
  });

  it('treats empty as absent, and absent against present as 0', () => {
    expect(scoreValue(null, [])).toEqual({ exact: true, similarity: 1 });
    expect(scoreValue(null, '  ')).toEqual({ exact: true, similarity: 1 });
    expect(scoreValue(null, { name: null, phone: '' })).toEqual({ exact: true, similarity: 1 });
    expect(scoreValue('Acetone', null)).toEqual({ exact: false, similarity: 0 });
    expect(scoreValue(null, 'Acetone')).toEqual({ exact: false, similarity: 0 });
  });

  it('compares mismatched shapes by their text, never as exact', () => {
    expect(scoreValue('Acetone', ['Acetone'])).toEqual({ exact: false, similarity: 1 });
  });
});

describe('summarise and formatTable', () => {
  const cells = [
    { field: 'name', score: { exact: true, similarity: 1 } },
    { field: 'name', score: { exact: false, similarity: 0.5 } },
    { field: 'tag', score: { exact: true, similarity: 1 } },
    { field: 'tag', score: { exact: false, similarity: 0 }, error: true },
  ];

  it('gives per-field rates and means, and the mean of the field means overall', () => {
    expect(summarise(cells)).toEqual({
      fields: [
        { field: 'name', count: 2, exactRate: 0.5, meanSimilarity: 0.75, errors: 0, languages: [] },
        { field: 'tag', count: 2, exactRate: 0.5, meanSimilarity: 0.5, errors: 1, languages: [] },
      ],
      overall: { count: 4, exactRate: 0.5, meanSimilarity: 0.625, languages: [] },
    });
  });

  it('prints one row per field and a total row', () => {
    const lines = formatTable(summarise(cells)).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^field\s+images\s+exact\s+similarity\s+errors$/);
    expect(lines[2]).toMatch(/^name\s+2\s+50%\s+0\.750\s+0$/);
    expect(lines[4]).toMatch(/^all fields\s+4\s+50%\s+0\.625\s+1$/);
  });
});

describe('per language', () => {
  const cells = [
    { field: 'name', language: 'en', image: 'en-a.png', score: { exact: true, similarity: 1 } },
    { field: 'name', language: 'zh', image: 'zh-a.png', score: { exact: false, similarity: 0.5 } },
    { field: 'tag', language: 'en', image: 'en-a.png', score: { exact: false, similarity: 0.8 } },
    { field: 'tag', language: 'zh', image: 'zh-a.png', score: { exact: true, similarity: 1 } },
  ];

  it('tells a Chinese label from an English one by its expected values', () => {
    expect(languageOf({ name: '甲醇', tag: ['危险'] })).toBe('zh');
    expect(languageOf({ name: 'Acetone', suppliers: { name: 'Co', phone: null } })).toBe('en');
  });

  it('gives each field and the total per language', () => {
    const summary = summarise(cells);
    expect(summary.fields[0]!.languages).toEqual([
      { language: 'en', count: 1, exactRate: 1, meanSimilarity: 1 },
      { language: 'zh', count: 1, exactRate: 0, meanSimilarity: 0.5 },
    ]);
    expect(summary.overall.languages).toEqual([
      { language: 'en', count: 2, exactRate: 0.5, meanSimilarity: 0.9 },
      { language: 'zh', count: 2, exactRate: 0.5, meanSimilarity: 0.75 },
    ]);
  });

  it('prints an exact and a similarity column for each language', () => {
    const lines = formatTable(summarise(cells)).split('\n');
    expect(lines[0]).toMatch(/^field\s+images\s+exact\s+similarity\s+en exact\s+en similarity\s+zh exact\s+zh similarity\s+errors$/);
    expect(lines[2]).toMatch(/^name\s+2\s+50%\s+0\.750\s+100%\s+1\.000\s+0%\s+0\.500\s+0$/);
    expect(lines[4]).toMatch(/^all fields\s+4\s+50%\s+0\.825\s+50%\s+0\.900\s+50%\s+0\.750\s+0$/);
  });

  it('lists the fields that did not match exactly, lowest first', () => {
    expect(lowestCells(cells).map((c) => [c.field, c.image])).toEqual([
      ['name', 'zh-a.png'],
      ['tag', 'en-a.png'],
    ]);
  });
});
