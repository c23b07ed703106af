export * from './config.js';
export * from './leader-epoch-cache.js';
export * from './log.js';
export * from './log-manager.js';
export { LogSegment, segmentFileName } from './segment.js';
export * from './cleaner.js';
