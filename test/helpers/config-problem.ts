import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';

/** The problems a ConfigError thrown by `load` states, one per line; fails the test if none is thrown. */
export function configProblem(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.join('\n');
  }
  assert.fail('expected a ConfigError');
}
