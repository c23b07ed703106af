/** What every client command shares: --nats and --cluster with environment defaults, and parsing helpers. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Millrace } from '../client/index.js';
import type { NatsCredentials } from '../transport/security.js';

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';
export const DEFAULT_CLUSTER = 'millrace';

export interface ConnectionFlags {
  nats: string;
  cluster: string;
  user?: string;
  password?: string;
  token?: string;
  nkey?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
}

/** Adds --nats and --cluster (MILLRACE_NATS, MILLRACE_CLUSTER) and the NATS credentials and TLS options. */
export function withConnection(cmd: Command): Command {
  const option = (flags: string, description: string, env: string) => new Option(flags, description).env(env);
  return cmd
    .addOption(
      new Option('--nats <urls>', 'NATS server URL(s), comma-separated').env('MILLRACE_NATS').default(DEFAULT_NATS),
    )
    .addOption(new Option('--cluster <name>', 'Millrace cluster name').env('MILLRACE_CLUSTER').default(DEFAULT_CLUSTER))
    .addOption(option('--user <name>', 'NATS user', 'MILLRACE_NATS_USER'))
    .addOption(option('--password <password>', "the NATS user's password", 'MILLRACE_NATS_PASSWORD'))
    .addOption(option('--token <token>', 'NATS authentication token', 'MILLRACE_NATS_TOKEN'))
    .addOption(
      option(
        '--nkey <file>',
        'a file with an NKEY user seed (millrace auth writes them)',
        'MILLRACE_NATS_NKEY_SEED_FILE',
      ),
    )
    .addOption(option('--creds <file>', 'a NATS credentials file', 'MILLRACE_NATS_CREDS_FILE'))
    .addOption(option('--tls-ca <file>', "CA that signed the NATS server's certificate", 'MILLRACE_NATS_TLS_CA_FILE'))
    .addOption(option('--tls-cert <file>', 'client certificate for NATS', 'MILLRACE_NATS_TLS_CERT_FILE'))
    .addOption(option('--tls-key <file>', "the client certificate's key", 'MILLRACE_NATS_TLS_KEY_FILE'))
    .addOption(new Option('--tls-insecure', "do not verify the NATS server's certificate (tests only)"));
}

/** The NATS credentials and TLS the connection flags ask for. */
export function credentialsFrom(flags: ConnectionFlags): NatsCredentials {
  const tls =
    flags.tlsCa || flags.tlsCert || flags.tlsInsecure
      ? { caFile: flags.tlsCa, certFile: flags.tlsCert, keyFile: flags.tlsKey, verify: !flags.tlsInsecure }
      : undefined;
  return {
    ...(flags.user !== undefined ? { user: flags.user, pass: flags.password ?? '' } : {}),
    ...(flags.token !== undefined ? { token: flags.token } : {}),
    ...(flags.nkey ? { nkeySeedFile: flags.nkey } : {}),
    ...(flags.creds ? { credsFile: flags.creds } : {}),
    ...(tls ? { tls } : {}),
  };
}

export function client(flags: ConnectionFlags, clientId: string): Millrace {
  return new Millrace({
    servers: flags.nats.split(',').map((s) => s.trim()),
    cluster: flags.cluster,
    clientId,
    requestTimeoutMs: 10_000,
    credentials: credentialsFrom(flags),
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

/** Resolves once SIGTERM or SIGINT came and `stop` finished (failing or not). */
export async function untilSignalled(stop: (signal: NodeJS.Signals) => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      stop(signal).then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** Runs `fn` with a client of the flags' cluster, closing it however `fn` ends. */
export async function withClient<T>(flags: ConnectionFlags, fn: (c: Millrace) => Promise<T>): Promise<T> {
  const c = client(flags, 'millrace-cli');
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
