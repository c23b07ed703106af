/** Metrics of the storage tail cache (src/storage/tail-cache.ts), read from it at each scrape. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TailCacheStats {
  hits: number;
  misses: number;
  bytes: number;
  maxBytes: number;
}

/** `stats` is null until the broker's logs are loaded. */
export function registerTailCacheMetrics(registry: Registry, stats: () => TailCacheStats | null): void {
  const registers = [registry];
  // Counters follow the cache's own totals: each scrape adds what they grew by since the last.
  const following = (name: string, help: string, read: (s: TailCacheStats) => number) => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = stats();
        if (!s) return;
        const now = read(s);
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  following(
    'millrace_tail_cache_hits_total',
    'Log reads served from the tail cache (tailing consumers and followers)',
    (s) => s.hits,
  );
  following(
    'millrace_tail_cache_misses_total',
    'Log reads below the tail cache, served from the segment files',
    (s) => s.misses,
  );
  new Gauge({
    name: 'millrace_tail_cache_bytes',
    help: 'Bytes the tail cache holds (slabs allocated), against millrace_tail_cache_max_bytes',
    registers,
    collect() {
      this.set(stats()?.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'millrace_tail_cache_max_bytes',
    help: 'The tail cache budget (tailCacheBytes)',
    registers,
    collect() {
      this.set(stats()?.maxBytes ?? 0);
    },
  });
}
