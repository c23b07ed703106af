import { describe, expect, it } from 'vitest';
import {
  ScramError,
  ScramServer,
  passwordMatches,
  saltedPassword,
  scramKeys,
  type StoredCredential,
} from '../../../protocol/scram.js';
import { createHash, createHmac, randomBytes } from 'node:crypto';

// RFC 7677 section 3: the SCRAM-SHA-256 example exchange.
const RFC = {
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  iterations: 4096,
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function credential(password: string, mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', salt: Buffer, iterations = 4096) {
  const keys = scramKeys(mechanism, saltedPassword(mechanism, password, salt, iterations));
  return { salt, iterations, ...keys } satisfies StoredCredential;
}

/** A client per RFC 5802, to run whole exchanges with random nonces. */
function clientProof(
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
  password: string,
  clientFirstBare: string,
  serverFirst: string,
) {
  const digest = mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
  const attrs = new Map(serverFirst.split(',').map((p) => [p[0]!, p.slice(2)]));
  const salted = saltedPassword(mechanism, password, Buffer.from(attrs.get('s')!, 'base64'), Number(attrs.get('i')));
  const clientKey = createHmac(digest, salted).update('Client Key').digest();
  const storedKey = createHash(digest).update(clientKey).digest();
  const withoutProof = `c=biws,r=${attrs.get('r')}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(digest, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

describe('SCRAM', () => {
  it('replays RFC 7677 example exchange as the server', () => {
    const server = new ScramServer(
      'SCRAM-SHA-256',
      (user) => (user === 'user' ? credential('pencil', 'SCRAM-SHA-256', RFC.salt) : null),
      () => RFC.serverNonce,
    );
    expect(server.first(Buffer.from(RFC.clientFirst)).toString()).toBe(RFC.serverFirst);
    const { response, user } = server.final(Buffer.from(RFC.clientFinal));
    expect(response.toString()).toBe(RFC.serverFinal);
    expect(user).toBe('user');
  });

  it.each(['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)('%s: the right password passes, a wrong one fails', (m) => {
    const stored = credential('s3cret', m, randomBytes(32));
    const run = (password: string) => {
      const server = new ScramServer(m, (u) => (u === 'alice' ? stored : null));
      const bare = `n=alice,r=${randomBytes(12).toString('base64')}`;
      const serverFirst = server.first(Buffer.from(`n,,${bare}`)).toString();
      return server.final(Buffer.from(clientProof(m, password, bare, serverFirst)));
    };
    expect(run('s3cret').user).toBe('alice');
    expect(() => run('guess')).toThrow(ScramError);
  });

  it('refuses an unknown user, a tampered nonce, messages out of order and malformed ones', () => {
    const stored = credential('pw', 'SCRAM-SHA-256', randomBytes(16));
    const server = () => new ScramServer('SCRAM-SHA-256', (u) => (u === 'bob' ? stored : null));
    expect(() => server().first(Buffer.from('n,,n=eve,r=abc'))).toThrow(/authentication failed for user 'eve'/);
    expect(() => server().first(Buffer.from('garbage'))).toThrow(/malformed/);
    expect(() => server().first(Buffer.from('p=tls-unique,,n=bob,r=x'))).toThrow(/channel binding/);
    expect(() => server().final(Buffer.from('c=biws,r=x,p=AA=='))).toThrow(/out of order/);
    const s = server();
    s.first(Buffer.from('n,,n=bob,r=abc'));
    expect(() => s.final(Buffer.from('c=biws,r=abcOTHER,p=AAAA'))).toThrow(/nonce does not match/);
  });

  it('PLAIN checks a password against a stored credential', () => {
    const stored = credential('pw', 'SCRAM-SHA-512', randomBytes(16));
    expect(passwordMatches('SCRAM-SHA-512', stored, 'pw')).toBe(true);
    expect(passwordMatches('SCRAM-SHA-512', stored, 'pW')).toBe(false);
  });
});
