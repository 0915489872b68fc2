import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real libp2p nodes and real files: keep files apart, but do not oversubscribe two cores
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.VITEST_JSON_REPORT != null ? ['default', 'json'] : ['default'],
    outputFile: process.env.VITEST_JSON_REPORT != null ? { json: process.env.VITEST_JSON_REPORT } : undefined,
  },
})
