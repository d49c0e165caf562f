/**
 * Field sets for the benchmark: N synthetic string fields for the test
 * server, or N questions drawn from the default label set for a real model.
 */
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from '../functions/core/fields';

/** `f01 … fNN`: string fields the test server answers after its latency. */
export function syntheticFields(count: number): FieldSet {
  const width = Math.max(2, String(count).length);
  return parseFieldSet(
    Array.from({ length: count }, (_, i) => ({
      name: `f${String(i + 1).padStart(width, '0')}`,
      type: 'string',
      prompt: `Benchmark question ${i + 1}: what is printed in region ${i + 1} of this image?`,
    })),
  );
}

/**
 * `count` real questions for a real model: the default label fields in turn,
 * renamed `name`, `tag`, …, `name_2`, `tag_2`, … so every field is distinct.
 */
export function labelFields(count: number): FieldSet {
  const base = DEFAULT_LABEL_FIELDS;
  return parseFieldSet(
    Array.from({ length: count }, (_, i) => {
      const spec = base[i % base.length]!;
      const round = Math.floor(i / base.length);
      return { ...spec, name: round === 0 ? spec.name : `${spec.name}_${round + 1}` };
    }),
  );
}
