/**
 * TLS material for a test or development setup: a certificate authority, a server certificate it
 * signs for the names and addresses the server is reached at, and client certificates. Keys come from Node's
 * crypto (RSA 2048); node-forge builds and signs the X.509 certificates, which Node cannot.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
}

const DAY_MS = 86_400_000;

function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e), pem };
}

function certificate(
  subject: string,
  publicKey: forge.pki.PublicKey,
  days: number,
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial in minimal DER: the top bit clear, and no leading zero byte (Go's parser,
  // nats-server's, refuses a certificate whose serial has one as malformed).
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + days * DAY_MS);
  // UTF8String: Go's parser (nats-server) refuses a PrintableString with '_' in it. node-forge
  // takes the value's ASN.1 type here, though its typings call the field a tag class.
  const utf8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  cert.setSubject([{ name: 'commonName', value: subject, valueTagClass: utf8 }]);
  cert.setExtensions(extensions);
  return cert;
}

/** Writes ca.pem, ca-key.pem, server.pem and server-key.pem in `dir`; keys readable by the owner only. */
export function writeTlsMaterial(dir: string, cluster: string, hosts: string[], days = 825): TlsMaterial {
  fs.mkdirSync(dir, { recursive: true });
  const ca = keyPair();
  const caCert = certificate(`Millrace ${cluster} CA`, ca.publicKey, days, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const server = keyPair();
  const serverCert = certificate(hosts[0] ?? 'localhost', server.publicKey, days, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((h) => (net.isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
  ]);
  serverCert.setIssuer(caCert.subject.attributes);
  serverCert.sign(ca.privateKey, forge.md.sha256.create());

  const material = {
    caFile: path.join(dir, 'ca.pem'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server-key.pem'),
  };
  fs.writeFileSync(material.caFile, forge.pki.certificateToPem(caCert));
  fs.writeFileSync(path.join(dir, 'ca-key.pem'), ca.pem, { mode: 0o600 });
  fs.writeFileSync(material.certFile, forge.pki.certificateToPem(serverCert));
  fs.writeFileSync(material.keyFile, server.pem, { mode: 0o600 });
  return material;
}

/**
 * Writes a client certificate for `name` signed by the CA in `dir` (writeTlsMaterial's), as
 * clients/<name>.pem and clients/<name>-key.pem: for Kafka listeners that ask for client
 * certificates (the principal is its subject, User:CN=<name>) and NATS servers that verify them.
 */
export function writeClientCertificate(dir: string, name: string, days = 825): { certFile: string; keyFile: string } {
  const caCert = forge.pki.certificateFromPem(fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'));
  const caKey = forge.pki.privateKeyFromPem(fs.readFileSync(path.join(dir, 'ca-key.pem'), 'utf8'));
  const client = keyPair();
  const cert = certificate(name, client.publicKey, days, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.sign(caKey, forge.md.sha256.create());
  const out = {
    certFile: path.join(dir, 'clients', `${name}.pem`),
    keyFile: path.join(dir, 'clients', `${name}-key.pem`),
  };
  fs.mkdirSync(path.dirname(out.certFile), { recursive: true });
  fs.writeFileSync(out.certFile, forge.pki.certificateToPem(cert));
  fs.writeFileSync(out.keyFile, client.pem, { mode: 0o600 });
  return out;
}
