/**
 * NATS request-reply does not tell a requester that its responder died, where a Kafka client
 * sees its TCP connection drop. So while a request to a broker is slow, the client probes that
 * broker's own subject: once the broker process is gone NATS answers "no responders" at once,
 * and the request fails as retriable instead of waiting out its timeout.
 */
import { MillraceError } from '../../protocol/errors.js';
import { brokerGone } from '../transport/rpc.js';
import type { ClientContext } from './context.js';

/** A reply later than this (past what the request may take by design) starts probes, this often. */
const PROBE_AFTER_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;

/** `expectedMs`: how long the call may take by design (a fetch's long poll) before probes start. */
export async function whileBrokerAlive<T>(
  ctx: ClientContext,
  brokerId: number,
  call: Promise<T>,
  expectedMs = 0,
): Promise<T> {
  let done = false;
  let timer: NodeJS.Timeout | null = null;
  const gone = new Promise<never>((_, reject) => {
    const probe = async (): Promise<void> => {
      if (done) return;
      if (await brokerGone(await ctx.connection(), ctx.cluster, brokerId, PROBE_TIMEOUT_MS).catch(() => false)) {
        if (!done) reject(new MillraceError('NETWORK_EXCEPTION', `broker ${brokerId} is gone from NATS`));
        return;
      }
      if (!done) timer = setTimeout(() => void probe(), PROBE_AFTER_MS);
    };
    timer = setTimeout(() => void probe(), expectedMs + PROBE_AFTER_MS);
  });
  try {
    return await Promise.race([call, gone]);
  } finally {
    done = true;
    if (timer) clearTimeout(timer);
    call.catch(() => undefined);
  }
}
