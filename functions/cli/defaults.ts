/** The command line's own defaults: the option parsers and `--help` both read them from here. */
export const CLI_DEFAULTS = {
  /** The lake folder of `export --out` and of `--lake`. */
  lake: './lake',
  /** Experiments and slots in flight. */
  concurrency: 4,
  missingExperiments: 'keep',
  /** Runs that `runs` lists. */
  runsShown: 20,
  simulatorPort: 8787,
} as const;
