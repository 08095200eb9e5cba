/**
 * A folder given as `--out` is checked once before a run: a wrong folder is configuration, named
 * at once, not a storage fault for the workflow to retry for minutes.
 */
import { mkdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../core/errors.js';

/** `statfs` magic numbers of kernel filesystems that look like folders but cannot hold files. */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e3, 'efivarfs'],
  [0x65735543, 'fusectl'],
]);

const WRITE_REFUSALS: Readonly<Record<string, string>> = {
  EROFS: 'is on a read-only filesystem',
  EACCES: 'is not writable (permission denied)',
  EPERM: 'is not writable (operation not permitted)',
};

export async function checkOutputFolder(out: string): Promise<void> {
  try {
    await check(out);
  } catch (error) {
    const refusal = WRITE_REFUSALS[(error as NodeJS.ErrnoException).code ?? ''];
    if (refusal === undefined) throw error;
    throw new ConfigError(`--out ${out} ${refusal}`, { cause: error });
  }
}

async function check(out: string): Promise<void> {
  const root = resolve(out);
  const existing = await nearestExisting(root);
  if (!existing.isDirectory) {
    const where = existing.path === root ? '' : `: ${existing.path}`;
    throw new ConfigError(`--out ${out}${where} is a file, not a folder`);
  }
  const pseudo = PSEUDO_FILESYSTEMS.get((await statfs(existing.path)).type);
  if (pseudo !== undefined) {
    throw new ConfigError(`--out ${out} is on ${pseudo}, a kernel pseudo-filesystem that cannot hold a lake`);
  }
  // One level at a time: a recursive mkdir reports a read-only filesystem as ENOENT.
  const missing = relative(existing.path, root)
    .split(sep)
    .filter((part) => part !== '');
  for (let i = 1; i <= missing.length; i++) await mkdir(join(existing.path, ...missing.slice(0, i)));
  const probe = join(root, `.write-check-${process.pid}`);
  await writeFile(probe, '');
  await rm(probe);
}

/** The path itself or its closest ancestor that exists; a file in the way stops the walk. */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean }> {
  for (let current = path; ; current = dirname(current)) {
    try {
      return { path: current, isDirectory: (await stat(current)).isDirectory() };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(current) === current) throw error;
    }
  }
}
