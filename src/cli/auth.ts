/** `millrace auth init|add-client`: NATS accounts and NKEY credentials for a secured cluster. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { Command } from 'commander';
import { MillraceError } from '../../protocol/errors.js';
import { CLUSTER_NAME } from '../../protocol/subjects.js';
import { CLIENT_NAME, natsServerConfig, type AuthManifest } from '../transport/auth-setup.js';
import { writeClientCertificate, writeTlsMaterial } from '../transport/tls-material.js';
import { collect, print } from './common.js';

const MANIFEST = 'auth.json';

/** A new NKEY user: its seed written (owner-only) to `file`, its public key returned. */
function newIdentity(file: string): string {
  const user = createUser();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  return user.getPublicKey();
}

function writeConfig(dir: string, manifest: AuthManifest): void {
  fs.writeFileSync(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'nats.conf'), natsServerConfig(manifest, path.resolve(dir, 'jetstream')));
}

function readManifest(dir: string): AuthManifest {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as AuthManifest;
  } catch (err) {
    throw new MillraceError(
      'INVALID_CONFIG',
      `${path.join(dir, MANIFEST)} cannot be read (${(err as Error).message}): run millrace auth init first`,
    );
  }
}

export function clientSeedFile(dir: string, name: string): string {
  return path.join(dir, 'clients', `${name}.nk`);
}

/** Where the NATS server is reached at, by default: its certificate names these. */
export const DEFAULT_TLS_HOSTS = ['localhost', '127.0.0.1', '::1'];

/**
 * Writes a new setup in `dir`: the brokers' and an admin client's seeds, TLS material (a CA and
 * a server certificate for `tlsHosts`), the manifest and nats.conf.
 */
export function authInit(dir: string, cluster: string, tlsHosts: string[] = DEFAULT_TLS_HOSTS): AuthManifest {
  if (!CLUSTER_NAME.test(cluster))
    throw new MillraceError('INVALID_CONFIG', `cluster '${cluster}' must be 1-64 letters, digits, '_' or '-'`);
  if (fs.existsSync(path.join(dir, MANIFEST)))
    throw new MillraceError('INVALID_CONFIG', `${dir} already holds a setup (${MANIFEST}); use another directory`);
  fs.mkdirSync(dir, { recursive: true });
  const manifest: AuthManifest = {
    cluster,
    brokers: newIdentity(path.join(dir, 'broker.nk')),
    clients: { admin: newIdentity(clientSeedFile(dir, 'admin')) },
    tls: writeTlsMaterial(path.resolve(dir, 'tls'), cluster, tlsHosts),
  };
  writeClientCertificate(path.resolve(dir, 'tls'), 'admin');
  writeConfig(dir, manifest);
  return manifest;
}

/** The setup in `dir` for `cluster`: the one there, or a new one. */
export function authSetup(dir: string, cluster: string): AuthManifest {
  if (!fs.existsSync(path.join(dir, MANIFEST))) return authInit(dir, cluster);
  const manifest = readManifest(dir);
  if (manifest.cluster !== cluster)
    throw new MillraceError(
      'INVALID_CONFIG',
      `${dir} holds the setup of cluster '${manifest.cluster}', not '${cluster}'`,
    );
  return manifest;
}

/** Adds a client to the setup in `dir` and rewrites nats.conf. */
export function authAddClient(dir: string, name: string): AuthManifest {
  if (!CLIENT_NAME.test(name))
    throw new MillraceError('INVALID_CONFIG', `client name '${name}' must be 1-64 letters, digits, '_' or '-'`);
  const manifest = readManifest(dir);
  if (manifest.clients[name]) throw new MillraceError('INVALID_CONFIG', `client '${name}' exists already`);
  manifest.clients[name] = newIdentity(clientSeedFile(dir, name));
  if (manifest.tls) writeClientCertificate(path.dirname(manifest.tls.caFile), name);
  writeConfig(dir, manifest);
  return manifest;
}

export function authCommand(): Command {
  const auth = new Command('auth').description('NATS accounts and credentials that keep clients off internal subjects');
  auth
    .command('init')
    .description("write a nats-server configuration, the brokers' credentials and an admin client's")
    .requiredOption('--cluster <name>', 'the Millrace cluster name')
    .requiredOption('--out <dir>', 'where to write them (a new directory)')
    .option(
      '--tls-host <name>',
      `a name or address the server certificate is for (repeatable; default ${DEFAULT_TLS_HOSTS.join(', ')})`,
      collect,
    )
    .action((opts: { cluster: string; out: string; tlsHost?: string[] }) => {
      const { tls } = authInit(opts.out, opts.cluster, opts.tlsHost ?? DEFAULT_TLS_HOSTS);
      print(
        `wrote ${opts.out}: nats.conf, broker.nk, clients/admin.nk, tls/ (CA, server certificate, client certificate of admin), ${MANIFEST}`,
      );
      print(`  nats-server -c ${path.join(opts.out, 'nats.conf')}`);
      print(
        `  MILLRACE_NATS_NKEY_SEED_FILE=${path.join(opts.out, 'broker.nk')} MILLRACE_NATS_TLS_CA_FILE=${tls!.caFile} millrace broker --id 1 ...`,
      );
      print(
        `  millrace topic list --cluster ${opts.cluster} --nkey ${clientSeedFile(opts.out, 'admin')} --tls-ca ${tls!.caFile}`,
      );
    });
  auth
    .command('add-client')
    .description('add a client identity and rewrite nats.conf (then reload nats-server)')
    .argument('<name>', 'the client name')
    .option('--dir <dir>', 'the directory millrace auth init wrote', '.')
    .action((name: string, opts: { dir: string }) => {
      authAddClient(opts.dir, name);
      print(
        `wrote ${clientSeedFile(opts.dir, name)}, tls/clients/${name}.pem and ${path.join(opts.dir, 'nats.conf')}: reload nats-server`,
      );
    });
  return auth;
}
