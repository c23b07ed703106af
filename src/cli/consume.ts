/** `millrace consume TOPIC`: print records as text or JSON lines. */
import { Command } from 'commander';
import { MillraceError, type ConsumerMessage } from '../client/index.js';
import { client, integer, print, withConnection, type ConnectionFlags } from './common.js';

function asJson(m: ConsumerMessage): string {
  const text = (b: Buffer | null): string | null => (b === null ? null : b.toString('utf8'));
  return JSON.stringify({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset.toString(),
    timestamp: m.timestamp,
    key: text(m.key),
    value: text(m.value),
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, text(v)])),
  });
}

export function consumeCommand(): Command {
  return withConnection(new Command('consume').description('print the records of a topic').argument('<topic>'))
    .option('--from-beginning', 'start at the earliest offset (default: only new records)')
    .option('--partition <p>', 'only this partition', integer('--partition', 0))
    .option('--offset <o>', 'start at this offset (with --partition)', integer('--offset', 0))
    .option('--max-messages <n>', 'stop after n records', integer('--max-messages', 1))
    .option('--json', 'one JSON object per line: topic, partition, offset, key, value, headers, timestamp')
    .option('--group <id>', 'consume as a member of this consumer group (offsets are committed)')
    .action(
      async (
        topic: string,
        flags: ConnectionFlags & {
          fromBeginning?: boolean;
          partition?: number;
          offset?: number;
          maxMessages?: number;
          json?: boolean;
          group?: string;
        },
      ) => {
        if (flags.offset !== undefined && flags.partition === undefined)
          throw new MillraceError('INVALID_REQUEST', '--offset needs --partition');
        if (flags.group !== undefined && flags.partition !== undefined)
          throw new MillraceError('INVALID_REQUEST', '--group gets its partitions from the group: drop --partition');
        const c = client(flags, 'millrace-cli-consumer');
        const consumer = c.consumer({
          autoOffsetReset: flags.fromBeginning ? 'earliest' : 'latest',
          ...(flags.group !== undefined ? { groupId: flags.group } : {}),
        });
        const stop = (): void => void consumer.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const parts = (await c.admin().describeTopics([topic]))[0]!.partitions.map((p) => p.partition);
          if (flags.partition !== undefined && !parts.includes(flags.partition)) {
            throw new MillraceError(
              'UNKNOWN_TOPIC_OR_PARTITION',
              `topic '${topic}' has no partition ${flags.partition}`,
            );
          }
          const chosen = flags.partition !== undefined ? [flags.partition] : parts;
          if (flags.group !== undefined) consumer.subscribe({ topics: [topic], fromBeginning: flags.fromBeginning });
          else
            consumer.assign(
              chosen.map((partition) => ({
                topic,
                partition,
                offset: flags.offset !== undefined ? BigInt(flags.offset) : undefined,
              })),
            );
          let n = 0;
          for await (const m of consumer) {
            print(
              flags.json
                ? asJson(m)
                : `${m.key === null ? '' : `${m.key.toString()}\t`}${m.value?.toString() ?? 'null'}`,
            );
            if (flags.maxMessages !== undefined && ++n >= flags.maxMessages) break;
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          await c.close();
        }
      },
    );
}
