// The placement picture: one row per host (capacity vs allocated, cpu and memory) with its
// instances as blocks, coloured by replica set, patterned and labelled by phase. Rows are
// virtualised: only those in view (plus a margin) are in the DOM, so 1,000 hosts and 30,000
// instances cost a few hundred elements, not 30,000.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { UiHost, UiInstance } from '../../src/ui/protocol.ts';
import { cpuText, memoryText, replicaSetHue, type ClusterModel } from './model.ts';

const BLOCK = 20; // px per block, gap included
const INFO = 300; // px of the host column
const ROW_PAD = 18; // px above and below the blocks
const ROW_MIN = 96;
// px rendered beyond the view; `?render-all` renders every row (the naive page, for bench/ui.ts to compare)
const OVERSCAN = new URLSearchParams(location.search).has('render-all') ? Number.POSITIVE_INFINITY : 600;

export const PHASE_MARK: Record<string, string> = { Running: '', Starting: '…', Pending: '…', Failed: '!', Terminating: '×', Unknown: '?' };

export function phaseLabel(i: UiInstance): string {
  return i.phase === 'Running' && !i.ready ? 'Running, not ready' : i.phase;
}

function Meter(props: { label: string; used: number; total: number | undefined; text: (n: number) => string }): preact.JSX.Element {
  const { used, total } = props;
  const pct = total ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const over = total !== undefined && used > total;
  return (
    <div class="meter">
      <span class="meter-label">{props.label}</span>
      <span class="meter-bar" role="meter" aria-label={`${props.label} allocated`} aria-valuemin={0} aria-valuemax={total ?? 0} aria-valuenow={used} aria-valuetext={`${props.text(used)} of ${total !== undefined ? props.text(total) : 'no capacity given'}`}>
        <span class={over ? 'meter-fill over' : 'meter-fill'} style={{ width: `${pct}%` }} />
      </span>
      <span class="meter-text">
        {props.text(used)}/{total !== undefined ? props.text(total) : '–'}
      </span>
    </div>
  );
}

export function InstanceBlock(props: { i: UiInstance; dim: boolean; onOpen: (name: string) => void }): preact.JSX.Element {
  const { i } = props;
  const label = `${i.name}: ${phaseLabel(i)}, replica set ${i.replicaSet}${i.restarts > 0 ? `, ${i.restarts} restarts` : ''}`;
  return (
    <button
      type="button"
      class={`block phase-${i.phase}${i.ready ? ' ready' : ''}${props.dim ? ' dim' : ''}`}
      style={{ '--hue': String(replicaSetHue(i.replicaSet)) }}
      data-instance={i.name}
      data-phase={i.phase}
      data-ready={String(i.ready)}
      data-restarts={String(i.restarts)}
      data-pid={i.pid !== undefined ? String(i.pid) : undefined}
      title={label}
      aria-label={label}
      onClick={() => props.onOpen(i.name)}
    >
      <span aria-hidden="true">{PHASE_MARK[i.phase] ?? '?'}</span>
    </button>
  );
}

function HostRow(props: {
  host: UiHost;
  model: ClusterModel;
  top: number;
  height: number;
  highlight: string;
  onOpen: (name: string) => void;
  onCordon: (host: string, cordon: boolean) => void;
}): preact.JSX.Element {
  const { host, model } = props;
  const instances = model.instancesOn(host.name);
  const alloc = model.allocated(host.name);
  const sets = new Map<string, number>();
  for (const i of instances) if (i.phase !== 'Terminating') sets.set(i.replicaSet, (sets.get(i.replicaSet) ?? 0) + 1);
  const state = !host.ready ? 'NotReady' : host.unschedulable ? 'Ready, cordoned' : 'Ready';
  return (
    <div class={`host${host.ready ? '' : ' not-ready'}${host.unschedulable ? ' cordoned' : ''}`} role="listitem" aria-label={`host ${host.name}, ${state}, ${instances.length} instances`} data-host={host.name} style={{ top: `${props.top}px`, height: `${props.height}px` }}>
      <div class="host-info">
        <div class="host-title">
          <strong class="host-name">{host.name}</strong>
          <span class={`badge ${host.ready ? (host.unschedulable ? 'warn' : 'ok') : 'bad'}`}>{state}</span>
          <button type="button" class="small" onClick={() => props.onCordon(host.name, !host.unschedulable)} aria-label={`${host.unschedulable ? 'Uncordon' : 'Cordon'} host ${host.name}`}>
            {host.unschedulable ? 'Uncordon' : 'Cordon'}
          </button>
        </div>
        <Meter label="cpu" used={alloc.cpu} total={host.capacity.cpu} text={cpuText} />
        <Meter label="mem" used={alloc.memory} total={host.capacity.memory} text={memoryText} />
        <div class="host-sets">{sets.size === 0 ? 'no instances' : [...sets].map(([rs, n]) => `${rs} ×${n}`).join(', ')}</div>
      </div>
      <div class="blocks" role="group" aria-label={`instances on ${host.name}`}>
        {instances.map((i) => (
          <InstanceBlock key={i.name} i={i} dim={props.highlight !== '' && i.replicaSet !== props.highlight} onOpen={props.onOpen} />
        ))}
      </div>
    </div>
  );
}

function matches(h: UiHost, filter: string): boolean {
  if (filter === '') return true;
  const f = filter.toLowerCase();
  if (h.name.toLowerCase().includes(f) || h.address.toLowerCase().includes(f)) return true;
  return Object.entries(h.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(f));
}

export function Placement(props: { model: ClusterModel; version: number; onOpen: (name: string) => void; onCordon: (host: string, cordon: boolean) => void }): preact.JSX.Element {
  const { model } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(1000);
  const [viewport, setViewport] = useState({ top: 0, height: 800 });
  const [filter, setFilter] = useState('');
  const [highlight, setHighlight] = useState('');

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = (): void => {
      setWidth(el.clientWidth);
      setViewport({ top: el.scrollTop, height: el.clientHeight });
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const perLine = Math.max(4, Math.floor((width - INFO - 24) / BLOCK));
  const names = model.hostNames().filter((n) => matches(model.hosts.get(n)!, filter));
  // Row offsets: recomputed per render (1,000 hosts: microseconds), so a host gaining a
  // line of blocks moves the rows under it.
  const layout = useMemo(() => {
    const tops: number[] = [];
    const heights: number[] = [];
    let y = 0;
    for (const n of names) {
      const count = model.instancesOn(n).length;
      const h = Math.max(ROW_MIN, ROW_PAD * 2 + Math.max(1, Math.ceil(count / perLine)) * BLOCK);
      tops.push(y);
      heights.push(h);
      y += h;
    }
    return { tops, heights, total: y };
  }, [props.version, perLine, filter, names.length]);

  let first = 0;
  let lo = 0;
  let hi = names.length - 1;
  const from = viewport.top - OVERSCAN;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (layout.tops[mid]! + layout.heights[mid]! < from) lo = mid + 1;
    else hi = mid - 1;
  }
  first = lo;
  const to = viewport.top + viewport.height + OVERSCAN;
  const rows: preact.JSX.Element[] = [];
  for (let k = first; k < names.length && layout.tops[k]! < to; k++) {
    const host = model.hosts.get(names[k]!)!;
    rows.push(<HostRow key={host.name} host={host} model={model} top={layout.tops[k]!} height={layout.heights[k]!} highlight={highlight} onOpen={props.onOpen} onCordon={props.onCordon} />);
  }

  const sets = [...model.replicaSets.keys()].sort();
  let instances = 0;
  const phases = new Map<string, number>();
  for (const i of model.instances.values()) {
    instances++;
    const p = phaseLabel(i);
    phases.set(p, (phases.get(p) ?? 0) + 1);
  }
  useEffect(() => {
    if (model.loaded && !performance.getEntriesByName('flo:first-meaningful-paint').length)
      requestAnimationFrame(() => {
        if (!performance.getEntriesByName('flo:first-meaningful-paint').length) performance.mark('flo:first-meaningful-paint');
      });
  });

  return (
    <section class="placement" aria-labelledby="placement-title">
      <div class="toolbar">
        <h2 id="placement-title">
          Placement <span class="muted">{model.hosts.size} hosts, {instances} instances</span>
        </h2>
        <p class="phases" aria-label="instances by phase">
          {[...phases].sort().map(([p, n]) => (
            <span key={p} class="phase-count">
              {p}: {n}
            </span>
          ))}
        </p>
        <label>
          Filter hosts <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="name or label=value" />
        </label>
        <label>
          Highlight replica set{' '}
          <select value={highlight} onChange={(e) => setHighlight(e.currentTarget.value)}>
            <option value="">all</option>
            {sets.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Legend sets={sets.slice(0, 12)} />
      <div class="hosts-scroll" ref={scroller} onScroll={(e) => setViewport({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight })} tabIndex={-1}>
        <div class="hosts" role="list" aria-label={`hosts (${names.length}${filter ? ' matching' : ''})`} style={{ height: `${layout.total}px` }}>
          {rows}
        </div>
        {names.length === 0 && <p class="empty">{model.hosts.size === 0 ? 'No hosts in the store yet: flo apply -f hosts.yaml' : 'No host matches the filter.'}</p>}
      </div>
    </section>
  );
}

function Legend(props: { sets: string[] }): preact.JSX.Element {
  const phases = ['Running', 'Starting', 'Pending', 'Failed', 'Terminating', 'Unknown'];
  return (
    <div class="legend" aria-label="legend">
      <span class="legend-title">Phase (pattern and mark):</span>
      {phases.map((p) => (
        <span key={p} class="legend-item">
          <span class={`block static phase-${p}${p === 'Running' ? ' ready' : ''}`} style={{ '--hue': '210' }} aria-hidden="true">
            <span>{PHASE_MARK[p]}</span>
          </span>
          {p}
        </span>
      ))}
      <span class="legend-item">
        <span class="block static phase-Running" style={{ '--hue': '210' }} aria-hidden="true">
          <span />
        </span>
        Running, not ready (ringed)
      </span>
      {props.sets.length > 0 && <span class="legend-title">Replica set (colour):</span>}
      {props.sets.map((s) => (
        <span key={s} class="legend-item">
          <span class="swatch" style={{ '--hue': String(replicaSetHue(s)) }} aria-hidden="true" />
          {s}
        </span>
      ))}
    </div>
  );
}
