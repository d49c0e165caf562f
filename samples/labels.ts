/**
 * The sample chemical safety labels, as text. `render.ts` draws each one to
 * `samples/<id>.png` and writes the field values a perfect reader would
 * extract to `samples/<id>.expected.json`, so images and expectations can
 * never drift apart.
 *
 * Companies, addresses and phone numbers are fictitious. Hazard and
 * precautionary wording follows GHS (English) and GB 30000 / GB 15258
 * (Chinese); pictograms follow the GHS precedence rules.
 */

/** GHS hazard pictogram codes. */
export type GhsCode = 'GHS01' | 'GHS02' | 'GHS03' | 'GHS04' | 'GHS05' | 'GHS06' | 'GHS07' | 'GHS08' | 'GHS09';

/** A group of precautionary statements under an optional sub-heading (预防措施 / Prevention, …). */
export interface PrecautionGroup {
  readonly heading?: string;
  readonly statements: readonly string[];
}

/** One label, in the words printed on it. */
export interface LabelDefinition {
  /** File stem: `samples/<id>.png`. */
  readonly id: string;
  readonly lang: 'zh' | 'en';
  /** The product name, printed largest at the top. */
  readonly name: string;
  /** Smaller identification line under the name (CAS number, UN number). */
  readonly identifiers?: string;
  readonly signalWord: string;
  /** Drawn as diamonds, in this order. */
  readonly pictograms: readonly GhsCode[];
  /** Hazard statements, each with its H-code, exactly as printed. */
  readonly hazards: readonly string[];
  readonly precautions: readonly PrecautionGroup[];
  /** EUH statements printed under their own heading after the precautions (Supplemental information). */
  readonly supplemental?: readonly string[];
  readonly supplier: {
    readonly name: string;
    readonly address: string;
    readonly phone: string;
    readonly emergencyPhone: string;
  };
  /**
   * How the label is set:
   * - `sections` (the default): every statement starts a line, precautions under sub-headings;
   * - `compact`: each section's statements run on as one paragraph, so statements
   *   start in mid-line and wrap anywhere, without sub-headings.
   */
  readonly layout?: 'sections' | 'compact';
  /** Phone and emergency phone on one line (`Tel: …    Emergency: …`) instead of two. */
  readonly phonesOnOneLine?: boolean;
  /** The labels printed before the phone numbers, when not the language's usual ones. */
  readonly phoneLabels?: { readonly phone: string; readonly emergency: string };
}

/** The values of the default field set for one label (`samples/<id>.expected.json`). */
export interface ExpectedFields {
  readonly name: string;
  readonly tag: readonly string[];
  readonly risk_notice: readonly string[];
  readonly pre_notice: readonly string[];
  readonly suppliers: {
    readonly name: string;
    readonly address: string;
    readonly phone: string;
    readonly emergency_phone: string;
  };
}

/** Derives the expected field values from a label definition. */
export function expectedFields(label: LabelDefinition): ExpectedFields {
  return {
    name: label.name,
    tag: [label.signalWord, ...label.pictograms],
    risk_notice: [...label.hazards, ...(label.supplemental ?? [])],
    pre_notice: label.precautions.flatMap((g) => g.statements),
    suppliers: {
      name: label.supplier.name,
      address: label.supplier.address,
      phone: label.supplier.phone,
      emergency_phone: label.supplier.emergencyPhone,
    },
  };
}

const ZH_EYE_RINSE = 'P305+P351+P338 如进入眼睛：用水小心冲洗几分钟。如戴隐形眼镜并可方便地取出，取出隐形眼镜。继续冲洗。';
const EN_EYE_RINSE =
  'P305+P351+P338 IF IN EYES: Rinse cautiously with water for several minutes. Remove contact lenses, if present and easy to do. Continue rinsing.';
const EN_SWALLOWED_CORROSIVE = 'P301+P330+P331 IF SWALLOWED: Rinse mouth. Do NOT induce vomiting.';
const EN_SKIN_SHOWER =
  'P303+P361+P353 IF ON SKIN (or hair): Take off immediately all contaminated clothing. Rinse skin with water or shower.';
const EN_DISPOSAL = 'P501 Dispose of contents/container in accordance with local regulations.';

/** Every sample label. Ids are stable: tests and docs refer to them. */
export const LABELS: readonly LabelDefinition[] = [
  {
    id: 'zh-ethanol',
    lang: 'zh',
    name: '乙醇',
    identifiers: 'CAS号：64-17-5    UN号：1170',
    signalWord: '危险',
    pictograms: ['GHS02', 'GHS07'],
    hazards: ['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。'],
    precautions: [
      {
        heading: '预防措施',
        statements: [
          'P210 远离热源、热表面、火花、明火和其他点火源。禁止吸烟。',
          'P233 保持容器密闭。',
          'P280 戴防护手套/穿防护服/戴防护眼罩/戴防护面具。',
        ],
      },
      {
        heading: '事故响应',
        statements: [
          'P303+P361+P353 如皮肤（或头发）沾染：立即脱掉所有沾染的衣服。用水清洗皮肤或淋浴。',
          ZH_EYE_RINSE,
        ],
      },
      { heading: '安全储存', statements: ['P403+P235 存放在通风良好的地方。保持低温。'] },
      { heading: '废弃处置', statements: ['P501 按当地法规处置内装物/容器。'] },
    ],
    supplier: {
      name: '华东示例化工有限公司',
      address: '浙江省杭州市滨江区示例路88号',
      phone: '0571-87654321',
      emergencyPhone: '0571-86695555',
    },
  },
  {
    id: 'zh-methanol',
    lang: 'zh',
    name: '甲醇',
    identifiers: 'CAS号：67-56-1    UN号：1230',
    signalWord: '危险',
    pictograms: ['GHS02', 'GHS06', 'GHS08'],
    hazards: [
      'H225 高度易燃液体和蒸气。',
      'H301+H311+H331 吞咽、皮肤接触或吸入会中毒。',
      'H370 对视觉器官、中枢神经系统造成损害。',
    ],
    precautions: [
      {
        heading: '预防措施',
        statements: [
          'P210 远离热源、热表面、火花、明火和其他点火源。禁止吸烟。',
          'P260 不要吸入蒸气。',
          'P280 戴防护手套/穿防护服/戴防护眼罩/戴防护面具。',
        ],
      },
      {
        heading: '事故响应',
        statements: ['P301+P310 如误吞咽：立即呼叫解毒中心或就医。', 'P308+P311 如接触到或有疑虑：呼叫解毒中心或就医。'],
      },
      { heading: '安全储存', statements: ['P403+P233 存放在通风良好的地方。保持容器密闭。', 'P405 存放处须加锁。'] },
      { heading: '废弃处置', statements: ['P501 按当地法规处置内装物/容器。'] },
    ],
    supplier: {
      name: '江南示例精细化学品有限公司',
      address: '江苏省苏州市工业园区示范大道1024号',
      phone: '0512-66557788',
      emergencyPhone: '0512-66559999',
    },
  },
  {
    id: 'zh-sodium-carbonate',
    lang: 'zh',
    name: '碳酸钠',
    identifiers: 'CAS号：497-19-8',
    signalWord: '警告',
    pictograms: ['GHS07'],
    hazards: ['H319 造成严重眼刺激。'],
    precautions: [
      { heading: '预防措施', statements: ['P264 作业后彻底清洗双手。', 'P280 戴防护眼罩/戴防护面具。'] },
      { heading: '事故响应', statements: [ZH_EYE_RINSE, 'P337+P313 如仍觉眼刺激：求医/就诊。'] },
    ],
    supplier: {
      name: '北方示例化学试剂有限公司',
      address: '天津市滨海新区示例工业区36号',
      phone: '022-25801234',
      emergencyPhone: '022-25809110',
    },
  },
  {
    id: 'en-acetone',
    lang: 'en',
    name: 'Acetone',
    identifiers: 'CAS No. 67-64-1    UN 1090',
    signalWord: 'DANGER',
    pictograms: ['GHS02', 'GHS07'],
    hazards: [
      'H225 Highly flammable liquid and vapour.',
      'H319 Causes serious eye irritation.',
      'H336 May cause drowsiness or dizziness.',
      'EUH066 Repeated exposure may cause skin dryness or cracking.',
    ],
    precautions: [
      {
        heading: 'Prevention',
        statements: [
          'P210 Keep away from heat, hot surfaces, sparks, open flames and other ignition sources. No smoking.',
          'P233 Keep container tightly closed.',
          'P261 Avoid breathing vapours.',
        ],
      },
      { heading: 'Response', statements: [EN_EYE_RINSE] },
      { heading: 'Storage', statements: ['P403+P235 Store in a well-ventilated place. Keep cool.'] },
      {
        heading: 'Disposal',
        statements: [EN_DISPOSAL],
      },
    ],
    supplier: {
      name: 'Northfield Example Chemicals Ltd',
      address: 'Unit 4, Riverside Park, Leeds LS10 1AB, United Kingdom',
      phone: '+44 113 496 0123',
      emergencyPhone: '+44 20 7946 0999',
    },
  },
  {
    id: 'en-sodium-hydroxide',
    lang: 'en',
    name: 'Sodium hydroxide',
    identifiers: 'CAS No. 1310-73-2    UN 1823',
    signalWord: 'DANGER',
    pictograms: ['GHS05'],
    hazards: ['H290 May be corrosive to metals.', 'H314 Causes severe skin burns and eye damage.'],
    precautions: [
      {
        heading: 'Prevention',
        statements: [
          'P260 Do not breathe dust.',
          'P280 Wear protective gloves/protective clothing/eye protection/face protection.',
        ],
      },
      {
        heading: 'Response',
        statements: [
          EN_SWALLOWED_CORROSIVE,
          EN_SKIN_SHOWER,
          EN_EYE_RINSE,
          'P310 Immediately call a POISON CENTER/doctor.',
        ],
      },
      { heading: 'Storage', statements: ['P405 Store locked up.'] },
      {
        heading: 'Disposal',
        statements: [EN_DISPOSAL],
      },
    ],
    supplier: {
      name: 'Lakeside Example Chemical Co.',
      address: '1200 Industrial Parkway, Springfield, IL 62701, USA',
      phone: '+1 217 555 0142',
      emergencyPhone: '+1 800 555 0199',
    },
  },
  {
    id: 'en-citric-acid',
    lang: 'en',
    name: 'Citric acid',
    identifiers: 'CAS No. 77-92-9',
    signalWord: 'WARNING',
    pictograms: ['GHS07'],
    hazards: ['H319 Causes serious eye irritation.'],
    precautions: [
      {
        heading: 'Prevention',
        statements: ['P264 Wash hands thoroughly after handling.', 'P280 Wear eye protection/face protection.'],
      },
      {
        heading: 'Response',
        statements: [EN_EYE_RINSE, 'P337+P313 If eye irritation persists: Get medical advice/attention.'],
      },
    ],
    supplier: {
      name: 'Harbourside Example Labs Pty Ltd',
      address: '27 Wharf Street, Brisbane QLD 4000, Australia',
      phone: '+61 7 5550 1234',
      emergencyPhone: '+61 7 5550 9876',
    },
  },
  {
    // A long precautionary section whose statements wrap over two or three
    // lines, a product name of several capitalised words, and both phone
    // numbers on one line.
    id: 'en-acetic-acid',
    lang: 'en',
    name: 'Glacial Acetic Acid',
    identifiers: 'CAS No. 64-19-7    UN 2789',
    signalWord: 'DANGER',
    pictograms: ['GHS02', 'GHS05'],
    hazards: ['H226 Flammable liquid and vapour.', 'H314 Causes severe skin burns and eye damage.'],
    precautions: [
      {
        heading: 'Prevention',
        statements: [
          'P210 Keep away from heat, hot surfaces, sparks, open flames and other ignition sources. No smoking.',
          'P233 Keep container tightly closed.',
          'P241 Use explosion-proof electrical/ventilating/lighting equipment.',
          'P280 Wear protective gloves/protective clothing/eye protection/face protection.',
        ],
      },
      {
        heading: 'Response',
        statements: [
          EN_SWALLOWED_CORROSIVE,
          EN_SKIN_SHOWER,
          EN_EYE_RINSE,
          'P310 Immediately call a POISON CENTER/doctor.',
          'P370+P378 In case of fire: Use dry sand, dry chemical or alcohol-resistant foam to extinguish.',
        ],
      },
      { heading: 'Storage', statements: ['P403+P235 Store in a well-ventilated place. Keep cool.', 'P405 Store locked up.'] },
      { heading: 'Disposal', statements: [EN_DISPOSAL] },
    ],
    supplier: {
      name: 'Westbrook Example Solvents Inc.',
      address: '55 Harbor Road, Suite 200, Portland, OR 97201, USA',
      phone: '+1 503 555 0100',
      emergencyPhone: '+1 503 555 0199',
    },
    phonesOnOneLine: true,
  },
  {
    // Set compactly: each section one run-on paragraph, so statements start
    // in mid-line; a trade name of three words in capitals; a supplemental
    // section after the precautions; both phone numbers on one line.
    id: 'en-sodium-hypochlorite',
    lang: 'en',
    name: 'POOL CHLORINE LIQUID',
    identifiers: 'Sodium hypochlorite solution    CAS No. 7681-52-9    UN 1791',
    signalWord: 'DANGER',
    pictograms: ['GHS05', 'GHS09'],
    hazards: [
      'H290 May be corrosive to metals.',
      'H314 Causes severe skin burns and eye damage.',
      'H400 Very toxic to aquatic life.',
    ],
    precautions: [
      {
        statements: [
          'P234 Keep only in original packaging.',
          'P260 Do not breathe mist/vapours/spray.',
          'P273 Avoid release to the environment.',
          'P280 Wear protective gloves/protective clothing/eye protection/face protection.',
          EN_SWALLOWED_CORROSIVE,
          EN_SKIN_SHOWER,
          EN_EYE_RINSE,
          'P310 Immediately call a POISON CENTER/doctor.',
          'P390 Absorb spillage to prevent material damage.',
          'P405 Store locked up.',
          EN_DISPOSAL,
        ],
      },
    ],
    supplemental: ['EUH031 Contact with acids liberates toxic gas.'],
    supplier: {
      name: 'Bayview Example Water Care Ltd',
      address: '8 Quayside Lane, Cork T12 X2Y3, Ireland',
      phone: '+353 21 555 0147',
      emergencyPhone: '+353 21 555 0911',
    },
    layout: 'compact',
    phonesOnOneLine: true,
    phoneLabels: { phone: 'Phone', emergency: '24h Emergency' },
  },
];
