// Replica sets, services, events and the instance detail (with its logs).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { UiEvent, UiReplicaSet } from '../../src/ui/protocol.ts';
import { naturalCompare, replicaSetHue, type ClusterModel } from './model.ts';
import { phaseLabel } from './placement.tsx';

function rolloutText(r: UiReplicaSet): string {
  if (r.rollout) return `${r.rollout.state} ${r.rollout.from} → ${r.rollout.to}${r.rollout.message ? ` (${r.rollout.message})` : ''}`;
  if (r.observedGeneration < r.generation) return 'Pending (not observed yet)';
  return r.readyReplicas === r.replicas ? 'Complete' : 'Converging';
}

function ScaleForm(props: { r: UiReplicaSet; onScale: (name: string, n: number) => void }): preact.JSX.Element {
  const [value, setValue] = useState(String(props.r.replicas));
  useEffect(() => setValue(String(props.r.replicas)), [props.r.replicas]);
  const id = `scale-${props.r.name}`;
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        props.onScale(props.r.name, Number(value));
      }}
    >
      <label for={id} class="sr-only">
        Replicas for {props.r.name}
      </label>
      <input id={id} type="number" min={0} max={100000} step={1} required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Scale</button>
    </form>
  );
}

export function ReplicaSets(props: { model: ClusterModel; onScale: (name: string, n: number) => void; onUndo: (name: string) => void }): preact.JSX.Element {
  const list = [...props.model.replicaSets.values()].sort((a, b) => naturalCompare(a.name, b.name));
  return (
    <section aria-labelledby="rs-title">
      <h2 id="rs-title">Replica sets</h2>
      {list.length === 0 ? (
        <p class="empty">No replica sets: flo apply -f app.yaml</p>
      ) : (
        <table>
          <caption class="sr-only">Replica sets with ready and desired replicas, rollout state and template history</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Ready / desired</th>
              <th scope="col">Rollout</th>
              <th scope="col">Template</th>
              <th scope="col">History (oldest first)</th>
              <th scope="col">Selector</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => {
              const previous = r.history.filter((h) => h !== r.templateHash);
              return (
                <tr key={r.name} data-replicaset={r.name}>
                  <th scope="row">
                    <span class="swatch" style={{ '--hue': String(replicaSetHue(r.name)) }} aria-hidden="true" /> {r.name}
                  </th>
                  <td data-ready={`${r.readyReplicas}/${r.replicas}`}>
                    {r.readyReplicas} / {r.replicas}
                  </td>
                  <td>{rolloutText(r)}</td>
                  <td>
                    <code>{r.templateHash ?? '–'}</code>
                  </td>
                  <td>{r.history.length === 0 ? '–' : r.history.map((h) => <code key={h}>{h} </code>)}</td>
                  <td>
                    <code>{r.selector}</code>
                  </td>
                  <td class="actions">
                    <ScaleForm r={r} onScale={props.onScale} />
                    <button type="button" disabled={previous.length === 0} title={previous.length === 0 ? 'no previous template' : `back to template ${previous.at(-1)}`} onClick={() => props.onUndo(r.name)}>
                      Rollout undo
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function Services(props: { model: ClusterModel }): preact.JSX.Element {
  const list = [...props.model.services.values()].sort((a, b) => naturalCompare(a.name, b.name));
  return (
    <section aria-labelledby="svc-title">
      <h2 id="svc-title">Services</h2>
      {list.length === 0 ? (
        <p class="empty">No services.</p>
      ) : (
        <table>
          <caption class="sr-only">Services with their selectors, ports, virtual IPs and endpoints</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Selector</th>
              <th scope="col">Port</th>
              <th scope="col">VIP</th>
              <th scope="col">Endpoints</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.name}>
                <th scope="row">{s.name}</th>
                <td>
                  <code>{s.selector}</code>
                </td>
                <td>{s.port}</td>
                <td>
                  {s.vip ?? '–'}
                  {s.hostnames.length > 0 && <div class="muted">{s.hostnames.join(', ')}</div>}
                </td>
                <td>
                  {s.endpoints.length === 0 ? (
                    'none ready'
                  ) : (
                    <ul class="plain">
                      {s.endpoints.map((e) => (
                        <li key={e.instance}>
                          <code>
                            {e.address}:{e.port}
                          </code>{' '}
                          <a href={`#/instance/${encodeURIComponent(e.instance)}`}>{e.instance}</a>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function time(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

export function EventList(props: { events: UiEvent[]; limit?: number; title: string; id: string }): preact.JSX.Element {
  const shown = props.events.slice(-(props.limit ?? props.events.length)).reverse();
  return (
    <section aria-labelledby={props.id} class="events">
      <h2 id={props.id}>{props.title}</h2>
      {shown.length === 0 ? (
        <p class="empty">No events yet.</p>
      ) : (
        <ol class="event-list" aria-live="polite" aria-relevant="additions">
          {shown.map((e) => (
            <li key={e.name} class={e.type === 'Warning' ? 'warning' : ''}>
              <time dateTime={e.time}>{time(e.time)}</time> <span class={`badge ${e.type === 'Warning' ? 'bad' : 'ok'}`}>{e.type}</span> <strong>{e.reason}</strong>{' '}
              {e.kind === 'Instance' ? <a href={`#/instance/${encodeURIComponent(e.object)}`}>{`instance/${e.object}`}</a> : <span>{`${e.kind.toLowerCase()}/${e.object}`}</span>}: {e.message}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** The instance's log, streamed from /api/instances/NAME/logs?follow=1 (what `flo logs -f` prints). */
function Logs(props: { name: string }): preact.JSX.Element {
  const [text, setText] = useState('');
  const [state, setState] = useState('loading…');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setText('');
    setState('loading…');
    const es = new EventSource(`./api/instances/${encodeURIComponent(props.name)}/logs?follow=1`);
    es.addEventListener('chunk', (e) => {
      const chunk = JSON.parse((e as MessageEvent<string>).data) as string;
      setText((t) => (t + chunk).slice(-200_000));
      setState('following');
    });
    es.addEventListener('end', () => {
      setState('ended');
      es.close();
    });
    es.addEventListener('failed', (e) => {
      setState(`failed: ${(JSON.parse((e as MessageEvent<string>).data) as { message: string }).message}`);
      es.close();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) setState('closed');
    };
    return () => es.close();
  }, [props.name]);
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <div>
      <h3>
        Logs <span class="muted">({state})</span>
      </h3>
      <pre class="logs" ref={pre} tabIndex={0} aria-label={`log of ${props.name}`}>
        {text === '' ? '(no output yet)' : text}
      </pre>
    </div>
  );
}

export function InstanceDetail(props: { model: ClusterModel; name: string; onClose: () => void }): preact.JSX.Element {
  const i = props.model.instances.get(props.name);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [props.name]);
  useEffect(() => {
    const key = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', key);
    return () => window.removeEventListener('keydown', key);
  }, [props.onClose]);
  const events = props.model.events.filter((e) => e.kind === 'Instance' && e.object === props.name);
  return (
    <aside class="detail" role="dialog" aria-modal="false" aria-labelledby="detail-title">
      <div class="detail-head">
        <h2 id="detail-title" tabIndex={-1} ref={heading}>
          instance/{props.name}
        </h2>
        <button type="button" onClick={props.onClose} aria-label="Close the instance detail">
          Close
        </button>
      </div>
      {!i ? (
        <p>This instance is gone from the store (replaced or scaled down).</p>
      ) : (
        <>
          <dl class="facts">
            <dt>Phase</dt>
            <dd data-detail-phase={i.phase}>{phaseLabel(i)}</dd>
            <dt>Replica set</dt>
            <dd>
              <span class="swatch" style={{ '--hue': String(replicaSetHue(i.replicaSet)) }} aria-hidden="true" /> {i.replicaSet}
            </dd>
            <dt>Host</dt>
            <dd>{i.host}</dd>
            <dt>PID</dt>
            <dd>{i.pid ?? '–'}</dd>
            <dt>Restarts</dt>
            <dd>{i.restarts}</dd>
            <dt>Ports</dt>
            <dd>{Object.entries(i.ports).map(([k, v]) => `${k}=${v}`).join(', ') || '–'}</dd>
            <dt>Requests</dt>
            <dd>
              cpu {i.cpu}m, memory {i.memory}Mi
            </dd>
            <dt>Template</dt>
            <dd>
              <code>{i.templateHash}</code>
            </dd>
            <dt>Started</dt>
            <dd>{i.startedAt ?? '–'}</dd>
            {i.message !== undefined && (
              <>
                <dt>Message</dt>
                <dd>{i.message}</dd>
              </>
            )}
          </dl>
          <Logs name={props.name} />
        </>
      )}
      <EventList events={events} title="Events" id="detail-events" />
    </aside>
  );
}
