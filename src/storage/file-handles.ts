/**
 * Open file descriptors of log segments and indexes, bounded by a least-recently-used pool: a
 * broker with thousands of idle replicas keeps only the files in use open, and reopens an evicted
 * one on its next use. A descriptor is pinned while an operation runs on it, so it is never
 * closed (and its number reused) under a read, a write or an fsync in flight.
 */
import * as fs from 'node:fs';
import { io } from './files.js';

/** Enough for the busy files of a broker, well below this kind of machine's `ulimit -n` of 20,000. */
export const DEFAULT_MAX_OPEN_FILES = 8_192;

export class FileHandlePool {
  /** Open handles, least recently used first (Map keeps insertion order). */
  private readonly open = new Map<FileHandle, true>();
  evictions = 0;

  constructor(public maxOpen = DEFAULT_MAX_OPEN_FILES) {}

  get size(): number {
    return this.open.size;
  }

  /** A handle on `file`, opened (read-write, created if missing) on first use. */
  handle(file: string): FileHandle {
    return new FileHandle(this, file);
  }

  /** @internal */
  touch(h: FileHandle): void {
    this.open.delete(h);
    this.open.set(h, true);
    if (this.open.size > this.maxOpen) this.trim(h);
  }

  /** @internal */
  opened(h: FileHandle): void {
    this.open.set(h, true);
    if (this.open.size > this.maxOpen) this.trim(h);
  }

  /** Closes the least recently used handles that no operation holds, down to the bound. */
  private trim(keep: FileHandle): void {
    for (const victim of this.open.keys()) {
      if (this.open.size <= this.maxOpen) break;
      if (victim === keep || victim.pinned) continue;
      victim.release();
      this.evictions++;
    }
  }

  /** @internal */
  closed(h: FileHandle): void {
    this.open.delete(h);
  }
}

export class FileHandle {
  private fd: number | null = null;
  private pins = 0;

  constructor(
    private readonly pool: FileHandlePool,
    readonly file: string,
  ) {}

  get pinned(): boolean {
    return this.pins > 0;
  }

  get isOpen(): boolean {
    return this.fd !== null;
  }

  private acquire(): number {
    if (this.fd === null) {
      const file = this.file;
      this.fd = io('open', file, () => fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT));
      this.pool.opened(this);
    } else this.pool.touch(this);
    return this.fd;
  }

  /** Runs `fn` on the open descriptor, which stays open until `fn` returns. */
  use<T>(fn: (fd: number) => T): T {
    this.pins++;
    try {
      return fn(this.acquire());
    } finally {
      this.pins--;
    }
  }

  /** As use(), until the promise settles. */
  async useAsync<T>(fn: (fd: number) => Promise<T>): Promise<T> {
    this.pins++;
    try {
      return await fn(this.acquire());
    } finally {
      this.pins--;
    }
  }

  /** Closes the descriptor (it reopens on the next use). */
  release(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    this.pool.closed(this);
    io('close', this.file, () => fs.closeSync(fd));
  }
}

/** The process's pool: every log of every broker in this process draws on the same descriptor limit. */
export const logFiles = new FileHandlePool();
