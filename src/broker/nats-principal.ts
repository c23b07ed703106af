/**
 * Who sent a request on the NATS door. In a cluster set up by `millrace auth`, clients reach the
 * brokers' APIs only through service imports that share the requester's identity: the server
 * attaches a Nats-Request-Info header (replacing any the client sent) naming the user's NKEY and
 * address. The NKEY maps to a client name through the setup's manifest (auth.json), so the
 * principal is User:<name> as on the Kafka door. A request without the header came from inside
 * the brokers' account: a broker.
 */
import * as fs from 'node:fs';
import type { Msg } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { internalCaller, type Caller } from './authorizer.js';

const REQUEST_INFO = 'Nats-Request-Info';
/** How often at most the manifest is read again when an unknown NKEY asks. */
const RELOAD_MS = 1_000;

export class NatsPrincipals {
  private names = new Map<string, string>();
  private loadedAt = -Infinity;

  constructor(
    /** The auth.json `millrace auth` wrote (client name to NKEY), or null: principals are the NKEYs. */
    private readonly manifestFile: string | null,
    private readonly logger: Logger,
  ) {
    this.reload();
  }

  private reload(): void {
    this.loadedAt = Date.now();
    if (!this.manifestFile) return;
    try {
      const manifest = JSON.parse(fs.readFileSync(this.manifestFile, 'utf8')) as { clients?: Record<string, string> };
      this.names = new Map(Object.entries(manifest.clients ?? {}).map(([name, nkey]) => [nkey, name]));
    } catch (err) {
      this.logger.warn({ err, file: this.manifestFile }, 'cannot read the NATS client names: principals are NKEYs');
    }
  }

  /** The client name of an NKEY (a client added since the last read makes the manifest be read again). */
  nameOf(nkey: string): string {
    let name = this.names.get(nkey);
    if (name === undefined && Date.now() - this.loadedAt >= RELOAD_MS) {
      this.reload();
      name = this.names.get(nkey);
    }
    return name ?? nkey;
  }

  callerOf(msg: Msg): Caller {
    return this.identify(msg).caller;
  }

  /** The caller, and its client id: the NATS connection name the server reports (the SDK's clientId). */
  identify(msg: Msg): { caller: Caller; clientId: string } {
    const info = msg.headers?.get(REQUEST_INFO);
    if (!info) return { caller: internalCaller, clientId: '' };
    try {
      const parsed = JSON.parse(info) as { user?: string; host?: string; name?: string };
      return {
        caller: { principal: `User:${this.nameOf(parsed.user ?? '')}`, host: parsed.host ?? '' },
        clientId: parsed.name ?? '',
      };
    } catch {
      // The server writes this header; one that does not parse is not a broker's either.
      return { caller: { principal: 'User:ANONYMOUS', host: '' }, clientId: '' };
    }
  }
}
