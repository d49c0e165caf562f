import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real local servers on loopback; give them room
    // on a 2-core machine without hiding real hangs.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: one on a 2-core
    // machine. Most integration tests wait on loopback servers and modelled
    // latencies, so two workers share the cores well (about 320 s → 240 s here).
    maxWorkers: 2,
    // The SDK warns that future releases need Node 22; Lambda runs 22, the
    // local Node 20 is supported for now, and the warning only adds noise.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
