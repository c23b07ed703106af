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
