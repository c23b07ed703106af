/** A log's cleaner checkpoint: its first dirty offset (segments below it were compacted), in a file of its own. */
import * as path from 'node:path';
import { readFileIfExists, writeFileAtomic } from './files.js';

const CLEANER_CHECKPOINT = 'cleaner-offset-checkpoint';

export class CleanerCheckpoint {
  /** Read from the file once, then kept. */
  private firstDirty: number | null = null;

  constructor(private readonly dir: string) {}

  read(): number {
    if (this.firstDirty === null) {
      const text = readFileIfExists(path.join(this.dir, CLEANER_CHECKPOINT));
      const n = text === null ? 0 : Number(text.trim());
      this.firstDirty = Number.isSafeInteger(n) && n >= 0 ? n : 0;
    }
    return this.firstDirty;
  }

  write(offset: number): void {
    writeFileAtomic(path.join(this.dir, CLEANER_CHECKPOINT), `${offset}\n`);
    this.firstDirty = offset;
  }
}
