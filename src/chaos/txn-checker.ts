/**
 * The transaction checker: what transactional writers did, what a read_committed reader saw
 * while they did it, a read_committed read of everything afterwards, and a copy pipeline's input
 * and output. It finds:
 *
 * - partial transactions: some of a transaction's records visible and some not (atomicity);
 * - lost commits: a transaction whose commit was acknowledged, not (wholly) visible;
 * - aborted reads: a record of an aborted transaction read under read_committed;
 * - open reads: a record read under read_committed before its transaction's commit was asked;
 * - duplicates: a transactional record visible more than once;
 * - copy errors: the copy pipeline (consume, produce, offsets committed in one transaction)
 *   must hold each input record below its committed offsets exactly once, and nothing else.
 */

export type TxnOutcome = 'committed' | 'aborted' | 'unknown';

export interface TxnRecord {
  writer: string;
  /** The values written, one per partition it touched. */
  values: number[];
  partitions: number[];
  /** committed / aborted: acknowledged so; unknown: the end's outcome was not learned. */
  outcome: TxnOutcome;
  /** When commit() was called (null: it never was, as for an abort on purpose). */
  commitAt: number | null;
}

export interface TxnPoll {
  value: number;
  partition: number;
  time: number;
}

export interface PartitionValues {
  partition: number;
  values: number[];
}

export interface TxnHistory {
  txns: TxnRecord[];
  /** A read_committed reader's records during the run. */
  polls: TxnPoll[];
  /** Every transactional record visible under read_committed after the run. */
  finalRead: PartitionValues[];
  /** The copy pipeline: input records below its committed offsets, and its output under read_committed. */
  copy: { input: PartitionValues[]; output: PartitionValues[] } | null;
}

export interface TxnVerdict {
  valid: boolean;
  counts: {
    transactions: number;
    committed: number;
    aborted: number;
    unknown: number;
    visibleRecords: number;
    polled: number;
    partial: number;
    lostCommits: number;
    abortedReads: number;
    openReads: number;
    duplicates: number;
    copied: number;
    copyMissing: number;
    copyDuplicates: number;
    copyExtra: number;
  };
  examples: Record<string, unknown[]>;
}

const EXAMPLES = 5;

export function checkTransactions(h: TxnHistory): TxnVerdict {
  const examples: Record<string, unknown[]> = {};
  const note = (kind: string, example: unknown): void => {
    const list = (examples[kind] ??= []);
    if (list.length < EXAMPLES) list.push(example);
  };
  const txnOf = new Map<number, TxnRecord>();
  for (const t of h.txns) for (const v of t.values) txnOf.set(v, t);

  const visible = new Map<number, number>();
  for (const p of h.finalRead) for (const v of p.values) visible.set(v, (visible.get(v) ?? 0) + 1);
  let duplicates = 0;
  for (const [value, n] of visible)
    if (n > 1) {
      duplicates += n - 1;
      note('duplicates', { value, times: n });
    }

  let partial = 0;
  let lostCommits = 0;
  let abortedReads = 0;
  for (const t of h.txns) {
    const seen = t.values.filter((v) => visible.has(v)).length;
    if (seen > 0 && seen < t.values.length) {
      partial++;
      note('partial', {
        writer: t.writer,
        values: t.values,
        partitions: t.partitions,
        visible: t.values.filter((v) => visible.has(v)),
      });
    }
    if (t.outcome === 'committed' && seen < t.values.length) {
      lostCommits++;
      note('lostCommits', { writer: t.writer, values: t.values, partitions: t.partitions });
    }
    if (t.outcome === 'aborted' && seen > 0) {
      abortedReads++;
      note('abortedReads', { writer: t.writer, values: t.values, in: 'final read' });
    }
  }

  let openReads = 0;
  for (const poll of h.polls) {
    const t = txnOf.get(poll.value);
    if (!t) continue;
    if (t.outcome === 'aborted') {
      abortedReads++;
      note('abortedReads', { writer: t.writer, value: poll.value, in: 'poll', time: poll.time });
    } else if (t.commitAt === null || poll.time < t.commitAt) {
      openReads++;
      note('openReads', { value: poll.value, polledAt: poll.time, commitAskedAt: t.commitAt });
    }
  }

  let copied = 0;
  let copyMissing = 0;
  let copyDuplicates = 0;
  let copyExtra = 0;
  if (h.copy) {
    const want = new Set<number>();
    for (const p of h.copy.input) for (const v of p.values) want.add(v);
    const got = new Map<number, number>();
    for (const p of h.copy.output) for (const v of p.values) got.set(v, (got.get(v) ?? 0) + 1);
    copied = want.size;
    for (const v of want)
      if (!got.has(v)) {
        copyMissing++;
        note('copyMissing', { value: v });
      }
    for (const [v, n] of got) {
      if (!want.has(v)) {
        copyExtra++;
        note('copyExtra', { value: v });
      }
      if (n > 1) {
        copyDuplicates += n - 1;
        note('copyDuplicates', { value: v, times: n });
      }
    }
  }

  const counts = {
    transactions: h.txns.length,
    committed: h.txns.filter((t) => t.outcome === 'committed').length,
    aborted: h.txns.filter((t) => t.outcome === 'aborted').length,
    unknown: h.txns.filter((t) => t.outcome === 'unknown').length,
    visibleRecords: [...visible.values()].reduce((a, b) => a + b, 0),
    polled: h.polls.length,
    partial,
    lostCommits,
    abortedReads,
    openReads,
    duplicates,
    copied,
    copyMissing,
    copyDuplicates,
    copyExtra,
  };
  const valid =
    partial + lostCommits + abortedReads + openReads + duplicates + copyMissing + copyDuplicates + copyExtra === 0;
  return { valid, counts, examples };
}

export function summarizeTransactions(v: TxnVerdict): string {
  const c = v.counts;
  return (
    `${v.valid ? 'transactions valid' : 'transactions INVALID'}: ${c.transactions} transactions ` +
    `(${c.committed} committed, ${c.aborted} aborted, ${c.unknown} unknown), ${c.visibleRecords} visible, ` +
    `${c.polled} read live; partial ${c.partial}, lost commits ${c.lostCommits}, aborted reads ${c.abortedReads}, ` +
    `open reads ${c.openReads}, duplicates ${c.duplicates}; copy: ${c.copied} input records, missing ${c.copyMissing}, ` +
    `duplicated ${c.copyDuplicates}, extra ${c.copyExtra}`
  );
}
