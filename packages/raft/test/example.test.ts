// The example of examples/replicated-map.ts runs as its README says (a child process reading
// the package from source), and its state machine keeps the StateMachine contract.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ReplicatedMap } from '../examples/replicated-map.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../examples/replicated-map.ts', import.meta.url));

describe('examples/replicated-map.ts', () => {
  it('founds a 3-member cluster over TCP and FileStorage, writes through every member, and a restarted member catches up', { timeout: 180_000 }, async () => {
    const { stdout } = await run(process.execPath, ['--conditions=@flotilla/source', '--import', 'tsx', script], { timeout: 170_000 });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^member [123] leads$/);
    for (const id of [1, 2, 3]) {
      expect(lines).toContain(`set greeting-${id} through member ${id}: {"ok":true,"previous":null}`);
      expect(lines).toContain(`member ${id} reads greeting-1: hello from member 1`);
    }
    expect(lines.at(-2)).toMatch(/^restarted member [123] from its data directory; it reads while-away: written without member [123]$/);
    expect(lines.at(-1)).toMatch(/^member [123] holds 4 keys$/);
  });

  it('the map refuses malformed commands, applies deterministically and round-trips its snapshot', () => {
    const m = new ReplicatedMap();
    expect(() => m.check({ op: 'set', key: '' })).toThrow(TypeError);
    expect(() => m.check({ op: 'put', key: 'a', value: 'b' })).toThrow(/expected/);
    expect(m.apply(m.check({ op: 'set', key: 'a', value: '1' }))).toEqual({ ok: true, previous: null });
    expect(m.apply(m.check({ op: 'set', key: 'a', value: '2' }))).toEqual({ ok: true, previous: '1' });
    m.applyConfChange({ type: 'add-voter', nodeId: 4 }, '127.0.0.1:9');
    const copy = new ReplicatedMap();
    copy.restore(Buffer.concat(m.captureSnapshot()));
    expect([...copy.entries]).toEqual([['a', '2']]);
    expect(copy.members.get(4)).toEqual({ peerUrl: '127.0.0.1:9' });
    expect(copy.isResult({ ok: true, previous: null })).toBe(true);
    expect(copy.isResult({ ok: 'yes' })).toBe(false);
    expect(m.mayPropose({ op: 'delete', key: 'a' }, 2, 'learner')).toMatch(/learner/);
  });
});
