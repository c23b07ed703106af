/**
 * The NATS server configuration `millrace auth init` writes: brokers in an account of their own
 * (JetStream, replication and controller subjects reachable by brokers only), and clients in a
 * second account that imports just the client-facing APIs. Each client may publish only to those
 * APIs and subscribe only to its own inbox prefix; the imports share the requester's identity
 * (the server attaches a Nats-Request-Info header a client cannot forge), for authorization.
 */
import { subjects } from '../../protocol/subjects.js';
import { inboxPrefixFor } from './security.js';

export interface AuthManifest {
  cluster: string;
  /** The brokers' NKEY public key (one identity shared by the cluster's brokers). */
  brokers: string;
  /** Client name to NKEY public key. */
  clients: Record<string, string>;
  /** The server's certificate and key, and the CA clients verify it with; absent: no TLS. */
  tls?: { caFile: string; certFile: string; keyFile: string };
}

/** The subjects clients may request: bootstrap metadata and every broker's client APIs. */
export function clientApiSubjects(cluster: string): string[] {
  return [subjects.metadata(cluster), `mr.${cluster}.broker.*.api.>`];
}

/** A client name usable in file names and as a config key. */
export const CLIENT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function natsServerConfig(manifest: AuthManifest, storeDir: string): string {
  const apis = clientApiSubjects(manifest.cluster);
  const config = {
    jetstream: { store_dir: storeDir },
    // Clients must use TLS; they verify the server with the CA (no client certificates asked).
    ...(manifest.tls ? { tls: { cert_file: manifest.tls.certFile, key_file: manifest.tls.keyFile, timeout: 5 } } : {}),
    accounts: {
      BROKERS: {
        jetstream: 'enabled',
        users: [{ nkey: manifest.brokers }],
        exports: apis.map((service) => ({ service })),
      },
      CLIENTS: {
        users: Object.entries(manifest.clients).map(([, nkey]) => ({
          nkey,
          permissions: {
            publish: { allow: apis },
            subscribe: { allow: [`${inboxPrefixFor(nkey)}.>`] },
          },
        })),
        imports: apis.map((subject) => ({ service: { account: 'BROKERS', subject }, share: true })),
      },
    },
  };
  return [
    `# NATS server configuration for the Millrace cluster '${manifest.cluster}', written by millrace auth.`,
    `# Clients: ${Object.keys(manifest.clients).join(', ')}. After millrace auth add-client, reload the`,
    '# server (nats-server --signal reload, or SIGHUP).',
    JSON.stringify(config, null, 2),
    '',
  ].join('\n');
}
