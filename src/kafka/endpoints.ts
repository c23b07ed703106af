/** Kafka endpoints as the metadata log keeps them: "host:port", IPv6 hosts in brackets. */
export interface Endpoint {
  host: string;
  port: number;
}

export function parseEndpoint(text: string): Endpoint {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(at + 1)) };
}

export function formatEndpoint({ host, port }: Endpoint): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * What clients are told to connect to when no advertised listener is set: the bound address, or
 * for a wildcard bind (0.0.0.0, ::) this host's name, as Kafka advertises its canonical host name
 * for a listener without a host (a container's name resolves on its network).
 */
export function defaultAdvertised(bound: Endpoint, hostname: string): string {
  return formatEndpoint(WILDCARDS.has(bound.host) ? { host: hostname, port: bound.port } : bound);
}
