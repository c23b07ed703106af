/** `millrace users create|delete|list` (SCRAM users of the Kafka listener), `millrace acl add|remove|list` and `millrace quotas set|list`. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { AclOperation, codeOf, type AclOperationName } from '../../protocol/acl.js';
import { MAX_ITERATIONS, MIN_ITERATIONS, SCRAM_MECHANISMS, type ScramMechanism } from '../../protocol/scram.js';
import type { AclEntry, AclFilter, QuotaEntity, QuotaValues } from '../client/admin-security.js';
import { QUOTA_KEYS, type QuotaKey } from '../../protocol/quota.js';
import { collect, integer, print, withClient, withConnection, type ConnectionFlags } from './common.js';

function mechanism(value: string, previous: ScramMechanism[] = []): ScramMechanism[] {
  const m = value.toUpperCase();
  if (!(SCRAM_MECHANISMS as readonly string[]).includes(m))
    throw new InvalidArgumentError(`--mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got '${value}'`);
  return [...previous, m as ScramMechanism];
}

export function usersCommand(): Command {
  const users = new Command('users').description(
    'SCRAM users of the Kafka listener (stored salted in the metadata log)',
  );
  withConnection(users.command('create').description('create a user, or change its password').argument('<name>'))
    .addOption(
      new Option('--scram-password <password>', "the user's password")
        .env('MILLRACE_SCRAM_PASSWORD')
        .makeOptionMandatory(),
    )
    .option('--mechanism <name>', 'SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)', mechanism)
    .option(
      '--iterations <n>',
      `PBKDF2 iterations (${MIN_ITERATIONS}-${MAX_ITERATIONS})`,
      integer('--iterations', MIN_ITERATIONS),
      MIN_ITERATIONS,
    )
    .action(
      async (
        name: string,
        flags: ConnectionFlags & { scramPassword: string; mechanism?: ScramMechanism[]; iterations: number },
      ) => {
        const mechanisms = flags.mechanism ?? [...SCRAM_MECHANISMS];
        await withClient(flags, (c) =>
          c.admin().alterUserScramCredentials({
            upsertions: mechanisms.map((m) => ({
              user: name,
              password: flags.scramPassword,
              mechanism: m,
              iterations: flags.iterations,
            })),
          }),
        );
        print(`user '${name}' has ${mechanisms.join(' and ')} credentials`);
      },
    );
  withConnection(users.command('delete').description("delete a user's SCRAM credentials").argument('<name>'))
    .option('--mechanism <name>', 'only this mechanism (repeatable; default every one the user has)', mechanism)
    .action(async (name: string, flags: ConnectionFlags & { mechanism?: ScramMechanism[] }) => {
      await withClient(flags, async (c) => {
        const admin = c.admin();
        const mechanisms =
          flags.mechanism ?? (await admin.describeUserScramCredentials([name]))[0]!.credentials.map((x) => x.mechanism);
        await admin.alterUserScramCredentials({ deletions: mechanisms.map((m) => ({ user: name, mechanism: m })) });
        print(`deleted ${mechanisms.join(' and ')} credentials of '${name}'`);
      });
    });
  withConnection(users.command('list').description('users and their mechanisms')).action(
    async (flags: ConnectionFlags) => {
      await withClient(flags, async (c) => {
        for (const u of await c.admin().describeUserScramCredentials())
          print(`${u.user}\t${u.credentials.map((x) => `${x.mechanism} (${x.iterations} iterations)`).join(', ')}`);
      });
    },
  );
  return users;
}

interface AclFlags extends ConnectionFlags {
  principal?: string;
  operation?: string[];
  topic?: string;
  group?: string;
  clusterResource?: boolean;
  transactionalId?: string;
  prefixed?: boolean;
  deny?: boolean;
  host?: string;
}

function withAclOptions(cmd: Command): Command {
  return withConnection(cmd)
    .option('--principal <type:name>', 'who, e.g. User:alice (User:* for everyone)')
    .option(
      '--operation <op>',
      'READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ALTER_CONFIGS, ... or ALL (repeatable)',
      collect,
    )
    .option('--topic <name>', 'a topic (or a prefix with --prefixed; * for every topic)')
    .option('--group <name>', 'a consumer group')
    .option('--cluster-resource', 'the cluster itself (its name is kafka-cluster)')
    .option('--transactional-id <id>', 'a transactional id')
    .option('--prefixed', 'the name is a prefix')
    .option('--deny', 'a DENY binding (default ALLOW)')
    .option('--host <address>', 'from this client address only');
}

function resourceOf(flags: AclFlags): Pick<AclEntry, 'resourceType' | 'resourceName'> | null {
  const chosen = [
    flags.topic !== undefined && { resourceType: 'TOPIC' as const, resourceName: flags.topic },
    flags.group !== undefined && { resourceType: 'GROUP' as const, resourceName: flags.group },
    flags.clusterResource && { resourceType: 'CLUSTER' as const, resourceName: 'kafka-cluster' },
    flags.transactionalId !== undefined && {
      resourceType: 'TRANSACTIONAL_ID' as const,
      resourceName: flags.transactionalId,
    },
  ].filter((x) => x !== false && x !== undefined);
  if (chosen.length > 1)
    throw new InvalidArgumentError('name one of --topic, --group, --cluster-resource, --transactional-id');
  return chosen[0] ?? null;
}

function operations(flags: AclFlags): Array<AclEntry['operation']> {
  return (flags.operation ?? []).map((o) => {
    const code = codeOf(AclOperation, o);
    if (code === undefined || code < 2)
      throw new InvalidArgumentError(
        `--operation '${o}' is not one of ${Object.keys(AclOperation).slice(2).join(', ')}`,
      );
    return o.toUpperCase().replaceAll('-', '_') as AclEntry['operation'];
  });
}

function filterOf(flags: AclFlags): AclFilter[] {
  const resource = resourceOf(flags);
  const base: AclFilter = {
    ...(resource ?? {}),
    ...(flags.prefixed
      ? { resourcePatternType: 'PREFIXED' as const }
      : resource
        ? { resourcePatternType: 'LITERAL' as const }
        : {}),
    ...(flags.principal ? { principal: flags.principal } : {}),
    ...(flags.host ? { host: flags.host } : {}),
    ...(flags.deny ? { permissionType: 'DENY' as const } : {}),
  };
  const ops = operations(flags);
  return ops.length ? ops.map((operation) => ({ ...base, operation: operation as AclOperationName })) : [base];
}

/** One ACL on one line: principal, permission, operation, resource (a prefix ends in *), host. */
const line = (e: AclEntry): string =>
  `${e.principal}\t${e.permissionType}\t${e.operation}\t${e.resourceType}\t${e.resourceName}${e.resourcePatternType === 'PREFIXED' ? '*' : ''}\t${e.host ?? '*'}`;

export function aclCommand(): Command {
  const acl = new Command('acl').description(
    "ACLs in Kafka's model: who may do what to which topics, groups, the cluster",
  );
  withAclOptions(acl.command('add').description('allow (or with --deny, deny) operations on a resource')).action(
    async (flags: AclFlags) => {
      const resource = resourceOf(flags);
      if (!resource)
        throw new InvalidArgumentError('name the resource: --topic, --group, --cluster-resource or --transactional-id');
      if (!flags.principal) throw new InvalidArgumentError('--principal is required (e.g. User:alice)');
      const ops = operations(flags);
      if (ops.length === 0) throw new InvalidArgumentError('--operation is required (e.g. READ)');
      const entries: AclEntry[] = ops.map((operation) => ({
        ...resource,
        resourcePatternType: flags.prefixed ? 'PREFIXED' : 'LITERAL',
        principal: flags.principal!,
        host: flags.host ?? '*',
        operation,
        permissionType: flags.deny ? 'DENY' : 'ALLOW',
      }));
      await withClient(flags, (c) => c.admin().createAcls({ acl: entries }));
      for (const e of entries) print(`added: ${line(e)}`);
    },
  );
  withAclOptions(
    acl.command('remove').description('remove the ACLs the options match (every ACL when none is given)'),
  ).action(async (flags: AclFlags) => {
    const removed = await withClient(flags, (c) => c.admin().deleteAcls({ filters: filterOf(flags) }));
    const all = removed.flat();
    for (const e of all) print(`removed: ${line(e)}`);
    if (all.length === 0) print('no ACL matched');
  });
  withAclOptions(acl.command('list').description('the ACLs the options match')).action(async (flags: AclFlags) => {
    const found = await withClient(flags, (c) => Promise.all(filterOf(flags).map((f) => c.admin().describeAcls(f))));
    for (const e of found.flat()) print(line(e));
  });
  return acl;
}

interface QuotaFlags extends ConnectionFlags {
  forUser?: string;
  forDefaultUser?: boolean;
  forClientId?: string;
  forDefaultClientId?: boolean;
  producerByteRate?: number;
  consumerByteRate?: number;
  requestPercentage?: number;
  remove?: string[];
}

function quotaEntityOf(flags: QuotaFlags): QuotaEntity {
  if (flags.forUser !== undefined && flags.forDefaultUser)
    throw new InvalidArgumentError('give --for-user or --for-default-user');
  if (flags.forClientId !== undefined && flags.forDefaultClientId)
    throw new InvalidArgumentError('give --for-client-id or --for-default-client-id');
  return {
    ...(flags.forUser !== undefined ? { user: flags.forUser } : flags.forDefaultUser ? { user: null } : {}),
    ...(flags.forClientId !== undefined
      ? { clientId: flags.forClientId }
      : flags.forDefaultClientId
        ? { clientId: null }
        : {}),
  };
}

function withQuotaEntity(cmd: Command): Command {
  return withConnection(cmd)
    .option('--for-user <name>', 'a user (the principal without User:)')
    .option('--for-default-user', 'the default of every user without a quota of its own')
    .option('--for-client-id <id>', 'a client id')
    .option('--for-default-client-id', 'the default of every client id without a quota of its own');
}

const describeEntity = (e: QuotaEntity): string =>
  [
    e.user !== undefined ? `user=${e.user ?? '<default>'}` : null,
    e.clientId !== undefined ? `client-id=${e.clientId ?? '<default>'}` : null,
  ]
    .filter(Boolean)
    .join(',');

export function quotasCommand(): Command {
  const quotas = new Command('quotas').description(
    "Kafka's client quotas: byte rates and request time per user or client id",
  );
  const rate = (name: string) => (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number, got '${value}'`);
    return n;
  };
  withQuotaEntity(quotas.command('set').description("set (or with --remove, remove) an entity's quotas"))
    .option('--producer-byte-rate <bytes/s>', 'produce bytes per second', rate('--producer-byte-rate'))
    .option('--consumer-byte-rate <bytes/s>', 'fetched bytes per second', rate('--consumer-byte-rate'))
    .option('--request-percentage <percent>', 'percent of one request handler', rate('--request-percentage'))
    .option('--remove <key>', `remove a quota (repeatable): ${QUOTA_KEYS.join(', ')}`, collect)
    .action(async (flags: QuotaFlags) => {
      const entity = quotaEntityOf(flags);
      if (Object.keys(entity).length === 0)
        throw new InvalidArgumentError(
          'name the entity: --for-user, --for-default-user, --for-client-id or --for-default-client-id',
        );
      const set: QuotaValues = {
        ...(flags.producerByteRate !== undefined ? { producer_byte_rate: flags.producerByteRate } : {}),
        ...(flags.consumerByteRate !== undefined ? { consumer_byte_rate: flags.consumerByteRate } : {}),
        ...(flags.requestPercentage !== undefined ? { request_percentage: flags.requestPercentage } : {}),
      };
      const remove = (flags.remove ?? []).map((k) => {
        if (!(QUOTA_KEYS as readonly string[]).includes(k))
          throw new InvalidArgumentError(`--remove '${k}' is not one of ${QUOTA_KEYS.join(', ')}`);
        return k as QuotaKey;
      });
      if (Object.keys(set).length === 0 && remove.length === 0)
        throw new InvalidArgumentError('give a quota to set (--producer-byte-rate, ...) or --remove one');
      await withClient(flags, (c) => c.admin().alterClientQuotas([{ entity, set, remove }]));
      print(
        `${describeEntity(entity)}: ${[...Object.entries(set).map(([k, v]) => `${k}=${v}`), ...remove.map((k) => `-${k}`)].join(' ')}`,
      );
    });
  withQuotaEntity(quotas.command('list').description('the quotas of the entities that match (all by default)')).action(
    async (flags: QuotaFlags) => {
      const found = await withClient(flags, (c) => c.admin().describeClientQuotas(quotaEntityOf(flags)));
      for (const q of found)
        print(
          `${describeEntity(q.entity)}\t${Object.entries(q.values)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        );
    },
  );
  return quotas;
}
