import { describe, expect, it } from 'vitest';
import { hazardCodes, inferPictograms } from '../../local/model-server/pictograms';

describe('hazardCodes', () => {
  it('reads single and combined codes, drops suffix letters and EUH codes, and survives glued text', () => {
    expect(hazardCodes('H301+H311+H331 Toxic if swallowed, in contact with skin or if inhaled.')).toEqual(['H301', 'H311', 'H331']);
    expect(hazardCodes('H360FD May damage fertility.')).toEqual(['H360']);
    expect(hazardCodes('H225Highly flammable')).toEqual(['H225']);
    expect(hazardCodes('EUH066 Repeated exposure may cause skin dryness or cracking.')).toEqual([]);
    expect(hazardCodes('CH300 is not a code')).toEqual([]);
  });
});

describe('inferPictograms from H-codes', () => {
  it('maps each hazard class to its pictogram, in ascending order', () => {
    expect(inferPictograms(['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。'])).toEqual(['GHS02', 'GHS07']);
    expect(inferPictograms(['H336 May cause drowsiness.', 'H225 Highly flammable liquid and vapour.'])).toEqual(['GHS02', 'GHS07']);
    expect(inferPictograms(['H290 May be corrosive to metals.', 'H314 Causes severe skin burns and eye damage.'])).toEqual(['GHS05']);
    expect(inferPictograms(['H410 Very toxic to aquatic life with long lasting effects.'])).toEqual(['GHS09']);
    expect(inferPictograms(['H241 Heating may cause a fire or explosion.'])).toEqual(['GHS01', 'GHS02']);
    expect(inferPictograms(['H280 Contains gas under pressure.', 'H270 May cause or intensify fire.'])).toEqual(['GHS03', 'GHS04']);
  });

  it('leaves out GHS07 when GHS06 applies', () => {
    expect(inferPictograms(['H225 …', 'H301+H311+H331 …', 'H370 …', 'H319 …'])).toEqual(['GHS02', 'GHS06', 'GHS08']);
  });

  it('leaves out GHS07 for irritation alongside GHS05, but keeps it for other reasons', () => {
    expect(inferPictograms(['H314 …', 'H319 …'])).toEqual(['GHS05']);
    expect(inferPictograms(['H314 …', 'H335 May cause respiratory irritation.'])).toEqual(['GHS05', 'GHS07']);
  });

  it('leaves out GHS07 for skin sensitisation alongside GHS08 for respiratory sensitisation', () => {
    expect(inferPictograms(['H317 …', 'H334 …'])).toEqual(['GHS08']);
    expect(inferPictograms(['H317 …', 'H372 …'])).toEqual(['GHS07', 'GHS08']);
  });

  it('adds nothing for codes whose class has no pictogram, whatever their wording', () => {
    expect(inferPictograms(['H227 Combustible liquid.', 'H412 Harmful to aquatic life with long lasting effects.'])).toEqual([]);
    expect(inferPictograms(['EUH066 Repeated exposure may cause skin dryness or cracking.'])).toEqual([]);
  });
});

describe('inferPictograms from wording, for statements printed without codes', () => {
  it('reads Chinese hazard wording', () => {
    expect(inferPictograms(['高度易燃液体和蒸气。', '吞咽会中毒。', '对器官造成损害。'])).toEqual(['GHS02', 'GHS06', 'GHS08']);
    expect(inferPictograms(['造成严重皮肤灼伤和眼损伤。', '造成严重眼刺激。'])).toEqual(['GHS05']);
  });

  it('reads English hazard wording', () => {
    expect(inferPictograms(['Highly flammable liquid and vapour.', 'May cause drowsiness or dizziness.'])).toEqual(['GHS02', 'GHS07']);
    expect(inferPictograms(['Very toxic to aquatic life.'])).toEqual(['GHS09']);
  });

  it('takes "fatal if swallowed and enters airways" as aspiration (GHS08), not acute toxicity', () => {
    expect(inferPictograms(['May be fatal if swallowed and enters airways.'])).toEqual(['GHS08']);
    expect(inferPictograms(['Fatal if swallowed.'])).toEqual(['GHS06']);
  });
});
