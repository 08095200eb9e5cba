/** The demo organisation of `npm start` and `pluto-export simulate`: the same experiments, the same forbidden one. */
export const DEMO_ORGANISATION = { seed: 1, experiments: 5 } as const;
