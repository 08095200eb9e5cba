import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Every file under `root`, by path relative to it, with its bytes. */
export async function readFiles(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.set(relative(root, path), await readFile(path));
    }
  };
  await walk(root);
  return files;
}

/** Every file under `root` with its SHA-256, to prove that a run changed nothing. */
export async function snapshotFiles(root: string): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  for (const [path, body] of await readFiles(root)) {
    snapshot[path] = createHash('sha256').update(body).digest('hex');
  }
  return snapshot;
}
