/**
 * Watches the event loop's delay: a broker whose loop stalls for longer than a fraction of its
 * session timeout risks missing heartbeats and being fenced, so such a stall is reported (the
 * delay itself is a metric: millrace_nodejs_eventloop_lag_*).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Calls `onStall(maxMs)` after each `everyMs` window whose longest delay exceeded `thresholdMs`. */
export function watchEventLoop(thresholdMs: number, onStall: (maxMs: number) => void, everyMs = 1_000): () => void {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const timer = setInterval(() => {
    const maxMs = histogram.max / 1e6;
    histogram.reset();
    if (maxMs > thresholdMs) onStall(Math.round(maxMs));
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
