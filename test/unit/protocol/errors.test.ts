import { describe, expect, it } from 'vitest';
import { ErrorCodes, MillraceError, errorFields, type ErrorName } from '../../../protocol/errors.js';

describe('error classification', () => {
  it('says in one table what a caller must do', () => {
    const react = (name: ErrorName) => {
      const e = new MillraceError(name, 'x');
      return { retriable: e.retriable, refreshMetadata: e.refreshMetadata, coordinatorMoved: e.coordinatorMoved };
    };
    expect(react('NOT_LEADER_OR_FOLLOWER')).toEqual({
      retriable: true,
      refreshMetadata: true,
      coordinatorMoved: false,
    });
    expect(react('NOT_COORDINATOR')).toEqual({ retriable: true, refreshMetadata: false, coordinatorMoved: true });
    expect(react('NETWORK_EXCEPTION')).toEqual({ retriable: true, refreshMetadata: true, coordinatorMoved: true });
    expect(react('TOPIC_ALREADY_EXISTS')).toEqual({
      retriable: false,
      refreshMetadata: false,
      coordinatorMoved: false,
    });
    // Every error that asks for a metadata refresh or a new coordinator is retriable.
    for (const spec of Object.values(ErrorCodes))
      if (spec.refreshMetadata || spec.coordinatorMoved) expect(spec.retriable).toBe(true);
  });

  it('normalises anything thrown, keeping a MillraceError as it is', () => {
    const own = new MillraceError('NOT_CONTROLLER', 'moved');
    expect(MillraceError.from(own)).toBe(own);
    const wrapped = MillraceError.from(new Error('socket closed'), 'NETWORK_EXCEPTION');
    expect([wrapped.errorName, wrapped.detail, wrapped.retriable]).toEqual([
      'NETWORK_EXCEPTION',
      'socket closed',
      true,
    ]);
    expect(MillraceError.from('boom').errorName).toBe('UNKNOWN_SERVER_ERROR');
    expect(errorFields(own)).toEqual({ errorCode: ErrorCodes.NOT_CONTROLLER.code, errorMessage: 'moved' });
  });
});
