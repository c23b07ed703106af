/** What every client command shares: --nats and --cluster with environment defaults, and parsing helpers. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Millrace } from '../client/index.js';

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';
export const DEFAULT_CLUSTER = 'millrace';

export interface ConnectionFlags {
  nats: string;
  cluster: string;
}

/** Adds --nats and --cluster (MILLRACE_NATS, MILLRACE_CLUSTER) to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--nats <urls>', 'NATS server URL(s), comma-separated').env('MILLRACE_NATS').default(DEFAULT_NATS),
    )
    .addOption(
      new Option('--cluster <name>', 'Millrace cluster name').env('MILLRACE_CLUSTER').default(DEFAULT_CLUSTER),
    );
}

export function client(flags: ConnectionFlags, clientId: string): Millrace {
  return new Millrace({
    servers: flags.nats.split(',').map((s) => s.trim()),
    cluster: flags.cluster,
    clientId,
    requestTimeoutMs: 10_000,
  });
}

export function integer(name: string, min = Number.MIN_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(
        `${name} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : ''}, got '${value}'`,
      );
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const print = (line: string): boolean => process.stdout.write(`${line}\n`);
