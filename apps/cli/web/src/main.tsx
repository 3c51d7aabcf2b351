// The dashboard page: a header (store, connection, token), tabs (placement, replica sets,
// services, events) and the instance detail. State comes only from /api/stream.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { UiInfo } from '../../src/ui/protocol.ts';
import { act, connect, getInfo, login } from './api.ts';
import { ClusterModel } from './model.ts';
import { Placement } from './placement.tsx';
import { EventList, InstanceDetail, ReplicaSets, Services } from './views.tsx';
import './style.css';

const TABS = [
  { id: 'placement', label: 'Placement' },
  { id: 'replicasets', label: 'Replica sets' },
  { id: 'services', label: 'Services' },
  { id: 'events', label: 'Events' },
] as const;
type Tab = (typeof TABS)[number]['id'];

function parseHash(): { tab: Tab; instance?: string } {
  const h = location.hash.replace(/^#\/?/, '');
  const m = /^instance\/(.+)$/.exec(h);
  if (m) return { tab: 'placement', instance: decodeURIComponent(m[1]!) };
  const tab = TABS.find((t) => t.id === h)?.id ?? 'placement';
  return { tab };
}

function useModel(model: ClusterModel): number {
  const [version, setVersion] = useState(model.version);
  useEffect(() => {
    let frame = 0;
    const un = model.subscribe(() => {
      if (frame === 0)
        frame = requestAnimationFrame(() => {
          frame = 0;
          setVersion(model.version);
        });
    });
    return () => {
      un();
      cancelAnimationFrame(frame);
    };
  }, [model]);
  return version;
}

function TokenForm(props: { required: boolean; onDone: () => void; onCancel?: () => void }): preact.JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <form
      class="token-form"
      aria-labelledby="token-title"
      onSubmit={(e) => {
        e.preventDefault();
        login(token).then(props.onDone, (err: Error) => setError(err.message));
      }}
    >
      <h2 id="token-title">{props.required ? 'This dashboard needs its token' : 'Token for actions'}</h2>
      <p>The contents of the file given to <code>flo ui --token-file</code>. It is sent once; the server answers with a session cookie.</p>
      <label for="token">Token</label> <input id="token" ref={input} type="password" autoComplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} required />{' '}
      <button type="submit">Sign in</button>
      {props.onCancel && (
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      )}
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </form>
  );
}

function App(): preact.JSX.Element {
  const model = useMemo(() => new ClusterModel(), []);
  const version = useModel(model);
  const [info, setInfo] = useState<UiInfo | undefined>();
  const [infoError, setInfoError] = useState('');
  const [route, setRoute] = useState(parseHash());
  const [askToken, setAskToken] = useState(false);
  const [status, setStatus] = useState<{ text: string; error: boolean } | undefined>();
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});

  const loadInfo = useCallback(() => getInfo().then(setInfo, (e: Error) => setInfoError(e.message)), []);
  useEffect(() => void loadInfo(), [loadInfo]);
  const canView = info !== undefined && (!info.viewNeedsToken || info.authenticated);
  useEffect(() => (canView ? connect(model) : undefined), [canView, model]);
  useEffect(() => {
    const on = (): void => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);

  const run = (p: Promise<string>): void => {
    setStatus({ text: 'working…', error: false });
    p.then(
      (text) => setStatus({ text, error: false }),
      (e: Error) => {
        setStatus({ text: `refused: ${e.message}`, error: true });
        if (info?.actionsNeedToken && !info.authenticated) setAskToken(true);
      },
    );
  };
  const onScale = (name: string, n: number): void => run(act(`replicasets/${encodeURIComponent(name)}/scale`, { replicas: n }));
  const onUndo = (name: string): void => run(act(`replicasets/${encodeURIComponent(name)}/rollout-undo`));
  const onCordon = (host: string, cordon: boolean): void => run(act(`hosts/${encodeURIComponent(host)}/${cordon ? 'cordon' : 'uncordon'}`));
  const openInstance = useCallback((name: string) => (location.hash = `#/instance/${encodeURIComponent(name)}`), []);
  const closeInstance = useCallback(() => (location.hash = '#/placement'), []);

  const selectTab = (tab: Tab): void => {
    location.hash = `#/${tab}`;
  };
  const onTabKey = (e: KeyboardEvent, index: number): void => {
    const next = e.key === 'ArrowRight' ? index + 1 : e.key === 'ArrowLeft' ? index - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : undefined;
    if (next === undefined) return;
    e.preventDefault();
    const t = TABS[(next + TABS.length) % TABS.length]!;
    selectTab(t.id);
    tabRefs.current[t.id]?.focus();
  };

  if (infoError !== '') return <p role="alert" class="error">Cannot reach flo ui: {infoError}</p>;
  if (!info) return <p class="boot">Loading the dashboard…</p>;
  if (!canView)
    return (
      <main id="main" class="center">
        <TokenForm required onDone={() => void loadInfo()} />
      </main>
    );

  const conn = model.connection;
  return (
    <>
      <header class="top">
        <h1>
          Flotilla <span class="muted">flo ui {info.version}</span>
        </h1>
        <span class="store" title="the store">
          {info.store}
        </span>
        <span class={`badge conn-${conn}`} role="status" aria-label={`connection: ${conn}`} data-connection={conn} data-seq={String(model.seq)}>
          {conn === 'live' ? '● live' : conn}
        </span>
        {info.actionsNeedToken && (
          <button type="button" onClick={() => setAskToken(true)}>
            {info.authenticated ? 'Token ✓' : 'Token…'}
          </button>
        )}
      </header>
      {askToken && (
        <div class="token-panel">
          <TokenForm
            required={false}
            onDone={() => {
              setAskToken(false);
              setStatus({ text: 'token accepted: actions enabled', error: false });
              void loadInfo();
            }}
            onCancel={() => setAskToken(false)}
          />
        </div>
      )}
      <nav>
        <div role="tablist" aria-label="views">
          {TABS.map((t, index) => (
            <button
              key={t.id}
              ref={(el) => {
                tabRefs.current[t.id] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={route.tab === t.id}
              aria-controls="main"
              tabIndex={route.tab === t.id ? 0 : -1}
              onClick={() => selectTab(t.id)}
              onKeyDown={(e) => onTabKey(e, index)}
            >
              {t.label}
              {t.id === 'events' && model.events.length > 0 ? ` (${model.events.length})` : ''}
            </button>
          ))}
        </div>
        <p class={status?.error ? 'status error' : 'status'} role="status" aria-live="polite" data-action-status={status?.error ? 'error' : status ? 'ok' : ''}>
          {status?.text ?? ''}
        </p>
      </nav>
      <div class="layout">
        <main id="main" role="tabpanel" aria-labelledby={`tab-${route.tab}`} data-version={String(version)}>
          {!model.loaded ? (
            <p class="boot">Listing the store…</p>
          ) : route.tab === 'placement' ? (
            <Placement model={model} version={version} onOpen={openInstance} onCordon={onCordon} />
          ) : route.tab === 'replicasets' ? (
            <ReplicaSets model={model} onScale={onScale} onUndo={onUndo} />
          ) : route.tab === 'services' ? (
            <Services model={model} />
          ) : (
            <EventList events={model.events} title="Events (live)" id="events-title" />
          )}
        </main>
        {route.instance !== undefined ? (
          <InstanceDetail model={model} name={route.instance} onClose={closeInstance} />
        ) : (
          route.tab === 'placement' && (
            <div class="side">
              <EventList events={model.events} limit={25} title="Latest events" id="side-events" />
            </div>
          )
        )}
      </div>
    </>
  );
}

render(<App />, document.getElementById('app')!);
