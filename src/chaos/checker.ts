/**
 * The history checker, in the terms Jepsen uses for Kafka-like logs. A history holds what the
 * workloads did: producers' sends (acknowledged with an offset, failed, or of unknown outcome),
 * what consumers polled in order, the committed offsets a group was seen to have, and full reads
 * of every partition taken after the faults stopped. The checker finds:
 *
 * - lost writes: acknowledged values absent from the final reads;
 * - duplicates: a value stored at more than one offset;
 * - order violations: one producer's values out of send order within a partition;
 * - inconsistent offsets: two observations of one offset with different values (an
 *   acknowledgement's offset counts as an observation);
 * - non-monotonic reads: a consumer's offsets going back within a partition without a
 *   rebalance in between;
 * - committed offsets going back within a group's partition;
 * - records never seen: acknowledged values no group consumer polled.
 */

export type SendStatus = 'ok' | 'fail' | 'unknown';

export interface SendRecord {
  producer: string;
  /** Unique across the history; a producer's values increase in send order. */
  value: number;
  partition: number;
  status: SendStatus;
  offset?: number;
  /** When the send was invoked, and when its outcome was known. */
  time: number;
  completedAt?: number;
}

export interface PollRecord {
  consumer: string;
  partition: number;
  offset: number;
  value: number;
  time: number;
}

export interface RebalanceRecord {
  consumer: string;
  time: number;
}

export interface CommitRecord {
  group: string;
  partition: number;
  offset: number;
  time: number;
}

export interface FinalRead {
  partition: number;
  /** Every record of the partition, in offset order. */
  records: Array<{ offset: number; value: number }>;
}

export interface History {
  topic: string;
  sends: SendRecord[];
  polls: PollRecord[];
  rebalances: RebalanceRecord[];
  commits: CommitRecord[];
  /** One or more complete reads after the run; two readers make offsets checkable against each other. */
  finalReads: FinalRead[][];
}

export interface Verdict {
  valid: boolean;
  counts: {
    sends: number;
    acknowledged: number;
    failed: number;
    unknown: number;
    stored: number;
    polled: number;
    lost: number;
    duplicates: number;
    orderViolations: number;
    inconsistentOffsets: number;
    nonMonotonicReads: number;
    committedOffsetsBack: number;
    neverSeen: number;
  };
  examples: Record<string, unknown[]>;
}

const EXAMPLES = 5;

export function check(history: History): Verdict {
  const examples: Record<string, unknown[]> = {};
  const note = (kind: string, example: unknown): void => {
    const list = (examples[kind] ??= []);
    if (list.length < EXAMPLES) list.push(example);
  };

  // What is stored at each offset, from every final read (and every acknowledgement and poll).
  const atOffset = new Map<string, { value: number; source: string }>();
  let inconsistentOffsets = 0;
  const observe = (partition: number, offset: number, value: number, source: string): void => {
    const key = `${partition}:${offset}`;
    const seen = atOffset.get(key);
    if (!seen) atOffset.set(key, { value, source });
    else if (seen.value !== value) {
      inconsistentOffsets++;
      note('inconsistentOffsets', { partition, offset, values: [seen.value, value], sources: [seen.source, source] });
    }
  };
  history.finalReads.forEach((read, i) => {
    for (const p of read) for (const r of p.records) observe(p.partition, r.offset, r.value, `final read ${i}`);
  });
  for (const s of history.sends)
    if (s.status === 'ok' && s.offset !== undefined) observe(s.partition, s.offset, s.value, `ack to ${s.producer}`);
  for (const p of history.polls) observe(p.partition, p.offset, p.value, `poll by ${p.consumer}`);

  // Stored values from the first final read: duplicates and per-producer order.
  const stored = new Map<number, Array<{ partition: number; offset: number }>>();
  const reference = history.finalReads[0] ?? [];
  for (const p of reference) {
    for (const r of p.records) {
      const places = stored.get(r.value) ?? [];
      places.push({ partition: p.partition, offset: r.offset });
      stored.set(r.value, places);
    }
  }
  let duplicates = 0;
  for (const [value, places] of stored) {
    if (places.length > 1) {
      duplicates += places.length - 1;
      note('duplicates', { value, places });
    }
  }
  const producerOf = new Map(history.sends.map((s) => [s.value, s.producer]));
  let orderViolations = 0;
  for (const p of reference) {
    const lastByProducer = new Map<string, { value: number; offset: number }>();
    for (const r of p.records) {
      const producer = producerOf.get(r.value) ?? '?';
      const last = lastByProducer.get(producer);
      if (last && r.value < last.value) {
        orderViolations++;
        note('orderViolations', { partition: p.partition, producer, earlier: last, later: r });
      }
      if (!last || r.value > last.value) lastByProducer.set(producer, { value: r.value, offset: r.offset });
    }
  }

  const acknowledged = history.sends.filter((s) => s.status === 'ok');
  let lost = 0;
  for (const s of acknowledged) {
    if (stored.has(s.value)) continue;
    lost++;
    note('lost', s);
  }

  // Consumers: offsets only go forward within a partition between two rebalances of that consumer.
  const rebalancesOf = new Map<string, number[]>();
  for (const r of history.rebalances) rebalancesOf.set(r.consumer, [...(rebalancesOf.get(r.consumer) ?? []), r.time]);
  let nonMonotonicReads = 0;
  const lastPoll = new Map<string, PollRecord>();
  for (const p of history.polls) {
    const key = `${p.consumer}:${p.partition}`;
    const last = lastPoll.get(key);
    lastPoll.set(key, p);
    if (!last || p.offset > last.offset) continue;
    const rebalanced = (rebalancesOf.get(p.consumer) ?? []).some((t) => t >= last.time && t <= p.time);
    if (rebalanced) continue;
    nonMonotonicReads++;
    note('nonMonotonicReads', { consumer: p.consumer, partition: p.partition, from: last.offset, to: p.offset });
  }

  let committedOffsetsBack = 0;
  const lastCommit = new Map<string, CommitRecord>();
  for (const c of [...history.commits].sort((a, b) => a.time - b.time)) {
    const key = `${c.group}:${c.partition}`;
    const last = lastCommit.get(key);
    if (last && c.offset < last.offset) {
      committedOffsetsBack++;
      note('committedOffsetsBack', { group: c.group, partition: c.partition, from: last.offset, to: c.offset });
    }
    if (!last || c.offset >= last.offset) lastCommit.set(key, c);
  }

  const polledValues = new Set(history.polls.map((p) => p.value));
  let neverSeen = 0;
  if (history.polls.length > 0 || history.rebalances.length > 0) {
    for (const s of acknowledged) {
      if (polledValues.has(s.value)) continue;
      neverSeen++;
      note('neverSeen', s);
    }
  }

  const counts = {
    sends: history.sends.length,
    acknowledged: acknowledged.length,
    failed: history.sends.filter((s) => s.status === 'fail').length,
    unknown: history.sends.filter((s) => s.status === 'unknown').length,
    stored: [...stored.values()].reduce((n, places) => n + places.length, 0),
    polled: history.polls.length,
    lost,
    duplicates,
    orderViolations,
    inconsistentOffsets,
    nonMonotonicReads,
    committedOffsetsBack,
    neverSeen,
  };
  const valid =
    lost + duplicates + orderViolations + inconsistentOffsets + nonMonotonicReads + committedOffsetsBack + neverSeen ===
    0;
  return { valid, counts, examples };
}

/** A few lines for a person: the verdict and what went wrong. */
export function summarize(v: Verdict): string {
  const c = v.counts;
  const lines = [
    `${v.valid ? 'VALID' : 'INVALID'}: ${c.acknowledged} of ${c.sends} writes acknowledged (${c.failed} failed, ${c.unknown} unknown), ${c.stored} stored, ${c.polled} polled`,
  ];
  const problems = (
    [
      'lost',
      'duplicates',
      'orderViolations',
      'inconsistentOffsets',
      'nonMonotonicReads',
      'committedOffsetsBack',
      'neverSeen',
    ] as const
  ).filter((k) => c[k] > 0);
  if (problems.length === 0) lines.push('no lost or duplicated writes, no order violations, offsets consistent');
  for (const k of problems) lines.push(`${k}: ${c[k]}, e.g. ${JSON.stringify(v.examples[k]?.[0])}`);
  return lines.join('\n');
}
