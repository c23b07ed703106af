/**
 * A broker process's presence on NATS. Each broker answers an empty request on its own
 * `presence` subject from the moment it connects. When the process dies, the kernel closes its
 * connection, the server drops its subscriptions, and a request gets "no responders" at once;
 * a paused or overloaded process still holds the subscription, so its probe goes unanswered.
 * The controller probes brokers this way to fence a crashed one within a few hundred
 * milliseconds, and candidates probe the controller lease's holder to take over from a dead one.
 */
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { subjects } from '../../protocol/subjects.js';

export type Presence = 'present' | 'gone' | 'unknown';

const EMPTY = new Uint8Array(0);
/** The status NATS sends to a reply subject when nothing subscribes to the request's subject. */
const NO_RESPONDERS = 503;

export function servePresence(nc: NatsConnection, cluster: string, brokerId: number): Subscription {
  return nc.subscribe(subjects.brokerInternal(cluster, brokerId, 'presence'), {
    callback: (err, msg) => {
      if (!err) msg.respond(EMPTY);
    },
  });
}

/**
 * Probes brokers' presence as cheaply as NATS allows, since the controller probes every broker
 * ten times a second: one inbox subscription for all answers and a plain publish per probe, no
 * request machinery and no timer. One probe per broker is in flight; a probe still unanswered
 * when the next one for the same broker goes out resolves 'unknown' (a paused broker), unless
 * the caller gave it a timeout of its own.
 */
export class PresenceProber {
  private readonly prefix = createInbox();
  private readonly sub: Subscription;
  private readonly inFlight = new Map<number, { reply: string; settle: (p: Presence) => void }>();
  private seq = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.>`, {
      callback: (err, msg) => {
        if (err) return;
        const brokerId = Number(msg.subject.slice(this.prefix.length + 1, msg.subject.lastIndexOf('.')));
        const probe = this.inFlight.get(brokerId);
        if (probe?.reply === msg.subject) probe.settle(msg.headers?.code === NO_RESPONDERS ? 'gone' : 'present');
      },
    });
  }

  /** 'gone' only on no-responders; no answer by the next probe (or `timeoutMs`) is 'unknown'. */
  probe(brokerId: number, timeoutMs?: number): Promise<Presence> {
    this.inFlight.get(brokerId)?.settle('unknown');
    const reply = `${this.prefix}.${brokerId}.${++this.seq}`;
    return new Promise<Presence>((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => settle('unknown'), timeoutMs);
      const settle = (presence: Presence): void => {
        if (this.inFlight.get(brokerId)?.reply === reply) this.inFlight.delete(brokerId);
        clearTimeout(timer);
        resolve(presence);
      };
      this.inFlight.set(brokerId, { reply, settle });
      try {
        this.nc.publish(subjects.brokerInternal(this.cluster, brokerId, 'presence'), EMPTY, { reply });
      } catch {
        settle('unknown');
      }
    });
  }

  close(): void {
    this.sub.unsubscribe();
    for (const probe of [...this.inFlight.values()]) probe.settle('unknown');
  }
}
