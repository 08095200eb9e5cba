import { ConfigError } from '../core/errors.js';

/** Runs a command's main: its number is the exit code; an error is one line, 2 for configuration, else 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`pluto-export: ${message.split('\n')[0]}\n`);
      process.exitCode = error instanceof ConfigError ? 2 : 1;
    },
  );
}
