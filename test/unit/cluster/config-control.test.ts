/** Topic config changes and descriptions, as pure functions of the image. */
import { describe, expect, it } from 'vitest';
import { ConfigOps, alterConfigs, applyConfigOps } from '../../../src/cluster/config-control.js';
import { emptyImage, replayAll } from '../../../src/cluster/image.js';
import { keys, partitionPut, put } from '../../../src/cluster/records.js';
import { newPartition } from '../../../src/cluster/replication-control.js';
import { ConfigSource, describeTopicConfigs } from '../../../src/cluster/topic-config.js';

const image = replayAll(
  emptyImage,
  [
    partitionPut('t', newPartition('id-t', 0, [1])),
    put(keys.topic('t'), { name: 't', id: 'id-t', configs: { 'retention.ms': '1000' }, partitionCount: 1 }),
  ],
  1,
);

describe('topic config changes', () => {
  it('sets, deletes, appends to and subtracts from configs', () => {
    const next = applyConfigOps({ 'cleanup.policy': 'delete', 'retention.ms': '5' }, [
      { name: 'cleanup.policy', op: ConfigOps.APPEND, value: 'compact' },
      { name: 'retention.ms', op: ConfigOps.DELETE },
      { name: 'segment.ms', op: ConfigOps.SET, value: '60000' },
    ]);
    expect(next).toEqual({ 'cleanup.policy': 'delete,compact', 'segment.ms': '60000' });
    expect(applyConfigOps(next, [{ name: 'cleanup.policy', op: ConfigOps.SUBTRACT, value: 'delete,compact' }])).toEqual(
      {
        'segment.ms': '60000',
      },
    );
    expect(() => applyConfigOps({}, [{ name: 'x', op: 9 }])).toThrow(/not one of 0-3/);
  });

  it('writes the whole new config set as the topic record, validated as a whole, per topic', () => {
    const incremental = alterConfigs(image, {
      topics: [{ topic: 't', ops: [{ name: 'segment.ms', op: ConfigOps.SET, value: '60000' }] }],
    });
    expect(incremental.records).toEqual([
      put(keys.topic('t'), {
        name: 't',
        id: 'id-t',
        configs: { 'retention.ms': '1000', 'segment.ms': '60000' },
        partitionCount: 1,
      }),
    ]);
    const replaced = alterConfigs(image, {
      topics: [{ topic: 't', replace: true, ops: [{ name: 'segment.ms', op: ConfigOps.SET, value: '60000' }] }],
    });
    expect((replaced.records[0]!.value as { configs: unknown }).configs).toEqual({ 'segment.ms': '60000' });
    const refused = alterConfigs(image, {
      topics: [
        { topic: 't', ops: [{ name: 'retention.ms', op: ConfigOps.SET, value: 'soon' }] },
        { topic: 'nope', ops: [] },
        { topic: 't', ops: [{ name: 'no.such.config', op: ConfigOps.SET, value: '1' }] },
      ],
    });
    expect(refused.records).toEqual([]);
    expect(refused.response.results!.map((r) => r.errorCode)).toEqual([40, 3, 40]);
    expect(alterConfigs(image, { topics: [{ topic: 't', ops: [] }], validateOnly: true }).records).toEqual([]);
  });

  it("describes every config with the topic's value, the broker's default or Kafka's, and says which", () => {
    const described = describeTopicConfigs({ 'retention.ms': '1000' }, { 'segment.bytes': '1048576' });
    const byName = new Map(described.map((c) => [c.name, c]));
    expect(byName.get('retention.ms')).toEqual({ name: 'retention.ms', value: '1000', source: ConfigSource.TOPIC });
    expect(byName.get('segment.bytes')).toMatchObject({ value: '1048576', source: ConfigSource.STATIC_BROKER });
    expect(byName.get('cleanup.policy')).toMatchObject({ value: 'delete', source: ConfigSource.DEFAULT });
    expect(byName.get('flush.messages')!.value).toBe('9223372036854775807');
    expect(byName.get('unclean.leader.election.enable')!.value).toBe('false');
  });
});
