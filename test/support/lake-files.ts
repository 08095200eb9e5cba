import { createHash } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Every file under `root`, by path relative to it, with its bytes; a link is named with its target. */
async function walkLake(root: string): Promise<{ files: Map<string, Buffer>; links: Map<string, string> }> {
  const files = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isSymbolicLink()) links.set(relative(root, path), await readlink(path));
      else files.set(relative(root, path), await readFile(path));
    }
  };
  await walk(root);
  return { files, links };
}

/** Every regular file under `root`, by path relative to it, with its bytes. */
export async function readFiles(root: string): Promise<Map<string, Buffer>> {
  return (await walkLake(root)).files;
}

/** Every file under `root` with its SHA-256 (a link: where it points), to prove that a run changed nothing. */
export async function snapshotFiles(root: string): Promise<Record<string, string>> {
  const { files, links } = await walkLake(root);
  const snapshot: Record<string, string> = {};
  for (const [path, body] of files) snapshot[path] = createHash('sha256').update(body).digest('hex');
  for (const [path, target] of links) snapshot[path] = `-> ${target}`;
  return snapshot;
}
