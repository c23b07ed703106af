/**
 * SASL on the Kafka door (KIP-152): SaslHandshake picks a mechanism, SaslAuthenticate carries its
 * tokens (after a v0 handshake, as old clients do, the tokens come as bare size-prefixed frames). SCRAM-SHA-256/512 run RFC 5802 against the credentials in the metadata log; PLAIN
 * checks a password against the same credentials (so one user works with every mechanism), and
 * belongs on a TLS listener only. A failed authentication is answered, then the connection closed.
 */
import { ErrorCodes } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import {
  SCRAM_MECHANISMS,
  ScramError,
  ScramServer,
  passwordMatches,
  type ScramMechanism,
  type StoredCredential,
} from '../../protocol/scram.js';
import { keys } from '../cluster/records.js';
import type { MetadataImage } from '../cluster/image.js';
import { ANONYMOUS, type Caller } from '../broker/authorizer.js';
import type { Routes } from './door.js';

export interface SaslSettings {
  /** The listener is SASL_PLAINTEXT or SASL_SSL: nothing but these APIs until authenticated. */
  required: boolean;
  mechanisms: readonly string[];
}

/** What one connection knows of its client. */
export interface KafkaSession {
  caller: Caller;
  authenticated: boolean;
  mechanism: string | null;
  scram: ScramServer | null;
  /** A SaslHandshake v0 was accepted: the next frames are bare SASL tokens, not requests. */
  bareTokens: boolean;
  /** Set when the reply being sent is the last: the connection closes after it. */
  closeAfterReply: string | null;
}

export function newSession(host: string, principal: string | null): KafkaSession {
  return {
    caller: { principal: principal ?? ANONYMOUS, host },
    authenticated: false,
    mechanism: null,
    scram: null,
    bareTokens: false,
    closeAfterReply: null,
  };
}

const isScram = (m: string): m is ScramMechanism => (SCRAM_MECHANISMS as readonly string[]).includes(m);

export function storedCredential(image: MetadataImage, m: ScramMechanism, user: string): StoredCredential | null {
  const r = image.scram.get(keys.scram(m, user));
  if (!r) return null;
  return {
    salt: Buffer.from(r.salt, 'base64'),
    iterations: r.iterations,
    storedKey: Buffer.from(r.storedKey, 'base64'),
    serverKey: Buffer.from(r.serverKey, 'base64'),
  };
}

/** PLAIN's message: authzid NUL user NUL password (RFC 4616). */
function plainUser(image: MetadataImage, token: Buffer): string {
  const parts = token.toString('utf8').split('\0');
  if (parts.length !== 3) throw new ScramError('malformed SASL PLAIN message');
  const [authzid, user, password] = parts as [string, string, string];
  if (authzid && authzid !== user) throw new ScramError('SASL PLAIN: the authorization id must be the user or empty');
  const ok = SCRAM_MECHANISMS.some((m) => {
    const c = storedCredential(image, m, user);
    return c !== null && passwordMatches(m, c, password);
  });
  if (!ok) throw new ScramError(`authentication failed for user '${user}'`);
  return user;
}

/**
 * One SASL token of the client's: the server's answer, or the reason authentication failed (the
 * session then closes after its reply).
 */
export function saslStep(
  session: KafkaSession,
  token: Buffer,
  image: () => MetadataImage,
): Buffer | { failed: string } {
  try {
    if (session.mechanism === 'PLAIN') {
      authenticated(session, plainUser(image(), token));
      return Buffer.alloc(0);
    }
    const scram = session.scram!;
    if (scram.awaitingFirst) return scram.first(token);
    const { response, user } = scram.final(token);
    authenticated(session, user);
    return response;
  } catch (err) {
    if (!(err instanceof ScramError)) throw err;
    session.closeAfterReply = err.message;
    return { failed: err.message };
  }
}

export function saslApis(routes: Routes, settings: SaslSettings, image: () => MetadataImage): void {
  routes.add(apis.SaslHandshake, (req, version, _h, session) => {
    if (!settings.required || session.authenticated) {
      session.closeAfterReply = 'SaslHandshake on a connection that is not authenticating';
      return { errorCode: ErrorCodes.ILLEGAL_SASL_STATE.code, mechanisms: [...settings.mechanisms] };
    }
    if (!settings.mechanisms.includes(req.mechanism)) {
      session.closeAfterReply = `SASL mechanism ${req.mechanism} is not enabled`;
      return { errorCode: ErrorCodes.UNSUPPORTED_SASL_MECHANISM.code, mechanisms: [...settings.mechanisms] };
    }
    session.mechanism = req.mechanism;
    session.bareTokens = version === 0;
    session.scram = isScram(req.mechanism)
      ? new ScramServer(req.mechanism, (user) => storedCredential(image(), req.mechanism as ScramMechanism, user))
      : null;
    return { errorCode: 0, mechanisms: [...settings.mechanisms] };
  });

  routes.add(apis.SaslAuthenticate, (req, _v, _h, session) => {
    if (session.mechanism === null || session.authenticated || session.bareTokens) {
      session.closeAfterReply = 'SaslAuthenticate out of place';
      return {
        errorCode: ErrorCodes.ILLEGAL_SASL_STATE.code,
        errorMessage: 'SaslAuthenticate needs a SaslHandshake v1 first, and only until authenticated',
        authBytes: Buffer.alloc(0),
      };
    }
    const answer = saslStep(session, req.authBytes, image);
    if (Buffer.isBuffer(answer)) return { errorCode: 0, authBytes: answer };
    return {
      errorCode: ErrorCodes.SASL_AUTHENTICATION_FAILED.code,
      errorMessage: answer.failed,
      authBytes: Buffer.alloc(0),
    };
  });
}

function authenticated(session: KafkaSession, user: string): void {
  session.authenticated = true;
  session.caller = { ...session.caller, principal: `User:${user}` };
  session.scram = null;
}
