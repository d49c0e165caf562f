import { describe, expect, it } from 'vitest';
import { ghsCatalog } from '../../../functions/core/ghs/catalog';
import { compareText, containment, inferCode, languageOf, textFeatures } from '../../../functions/core/ghs/text-match';

const st = (code: string) => ghsCatalog().statements.get(code)!;

describe('text features', () => {
  it('folds British and American spellings and plurals together', () => {
    expect(textFeatures('vapours')).toEqual(textFeatures('vapor'));
    expect(textFeatures('desensitised')).toEqual(textFeatures('desensitized'));
  });

  it('makes Chinese character bigrams and drops punctuation', () => {
    expect(textFeatures('造成严重眼刺激。')).toEqual(new Set(['造成', '成严', '严重', '重眼', '眼刺', '刺激']));
  });

  it('tells Chinese from English', () => {
    expect(languageOf('H225 高度易燃')).toBe('zh');
    expect(languageOf('Keep cool.')).toBe('en');
  });

  it('measures containment from the smaller side', () => {
    expect(containment(new Set(['a', 'b']), new Set(['a', 'b', 'c', 'd']))).toBe(1);
    expect(containment(new Set(), new Set(['a']))).toBe(0);
  });
});

describe('compareText', () => {
  it('accepts a text that picks one of the standard alternatives', () => {
    expect(compareText(st('P261'), 'Avoid breathing vapours.')?.contradicts).toBe(false);
    expect(compareText(st('P260'), '不要吸入蒸气。')?.contradicts).toBe(false);
  });

  it('accepts a text that fills in the organs', () => {
    expect(compareText(st('H370'), '对视觉器官、中枢神经系统造成损害。')?.contradicts).toBe(false);
    expect(compareText(st('H370'), 'Causes damage to organs (eyes, central nervous system)')?.contradicts).toBe(false);
  });

  it('accepts an older revision wording and another Chinese translation', () => {
    expect(compareText(st('P301+P310'), 'IF SWALLOWED: Immediately call a POISON CENTER or doctor/physician.')?.contradicts).toBe(false);
    expect(compareText(st('P301+P310'), '如误吞咽：立即呼叫解毒中心或就医。')?.contradicts).toBe(false);
  });

  it("rejects another hazard's text", () => {
    const cmp = compareText(st('H225'), '造成严重眼刺激');
    expect(cmp).toMatchObject({ contradicts: true, betterMatch: { code: 'H319' } });
  });

  it('rejects a near miss that is exactly another code', () => {
    expect(compareText(st('H319'), 'Causes serious eye damage.')).toMatchObject({ contradicts: true, betterMatch: { code: 'H318' } });
    expect(compareText(st('H226'), 'Highly flammable liquid and vapour')).toMatchObject({ contradicts: true, betterMatch: { code: 'H225' } });
  });

  it('does not blame a combined code for matching one of its parts', () => {
    expect(compareText(st('H301+H311+H331'), 'Toxic if swallowed, in contact with skin or if inhaled')?.betterMatch).toBeUndefined();
  });

  it('has nothing to say without a standard text in that language', () => {
    expect(compareText(st('EUH066'), '反复接触可能导致皮肤干燥或开裂')).toBeUndefined();
    expect(compareText(st('H225'), '')).toBeUndefined();
  });
});

describe('inferCode', () => {
  it('finds the code of a standard text printed without one', () => {
    expect(inferCode('H', '高度易燃液体和蒸气')?.code).toBe('H225');
    expect(inferCode('P', 'Keep container tightly closed.')?.code).toBe('P233');
  });

  it('finds nothing for a text that is no standard statement', () => {
    expect(inferCode('H', 'Store at room temperature')).toBeUndefined();
  });
});
