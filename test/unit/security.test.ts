import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { clientApiSubjects, natsServerConfig } from '../../src/transport/auth-setup.js';
import { inboxPrefixFor, natsSecurityOptions, nkeyPublicKey } from '../../src/transport/security.js';
import { writeClientCertificate, writeTlsMaterial } from '../../src/transport/tls-material.js';
import { tempDir } from '../harness/storage.js';

describe('NATS credentials', () => {
  it('derives the inbox prefix from the identity: the user, or the NKEY public key', () => {
    expect(natsSecurityOptions({ user: 'alice', pass: 'p' }).inboxPrefix).toBe('_INBOX_alice');
    expect(natsSecurityOptions({ user: 'a.b c', pass: 'p' }).inboxPrefix).toBe('_INBOX_a_b_c');
    const user = createUser();
    const file = path.join(tempDir('millrace-nk-'), 'u.nk');
    fs.writeFileSync(file, `${new TextDecoder().decode(user.getSeed())}\n`);
    const options = natsSecurityOptions({ nkeySeedFile: file });
    expect(options.inboxPrefix).toBe(`_INBOX_${user.getPublicKey()}`);
    expect(options.authenticator).toBeTypeOf('function');
    expect(natsSecurityOptions({ token: 't', inboxPrefix: '_MINE' }).inboxPrefix).toBe('_MINE');
    expect(natsSecurityOptions({})).toEqual({});
  });

  it('refuses two ways to authenticate, a file without a seed, and half a client certificate', () => {
    expect(() => natsSecurityOptions({ user: 'a', token: 't' })).toThrow(/one of/);
    const dir = tempDir('millrace-nk-');
    fs.writeFileSync(path.join(dir, 'not-a-seed'), 'hello\n');
    expect(() => natsSecurityOptions({ nkeySeedFile: path.join(dir, 'not-a-seed') })).toThrow(/no NKEY user seed/);
    expect(() => natsSecurityOptions({ nkeySeedFile: path.join(dir, 'missing') })).toThrow(/cannot read/);
    fs.writeFileSync(path.join(dir, 'cert.pem'), '');
    expect(() => natsSecurityOptions({ tls: { certFile: path.join(dir, 'cert.pem') } })).toThrow(/needs its key/);
    expect(natsSecurityOptions({ tls: { verify: false } }).tls).toEqual({ rejectUnauthorized: false });
  });
});

describe('the nats-server configuration of millrace auth', () => {
  it('exports only the client APIs, and lets each client reach those and its own inbox', () => {
    const brokers = createUser().getPublicKey();
    const admin = createUser();
    const text = natsServerConfig({ cluster: 'prod', brokers, clients: { admin: admin.getPublicKey() } }, '/data/js');
    const config = JSON.parse(text.slice(text.indexOf('{'))) as {
      accounts: Record<
        string,
        { users: Array<{ nkey: string; permissions?: unknown }>; exports?: unknown; imports?: unknown }
      >;
    };
    const apis = clientApiSubjects('prod');
    expect(apis).toEqual(['mr.prod.metadata', 'mr.prod.broker.*.api.>']);
    expect(config.accounts.BROKERS!.users).toEqual([{ nkey: brokers }]);
    expect(config.accounts.BROKERS!.exports).toEqual(apis.map((service) => ({ service })));
    expect(config.accounts.CLIENTS!.imports).toEqual(
      apis.map((subject) => ({ service: { account: 'BROKERS', subject }, share: true })),
    );
    expect(text).not.toContain('"tls"');
    const withTls = natsServerConfig(
      {
        cluster: 'prod',
        brokers,
        clients: {},
        tls: { caFile: '/t/ca.pem', certFile: '/t/s.pem', keyFile: '/t/k.pem' },
      },
      '/data/js',
    );
    expect(JSON.parse(withTls.slice(withTls.indexOf('{'))).tls).toEqual({
      cert_file: '/t/s.pem',
      key_file: '/t/k.pem',
      timeout: 5,
    });
    expect(config.accounts.CLIENTS!.users).toEqual([
      {
        nkey: admin.getPublicKey(),
        permissions: {
          publish: { allow: apis },
          subscribe: { allow: [`${inboxPrefixFor(nkeyPublicKey(new TextDecoder().decode(admin.getSeed())))}.>`] },
        },
      },
    ]);
  });
});

describe('TLS material of millrace auth', () => {
  it('gives every certificate a positive serial in minimal DER (no leading zero byte), as Go requires', () => {
    const dir = tempDir('millrace-tls-');
    try {
      const tls = writeTlsMaterial(dir, 'c', ['localhost']);
      const pems = [tls.caFile, tls.certFile];
      for (let i = 0; i < 6; i++) pems.push(writeClientCertificate(dir, `client-${i}`).certFile);
      for (const file of pems) {
        const serial = new X509Certificate(fs.readFileSync(file)).serialNumber;
        expect(serial, file).toMatch(/^[4-7][0-9A-F]{31}$/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
