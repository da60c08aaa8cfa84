/**
 * Re-reads a set of files when any of them changes, by polling their stat (mtime, size, inode)
 * rather than fs.watch: Kubernetes and Compose swap secrets by renaming a symlink, which a watch on
 * the old inode never sees. A load that fails keeps the last good value in service.
 */
import { statSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';

/** How often the credential and certificate files are checked for a change. */
export const DEFAULT_RELOAD_CHECK_MS = 5_000;

export interface ReloadOptions {
  readonly checkEveryMs?: number;
  readonly logger: Logger;
  /** What the files are, for log lines ("server.tls"): never their content. */
  readonly what: string;
}

function fingerprint(files: readonly string[]): string {
  return files.map((file) => {
    try {
      const stat = statSync(file);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'unreadable';
    }
  }).join('|');
}

/**
 * Calls `reload()` after the files changed; `reload` throws to refuse the new content (the old stays).
 * Returns the function that stops watching.
 */
export function reloadOnChange(files: readonly string[], reload: () => void, options: ReloadOptions): () => void {
  let seen = fingerprint(files);
  const timer = setInterval(() => {
    const now = fingerprint(files);
    if (now === seen) return;
    seen = now;
    try {
      reload();
      options.logger.info({ what: options.what, files }, 'reloaded after a change');
    } catch (error) {
      options.logger.warn({ what: options.what, files, err: errorMessage(error) }, 'changed files refused; the previous ones stay in use');
    }
  }, options.checkEveryMs ?? DEFAULT_RELOAD_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
