/** `millrace topic create|add-partitions|list|describe|delete|alter|delete-records`. */
import { Command } from 'commander';
import { MillraceError } from '../../protocol/errors.js';
import { parseConfigPairs } from '../cluster/topic-config.js';
import { client, collect, integer, print, withConnection, type ConnectionFlags } from './common.js';

export function topicCommand(): Command {
  const topic = new Command('topic').description(
    'create, grow, list, describe, alter and delete topics, and delete records',
  );
  withConnection(topic.command('create').description('create a topic').argument('<name>'))
    .option(
      '--partitions <n>',
      "number of partitions (default: the brokers' num.partitions)",
      integer('--partitions', 1),
    )
    .option(
      '--replication-factor <n>',
      "replicas per partition (default: the brokers' default.replication.factor)",
      integer('--replication-factor', 1),
    )
    .option('--config <key=value>', 'a topic config (repeatable)', collect)
    .action(
      async (
        name: string,
        flags: ConnectionFlags & { partitions?: number; replicationFactor?: number; config?: string[] },
      ) => {
        const c = client(flags, 'millrace-cli');
        try {
          const admin = c.admin();
          const created = await admin.createTopics({
            topics: [
              {
                topic: name,
                numPartitions: flags.partitions,
                replicationFactor: flags.replicationFactor,
                configs: parseConfigPairs(flags.config ?? []),
              },
            ],
          });
          if (!created) throw new MillraceError('TOPIC_ALREADY_EXISTS', `topic '${name}' already exists`);
          // What the brokers chose where the flags left it to them.
          const [described] = await admin.describeTopics([name]);
          const partitions = described!.partitions;
          print(
            `created topic '${name}' with ${partitions.length} partitions, replication factor ${partitions[0]?.replicas.length ?? 0}`,
          );
        } finally {
          await c.close();
        }
      },
    );
  withConnection(
    topic
      .command('add-partitions')
      .description("grow a topic to a partition count (keys of existing records do not move: Kafka's semantics)")
      .argument('<name>'),
  )
    .requiredOption('--partitions <n>', 'the new total number of partitions', integer('--partitions', 1))
    .action(async (name: string, flags: ConnectionFlags & { partitions: number }) => {
      const c = client(flags, 'millrace-cli');
      try {
        await c.admin().createPartitions({ topicPartitions: [{ topic: name, count: flags.partitions }] });
        print(`topic '${name}' now has ${flags.partitions} partitions`);
      } finally {
        await c.close();
      }
    });
  withConnection(topic.command('list').description('list topics')).action(async (flags: ConnectionFlags) => {
    const c = client(flags, 'millrace-cli');
    try {
      for (const name of await c.admin().listTopics()) print(name);
    } finally {
      await c.close();
    }
  });
  withConnection(
    topic.command('describe').description('partitions, leaders, replicas, ISR and offsets').argument('[names...]'),
  )
    .option('--json', 'as JSON')
    .action(async (names: string[], flags: ConnectionFlags & { json?: boolean }) => {
      const c = client(flags, 'millrace-cli');
      try {
        const topics = await c.admin().describeTopics(names.length ? names : undefined);
        if (flags.json) {
          print(JSON.stringify(topics, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
          return;
        }
        for (const t of topics) {
          const configs = Object.entries(t.configs)
            .map(([k, v]) => `${k}=${v}`)
            .join(',');
          print(
            `Topic: ${t.name}\tTopicId: ${t.id}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${t.partitions[0]?.replicas.length ?? 0}\tConfigs: ${configs}`,
          );
          for (const p of t.partitions) {
            print(
              `\tPartition: ${p.partition}\tLeader: ${p.leader}\tLeaderEpoch: ${p.leaderEpoch}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}\tStartOffset: ${p.earliestOffset ?? '?'}\tHighWatermark: ${p.latestOffset ?? '?'}\tLogEndOffset: ${p.logEndOffset ?? '?'}${p.error ? `\tError: ${p.error}` : ''}`,
            );
          }
        }
      } finally {
        await c.close();
      }
    });
  withConnection(topic.command('delete').description('delete a topic and its data').argument('<name>')).action(
    async (name: string, flags: ConnectionFlags) => {
      const c = client(flags, 'millrace-cli');
      try {
        await c.admin().deleteTopics({ topics: [name] });
        print(`deleted topic '${name}'`);
      } finally {
        await c.close();
      }
    },
  );
  withConnection(topic.command('alter').description("change a topic's configs").argument('<name>'))
    .option('--config <key=value>', 'set a topic config (repeatable)', collect)
    .option('--delete-config <key>', 'remove a topic config: back to its default (repeatable)', collect)
    .action(async (name: string, flags: ConnectionFlags & { config?: string[]; deleteConfig?: string[] }) => {
      const set = parseConfigPairs(flags.config ?? []);
      const del = flags.deleteConfig ?? [];
      if (Object.keys(set).length === 0 && del.length === 0)
        throw new MillraceError('INVALID_REQUEST', 'nothing to change: give --config key=value or --delete-config key');
      const c = client(flags, 'millrace-cli');
      try {
        await c.admin().alterConfigs({ topic: name, set, delete: del });
        const [described] = await c.admin().describeConfigs({ topics: [name], keys: [...Object.keys(set), ...del] });
        for (const cfg of described!.configs) print(`${cfg.name}=${cfg.value} (${cfg.source})`);
      } finally {
        await c.close();
      }
    });
  withConnection(
    topic
      .command('delete-records')
      .description('delete the records of a partition before an offset (its log start moves there)')
      .argument('<name>'),
  )
    .requiredOption('--partition <n>', 'the partition', integer('--partition', 0))
    .requiredOption('--before <offset>', 'the new log start (-1: the high watermark)', integer('--before', -1))
    .action(async (name: string, flags: ConnectionFlags & { partition: number; before: number }) => {
      const c = client(flags, 'millrace-cli');
      try {
        const [done] = await c
          .admin()
          .deleteRecords({ topic: name, partitions: [{ partition: flags.partition, offset: flags.before }] });
        print(`${name}-${flags.partition}: records before ${done!.lowWatermark} deleted`);
      } finally {
        await c.close();
      }
    });
  return topic;
}
