import { defineConfig } from 'vitest/config';

/** `npm run test:scale`: runs at the scale of a large organisation, minutes each; CI runs them too. */
export default defineConfig({
  test: {
    include: ['test/scale/**/*.scale.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
