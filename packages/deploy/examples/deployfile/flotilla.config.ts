// A deployfile: the tasks `flo` runs, each on every selected host over ssh (or once, here).
// The guide docs/guides/write-a-deployfile.md walks through it (its code blocks are this
// file's regions); test/examples.test.ts runs these tasks through the same runner `flo` uses.

// #region imports
import { task, deployRelease, rollback, serviceStatus, shellQuote, startService, stopService } from '@flotilla/deploy';
// #endregion imports

// #region build
// flo build — runs once, here, in the current directory (not on the hosts)
export const build = task(
  async (c) => {
    await c.run(
      [
        'rm -rf dist && mkdir -p dist',
        `printf '%s\\n' '#!/bin/sh' 'echo "$GREETING from $FLOTILLA_APP"' 'exec sleep 3600' > dist/server.sh`,
        'tar -C dist -czf app.tar.gz .',
      ].join(' && '),
    );
  },
  { once: true, help: 'build app.tar.gz here, once' },
);
// #endregion build

// #region deploy
// flo -R web deploy:web              flo -H web1 deploy:web,greeting=hi
export const deploy = task(
  async (c, app: string, options?: Record<string, string>) => {
    // upload (skipped when the host has it), check, unpack, switch `current` atomically
    const release = await deployRelease(c, { app, artifact: './app.tar.gz' });
    await startService(c, {
      name: app,
      command: 'sh server.sh',
      cwd: release.dir,
      env: { GREETING: options?.greeting ?? 'hello', FLOTILLA_APP: app },
    });
  },
  { help: 'release app.tar.gz as APP and (re)start it; greeting=TEXT' },
);
// #endregion deploy

// #region operate
// flo -R web status:web
export const status = task(async (c, app: string) => {
  const s = await serviceStatus(c, app);
  await c.run(`echo ${shellQuote(`${app}: ${s.running ? `running, pid ${s.pid}` : s.state}, ${s.restarts} restarts`)}`);
});

// flo -H web1 undo:web — `current` back to the release before it (atomically)
export const undo = task(async (c, app: string) => {
  const { from, to } = await rollback(c, app);
  await c.run(`echo ${shellQuote(`${app}: current was ${from ?? 'none'}, is ${to}`)}`);
});

// flo stop:web — with no -H/-R/-l, the hosts of the `hosts` option
export const stop = task(
  async (c, app: string) => {
    await stopService(c, app);
  },
  { hosts: 'role=web', help: 'stop APP on every web host' },
);
// #endregion operate
