/**
 * How a client or a broker proves who it is to NATS, and the TLS it uses: user and password, a
 * token, an NKEY seed, or a credentials (JWT) file; TLS with the server's certificate verified
 * unless told otherwise. The inbox prefix follows from the identity (`_INBOX_<user>`, or the
 * NKEY's public key), so a server configured by `millrace auth init` can let each client
 * subscribe to its own replies and nothing else.
 */
import * as fs from 'node:fs';
import { fromSeed } from '@nats-io/nkeys';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type ConnectionOptions,
} from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';

export interface NatsTls {
  /** PEM file of the CA that signed the server's certificate (default: the system's CAs). */
  caFile?: string;
  /** PEM certificate and key files, where the server asks clients for certificates. */
  certFile?: string;
  keyFile?: string;
  /** Verify the server's certificate (default true; false only for a throwaway test setup). */
  verify?: boolean;
}

export interface NatsCredentials {
  user?: string;
  pass?: string;
  token?: string;
  /** A file holding an NKEY user seed (SU...), as `millrace auth init` writes them. */
  nkeySeedFile?: string;
  /** A NATS credentials file (a user JWT and its seed). */
  credsFile?: string;
  tls?: NatsTls;
  /** Default: `_INBOX_<user>`, or `_INBOX_<public key>` for an NKEY or credentials file. */
  inboxPrefix?: string;
}

function read(file: string, what: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new MillraceError('INVALID_CONFIG', `cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
}

/** The NKEY seed in a file: its first line starting with SU (a credentials file has one too). */
function seedIn(text: string, file: string): string {
  const seed = /^\s*(SU[A-Z2-7]{56})\s*$/m.exec(text)?.[1];
  if (!seed) throw new MillraceError('INVALID_CONFIG', `${file} holds no NKEY user seed (a line starting with SU)`);
  return seed;
}

/** The inbox prefix a server configured by `millrace auth init` allows this identity. */
export function inboxPrefixFor(identity: string): string {
  return `_INBOX_${identity.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The public key of an NKEY user seed. */
export function nkeyPublicKey(seed: string): string {
  return fromSeed(new TextEncoder().encode(seed)).getPublicKey();
}

/** nats.js connection options for these credentials; nothing when none are given. */
export function natsSecurityOptions(c: NatsCredentials = {}): Partial<ConnectionOptions> {
  const ways = [c.user !== undefined, c.token !== undefined, !!c.nkeySeedFile, !!c.credsFile].filter(Boolean);
  if (ways.length > 1)
    throw new MillraceError(
      'INVALID_CONFIG',
      'give one of user and password, token, NKEY seed file or credentials file',
    );
  const out: Partial<ConnectionOptions> = {};
  let identity: string | null = null;
  if (c.user !== undefined) {
    out.authenticator = usernamePasswordAuthenticator(c.user, c.pass ?? '');
    identity = c.user;
  } else if (c.token !== undefined) {
    out.authenticator = tokenAuthenticator(c.token);
  } else if (c.nkeySeedFile) {
    const seed = seedIn(new TextDecoder().decode(read(c.nkeySeedFile, 'NKEY seed file')), c.nkeySeedFile);
    identity = nkeyPublicKey(seed);
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (c.credsFile) {
    const creds = read(c.credsFile, 'credentials file');
    identity = nkeyPublicKey(seedIn(new TextDecoder().decode(creds), c.credsFile));
    out.authenticator = credsAuthenticator(creds);
  }
  const inboxPrefix = c.inboxPrefix ?? (identity ? inboxPrefixFor(identity) : undefined);
  if (inboxPrefix) out.inboxPrefix = inboxPrefix;
  if (c.tls) {
    for (const [what, file] of [
      ['CA file', c.tls.caFile],
      ['certificate file', c.tls.certFile],
      ['key file', c.tls.keyFile],
    ] as const)
      if (file && !fs.existsSync(file)) throw new MillraceError('INVALID_CONFIG', `TLS ${what} ${file} does not exist`);
    if (!c.tls.certFile !== !c.tls.keyFile)
      throw new MillraceError('INVALID_CONFIG', 'a TLS client certificate needs its key, and a key its certificate');
    // Node's tls.connect takes rejectUnauthorized beside nats.js's own file options.
    out.tls = {
      ...(c.tls.caFile ? { caFile: c.tls.caFile } : {}),
      ...(c.tls.certFile ? { certFile: c.tls.certFile, keyFile: c.tls.keyFile } : {}),
      ...(c.tls.verify === false ? { rejectUnauthorized: false } : {}),
    } as ConnectionOptions['tls'];
  }
  return out;
}
