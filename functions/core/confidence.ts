/**
 * A field's confidence from the token log-probabilities of the model's reply.
 *
 * The reply is `{"value": …}` (bare, in a code fence, or after prose). Only
 * the tokens that carry the answer count: the characters of the value's
 * leaves (string contents, numbers, true/false/null), not the braces, the
 * `"value"` key, colons, quotes, commas or whitespace, whose probabilities say
 * how sure the model is of JSON syntax, not of the label. A token that
 * straddles punctuation and a value character (`["H`) counts.
 *
 * Tokens are mapped to characters through their bytes: a Chinese character
 * split over two tokens belongs to both, and each token's `bytes` (or the
 * UTF-8 of its text) places it exactly in the reply.
 *
 * The confidence is the probability of the least likely value token. A value
 * is wrong when any part of it is (one misread digit of a phone number, one
 * wrong H-code in a list), and averaging hides that part among the many
 * confident tokens around it. The geometric mean (exp of the mean
 * log-probability) is reported beside it: it is the length-normalised
 * likelihood, steadier on long values where the minimum drifts down simply
 * because there are more tokens.
 */

/** One entry of an OpenAI-style `logprobs.content` array. */
export interface TokenLogprob {
  readonly token: string;
  readonly logprob: number;
  /** The token's UTF-8 bytes; absent or null on some servers. */
  readonly bytes?: readonly number[] | null;
  readonly top_logprobs?: unknown;
}

/** How sure the model was of a field's value. */
export interface ValueConfidence {
  /** The headline figure: the minimum token probability (0-1). */
  readonly confidence: number;
  readonly min: number;
  /** exp(mean log-probability) over the value tokens (0-1). */
  readonly geometricMean: number;
  /** How many tokens carried the value. */
  readonly tokens: number;
}

/**
 * The confidence of the answer value in a reply, or `null` when there are no
 * log-probabilities or no `{"value": …}` object in the tokens.
 *
 * @example
 * ```ts
 * valueConfidence([{ token: '{"value": "', logprob: 0 }, { token: '乙醇', logprob: -0.05 }, { token: '"}', logprob: 0 }])
 * // { confidence: 0.951, min: 0.951, geometricMean: 0.951, tokens: 1 }
 * ```
 */
export function valueConfidence(logprobs: readonly TokenLogprob[] | null | undefined): ValueConfidence | null {
  if (!Array.isArray(logprobs) || logprobs.length === 0) return null;
  const { text, charBytes, tokenOfByte } = layout(logprobs);
  const span = findValue(text);
  if (!span) return null;
  const chars = span.leafChars.length > 0 ? span.leafChars : range(span.start, span.end);
  const tokenIds = new Set<number>();
  for (const c of chars) {
    const [from, to] = charBytes[c]!;
    for (let b = from; b < to; b++) tokenIds.add(tokenOfByte[b]!);
  }
  const lps = [...tokenIds].map((i) => logprobs[i]!.logprob).filter((lp) => typeof lp === 'number' && Number.isFinite(lp));
  if (lps.length === 0) return null;
  const min = Math.exp(Math.min(...lps));
  const geometricMean = Math.exp(lps.reduce((a, b) => a + b, 0) / lps.length);
  return { confidence: min, min, geometricMean, tokens: lps.length };
}

/** The reply text rebuilt from the tokens' bytes, with each character's byte span and each byte's token. */
function layout(logprobs: readonly TokenLogprob[]): { text: string; charBytes: [number, number][]; tokenOfByte: number[] } {
  const bytes: number[] = [];
  const tokenOfByte: number[] = [];
  logprobs.forEach((t, i) => {
    for (const b of tokenBytes(t)) {
      bytes.push(b);
      tokenOfByte.push(i);
    }
  });
  // Decode by hand so every UTF-16 unit knows the bytes it came from.
  let text = '';
  const charBytes: [number, number][] = [];
  for (let i = 0; i < bytes.length; ) {
    const [cp, len] = decodeAt(bytes, i);
    const s = String.fromCodePoint(cp);
    for (let k = 0; k < s.length; k++) charBytes.push([i, i + len]);
    text += s;
    i += len;
  }
  return { text, charBytes, tokenOfByte };
}

const encoder = new TextEncoder();

function tokenBytes(t: TokenLogprob): readonly number[] {
  if (Array.isArray(t.bytes) && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) return t.bytes;
  const token = typeof t.token === 'string' ? t.token : '';
  // vLLM spells a partial UTF-8 token as "bytes:\xe4\xb9".
  if (token.startsWith('bytes:')) {
    const hex = [...token.slice(6).matchAll(/\\x([0-9a-fA-F]{2})/g)].map((m) => parseInt(m[1]!, 16));
    if (hex.length > 0) return hex;
  }
  return [...encoder.encode(token)];
}

/** One UTF-8 sequence at `i`: its code point and length; a bad byte is U+FFFD of length 1. */
function decodeAt(bytes: readonly number[], i: number): [number, number] {
  const b0 = bytes[i]!;
  const len = b0 < 0x80 ? 1 : b0 >= 0xc2 && b0 < 0xe0 ? 2 : b0 >= 0xe0 && b0 < 0xf0 ? 3 : b0 >= 0xf0 && b0 < 0xf5 ? 4 : 0;
  if (len === 0) return [0xfffd, 1];
  if (len === 1) return [b0, 1];
  let cp = b0 & (0xff >> (len + 1));
  for (let k = 1; k < len; k++) {
    const b = bytes[i + k];
    if (b === undefined || (b & 0xc0) !== 0x80) return [0xfffd, 1];
    cp = (cp << 6) | (b & 0x3f);
  }
  return [cp, len];
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/** Where the answer value sits in the reply: its span and the indices of its leaf characters. */
interface ValueSpan {
  readonly start: number;
  readonly end: number;
  readonly leafChars: number[];
}

/**
 * The value of the first `{…}` in `text` that is a JSON object with a
 * `value` member, scanning past a `<think>` block and leading prose.
 */
function findValue(text: string): ValueSpan | undefined {
  const think = text.lastIndexOf('</think>');
  for (let start = text.indexOf('{', think === -1 ? 0 : think); start !== -1; start = text.indexOf('{', start + 1)) {
    const found = new Scanner(text).answerAt(start);
    if (found) return found;
  }
  return undefined;
}

class Failed extends Error {}

/** A small JSON scanner that records where leaves are instead of building values. */
class Scanner {
  private pos = 0;
  private leaves: number[] | undefined;

  constructor(private readonly text: string) {}

  answerAt(start: number): ValueSpan | undefined {
    this.pos = start;
    try {
      let answer: ValueSpan | undefined;
      this.expect('{');
      this.ws();
      if (this.peek() === '}') return undefined;
      for (;;) {
        this.ws();
        const key = this.string();
        this.ws();
        this.expect(':');
        this.ws();
        const isValue = key === 'value' && answer === undefined;
        const valueStart = this.pos;
        if (isValue) this.leaves = [];
        this.value();
        if (isValue) answer = { start: valueStart, end: this.pos, leafChars: this.leaves! };
        this.leaves = undefined;
        this.ws();
        if (this.peek() === ',') {
          this.pos++;
          continue;
        }
        this.expect('}');
        return answer;
      }
    } catch (err) {
      if (err instanceof Failed) return undefined;
      throw err;
    }
  }

  private value(): void {
    const c = this.peek();
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') {
      this.string(true);
      return;
    }
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.text.slice(this.pos, this.pos + 64));
    if (!m) throw new Failed();
    this.leaf(this.pos, this.pos + m[0].length);
    this.pos += m[0].length;
  }

  private object(): void {
    this.sequence('{', '}', () => {
      this.string(); // keys are not answer text
      this.ws();
      this.expect(':');
      this.ws();
      this.value();
    });
  }

  private array(): void {
    this.sequence('[', ']', () => this.value());
  }

  /** `open item (, item)* close`, whitespace allowed around every part. */
  private sequence(open: string, close: string, item: () => void): void {
    this.expect(open);
    this.ws();
    if (this.peek() === close) {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      item();
      this.ws();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      this.expect(close);
      return;
    }
  }

  /** A JSON string; its content (escapes included, quotes not) is a leaf when `isLeaf`. */
  private string(isLeaf = false): string {
    this.expect('"');
    const from = this.pos;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw new Failed();
      if (c === '"') break;
      if (c === '\\') {
        const e = this.text[this.pos + 1];
        if (e === undefined) throw new Failed();
        out += e === 'u' ? String.fromCharCode(parseInt(this.text.slice(this.pos + 2, this.pos + 6), 16)) : e;
        this.pos += e === 'u' ? 6 : 2;
        continue;
      }
      if (c < ' ') throw new Failed();
      out += c;
      this.pos++;
    }
    if (isLeaf) this.leaf(from, this.pos);
    this.pos++;
    return out;
  }

  private leaf(from: number, to: number): void {
    if (this.leaves) for (let i = from; i < to; i++) this.leaves.push(i);
  }

  private ws(): void {
    while (/\s/.test(this.text[this.pos] ?? '')) this.pos++;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private expect(c: string): void {
    if (this.text[this.pos] !== c) throw new Failed();
    this.pos++;
  }
}
