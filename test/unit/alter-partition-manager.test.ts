import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { AlterPartitionManager } from '../../src/broker/alter-partition-manager.js';

const item = (partition: number, newIsr = [1]) => ({
  topic: 't',
  partition,
  leaderEpoch: 0,
  partitionEpoch: 0,
  newIsr,
});

describe('AlterPartition batching', () => {
  it('sends the changes asked for meanwhile in one request, with one result each', async () => {
    const sent: millrace.IAlterPartitionItem[][] = [];
    let answer: () => void = () => undefined;
    const manager = new AlterPartitionManager(async (items) => {
      sent.push(items);
      if (sent.length === 1) await new Promise<void>((r) => (answer = r));
      return items.map((i) => ({
        topic: i.topic!,
        partition: i.partition!,
        errorCode: i.partition === 3 ? ErrorCodes.INVALID_UPDATE_VERSION.code : 0,
        errorMessage: '',
        leaderEpoch: 0,
        partitionEpoch: 1,
        isr: i.newIsr!,
      })) as millrace.AlterPartitionResult[];
    });
    const first = manager.submit(item(0));
    await new Promise((r) => setImmediate(r));
    // While the first request is out, three partitions ask: they go together next.
    const later = [1, 2, 3].map((p) => manager.submit(item(p, [1, 2])));
    answer();
    await expect(first).resolves.toEqual({ isr: [1], partitionEpoch: 1 });
    const settled = await Promise.allSettled(later);
    expect(sent.map((b) => b.map((i) => i.partition))).toEqual([[0], [1, 2, 3]]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
  });

  it('fails every change of a request that failed as a whole', async () => {
    const manager = new AlterPartitionManager(() => Promise.reject(new Error('no controller')));
    await expect(Promise.all([manager.submit(item(0)), manager.submit(item(1))])).rejects.toThrow('no controller');
  });
});
