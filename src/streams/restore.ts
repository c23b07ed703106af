/**
 * Restores a task's stores from their changelogs, as Kafka Streams' StoreChangelogReader: each
 * store's partition of `<application.id>-<store>-changelog` is read from its start (or from a
 * persistent store's checkpoint) to the end it had when restoration began (its high watermark;
 * read_committed under exactly_once_v2, so aborted writes are never restored), applying every record.
 * Progress is reported per store as Kafka's StateRestoreListener reports it; the stores are
 * flushed at the end, and the ends returned (a persistent store's checkpoint starts there).
 */
import { MillraceError } from '../../protocol/errors.js';
import type { IsolationLevel, Millrace } from '../client/index.js';
import type { StateStore } from './stores.js';

export interface RestoreProgress {
  store: string;
  topic: string;
  partition: number;
  /** Records applied so far, and the offsets restoration runs between. */
  restored: number;
  startOffset: number;
  endOffset: number;
  done: boolean;
}

export interface ChangelogToRestore {
  store: StateStore;
  topic: string;
  /** Where to start (a checkpoint), or 'earliest'. */
  from: number | 'earliest';
}

const POLL_MS = 20;
/** How long restoration retries a lookup that fails for a while (a leader moving, a broker restarting). */
const RETRY_FOR_MS = 60_000;
const RETRY_BACKOFF_MS = 200;

/** Runs `call` again while it fails with a retriable error, for at most RETRY_FOR_MS. */
async function retriable<T>(call: () => Promise<T>, isStopped: () => boolean): Promise<T> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof MillraceError && err.retriable) || Date.now() > deadline || isStopped()) throw err;
      await new Promise((r) => setTimeout(r, RETRY_BACKOFF_MS));
    }
  }
}

export async function restoreChangelogs(
  client: Millrace,
  partition: number,
  changelogs: ChangelogToRestore[],
  isolationLevel: IsolationLevel,
  onProgress: (p: RestoreProgress) => void,
  isStopped: () => boolean,
): Promise<Map<string, number>> {
  if (changelogs.length === 0) return new Map();
  const admin = client.admin();
  const ends = new Map<string, number>();
  const starts = new Map<string, number>();
  const offsetsOf = (topic: string, spec: number) =>
    retriable(() => admin.fetchTopicOffsets(topic, spec), isStopped).then((all) =>
      all.filter((o) => o.partition === partition),
    );
  for (const c of changelogs) {
    // The high watermark: under read_committed the position waits at an open transaction
    // (a failed thread's, until it is aborted) and passes it only once it has ended.
    const [end] = await offsetsOf(c.topic, -1);
    const [earliest] = await offsetsOf(c.topic, -2);
    ends.set(c.topic, Number(end?.offset ?? 0));
    starts.set(c.topic, Math.max(Number(earliest?.offset ?? 0), c.from === 'earliest' ? 0 : c.from));
  }
  const pending = changelogs.filter((c) => starts.get(c.topic)! < ends.get(c.topic)!);
  const progress = new Map(
    changelogs.map((c) => [
      c.topic,
      {
        store: c.store.name,
        topic: c.topic,
        partition,
        restored: 0,
        startOffset: starts.get(c.topic)!,
        endOffset: ends.get(c.topic)!,
        done: !pending.includes(c),
      },
    ]),
  );
  for (const c of changelogs) if (!pending.includes(c)) onProgress(progress.get(c.topic)!);
  if (pending.length > 0)
    await readToEnds(client, partition, pending, starts, ends, progress, isolationLevel, onProgress, isStopped);
  for (const c of changelogs) await c.store.flush();
  return ends;
}

async function readToEnds(
  client: Millrace,
  partition: number,
  pending: ChangelogToRestore[],
  starts: Map<string, number>,
  ends: Map<string, number>,
  progress: Map<string, RestoreProgress>,
  isolationLevel: IsolationLevel,
  onProgress: (p: RestoreProgress) => void,
  isStopped: () => boolean,
): Promise<void> {
  const consumer = client.consumer({ isolationLevel, autoOffsetReset: 'earliest' });
  const byTopic = new Map(pending.map((c) => [c.topic, c.store]));
  consumer.assign(pending.map((c) => ({ topic: c.topic, partition, offset: starts.get(c.topic)! })));
  const left = new Set(pending.map((c) => c.topic));
  const caughtUp = (): boolean => {
    for (const topic of [...left]) {
      const position = consumer.position({ topic, partition });
      if (position !== null && Number(position) >= ends.get(topic)!) {
        left.delete(topic);
        const p = progress.get(topic)!;
        p.done = true;
        onProgress(p);
      }
    }
    return left.size === 0;
  };
  const running = consumer.run({
    eachBatch: ({ batch }) => {
      const store = byTopic.get(batch.topic)!;
      const end = ends.get(batch.topic)!;
      let n = 0;
      for (const r of batch.records()) {
        if (r.offset >= end) break;
        store.restore(Buffer.from(r.key() ?? Buffer.alloc(0)), r.value() === null ? null : Buffer.from(r.value()!));
        n++;
      }
      const p = progress.get(batch.topic)!;
      p.restored += n;
      if (!p.done) onProgress({ ...p });
    },
  });
  try {
    // The position moves past markers and aborted records the handler never sees: polled.
    while (!caughtUp()) {
      if (isStopped()) throw new MillraceError('INVALID_REQUEST', 'the stream thread stopped while restoring');
      await Promise.race([running, new Promise((r) => setTimeout(r, POLL_MS))]);
    }
  } finally {
    await consumer.close();
  }
}
