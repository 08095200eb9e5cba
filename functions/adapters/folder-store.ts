/** The embedded default object store: a local folder with the same layout as the S3 lake. */
import { randomUUID } from 'node:crypto';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { AccessDeniedError, StoreError, StoreFullError } from '../core/errors.js';
import type { ObjectStore, PutResult, StoredObject } from '../core/ports.js';

const TEMP_MARKER = '.tmp-';

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
      else if (entry.name.startsWith(TEMP_MARKER) && (await changedBefore(child, cutoff))) {
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
