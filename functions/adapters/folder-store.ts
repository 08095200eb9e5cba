/** The embedded default object store: a local folder with the same layout as the S3 lake. */
import { randomUUID } from 'node:crypto';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rmdir,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { AccessDeniedError, StoreError, StoreFullError } from '../core/errors.js';
import type { ObjectStore, PutResult, StoredObject, VersionedObject } from '../core/ports.js';
import { sha256 } from '../core/records.js';
import { isProcessRunning } from './process-liveness.js';

const TEMP_MARKER = '.tmp-';
/** Claims are left to the writers: sweeping a dead writer's claim could let two living writers claim. */
const CLAIM_MARKER = `${TEMP_MARKER}claim-`;

export class FolderStore implements ObjectStore {
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<PutResult> {
    const target = this.pathOf(key);
    return this.linkInPlace(await this.writeTemp(target, body, key), target, key);
  }

  async putStreamIfAbsent(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const target = this.pathOf(key);
    return this.linkInPlace(await this.streamTemp(target, body, key), target, key);
  }

  private async linkInPlace(temp: string, target: string, key: string): Promise<PutResult> {
    try {
      // link() publishes the complete file or fails with EEXIST: exclusive create without a partial-file window.
      await link(temp, target);
      return { created: true };
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return { created: false };
      throw this.wrap(error, 'publish', key);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    const temp = await this.writeTemp(target, body, key);
    try {
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw this.wrap(error, 'replace', key);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw this.wrap(error, 'read', key);
    }
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : { body, version: sha256(body) };
  }

  async replaceIfVersion(key: string, body: Uint8Array, version: string): Promise<boolean> {
    const target = this.pathOf(key);
    const temp = await this.writeTemp(target, body, key);
    try {
      return await this.changeIfVersion(key, version, () => rename(temp, target));
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async deleteIfVersion(key: string, version: string): Promise<boolean> {
    const target = this.pathOf(key);
    return this.changeIfVersion(key, version, () => unlink(target));
  }

  /**
   * Compare-and-swap without a conditional rename in POSIX: a change of a version is claimed
   * first, by a symbolic link named after the key, the version and a level, pointing at nothing
   * but the claimant's `pid@host`. symlink() is an exclusive create, so one writer holds the claim,
   * and it needs no data written (a release still works on a full disk). Every change of an
   * existing file goes through the claim of its version (put-if-absent only creates, and fails
   * while the file is there), so the holder, having read that the file is still at the version,
   * renames over it or unlinks it with no other writer able to change it in between. A claim
   * outlives its writer only when the writer dies between two system calls; a claim whose process
   * is gone from this host is passed by claiming the next level, which no living writer can hold,
   * and removed by the writer that then makes the change.
   */
  private async changeIfVersion(key: string, version: string, change: () => Promise<void>): Promise<boolean> {
    const target = this.pathOf(key);
    const claimOf = (level: number) => join(dirname(target), claimFileName(basename(target), version, level));
    let level = 0;
    for (;;) {
      try {
        await symlink(`${process.pid}@${hostname()}`, claimOf(level));
        break;
      } catch (error) {
        // No folder, so no file at the key: nothing is at the version.
        if (errorCode(error) === 'ENOENT') return false;
        if (errorCode(error) !== 'EEXIST') throw this.wrap(error, 'claim', key);
      }
      const holder = await claimHolder(claimOf(level));
      if (holder === 'alive') return false;
      if (holder === 'dead') level++;
    }
    try {
      if ((await this.getVersioned(key))?.version !== version) return false;
      await change().catch((error: unknown) => {
        throw this.wrap(error, 'replace', key);
      });
    } finally {
      await unlink(claimOf(level)).catch(() => undefined);
    }
    for (let dead = 0; dead < level; dead++) await unlink(claimOf(dead)).catch(() => undefined);
    return true;
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : undefined;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw this.wrap(error, 'stat', key);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const found: StoredObject[] = [];
    await this.walk(baseKey, prefix, found);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw this.wrap(error, 'delete', key);
    }
  }

  async deleteAll(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  /**
   * Temporary files of writes that never finished (the writer was killed), then folders left
   * empty, deepest first; only what was last changed before `before`, so a write in flight keeps
   * its temporary file and the folder it is about to fill.
   */
  async removeLeftovers(before: Date): Promise<number> {
    return this.sweepFolder(this.location, before.getTime(), false);
  }

  private async sweepFolder(path: string, cutoff: number, removeIfEmpty: boolean): Promise<number> {
    let removed = 0;
    // Judged before its contents go: removing them makes the folder look freshly changed.
    const stale = removeIfEmpty && (await changedBefore(path, cutoff));
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 0;
      throw this.wrap(error, 'list', path);
    }
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) removed += await this.sweepFolder(child, cutoff, true);
      else if (
        entry.name.startsWith(TEMP_MARKER) &&
        !entry.name.startsWith(CLAIM_MARKER) &&
        (await changedBefore(child, cutoff))
      ) {
        await unlink(child).catch(() => undefined);
        removed++;
      }
    }
    if (stale) {
      // rmdir refuses a folder that is not empty, which is the check that cannot race a writer.
      if (
        await rmdir(path).then(
          () => true,
          () => false,
        )
      )
        removed++;
    }
    return removed;
  }

  private async walk(dirKey: string, prefix: string, found: StoredObject[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dirKey === '' ? this.location : this.pathOf(dirKey), { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw this.wrap(error, 'list', prefix);
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_MARKER)) continue;
      const key = `${dirKey}${entry.name}`;
      if (entry.isDirectory()) {
        const asDir = `${key}/`;
        if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) await this.walk(asDir, prefix, found);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await stat(join(this.location, key));
        found.push({ key, size: info.size, lastModified: info.mtime });
      }
    }
  }

  private async writeTemp(target: string, body: Uint8Array, key: string): Promise<string> {
    const temp = join(dirname(target), `${TEMP_MARKER}${randomUUID()}`);
    try {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(temp, body, { flag: 'wx' });
      return temp;
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw this.wrap(error, 'write', key);
    }
  }

  /** The body's own errors pass through unchanged; the temporary file goes either way. */
  private async streamTemp(target: string, body: AsyncIterable<Uint8Array>, key: string): Promise<string> {
    const temp = join(dirname(target), `${TEMP_MARKER}${randomUUID()}`);
    const storing = async <T>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (error) {
        throw this.wrap(error, 'write', key);
      }
    };
    let handle: FileHandle | undefined;
    try {
      await storing(() => mkdir(dirname(target), { recursive: true }));
      const file = await storing(() => open(temp, 'wx'));
      handle = file;
      for await (const chunk of body) await storing(() => writeAll(file, chunk));
      handle = undefined;
      await storing(() => file.close());
      return temp;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  private pathOf(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) {
      throw new StoreError(`Invalid object key "${key}": keys are relative paths without . or .. segments`);
    }
    const path = join(this.location, ...key.split('/'));
    if (!path.startsWith(this.location + sep))
      throw new StoreError(`Object key "${key}" escapes the lake folder`);
    return path;
  }

  private wrap(error: unknown, action: string, key: string): Error {
    const code = errorCode(error);
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new StoreFullError(
        `No space left in ${this.location} to ${action} ${key}: free disk space and run again`,
        {
          cause: error,
        },
      );
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new AccessDeniedError(
        `Cannot ${action} ${key} in ${this.location} (${code}): make the folder writable`,
        {
          cause: error,
        },
      );
    }
    return new StoreError(`Could not ${action} ${key} in ${this.location}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The claim of one change: a temporary file's name, so `list` skips it. */
export function claimFileName(fileName: string, version: string, level: number): string {
  return `${CLAIM_MARKER}${fileName}-${version}-${level}`;
}

/**
 * `gone` when the claim was let go since (claim it again), `dead` when its process is gone from
 * this host; a claim made on another host, or unreadable, counts as alive.
 */
async function claimHolder(claim: string): Promise<'alive' | 'dead' | 'gone'> {
  let claimant: string;
  try {
    claimant = await readlink(claim);
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? 'gone' : 'alive';
  }
  const match = /^(\d+)@(.*)$/.exec(claimant);
  const dead = match !== null && match[2] === hostname() && !isProcessRunning(Number(match[1]));
  return dead ? 'dead' : 'alive';
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) {
    written += (await handle.write(chunk, written, chunk.byteLength - written)).bytesWritten;
  }
}

async function changedBefore(path: string, cutoff: number): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && info.mtimeMs < cutoff;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
