/**
 * Client quota enforcement, as Kafka's ClientQuotaManager: each quota's use is measured as a rate
 * over `windows` windows of `windowMs` (Kafka's quota.window.num 11 and quota.window.size.seconds
 * 1), and a client over its bound is told to wait (difference / bound) x the measured span, at
 * most the whole span. Each door applies that wait its own way: the Kafka door answers with
 * throttle_time_ms and then holds the connection's next request (KIP-219), the NATS door delays
 * its reply. Decisions on a given clock: unit-tested on a simulated one.
 */
import type { QuotaKey } from '../../protocol/quota.js';
import { quotaFor } from '../cluster/quota-control.js';
import type { QuotaRecord } from '../cluster/records.js';

export interface QuotaWindows {
  windows: number;
  windowMs: number;
}

export const KAFKA_QUOTA_WINDOWS: QuotaWindows = { windows: 11, windowMs: 1_000 };

/** A rate over the last `windows` windows: Kafka's SampledStat with its Rate's elapsed-time rule. */
export class SampledRate {
  private readonly totals: Float64Array;
  private readonly ids: Float64Array;
  private readonly firstWindow: number;

  constructor(
    private readonly config: QuotaWindows,
    now: number,
  ) {
    this.totals = new Float64Array(config.windows);
    this.ids = new Float64Array(config.windows).fill(-1);
    this.firstWindow = Math.floor(now / config.windowMs);
  }

  record(value: number, now: number): void {
    const id = Math.floor(now / this.config.windowMs);
    const slot = id % this.config.windows;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.totals[slot] = 0;
    }
    this.totals[slot]! += value;
  }

  /** Per second, over the windows still current; the span is at least windows - 1 whole windows. */
  measure(now: number): { perSecond: number; spanMs: number } {
    const { windows, windowMs } = this.config;
    const current = Math.floor(now / windowMs);
    let total = 0;
    for (let i = 0; i < windows; i++) if (this.ids[i]! > current - windows) total += this.totals[i]!;
    const oldest = Math.max(this.firstWindow, current - windows + 1);
    const spanMs = Math.max(now - oldest * windowMs, (windows - 1) * windowMs);
    return { perSecond: (total * 1000) / spanMs, spanMs };
  }
}

export class ClientQuotas {
  private readonly rates = new Map<string, SampledRate>();
  /** Rates not recorded to for this long are dropped (a client that went away). */
  private readonly idleMs: number;
  private lastSweep = 0;

  constructor(
    private readonly quotas: () => ReadonlyMap<string, QuotaRecord>,
    private readonly config: QuotaWindows = KAFKA_QUOTA_WINDOWS,
    private readonly now: () => number = Date.now,
  ) {
    this.idleMs = config.windows * config.windowMs * 2;
  }

  /**
   * Records `value` (bytes, or handler milliseconds for request_percentage) against the quota of
   * `user` and `clientId`; returns how long the client must wait, 0 when within its quota.
   */
  record(key: QuotaKey, user: string, clientId: string, value: number): number {
    const quotas = this.quotas();
    if (quotas.size === 0) return 0;
    const found = quotaFor(quotas, user, clientId, key);
    if (!found) return 0;
    const now = this.now();
    this.sweep(now);
    const id = `${key}\0${found.bucket}`;
    let rate = this.rates.get(id);
    if (!rate) {
      rate = new SampledRate(this.config, now);
      this.rates.set(id, rate);
    }
    rate.record(value, now);
    // request_percentage: percent of one handler's time, i.e. 10 ms of handling per second per percent.
    const bound = key === 'request_percentage' ? found.bound * 10 : found.bound;
    const { perSecond, spanMs } = rate.measure(now);
    if (perSecond <= bound) return 0;
    return Math.min(Math.round(((perSecond - bound) / bound) * spanMs), this.config.windows * this.config.windowMs);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.idleMs) return;
    this.lastSweep = now;
    for (const [id, rate] of this.rates) if (rate.measure(now).perSecond === 0) this.rates.delete(id);
  }
}

/** The user name of a principal for quotas (User:alice -> alice). */
export const quotaUser = (principal: string): string => principal.slice(principal.indexOf(':') + 1);

/** What one request used: its produce bytes, fetch bytes and handler time, with the wait owed. */
export function throttleFor(
  quotas: ClientQuotas,
  principal: string,
  clientId: string,
  use: { produceBytes: number; fetchBytes: number; handlerMs: number },
  observe: (quota: QuotaKey, ms: number) => void,
): number {
  const user = quotaUser(principal);
  let wait = 0;
  const charge = (key: QuotaKey, value: number) => {
    if (value <= 0) return;
    const ms = quotas.record(key, user, clientId, value);
    if (ms > 0) observe(key, ms);
    wait = Math.max(wait, ms);
  };
  charge('producer_byte_rate', use.produceBytes);
  charge('consumer_byte_rate', use.fetchBytes);
  charge('request_percentage', use.handlerMs);
  return wait;
}
