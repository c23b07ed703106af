/**
 * Kafka's connection limits for a listener: max.connections in all, max.connections.per.ip, with
 * per-address overrides (max.connections.per.ip.overrides). Kafka's acceptor stops accepting at
 * max.connections; here a connection over either limit is closed at once, and clients retry.
 */
export interface ConnectionCountLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Address to its own limit. */
  perIpOverrides: ReadonlyMap<string, number>;
}

export type Admission =
  { admitted: true } | { admitted: false; reason: 'max_connections' | 'max_connections_per_ip'; limit: number };

/** Kafka's override format: "host:count,host:count" (an IPv6 address keeps its colons). */
export function parseIpOverrides(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const at = entry.lastIndexOf(':');
    const count = Number(entry.slice(at + 1));
    if (at <= 0 || !Number.isSafeInteger(count) || count < 0)
      throw new Error(`'${entry}' is not host:count (max.connections.per.ip.overrides)`);
    out.set(entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'), count);
  }
  return out;
}

/** Open connections in all and per address, and whether one more may open. */
export class ConnectionQuotas {
  private total = 0;
  private readonly byIp = new Map<string, number>();

  constructor(private readonly limits: ConnectionCountLimits) {}

  admit(ip: string): Admission {
    const perIp = this.limits.perIpOverrides.get(ip) ?? this.limits.maxConnectionsPerIp;
    const fromIp = this.byIp.get(ip) ?? 0;
    if (fromIp >= perIp) return { admitted: false, reason: 'max_connections_per_ip', limit: perIp };
    if (this.total >= this.limits.maxConnections)
      return { admitted: false, reason: 'max_connections', limit: this.limits.maxConnections };
    this.total++;
    this.byIp.set(ip, fromIp + 1);
    return { admitted: true };
  }

  release(ip: string): void {
    const fromIp = this.byIp.get(ip) ?? 0;
    if (fromIp <= 1) this.byIp.delete(ip);
    else this.byIp.set(ip, fromIp - 1);
    this.total = Math.max(0, this.total - 1);
  }
}
