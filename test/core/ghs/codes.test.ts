import { describe, expect, it } from 'vitest';
import { codeGroups } from '../../../functions/core/ghs/codes';

describe('codeGroups', () => {
  it('reads a code and its Chinese text', () => {
    expect(codeGroups('H225 高度易燃液体和蒸气。')).toEqual([{ code: 'H225', parts: ['H225'], kind: 'H', text: '高度易燃液体和蒸气。' }]);
  });

  it('reads a combined code with a colon after it', () => {
    const [g] = codeGroups('H301+H311+H331: Toxic if swallowed, in contact with skin or if inhaled');
    expect(g).toMatchObject({ code: 'H301+H311+H331', parts: ['H301', 'H311', 'H331'], text: 'Toxic if swallowed, in contact with skin or if inhaled' });
  });

  it('reads full-width plus signs and spaces around plus signs', () => {
    expect(codeGroups('P303＋P361＋P353 如皮肤(或头发)沾染：立即脱掉')[0]?.code).toBe('P303+P361+P353');
    expect(codeGroups('P305 + P351 + P338 IF IN EYES: Rinse')[0]?.code).toBe('P305+P351+P338');
    expect(codeGroups('Ｐ３０１＋Ｐ３１０ 如误吞咽')[0]?.code).toBe('P301+P310');
  });

  it('reads EUH codes without seeing an H-code inside them', () => {
    expect(codeGroups('EUH066 Repeated exposure may cause skin dryness or cracking.')).toEqual([
      { code: 'EUH066', parts: ['EUH066'], kind: 'EUH', text: 'Repeated exposure may cause skin dryness or cracking.' },
    ]);
  });

  it('keeps the CLP suffixes and leaves text glued to a code alone', () => {
    expect(codeGroups('H360Fd May damage fertility.')[0]?.code).toBe('H360Fd');
    expect(codeGroups('H350i May cause cancer by inhalation')[0]?.code).toBe('H350i');
    expect(codeGroups('EUH209A Can become flammable in use.')[0]?.code).toBe('EUH209A');
    expect(codeGroups('H225Highly flammable liquid')[0]).toMatchObject({ code: 'H225', text: 'Highly flammable liquid' });
  });

  it('takes the text before a code that stands last', () => {
    expect(codeGroups('Causes serious eye irritation (H319)')[0]).toMatchObject({ code: 'H319', text: 'Causes serious eye irritation' });
  });

  it('splits two statements in one string and gives each its own text', () => {
    expect(codeGroups('H302 Harmful if swallowed; H312 Harmful in contact with skin').map((g) => [g.code, g.text])).toEqual([
      ['H302', 'Harmful if swallowed'],
      ['H312', 'Harmful in contact with skin'],
    ]);
  });

  it('marks a group that joins different kinds as mixed', () => {
    expect(codeGroups('H301+P310 text')[0]?.kind).toBe('mixed');
  });

  it('gives a code-less string one group with an empty code', () => {
    expect(codeGroups('高度易燃液体和蒸气')).toEqual([{ code: '', parts: [], kind: 'mixed', text: '高度易燃液体和蒸气' }]);
  });

  it('does not read four-digit numbers or codes inside words as codes', () => {
    expect(codeGroups('Call 1-800-H2250 or SHP2251')[0]?.code).toBe('');
  });
});
