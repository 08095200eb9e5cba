/**
 * `pluto-export <command>`: export, query, runs, status, simulate (design.md, Command line).
 * Exit codes: 0 the run committed, 1 the run failed, 2 bad usage or configuration, 3 another live run
 * holds the lease, 128 + n interrupted by signal n (the README's table).
 */
import { parseArgs } from 'node:util';
import {
  COMMANDS,
  type Command,
  type CommandName,
  commandHelp,
  type Options,
  UsageError,
  usage,
  type Values,
} from './commands.js';
import { runMain } from './run-main.js';
import { holdEnvironmentToken, stdout } from './terminal.js';

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `simulate` prints the simulator's public demo token for the user to export; every other
  // command masks the exported token even if it never sends it.
  if (name !== 'simulate') holdEnvironmentToken();
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    throw new UsageError(`unknown command "${name}": use ${Object.keys(COMMANDS).join(', ')}`);
  }
  const commandName = name as CommandName;
  if (rest.includes('--help') || rest.includes('-h')) {
    stdout.write(`${commandHelp(commandName)}\n`);
    return 0;
  }
  const spec: Command<Options> = COMMANDS[commandName];
  const { values, positionals } = parse(rest, spec.options, spec.operand !== undefined);
  return spec.run(values as Values, positionals);
}

function parse(args: readonly string[], options: Options, allowPositionals: boolean) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]} (see pluto-export --help)`);
  }
}

runMain(() => main(process.argv.slice(2)));
