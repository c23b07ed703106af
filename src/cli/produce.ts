/** `millrace produce TOPIC`: one record per line of standard input. */
import * as readline from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import * as fs from 'node:fs';
import {
  registrySerde,
  type CompressionName,
  type Message,
  type RegistrySchemaType,
  type Serde,
} from '../client/index.js';
import { client, collect, integer, print, withConnection, type ConnectionFlags } from './common.js';

/** The registry-aware value serializer --value-format asks for (none for plain strings). */
function registryValues(
  topic: string,
  flags: { valueFormat: string; schemaRegistry?: string; valueSchema?: string; valueSubject?: string },
): { value: Serde<unknown> } | undefined {
  if (flags.valueFormat === 'string') return undefined;
  if (!flags.schemaRegistry || !flags.valueSchema)
    throw new InvalidArgumentError(`--value-format ${flags.valueFormat} needs --schema-registry and --value-schema`);
  const schema = fs.existsSync(flags.valueSchema) ? fs.readFileSync(flags.valueSchema, 'utf8') : flags.valueSchema;
  const subject = flags.valueSubject;
  return {
    value: registrySerde({
      registry: flags.schemaRegistry,
      schema: { schemaType: flags.valueFormat.toUpperCase() as RegistrySchemaType, schema },
      ...(subject ? { subject: () => subject } : {}),
    }),
  };
}

/** A line's value as JSON, for the registry serializers; a line that is not JSON says where it is. */
function jsonLine(text: string, line: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`line ${line}: the value is not JSON (${(err as Error).message})`);
  }
}

/** `--header k=v` flags as record headers (a value may itself contain '='). */
function headerPairs(pairs: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`--header '${pair}' is not key=value`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}

export function produceCommand(): Command {
  return withConnection(
    new Command('produce').description('send each line of standard input as a record').argument('<topic>'),
  )
    .option('--key-separator <sep>', 'split each line into key and value at the first <sep>')
    .addOption(
      new Option('--acks <acks>', 'acknowledgements to wait for').choices(['0', '1', 'all', '-1']).default('all'),
    )
    .option('--linger-ms <ms>', 'batching delay', '5')
    .option('--no-idempotent', 'turn idempotence off (on by default with acks=all)')
    .option('--header <key=value>', 'a header on every record (repeatable)', collect)
    .option(
      '--partition <p>',
      'send every record to this partition (default: by key, or sticky)',
      integer('--partition', 0),
    )
    .addOption(
      new Option(
        '--value-format <format>',
        "how each line's value is written: as it is, or JSON text through a registry schema",
      )
        .choices(['string', 'json', 'avro', 'protobuf'])
        .default('string'),
    )
    .addOption(
      new Option('--schema-registry <url>', 'a Confluent-compatible schema registry (millrace schema-registry)').env(
        'MILLRACE_SCHEMA_REGISTRY',
      ),
    )
    .option(
      '--value-schema <file>',
      'the value schema (Avro JSON, .proto text or JSON Schema), registered under --value-subject',
    )
    .option('--value-subject <subject>', 'the subject of the value schema (default: <topic>-value)')
    .addOption(
      new Option('--compression <codec>', 'batch compression')
        .choices(['none', 'gzip', 'snappy', 'lz4', 'zstd'])
        .default('none'),
    )
    .action(
      async (
        topic: string,
        flags: ConnectionFlags & {
          keySeparator?: string;
          acks: string;
          lingerMs: string;
          idempotent: boolean;
          header?: string[];
          partition?: number;
          compression: CompressionName;
          valueFormat: 'string' | 'json' | 'avro' | 'protobuf';
          schemaRegistry?: string;
          valueSchema?: string;
          valueSubject?: string;
        },
      ) => {
        const headers = headerPairs(flags.header ?? []);
        const serializers = registryValues(topic, flags);
        const c = client(flags, 'millrace-cli-producer');
        const acks = flags.acks === 'all' ? 'all' : (Number(flags.acks) as 0 | 1 | -1);
        const producer = c.producer<string, unknown>({
          serializers,
          acks,
          lingerMs: Number(flags.lingerMs),
          compression: flags.compression,
          ...(flags.idempotent ? {} : { idempotent: false }),
        });
        const started = Date.now();
        let lines = 0;
        let bytes = 0;
        const partitions = new Set<number>();
        let pending: Array<Message<string, unknown>> = [];
        const inflight: Array<Promise<unknown>> = [];
        const sendPending = (): void => {
          const messages = pending;
          pending = [];
          inflight.push(
            producer.send({ topic, messages }).then((res) => res.forEach((r) => partitions.add(r.partition))),
          );
        };
        try {
          for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
            if (line.length === 0) continue;
            lines++;
            bytes += Buffer.byteLength(line);
            const at = flags.keySeparator ? line.indexOf(flags.keySeparator) : -1;
            const text = at >= 0 ? line.slice(at + flags.keySeparator!.length) : line;
            pending.push({
              key: at >= 0 ? line.slice(0, at) : null,
              value: serializers ? jsonLine(text, lines) : text,
              headers,
              partition: flags.partition,
            });
            if (pending.length >= 1000) sendPending();
          }
          if (pending.length) sendPending();
          await Promise.all(inflight);
          await producer.flush();
          const seconds = (Date.now() - started) / 1000;
          print(
            `produced ${lines} records (${bytes} bytes) to '${topic}' across ${partitions.size} partitions in ${seconds.toFixed(2)} s, acks=${flags.acks}`,
          );
        } finally {
          await c.close();
        }
      },
    );
}
