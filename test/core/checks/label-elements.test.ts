import { describe, expect, it } from 'vitest';
import { checkPictograms, checkSignalWord, readLabelElements } from '../../../functions/core/checks/label-elements';

const codes = (findings: { code: string }[]) => findings.map((f) => f.code);

describe('readLabelElements', () => {
  it('reads pictogram codes, pictogram names and signal words in both languages', () => {
    expect(readLabelElements(['危险', 'GHS02', 'ghs 7', 'Flame over circle', '骷髅和交叉骨', 'WARNING', 'sticker'])).toEqual({
      pictograms: ['GHS02', 'GHS07', 'GHS03', 'GHS06'],
      signalWords: [
        { word: 'danger', language: 'zh', raw: '危险' },
        { word: 'warning', language: 'en', raw: 'WARNING' },
      ],
      unrecognised: ['sticker'],
    });
  });

  it('reads one comma-separated string and refuses a number', () => {
    expect(readLabelElements('DANGER, GHS05')?.pictograms).toEqual(['GHS05']);
    expect(readLabelElements(7)).toBeUndefined();
  });
});

describe('pictograms', () => {
  it('finds nothing wrong when the pictograms match the statements', () => {
    expect(checkPictograms(['DANGER', 'GHS02', 'GHS07'], 'tag', ['H225 Highly flammable liquid and vapour.', 'H319 Causes serious eye irritation.'])).toEqual([]);
  });

  it('reports a required pictogram that is missing, naming the statements', () => {
    expect(checkPictograms(['危险', 'GHS02'], 'tag', ['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。'])).toEqual([
      expect.objectContaining({ code: 'GHS_PICTOGRAM_MISSING', severity: 'error', values: ['GHS07', 'H319'], message: expect.stringContaining('H319 require GHS07') }),
    ]);
  });

  it('reads the parts of a combined code', () => {
    expect(codes(checkPictograms(['DANGER'], 'tag', ['H301+H311+H331 Toxic if swallowed, in contact with skin or if inhaled']))).toEqual(['GHS_PICTOGRAM_MISSING']);
  });

  it('reports a pictogram nothing calls for', () => {
    expect(checkPictograms(['WARNING', 'GHS07', 'GHS09'], 'tag', ['H319 Causes serious eye irritation.'])).toEqual([
      expect.objectContaining({ code: 'GHS_PICTOGRAM_UNEXPECTED', severity: 'warning', values: ['GHS09'] }),
    ]);
  });

  it('drops the exclamation mark when the skull and crossbones applies, and flags it if shown', () => {
    const hazards = ['H301 Toxic if swallowed', 'H315 Causes skin irritation'];
    expect(checkPictograms(['DANGER', 'GHS06'], 'tag', hazards)).toEqual([]);
    expect(checkPictograms(['DANGER', 'GHS06', 'GHS07'], 'tag', hazards)).toEqual([
      expect.objectContaining({ code: 'GHS_PICTOGRAM_UNEXPECTED', values: ['GHS07'], message: expect.stringContaining('skull and crossbones') }),
    ]);
  });

  it('drops the exclamation mark for irritation under the corrosion symbol, not for other hazards', () => {
    expect(checkPictograms(['DANGER', 'GHS05'], 'tag', ['H314', 'H319'])).toEqual([]);
    expect(checkPictograms(['DANGER', 'GHS05'], 'tag', ['H314', 'H336'])).toEqual([
      expect.objectContaining({ code: 'GHS_PICTOGRAM_MISSING', values: ['GHS07', 'H336'] }),
    ]);
  });

  it('drops the exclamation mark for skin sensitisation under respiratory sensitisation', () => {
    expect(checkPictograms(['DANGER', 'GHS08'], 'tag', ['H334', 'H317'])).toEqual([]);
    expect(codes(checkPictograms(['DANGER', 'GHS08'], 'tag', ['H350', 'H317']))).toEqual(['GHS_PICTOGRAM_MISSING']);
  });

  it('allows a pictogram one category of a shared code calls for', () => {
    // H221: category 1B has the flame, category 2 none.
    expect(checkPictograms(['DANGER', 'GHS02'], 'tag', ['H221 Flammable gas'])).toEqual([]);
    expect(checkPictograms(['WARNING'], 'tag', ['H221 Flammable gas'])).toEqual([]);
  });

  it('says nothing about extra pictograms when a statement has no known label elements', () => {
    expect(checkPictograms(['GHS01', 'GHS02'], 'tag', ['H230 May react explosively even in the absence of air', 'H220'])).toEqual([]);
  });

  it('says nothing without hazard statements, and notes unrecognised items', () => {
    expect(checkPictograms(['GHS02'], 'tag', null)).toEqual([]);
    expect(codes(checkPictograms(['GHS02', 'flammable-ish'], 'tag', []))).toEqual(['GHS_TAG_UNRECOGNISED']);
  });

  it('infers codes from Chinese statements printed without codes', () => {
    expect(codes(checkPictograms(['危险'], 'tag', ['高度易燃液体和蒸气']))).toEqual(['GHS_PICTOGRAM_MISSING']);
  });
});

describe('signal word', () => {
  it('accepts the strongest word the statements demand, in either language', () => {
    expect(checkSignalWord(['DANGER', 'GHS02', 'GHS07'], 'tag', ['H225', 'H319'])).toEqual([]);
    expect(checkSignalWord(['警告', 'GHS07'], 'tag', ['H319 造成严重眼刺激。'])).toEqual([]);
    expect(checkSignalWord(['危险', 'DANGER', 'GHS05'], 'tag', ['H314'])).toEqual([]);
  });

  it('reports a missing signal word', () => {
    expect(checkSignalWord(['GHS02'], 'tag', ['H226 Flammable liquid and vapour'])).toEqual([
      expect.objectContaining({ code: 'GHS_SIGNAL_WORD_MISSING', severity: 'error', values: ['warning', 'H226'] }),
    ]);
  });

  it('reports WARNING where DANGER is demanded', () => {
    expect(checkSignalWord(['WARNING', 'GHS02'], 'tag', ['H225', 'H319'])).toEqual([
      expect.objectContaining({ code: 'GHS_SIGNAL_WORD_TOO_WEAK', values: ['warning', 'danger', 'H225'] }),
    ]);
  });

  it('reports both words, or one word twice', () => {
    expect(codes(checkSignalWord(['DANGER', 'WARNING'], 'tag', ['H225']))).toEqual(['GHS_SIGNAL_WORD_DOUBLED']);
    expect(codes(checkSignalWord(['危险', '危险'], 'tag', []))).toEqual(['GHS_SIGNAL_WORD_DOUBLED']);
  });

  it('reports a word stronger than any statement allows', () => {
    expect(checkSignalWord(['DANGER'], 'tag', ['H319'])).toEqual([expect.objectContaining({ code: 'GHS_SIGNAL_WORD_TOO_STRONG', severity: 'warning' })]);
    expect(codes(checkSignalWord(['WARNING'], 'tag', ['H412 Harmful to aquatic life with long lasting effects']))).toEqual(['GHS_SIGNAL_WORD_TOO_STRONG']);
  });

  it('accepts DANGER for a code whose categories range up to Danger', () => {
    expect(checkSignalWord(['DANGER', 'GHS02'], 'tag', ['H228 Flammable solid'])).toEqual([]);
    expect(checkSignalWord(['WARNING', 'GHS02'], 'tag', ['H228 Flammable solid'])).toEqual([]);
  });

  it('needs no signal word where no statement demands one', () => {
    expect(checkSignalWord([], 'tag', ['H411 Toxic to aquatic life with long lasting effects'])).toEqual([]);
  });

  it('never throws on odd input', () => {
    for (const [tag, hazards] of [[null, null], [42, ['H225']], [['DANGER'], 42], [[{}], [{}]], [undefined, 'H225']] as const) {
      expect(() => checkSignalWord(tag, 'tag', hazards)).not.toThrow();
      expect(() => checkPictograms(tag, 'tag', hazards)).not.toThrow();
    }
    expect(codes(checkSignalWord(42, 'tag', ['H225']))).toEqual(['CHECK_INPUT_UNREADABLE']);
  });
});
