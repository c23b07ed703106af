/**
 * SCRAM (RFC 5802, RFC 7677) as Kafka uses it for SCRAM-SHA-256 and SCRAM-SHA-512: the key
 * derivation a credential is stored as, and the server's side of the exchange. Pure: the
 * credential lookup is passed in.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

/** Kafka's ScramMechanism codes in AlterUserScramCredentials / DescribeUserScramCredentials. */
export const scramMechanismCode: Record<ScramMechanism, number> = { 'SCRAM-SHA-256': 1, 'SCRAM-SHA-512': 2 };
export const scramMechanismOf = (code: number): ScramMechanism | undefined =>
  SCRAM_MECHANISMS.find((m) => scramMechanismCode[m] === code);

/** Kafka's bounds on iterations: at least 4096, at most 16384. */
export const MIN_ITERATIONS = 4096;
export const MAX_ITERATIONS = 16384;

const digestOf = (m: ScramMechanism): 'sha256' | 'sha512' => (m === 'SCRAM-SHA-256' ? 'sha256' : 'sha512');
const keyLength = (m: ScramMechanism): number => (m === 'SCRAM-SHA-256' ? 32 : 64);

export interface ScramKeys {
  storedKey: Buffer;
  serverKey: Buffer;
}

export function saltedPassword(m: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(password.normalize('NFKC'), salt, iterations, keyLength(m), digestOf(m));
}

const hmac = (m: ScramMechanism, key: Buffer, text: string | Buffer): Buffer =>
  createHmac(digestOf(m), key).update(text).digest();
const hash = (m: ScramMechanism, data: Buffer): Buffer => createHash(digestOf(m)).update(data).digest();

/** What the server keeps of a salted password. */
export function scramKeys(m: ScramMechanism, salted: Buffer): ScramKeys {
  return { storedKey: hash(m, hmac(m, salted, 'Client Key')), serverKey: hmac(m, salted, 'Server Key') };
}

export const newSalt = (): Buffer => randomBytes(32);

export interface StoredCredential extends ScramKeys {
  salt: Buffer;
  iterations: number;
}

/** Whether `password` is the one a credential was made from (SASL PLAIN checks it this way). */
export function passwordMatches(m: ScramMechanism, c: StoredCredential, password: string): boolean {
  const keys = scramKeys(m, saltedPassword(m, password, c.salt, c.iterations));
  return timingSafeEqual(keys.storedKey, c.storedKey);
}

export class ScramError extends Error {}

/** RFC 5802's saslname: ',' and '=' escaped as =2C and =3D. */
function unescapeName(text: string): string {
  if (/=(?!2C|3D)/.test(text)) throw new ScramError('malformed user name in SCRAM message');
  return text.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw new ScramError(`malformed SCRAM attribute '${part}'`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/**
 * The server side of one SCRAM exchange: `first` answers the client-first message, `final` checks
 * the client's proof and returns the server-final message. Any failure throws a ScramError whose
 * message says what was wrong, without saying whether the user exists.
 */
export class ScramServer {
  private state: 'first' | 'final' | 'done' = 'first';
  private user = '';
  private credential: StoredCredential | null = null;
  private nonce = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private gs2Header = '';

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly lookup: (user: string) => StoredCredential | null,
    /** The server's part of the nonce (fixed only by tests replaying RFC 7677's example). */
    private readonly serverNonce: () => string = () => randomBytes(18).toString('base64url'),
  ) {}

  /** Whether the next client message is the client-first one. */
  get awaitingFirst(): boolean {
    return this.state === 'first';
  }

  first(message: Buffer): Buffer {
    if (this.state !== 'first') throw new ScramError('SCRAM client-first message out of order');
    const text = message.toString('utf8');
    // gs2-header: channel-binding flag, optional authzid, then the bare message.
    const m = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(text);
    if (!m) {
      if (text.startsWith('p=')) throw new ScramError('SCRAM channel binding is not supported');
      throw new ScramError('malformed SCRAM client-first message');
    }
    this.gs2Header = `${m[1]},${m[2] ?? ''},`;
    this.clientFirstBare = m[3]!;
    const attrs = attributes(this.clientFirstBare);
    if (attrs.has('m')) throw new ScramError('SCRAM extensions are not supported');
    const user = attrs.get('n');
    const clientNonce = attrs.get('r');
    if (!user || !clientNonce) throw new ScramError('SCRAM client-first message lacks a user or a nonce');
    this.user = unescapeName(user);
    this.credential = this.lookup(this.user);
    if (!this.credential) throw new ScramError(`authentication failed for user '${this.user}'`);
    this.nonce = clientNonce + this.serverNonce();
    this.serverFirst = `r=${this.nonce},s=${this.credential.salt.toString('base64')},i=${this.credential.iterations}`;
    this.state = 'final';
    return Buffer.from(this.serverFirst, 'utf8');
  }

  final(message: Buffer): { response: Buffer; user: string } {
    if (this.state !== 'final' || !this.credential) throw new ScramError('SCRAM client-final message out of order');
    this.state = 'done';
    const text = message.toString('utf8');
    const at = text.lastIndexOf(',p=');
    if (at < 0) throw new ScramError('SCRAM client-final message lacks a proof');
    const withoutProof = text.slice(0, at);
    const attrs = attributes(withoutProof);
    if (attrs.get('c') !== Buffer.from(this.gs2Header, 'utf8').toString('base64'))
      throw new ScramError('SCRAM channel binding does not match');
    // Kafka accepts a nonce that ends with the server's (librdkafka repeats the client's part).
    if (!attrs.get('r')?.endsWith(this.nonce)) throw new ScramError('SCRAM nonce does not match');
    const proof = Buffer.from(text.slice(at + 3), 'base64');
    const m = this.mechanism;
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const signature = hmac(m, this.credential.storedKey, authMessage);
    if (proof.length !== signature.length) throw new ScramError(`authentication failed for user '${this.user}'`);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    if (!timingSafeEqual(hash(m, clientKey), this.credential.storedKey))
      throw new ScramError(`authentication failed for user '${this.user}'`);
    const serverSignature = hmac(m, this.credential.serverKey, authMessage).toString('base64');
    return { response: Buffer.from(`v=${serverSignature}`, 'utf8'), user: this.user };
  }
}
