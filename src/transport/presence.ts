/**
 * A broker process's presence on NATS. Each broker answers an empty request on its own
 * `presence` subject from the moment it connects. When the process dies, the kernel closes its
 * connection, the server drops its subscriptions, and a request gets "no responders" at once;
 * a paused or overloaded process still holds the subscription, so its probe only times out.
 * The controller probes brokers this way to fence a crashed one within a few hundred
 * milliseconds, and candidates probe the controller lease's holder to take over from a dead one.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { subjects } from '../../protocol/subjects.js';
import { isNoResponders } from './rpc.js';

export type Presence = 'present' | 'gone' | 'unknown';

const EMPTY = new Uint8Array(0);

export function servePresence(nc: NatsConnection, cluster: string, brokerId: number): Subscription {
  return nc.subscribe(subjects.brokerInternal(cluster, brokerId, 'presence'), {
    callback: (err, msg) => {
      if (!err) msg.respond(EMPTY);
    },
  });
}

/**
 * 'gone' only on no-responders; a timeout or any other failure says nothing ('unknown'). The
 * timeout is short (twice the probe interval, at least 200 ms): a probe delivered just before
 * the process died is never answered, and the next probe should not wait for it, while a late
 * answer from a live but busy broker costs nothing.
 */
export async function probePresence(
  nc: NatsConnection,
  cluster: string,
  brokerId: number,
  intervalMs: number,
): Promise<Presence> {
  try {
    await nc.request(subjects.brokerInternal(cluster, brokerId, 'presence'), EMPTY, {
      timeout: Math.max(200, 2 * intervalMs),
    });
    return 'present';
  } catch (err) {
    return isNoResponders(err) ? 'gone' : 'unknown';
  }
}
