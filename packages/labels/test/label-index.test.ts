import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  everything,
  isLabelsError,
  LabelIndex,
  newRequirement,
  nothing,
  parseSelector,
  selectorFromLabelSelector,
  type Operator,
  type Requirement,
  type Selector,
} from '../src/index.js';

const sorted = <T>(values: T[]): T[] => [...values].sort();

describe('LabelIndex', () => {
  const fleet = (): LabelIndex => {
    const index = new LabelIndex();
    index.add('web-1', { app: 'web', env: 'prod', replicas: '3' });
    index.add('web-2', { app: 'web', env: 'staging', replicas: '1' });
    index.add('db-1', { app: 'db', env: 'prod', replicas: '+5' });
    index.add('batch', { app: 'batch', replicas: 'many' });
    index.add('bare', {});
    return index;
  };

  it.each([
    ['', ['bare', 'batch', 'db-1', 'web-1', 'web-2']],
    ['app=web', ['web-1', 'web-2']],
    ['app==web,env=prod', ['web-1']],
    ['app in (web,db)', ['db-1', 'web-1', 'web-2']],
    ['app in (web,nope)', ['web-1', 'web-2']],
    ['app=nope', []],
    ['env', ['db-1', 'web-1', 'web-2']],
    ['!env', ['bare', 'batch']],
    ['env!=prod', ['bare', 'batch', 'web-2']],
    ['env notin (prod,staging)', ['bare', 'batch']],
    ['app!=web', ['bare', 'batch', 'db-1']],
    ['replicas>1', ['db-1', 'web-1']],
    ['replicas<2', ['web-2']],
    ['replicas>100', []],
    ['replicas', ['batch', 'db-1', 'web-1', 'web-2']],
    ['app,!app', []],
    ['app=web,app!=web', []],
    ['nokey', []],
    ['!nokey', ['bare', 'batch', 'db-1', 'web-1', 'web-2']],
    ['nokey>1', []],
    ['nokey!=x', ['bare', 'batch', 'db-1', 'web-1', 'web-2']],
    ['app=web,replicas>2,env in (prod)', ['web-1']],
  ])('select(%j)', (text, expected) => {
    expect(sorted(fleet().select(parseSelector(text)))).toEqual(expected);
  });

  it('selects nothing for nothing() and everything for everything()', () => {
    const index = fleet();
    expect(index.select(nothing())).toEqual([]);
    expect(index.select(selectorFromLabelSelector(null))).toEqual([]);
    expect(sorted(index.select(everything()))).toEqual(['bare', 'batch', 'db-1', 'web-1', 'web-2']);
  });

  it('handles updates and removals', () => {
    const index = fleet();
    index.update('web-2', { app: 'web', env: 'prod' });
    expect(sorted(index.select(parseSelector('env=prod')))).toEqual(['db-1', 'web-1', 'web-2']);
    expect(sorted(index.select(parseSelector('replicas')))).toEqual(['batch', 'db-1', 'web-1']);
    expect(index.remove('web-1')).toBe(true);
    expect(index.remove('web-1')).toBe(false);
    expect(sorted(index.select(parseSelector('app=web')))).toEqual(['web-2']);
    expect(index.size).toBe(4);
    expect(index.has('web-1')).toBe(false);
    expect(index.get('web-2')).toEqual({ app: 'web', env: 'prod' });
    index.set('web-1', { app: 'web' });
    index.set('web-2', { app: 'db' });
    expect(sorted(index.select(parseSelector('app=web')))).toEqual(['web-1']);
    index.clear();
    expect(index.size).toBe(0);
    expect(index.select(everything())).toEqual([]);
  });

  it('enumerates != and notin when every object has the key', () => {
    const index = new LabelIndex<number>();
    for (let i = 0; i < 10; i++) index.add(i, { zone: `z${i % 3}` });
    expect(sorted(index.select(parseSelector('zone!=z0')))).toEqual([1, 2, 4, 5, 7, 8]);
    expect(index.select(parseSelector('zone notin (z0,z1,z2)'))).toEqual([]);
    expect(index.select(parseSelector('!zone'))).toEqual([]);
  });

  it('checks only the candidates of the most selective requirement, not every object', () => {
    const index = new LabelIndex<number>();
    for (let i = 0; i < 1000; i++) index.add(i, { app: `app-${i % 100}`, shard: String(i % 7) });
    let calls = 0;
    const counting: Requirement = {
      key: 'shard',
      operator: 'exists',
      values: [],
      matches(labels) {
        calls++;
        return labels instanceof Map ? labels.has('shard') : Object.hasOwn(labels, 'shard');
      },
      toString: () => 'counting',
    };
    const selector = everything().add(newRequirement('app', '=', ['app-7']), counting);
    expect(sorted(index.select(selector))).toEqual([7, 107, 207, 307, 407, 507, 607, 707, 807, 907].sort());
    expect(calls).toBe(10);
  });

  it('keeps its own copy of the labels', () => {
    const index = new LabelIndex();
    const labels: Record<string, string> = { app: 'web' };
    index.add('a', labels);
    labels.app = 'db';
    expect(index.select(parseSelector('app=web'))).toEqual(['a']);
  });

  it('accepts Map label sets and any id type', () => {
    const index = new LabelIndex<{ name: string }>();
    const id = { name: 'x' };
    index.add(id, new Map([['app', 'web']]));
    expect(index.select(parseSelector('app=web'))).toEqual([id]);
  });

  it('rejects a duplicate add and an update of an unknown id', () => {
    const index = fleet();
    expect(() => index.add('web-1', {})).toThrow(/already in the index/);
    try {
      index.update('nope', {});
      expect.unreachable();
    } catch (error) {
      expect(isLabelsError(error)).toBe(true);
      expect((error as { code: string }).code).toBe('unknown-id');
    }
    expect(() => index.add('x', { a: 1 } as never)).toThrow(TypeError);
    expect(index.has('x')).toBe(false);
  });
});

// ---- property: select equals a linear filter ----------------------------------------------

const keys = ['a', 'b', 'c', 'd'];
// Object values may be anything a label map holds, valid or not.
const objectValues = ['', '0', '1', '2', '10', '007', '-1', '+3', 'x', 'y', '9223372036854775808'];
const requirementValues = ['', '0', '1', '2', '10', '007', 'x', 'y'];
const integerValues = ['0', '1', '2', '007', '10', '9223372036854775807'];
const operators: Operator[] = ['in', 'notin', '=', '==', '!=', 'exists', '!', 'gt', 'lt'];

const labelsArbitrary = (alwaysA: boolean) =>
  fc
    .dictionary(fc.constantFrom(...keys), fc.constantFrom(...objectValues), { maxKeys: 4 })
    .chain((labels) =>
      alwaysA && !('a' in labels)
        ? fc.constantFrom(...objectValues).map((value) => ({ ...labels, a: value }))
        : fc.constant(labels),
    );

const requirementArbitrary = fc
  .record({
    key: fc.constantFrom(...keys, 'zz'),
    operator: fc.constantFrom(...operators),
    values: fc.array(fc.constantFrom(...requirementValues), { minLength: 1, maxLength: 3 }),
    integer: fc.constantFrom(...integerValues),
  })
  .map(({ key, operator, values, integer }) => {
    switch (operator) {
      case 'in':
      case 'notin':
        return newRequirement(key, operator, values);
      case '=':
      case '==':
      case '!=':
        return newRequirement(key, operator, [values[0]!]);
      case 'exists':
      case '!':
        return newRequirement(key, operator, []);
      case 'gt':
      case 'lt':
        return newRequirement(key, operator, [integer]);
    }
  });

const selectorArbitrary: fc.Arbitrary<Selector> = fc.oneof(
  { weight: 8, arbitrary: fc.array(requirementArbitrary, { maxLength: 4 }).map((rs) => everything().add(...rs)) },
  { weight: 1, arbitrary: fc.constant(nothing()) },
  {
    weight: 2,
    arbitrary: fc
      .array(requirementArbitrary, { minLength: 1, maxLength: 3 })
      .map((rs) => parseSelector(everything().add(...rs).toString())),
  },
);

type Op =
  | { kind: 'set'; id: number; labels: Record<string, string> }
  | { kind: 'remove'; id: number };

const opsArbitrary = (alwaysA: boolean) =>
  fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), id: fc.nat(30), labels: labelsArbitrary(alwaysA) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.nat(30) }) },
    ),
    { maxLength: 60 },
  );

describe('LabelIndex.select equals a linear filter (property)', () => {
  it.each([false, true])('for random objects, selectors, updates and removals (key a on every object: %s)', (alwaysA) => {
    fc.assert(
      fc.property(opsArbitrary(alwaysA), fc.array(selectorArbitrary, { minLength: 1, maxLength: 6 }), (ops: Op[], selectors) => {
        const index = new LabelIndex<number>();
        const model = new Map<number, Record<string, string>>();
        const check = () => {
          for (const selector of selectors) {
            const expected = [...model].filter(([, labels]) => selector.matches(labels)).map(([id]) => id);
            expect(sorted(index.select(selector))).toEqual(sorted(expected));
          }
        };
        ops.forEach((op, step) => {
          if (op.kind === 'set') {
            if (model.has(op.id)) index.update(op.id, op.labels);
            else index.add(op.id, op.labels);
            model.set(op.id, op.labels);
          } else {
            expect(index.remove(op.id)).toBe(model.delete(op.id));
          }
          if (step % 10 === 9) check();
        });
        check();
        expect(index.size).toBe(model.size);
      }),
      { numRuns: 300, seed: alwaysA ? 42 : 7 },
    );
  });
});
