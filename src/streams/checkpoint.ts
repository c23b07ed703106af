/**
 * Kafka's checkpoint file, in a task's state directory: the offset of each changelog below which
 * the task's persistent stores hold everything (written only after the stores were flushed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const CHECKPOINT_FILE = '.checkpoint';

export function readCheckpoint(dir: string): Record<string, number> {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, CHECKPOINT_FILE), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** Written whole or not at all (a rename), so a crash never leaves half a checkpoint. */
export function writeCheckpoint(dir: string, offsets: ReadonlyMap<string, number>): void {
  const file = path.join(dir, CHECKPOINT_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(offsets)));
  fs.renameSync(`${file}.tmp`, file);
}

export function removeCheckpoint(dir: string): void {
  fs.rmSync(path.join(dir, CHECKPOINT_FILE), { force: true });
}

export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHECKPOINT_FILE));
}
