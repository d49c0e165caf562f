/**
 * GHS hazard pictogram codes INFERRED from hazard statements.
 *
 * The local model reads text only; it never looks at the diamonds. It
 * reports the pictograms that the GHS classification behind the printed
 * H-codes (or, without a code, the hazard wording) requires, after the GHS
 * precedence rules. A label that prints a pictogram its statements do not
 * call for, or leaves one out, is answered from the statements, not from
 * what is drawn.
 */

/** GHS pictogram codes, GHS01 (exploding bomb) to GHS09 (environment). */
export type GhsCode = 'GHS01' | 'GHS02' | 'GHS03' | 'GHS04' | 'GHS05' | 'GHS06' | 'GHS07' | 'GHS08' | 'GHS09';

/**
 * H-code (three digits, suffix letters dropped) → the pictograms its hazard
 * class and category carry under GHS rev. 10 / EU CLP. Codes without a
 * pictogram (H227, H303, H313, H333, H316, H320, H362, H412, H413, …) are
 * absent on purpose.
 */
export const PICTOGRAMS_BY_H_CODE: Readonly<Record<string, readonly GhsCode[]>> = {
  // Explosives, self-reactive substances, organic peroxides.
  H200: ['GHS01'], H201: ['GHS01'], H202: ['GHS01'], H203: ['GHS01'], H204: ['GHS01'], H205: ['GHS01'],
  H240: ['GHS01'], H241: ['GHS01', 'GHS02'], H242: ['GHS02'],
  // Flammables, pyrophorics, self-heating, water-reactive.
  H220: ['GHS02'], H222: ['GHS02'], H223: ['GHS02'], H224: ['GHS02'], H225: ['GHS02'], H226: ['GHS02'],
  H228: ['GHS02'], H230: ['GHS02'], H231: ['GHS02'], H232: ['GHS02'], H250: ['GHS02'], H251: ['GHS02'],
  H252: ['GHS02'], H260: ['GHS02'], H261: ['GHS02'],
  // Oxidisers.
  H270: ['GHS03'], H271: ['GHS03'], H272: ['GHS03'],
  // Gases under pressure.
  H280: ['GHS04'], H281: ['GHS04'],
  // Corrosive to metals, skin corrosion, serious eye damage.
  H290: ['GHS05'], H314: ['GHS05'], H318: ['GHS05'],
  // Acute toxicity, categories 1-3.
  H300: ['GHS06'], H301: ['GHS06'], H310: ['GHS06'], H311: ['GHS06'], H330: ['GHS06'], H331: ['GHS06'],
  // Acute toxicity category 4, irritation, skin sensitisation, STOT SE 3, ozone.
  H302: ['GHS07'], H312: ['GHS07'], H332: ['GHS07'], H315: ['GHS07'], H317: ['GHS07'], H319: ['GHS07'],
  H335: ['GHS07'], H336: ['GHS07'], H420: ['GHS07'],
  // Health hazards.
  H304: ['GHS08'], H305: ['GHS08'], H334: ['GHS08'], H340: ['GHS08'], H341: ['GHS08'], H350: ['GHS08'],
  H351: ['GHS08'], H360: ['GHS08'], H361: ['GHS08'], H370: ['GHS08'], H371: ['GHS08'], H372: ['GHS08'],
  H373: ['GHS08'],
  // Aquatic hazards, acute 1 and chronic 1-2.
  H400: ['GHS09'], H410: ['GHS09'], H411: ['GHS09'],
};

/** Irritation and skin sensitisation: the GHS07 uses that GHS05 or GHS08 (H334) make redundant. */
const IRRITATION_CODES = new Set(['H315', 'H317', 'H319']);

/**
 * Wording → pictogram, for statements printed without an H-code. Checked in
 * order; the first matching entry of each code counts. Aspiration hazard
 * ("may be fatal if swallowed and enters airways") is listed before acute
 * toxicity so it is not mistaken for it.
 */
const WORDING: readonly { readonly code: GhsCode; readonly pattern: RegExp; readonly irritation?: true; readonly only?: true }[] = [
  { code: 'GHS08', pattern: /enters? airways|进入呼吸道/i, only: true },
  { code: 'GHS01', pattern: /explosi|爆炸/i },
  { code: 'GHS02', pattern: /flammable|pyrophoric|catch(?:es)? fire spontaneously|self-heating|易燃|自燃|自热/i },
  { code: 'GHS03', pattern: /oxidi[sz]|intensify fire|加剧燃烧|氧化剂/i },
  { code: 'GHS04', pattern: /gas under pressure|refrigerated gas|加压气体|冷冻气体/i },
  { code: 'GHS05', pattern: /corrosive|severe skin burns|serious eye damage|腐蚀|灼伤|严重眼损伤/i },
  { code: 'GHS06', pattern: /fatal if|toxic if|toxic in contact|致命|会中毒/i },
  { code: 'GHS07', pattern: /skin irritation|eye irritation|allergic skin|眼刺激|皮肤刺激|过敏性皮肤/i, irritation: true },
  { code: 'GHS07', pattern: /harmful if|harmful in contact|respiratory irritation|drowsiness|dizziness|吞咽有害|接触有害|吸入有害|呼吸道刺激|昏昏欲睡|眩晕|嗜睡/i },
  { code: 'GHS08', pattern: /cancer|genetic defects|fertility|unborn child|damage to organs|damage (?:to )?the? ?organs|allergy or asthma|致癌|遗传性缺陷|生育力|胎儿|器官|过敏或哮喘/i },
  { code: 'GHS09', pattern: /very toxic to aquatic|toxic to aquatic life with long|对水生生物毒性|对水生生物有毒并具有长期/i },
];

// Suffix letters (H350i, H360FD) are ignored; OCR may glue the next word onto the code.
const H_CODE = /(?<![A-Za-z0-9])(?:EUH|H)(\d{3})/g;

/** The H-codes printed in a statement, as `H225`; EUH codes are not GHS classes and are dropped. */
export function hazardCodes(statement: string): string[] {
  const codes: string[] = [];
  for (const m of statement.matchAll(H_CODE)) {
    if (!m[0].startsWith('EUH')) codes.push(`H${m[1]}`);
  }
  return codes;
}

/**
 * The pictogram codes the statements call for, in ascending order, after
 * the GHS precedence rules: no GHS07 with GHS06; no GHS07 for irritation or
 * skin sensitisation alongside GHS05, or alongside GHS08 for respiratory
 * sensitisation (H334).
 *
 * @example
 * ```ts
 * inferPictograms(['H225 Highly flammable liquid and vapour.', 'H319 Causes serious eye irritation.']);
 * // → ['GHS02', 'GHS07']
 * ```
 */
export function inferPictograms(statements: readonly string[]): GhsCode[] {
  const found = new Set<GhsCode>();
  // Why GHS07 is there: only irritation reasons can be overruled by GHS05/GHS08.
  let ghs07Irritation = false;
  let ghs07Other = false;
  let respiratorySensitiser = false;
  for (const statement of statements) {
    const codes = hazardCodes(statement);
    const known = codes.filter((c) => PICTOGRAMS_BY_H_CODE[c]);
    if (known.length > 0) {
      for (const code of known) {
        if (code === 'H334') respiratorySensitiser = true;
        for (const p of PICTOGRAMS_BY_H_CODE[code]!) {
          found.add(p);
          if (p === 'GHS07') {
            if (IRRITATION_CODES.has(code)) ghs07Irritation = true;
            else ghs07Other = true;
          }
        }
      }
      continue;
    }
    if (codes.length > 0) continue; // A code without a pictogram (H227, H412, …): its wording must not add one.
    const seen = new Set<GhsCode>();
    for (const rule of WORDING) {
      if (seen.has(rule.code) || !rule.pattern.test(statement)) continue;
      seen.add(rule.code);
      found.add(rule.code);
      if (rule.code === 'GHS07') {
        if (rule.irritation) ghs07Irritation = true;
        else ghs07Other = true;
      }
      if (/allergy or asthma|过敏或哮喘/i.test(statement)) respiratorySensitiser = true;
      if (rule.only) break;
    }
  }
  if (found.has('GHS07')) {
    const irritationOverruled = found.has('GHS05') || (found.has('GHS08') && respiratorySensitiser);
    const keep = !found.has('GHS06') && (ghs07Other || (ghs07Irritation && !irritationOverruled));
    if (!keep) found.delete('GHS07');
  }
  return [...found].sort();
}
