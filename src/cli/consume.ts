/** `millrace consume TOPIC`: print records as text or JSON lines. */
import { Command, Option } from 'commander';
import { MillraceError, registrySerde, type ConsumerMessage } from '../client/index.js';
import { client, integer, print, withConnection, type ConnectionFlags } from './common.js';
import type { Consumer, Millrace } from '../client/index.js';

/**
 * --exit-at-end: each partition's high watermark when consuming starts, and where it starts; the
 * consumer stops once every partition has been read up to its end (checked on each record, and
 * on a timer for partitions with nothing to read).
 */
async function endWatch(
  c: Millrace,
  consumer: Consumer,
  topic: string,
  partitions: number[],
  group: string | undefined,
  offset: number | undefined,
  fromBeginning: boolean | undefined,
): Promise<{ reached(m: ConsumerMessage): boolean; stop(): void }> {
  const admin = c.admin();
  const [ends, earliest, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchTopicOffsets(topic, -2),
    group !== undefined ? admin.fetchOffsets({ groupId: group, topics: [topic] }) : Promise.resolve([]),
  ]);
  const left = new Map<number, bigint>();
  for (const p of partitions) {
    const endOffset = ends.find((e) => e.partition === p)!.offset;
    const committedOffset = committed.find((o) => o.partition === p)?.offset ?? -1n;
    const start =
      offset !== undefined
        ? BigInt(offset)
        : committedOffset >= 0n
          ? committedOffset
          : fromBeginning
            ? earliest.find((e) => e.partition === p)!.offset
            : endOffset;
    if (start < endOffset) left.set(p, endOffset);
  }
  const check = (): boolean => {
    if (left.size > 0) return false;
    void consumer.close();
    return true;
  };
  const timer = setInterval(check, 100);
  check();
  return {
    reached: (m) => {
      const endOffset = left.get(m.partition);
      if (endOffset !== undefined && m.offset + 1n >= endOffset) left.delete(m.partition);
      return left.size === 0;
    },
    stop: () => clearInterval(timer),
  };
}

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

/**
 * A record through a kcat-style format: %t topic, %p partition, %o offset, %k key, %s value,
 * %K and %S their sizes (-1 for null), %T timestamp (ms), %h headers (k=v,...), %% a percent,
 * and \\n, \\t, \\\\ escapes.
 */
export function formatRecord(format: string, m: ConsumerMessage): string {
  const text = (b: Buffer | null): string => (b === null ? '' : b.toString('utf8'));
  return format.replace(/%[tpokKsSTh%]|\\[nt\\]/g, (token) => {
    switch (token) {
      case '%t':
        return m.topic;
      case '%p':
        return String(m.partition);
      case '%o':
        return m.offset.toString();
      case '%k':
        return text(m.key);
      case '%K':
        return String(m.key === null ? -1 : m.key.length);
      case '%s':
        return text(m.value);
      case '%S':
        return String(m.value === null ? -1 : m.value.length);
      case '%T':
        return String(m.timestamp);
      case '%h':
        return Object.entries(m.headers)
          .map(([k, v]) => `${k}=${text(v)}`)
          .join(',');
      case '%%':
        return '%';
      case '\\n':
        return '\n';
      case '\\t':
        return '\t';
      default:
        return '\\';
    }
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
    .option('--format <template>', "kcat's -f: %t %p %o %k %s %K %S %T %h, e.g. '%k=%s\\n' (a newline is not added)")
    .option('--exit-at-end', 'stop once the end offsets read at start are reached (kcat -e)')
    .addOption(
      new Option(
        '--schema-registry <url>',
        "decode values in Confluent's wire format through this registry (printed as JSON)",
      ).env('MILLRACE_SCHEMA_REGISTRY'),
    )
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
          format?: string;
          exitAtEnd?: boolean;
          schemaRegistry?: string;
        },
      ) => {
        if (flags.format !== undefined && flags.json)
          throw new MillraceError('INVALID_REQUEST', 'give --format or --json, not both');
        if (flags.offset !== undefined && flags.partition === undefined)
          throw new MillraceError('INVALID_REQUEST', '--offset needs --partition');
        if (flags.group !== undefined && flags.partition !== undefined)
          throw new MillraceError('INVALID_REQUEST', '--group gets its partitions from the group: drop --partition');
        const c = client(flags, 'millrace-cli-consumer');
        // Registry values become JSON text, so every output form prints them as it prints strings.
        const registry = flags.schemaRegistry ? registrySerde<unknown>({ registry: flags.schemaRegistry }) : null;
        const consumer = c.consumer<Buffer, Buffer>({
          ...(registry
            ? {
                deserializers: {
                  value: {
                    deserialize: async (data, context) =>
                      Buffer.from(JSON.stringify(await registry.deserialize(data, context)), 'utf8'),
                  },
                },
              }
            : {}),
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
          const end = flags.exitAtEnd
            ? await endWatch(c, consumer, topic, chosen, flags.group, flags.offset, flags.fromBeginning)
            : null;
          let n = 0;
          for await (const m of consumer) {
            if (flags.format !== undefined) process.stdout.write(formatRecord(flags.format, m));
            else
              print(
                flags.json
                  ? asJson(m)
                  : `${m.key === null ? '' : `${m.key.toString()}\t`}${m.value?.toString() ?? 'null'}`,
              );
            if (flags.maxMessages !== undefined && ++n >= flags.maxMessages) break;
            if (end?.reached(m)) break;
          }
          end?.stop();
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          await c.close();
        }
      },
    );
}
