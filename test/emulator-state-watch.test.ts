// The state-file watch the emulated service control waits on: a new state wakes the waiter at once, the timeout is the
// fallback, and other services' files or temporary files do not wake it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stateDir, watchState, writeState } from '../src/emulator/services/state.js';

let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-state-watch-'));
  fs.mkdirSync(stateDir(root), { recursive: true });
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const state = (name: string, s: 'start_pending' | 'running') => ({ name, pid: 4242, state: s, ports: [], startedAt: new Date().toISOString() });

describe('watchState', () => {
  it('wakes the waiter as soon as the service writes its state, long before the timeout', async () => {
    const watch = watchState(root, 'QlikSenseEngineService');
    try {
      const t0 = Date.now();
      setTimeout(() => writeState(root, state('QlikSenseEngineService', 'running')), 20);
      await watch.next(10_000);
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      watch.close();
    }
  });

  it('remembers a change made before the waiter asks', async () => {
    const watch = watchState(root, 'QlikSenseEngineService');
    try {
      writeState(root, state('QlikSenseEngineService', 'running'));
      await new Promise((r) => setTimeout(r, 50)); // let the event arrive
      const t0 = Date.now();
      await watch.next(10_000);
      expect(Date.now() - t0).toBeLessThan(1_000);
    } finally {
      watch.close();
    }
  });

  it('falls back to the timeout when only another service changes', async () => {
    const watch = watchState(root, 'QlikSenseEngineService');
    try {
      const t0 = Date.now();
      setTimeout(() => writeState(root, state('QlikSenseProxyService', 'running')), 10);
      await watch.next(300);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      watch.close();
    }
  });

  it('still times out (polling only) when the state folder cannot be watched', async () => {
    const watch = watchState(path.join(root, 'no-such-node'), 'QlikSenseEngineService');
    const t0 = Date.now();
    await watch.next(50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    watch.close();
  });
});
