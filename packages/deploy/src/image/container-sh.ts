/**
 * The sh side of the container runtime: the container's supervisor (`flotilla-ctr-supervise`,
 * which runs `runc run` itself — no wrapper, no second sh) and the functions each container
 * call sends to the host (status, halt, stop, launch). Hosts need sh and coreutils for these;
 * the bundle itself is made by sh from the image's top snapshot, or by the host program
 * (`host-main.ts`) when the snapshot is not there yet.
 *
 * A container's directory, `~/.flotilla/containers/<name>/`:
 * - `meta.json`: image digest, signer, ports, rootless, limitsEnforced, options hash, chain IDs
 * - `run.env`: sh assignments — `rt` (the runtime command, `sudo -n /usr/sbin/runc` when
 *   rootful through sudo), `root` (runc's `--root`), `name`, `cgpath` (rootful cgroup path),
 *   `kmsg` (how to read the kernel log), `mode` (root | sudo | rootless), `grace`, `policy`,
 *   `logmax` (the log's rotation size, see the supervisor),
 *   `lower` (the top snapshot, when the rootfs is an overlay of it), `userns` (1: rootless, the
 *   supervisor and runc run as root of a user namespace of their own, see CONTAINER_SUPERVISOR_SCRIPT),
 *   `rtmount` (1: the overlay is config.json's first mount, made by runc in the container's namespace)
 * - `bundle/` (`config.json`, `rootfs/`); with `lower` set in run.env (as root, or rootless with
 *   `userns`), `rootfs/` is an overlay of that snapshot with `upper/` and `work/` beside it,
 *   mounted by the supervisor (rootless: in its own mount namespace, for as long as it runs)
 * - `rtpid` (userns): the supervisor's pid, whose user namespace `runc exec` enters
 * - the supervisor's files: `supervisor.pid`, `pid` (runc's, during a run), `log`, `restarts`, `state`
 * - `exit`: `<status> <reason>` of the last run (reason OOMKilled | Error | Completed)
 * - `initpid`: the container's first process (runc's `--pid-file`), written once it runs
 */

/**
 * `flotilla-ctr-supervise DIR`: the container's supervisor, one sh process for its whole life.
 * It runs the container in the foreground (`runc run`, its own child, no wrapper between), so it
 * sees each run end and applies the restart policy (`policy` in run.env: always | on-failure |
 * never; backoff 1 s doubling to 30 s, back to 1 s after a run of 30 s or more), appends the
 * output to `log` (rotated to `log.1` past `logmax` bytes by a helper that checks every 2 s),
 * and writes `supervisor.pid`, `pid` (runc's, while a run lasts), `state` (running | backoff |
 * exited | stopped), `restarts`, `exit` and `initpid` (runc's `--pid-file`).
 *
 * SIGTERM: `runc kill <id> TERM` (the container's init gets it), `runc kill <id> KILL` after the
 * grace period (`stop-grace`, written by the stop, else `grace`; 0: KILL at once, no TERM), then
 * `stopped`. An OOM kill is recognised in the kernel log: rootful containers get the cgroup
 * `cgpath`, which the kernel names (`task_memcg=<cgpath>,`) when its OOM killer kills a process there; one more such line after the run than before means OOMKilled. (The
 * memory cgroup's own `oom_kill` counter is gone by then: runc removes the cgroup on exit.)
 *
 * Rootless with `userns` (run.env), the launcher starts this script as root of a user and mount
 * namespace of its own (`unshare --user --map-root-user --mount`, the host user mapped to root):
 * it mounts the rootfs there, an overlay of the image's top snapshot (unprivileged overlayfs,
 * Linux >= 5.11; gone with the namespace when the supervisor ends), and runc runs in it, the
 * container's own user namespace nesting inside; `rtpid` names the supervisor, whose user
 * namespace `runc exec` enters (see ctr_exec). Where the mount fails, a copy of the snapshot
 * (kept across runs). Rootful as root: the overlay is mounted in the host's namespace once and
 * kept across restarts (ctr_stop unmounts it); where it fails, a copy.
 *
 * fd 8, when the launch opened it, is the write end of the container directory's `started`
 * fifo: held (never written) until the first run has ended (before the backoff, or at the exit
 * of the supervisor), so a launch still waiting then reads its end; runc and the rotator do not get it.
 *
 * Every process here is time a start waits for: the files are written by builtins (no `mv`),
 * the clock is /proc/uptime (no `date`), the rotator is started after the first run.
 */
import { RESTART_BACKOFF_SH } from '../runtime.js';

export const CONTAINER_SUPERVISOR_SCRIPT = `#!/bin/sh
# flotilla-ctr-supervise DIR
dir=$1
. "$dir/run.env" || exit 125
logmax=\${logmax:-10485760}; grace=\${grace:-10}
child=; sleeper=; rotator=; stopping=0; restarts=0; delay=1; mounted=
printf '%s\\n' "$$" > "$dir/supervisor.pid"
[ "$userns" = 1 ] && printf '%s\\n' "$$" > "$dir/rtpid"
echo 0 > "$dir/restarts"
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
oomcount() {
  if [ -z "$cgpath" ] || [ -z "$kmsg" ]; then echo 0; return; fi
  $kmsg 2>/dev/null | grep -c "task_memcg=$cgpath,"
}
rootfs() {
  # rtmount: runc mounts the overlay itself (the first mount of config.json)
  [ -n "$lower" ] && [ "$rtmount" != 1 ] || return 0
  if [ "$userns" = 1 ]; then
    [ -z "$mounted" ] || return 0
    if [ -e "$dir/.rootfs-copied" ] || mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/bundle/rootfs" 2>/dev/null \\
      || { cp -a "$lower/." "$dir/bundle/rootfs/" && : > "$dir/.rootfs-copied"; }; then mounted=1; return 0; fi
  elif [ ! -e "$dir/.rootfs-ready" ]; then
    if mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/bundle/rootfs" 2>/dev/null \\
      || cp -a --reflink=auto "$lower/." "$dir/bundle/rootfs/"; then : > "$dir/.rootfs-ready"; return 0; fi
  elif [ -e "$dir/upper" ] && ! grep -q " $dir/bundle/rootfs overlay " /proc/mounts && [ -z "$(ls -A "$dir/bundle/rootfs")" ]; then
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/bundle/rootfs" && return 0
  else return 0
  fi
  echo "flotilla: could not mount or copy the rootfs from $lower" >> "$dir/log"
  return 1
}
finish() {
  [ -n "$rotator" ] && kill "$rotator" 2>/dev/null
  rm -f "$dir/pid" "$dir/supervisor.pid"
  echo "$1" > "$dir/state"
  exit 0
}
stop() {
  stopping=1
  [ -n "$rotator" ] && kill "$rotator" 2>/dev/null; rotator=
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  # This stop's grace period (ctr_halt writes it: a stop may override run.env's); 0: SIGKILL at once.
  g=$grace; [ ! -f "$dir/stop-grace" ] || read -r g < "$dir/stop-grace" || g=$grace
  [ "$g" -ge 0 ] 2>/dev/null || g=$grace
  if alive "$child"; then
    if [ "$g" -gt 0 ]; then
      $rt --root "$root" kill "$name" TERM >/dev/null 2>&1
      i=0
      while alive "$child" && [ "$i" -lt $((g * 10)) ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
      if alive "$child"; then echo "flotilla-supervise: $name still running after \${g}s; sending SIGKILL" >> "$dir/log"; fi
    fi
    if alive "$child"; then $rt --root "$root" kill "$name" KILL >/dev/null 2>&1; fi
    wait "$child" 2>/dev/null; st=$?
    reason=Error; [ "$st" = 0 ] && reason=Completed
    printf '%s %s\\n' "$st" "$reason" > "$dir/exit"
  fi
  finish stopped
}
trap stop TERM INT
trap '' HUP
while :; do
  read -r started _ < /proc/uptime; started=\${started%.*}
  # A container left by a run that was killed (runc's state dir for it exists; under sudo it cannot be seen).
  if [ "$mode" = sudo ] || [ -e "$root/$name" ]; then $rt --root "$root" delete --force "$name" >/dev/null 2>&1; fi
  [ ! -e "$dir/initpid" ] || rm -f "$dir/initpid"
  if ! rootfs; then printf '125 Error\\n' > "$dir/exit"; finish exited; fi
  before=0; [ -z "$cgpath" ] || [ -z "$kmsg" ] || before=$(oomcount)
  $rt --root "$root" run --pid-file "$dir/initpid" --bundle "$dir/bundle" "$name" </dev/null >> "$dir/log" 2>&1 8>&- &
  child=$!
  printf '%s\\n' "$child" > "$dir/pid"
  echo running > "$dir/state"
  if [ -z "$rotator" ] && [ "$logmax" -gt 0 ] 2>/dev/null; then
    ( trap - TERM INT; while kill -0 $$ 2>/dev/null; do
        sleep 2 2>/dev/null || sleep 1
        # Measured only when written since the last look (-nt is a test builtin): a quiet
        # container's rotator starts one process per check (sleep), not three.
        [ ! -e "$dir/.log-seen" ] || [ "$dir/log" -nt "$dir/.log-seen" ] || continue
        : > "$dir/.log-seen"
        n=$(wc -c < "$dir/log" 2>/dev/null) || continue
        if [ "$n" -gt "$logmax" ]; then cp "$dir/log" "$dir/log.1" && : > "$dir/log"; fi
      done ) </dev/null >/dev/null 2>&1 8>&- &
    rotator=$!; printf '%s\\n' "$rotator" > "$dir/rotator.pid"
  fi
  wait "$child"; st=$?
  while alive "$child" && [ "$stopping" = 0 ]; do wait "$child"; st=$?; done
  child=
  after=0; [ -z "$cgpath" ] || [ -z "$kmsg" ] || after=$(oomcount)
  reason=Error
  [ "$st" = 0 ] && reason=Completed
  [ "$after" -gt "$before" ] 2>/dev/null && reason=OOMKilled
  printf '%s %s\\n' "$st" "$reason" > "$dir/exit.tmp" && mv -f "$dir/exit.tmp" "$dir/exit"
  echo "flotilla-supervise: command exited with status $st" >> "$dir/log"
  case "$policy" in
    never) break ;;
    on-failure) [ "$st" -eq 0 ] && break ;;
  esac
  read -r now _ < /proc/uptime; [ $(( \${now%.*} - started )) -ge 30 ] && delay=1
  # The launch's fifo (fd 8, first run only): closed once the run has ended, so a launch still
  # waiting (the run ended before the container's process started) reads its end (and status
  # waits for the backoff state written next).
  exec 8>&-
${RESTART_BACKOFF_SH}done
finish exited
`;

/**
 * sh functions every container call starts with. `$C` is the containers directory.
 * - `ctr_status NAME [PID]`: a block `@@ NAME`, then `meta`, `sup`, `sstate`, `restarts`, `exit`, and `init` or `runc` lines
 *   (PID: the container's first process as the launch learnt it, before runc's pid file is written)
 * - `ctr_halt NAME GRACE`: stops the supervisor and the container (SIGTERM, SIGKILL after GRACE s), keeps the directory
 * - `ctr_stop NAME GRACE`: halts, then removes the directory (bundle and rootfs)
 * - `ctr_launch NAME SUPERVISOR`: starts the supervisor and waits until the container runs or has exited
 *   (with `started=1` in run.env, for the poststart hook's word through the `started` fifo; else polling runc's pid file)
 * - `ctr_running NAME`: whether its supervisor lives and the container runs
 * - `ctr_lock NAME`: serialises changes to one container (flock, else a lock directory)
 * - `ctr_exec NAME ARG...`: `runc exec` in the running container (status 125 when it is not running)
 */
export const CONTAINER_SH_LIB = `
C="$HOME/.flotilla/containers"
ctr_runc_status() { $rt --root "$root" state "$name" 2>/dev/null | tr -d '\\n' | sed -n 's/.*"status": *"\\([a-z]*\\)".*/\\1/p'; }
# ctr_rd VAR FILE: VAR = the first line of FILE, empty when there is none (a builtin: no process)
ctr_rd() { eval "$1="; read -r "$1" 2>/dev/null < "$2" || :; }
# ctr_alive PID: the process lives. A zombie does not: a supervisor that has exited stays one
# until its new parent (init, or a subreaper) reaps it, which some inits do only now and then.
ctr_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  ctr_rd _st "/proc/$1/stat"; _st=\${_st##*) }
  case $_st in Z*|X*) return 1 ;; esac
}
ctr_status() {
  # No subshell (its variables are its own: d i w sp ss ip r x m); run.env is read only where
  # the runtime is asked, inside the command substitution's own process.
  d="$C/$1"
  echo "@@ $1"
  [ -f "$d/meta.json" ] || return 0
  ctr_rd m "$d/meta.json"; printf 'meta %s\\n' "$m"
  # Between runs (the wrapper alive, the container not running yet or no longer), wait a
  # moment for the runtime's state or the exit record, rather than report half of a change.
  i=0
  while [ $i -lt 50 ]; do
    ctr_rd w "$d/pid"
    if ! ctr_alive "$w"; then
      # The run ended: while its supervisor lives and still says running, it is about to
      # record a restart (backoff) or the end (exited); wait for that.
      ctr_rd sp "$d/supervisor.pid"; ctr_rd ss "$d/state"
      ctr_alive "$sp" && [ "$ss" = running ] || break
      sleep 0.05 2>/dev/null || sleep 1; i=$((i + 1)); continue
    fi
    ctr_rd ip "$d/initpid"; [ -n "$ip" ] || ip=$2
    [ -n "$ip" ] && [ -d "/proc/$ip" ] && break
    case "$(. "$d/run.env" 2>/dev/null; ctr_runc_status)" in running|paused) break ;; esac
    sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1))
  done
  ctr_rd sp "$d/supervisor.pid"; ctr_rd ss "$d/state"; ctr_rd r "$d/restarts"; ctr_rd x "$d/exit"; ctr_rd ip "$d/initpid"; [ -n "$ip" ] || ip=$2
  if ctr_alive "$sp"; then echo "sup 1"; else echo "sup 0"; fi
  printf 'sstate %s\\nrestarts %s\\nexit %s\\n' "$ss" "$r" "$x"
  # The pid runc wrote when the container's process started (or the launch learnt from the
  # poststart hook), while that process lives (no runtime call needed then); otherwise ask the runtime.
  if [ -n "$ip" ] && [ -d "/proc/$ip" ] && [ -n "$sp" ] && [ "$ss" = running ]; then printf 'init %s\\n' "$ip"
  else printf 'runc %s\\n' "$(. "$d/run.env" 2>/dev/null; $rt --root "$root" state "$name" 2>/dev/null | tr -d '\\n')"; fi
}
ctr_halt() {
  # The supervisor stops the container (SIGTERM, SIGKILL after the grace period, or at once
  # with 0: one runtime call) and exits; this waits for that, woken every 20 ms at first, then
  # 100 ms, and kills a supervisor that has not exited 2 s after the grace period. The runtime's
  # delete only when the container's state is left (the supervisor's runc run deletes it itself).
  d="$C/$1"
  [ -f "$d/run.env" ] || return 0
  ( . "$d/run.env"
    g=$2; [ -n "$g" ] || g=$grace
    ctr_rd sp "$d/supervisor.pid"
    if [ -n "$sp" ] && printf '%s\n' "$g" > "$d/stop-grace" && kill -TERM "$sp" 2>/dev/null; then
      t=0
      while ctr_alive "$sp" && [ $t -lt $(((g + 2) * 100)) ]; do
        if [ $t -lt 20 ]; then sleep 0.02 2>/dev/null || sleep 1; t=$((t + 2)); else sleep 0.1 2>/dev/null || sleep 1; t=$((t + 10)); fi
      done
      if ctr_alive "$sp"; then
        $rt --root "$root" kill "$name" KILL >/dev/null 2>&1
        kill -KILL "$sp" $(cat "$d/pid" "$d/rotator.pid" 2>/dev/null) 2>/dev/null
        echo "flotilla: $name still running after \${g}s; sent SIGKILL" >> "$d/log"
      fi
    fi
    if [ "$mode" = sudo ] || [ -e "$root/$name" ]; then $rt --root "$root" delete --force "$name" >/dev/null 2>&1; fi
    rm -f "$d/supervisor.pid" "$d/pid" "$d/rotator.pid"
    echo stopped > "$d/state" )
}
ctr_stop() {
  d="$C/$1"
  [ -e "$d" ] || return 0
  ctr_halt "$1" "$2"
  # runc's state directory for this user, when no container is left in it; an overlay rootfs
  # (rootless, the overlay went with runc's namespace; its work/ may hold a mode-000 directory)
  ( . "$d/run.env" 2>/dev/null && [ -n "$root" ] && rmdir "$root" 2>/dev/null
    [ -n "$lower" ] && [ "$userns" != 1 ] && umount "$d/bundle/rootfs" 2>/dev/null
    [ -d "$d/work" ] && chmod -R u+rwx "$d/work" 2>/dev/null )
  mode=; [ ! -f "$d/run.env" ] || while read -r l; do case $l in mode=*) mode=\${l#mode=}; mode=\${mode#\\'}; mode=\${mode%\\'} ;; esac; done < "$d/run.env"
  rm -rf "$d" 2>/dev/null || { [ "$mode" = sudo ] && sudo -n rm -rf "$d"; }
  if [ -e "$d" ]; then echo "flotilla: could not remove $d (files the container created as root?)" >&2; return 1; fi
}
ctr_lock() {
  # One change at a time per container name (run, stop, restart), held until this shell exits.
  [ -d "$C/.locks" ] || mkdir -p "$C/.locks" || return 1
  if command -v flock >/dev/null 2>&1; then exec 9>"$C/.locks/$1" && flock 9; return; fi
  i=0
  until mkdir "$C/.locks/$1.d" 2>/dev/null; do [ $i -ge 1200 ] && break; sleep 0.05 2>/dev/null || sleep 1; i=$((i + 1)); done
  trap 'rmdir "$C/.locks/$1.d" 2>/dev/null' EXIT
}
ctr_running() {
  # ctr_running NAME: its supervisor lives and the container runs
  ( d="$C/$1"; . "$d/run.env" 2>/dev/null || exit 1
    sp=$(cat "$d/supervisor.pid" 2>/dev/null); ctr_alive "$sp" || exit 1
    ip=$(cat "$d/initpid" 2>/dev/null); [ -n "$ip" ] && [ -d "/proc/$ip" ] && exit 0
    [ "$(ctr_runc_status)" = running ] )
}
ctr_exec() {
  # ctr_exec NAME ARG...: runs ARG... inside the running container (runc exec)
  d="$C/$1"; shift
  [ -f "$d/run.env" ] || return 125
  . "$d/run.env"
  [ "$(ctr_runc_status)" = running ] || return 125
  if [ "$userns" = 1 ]; then exec nsenter --user --preserve-credentials -t "$(cat "$d/rtpid")" $rt --root "$root" exec "$name" "$@"; fi
  exec $rt --root "$root" exec "$name" "$@"
}
ctr_launch() {
  # In the calling shell, not a subshell (every process, a fork too, is time a start waits
  # for): the launch is the last thing a script does, and run.env's names are its own.
  d="$C/$1"
  . "$d/run.env" || return 1
  # What a previous run left (a restart after a halt): the wait below must see this run's files.
  if [ -e "$d/exit" ] || [ -e "$d/supervisor.pid" ] || [ -e "$d/pid" ] || [ -e "$d/initpid" ] || [ -e "$d/stop-grace" ]; then rm -f "$d/exit" "$d/supervisor.pid" "$d/pid" "$d/initpid" "$d/stop-grace"; fi
  # A session of its own (no hangup when this one ends); rootless with userns, in a user and
  # mount namespace of its own (see the supervisor). Each exec-s the next: no extra process.
  if command -v setsid >/dev/null 2>&1; then s=setsid; else s=nohup; fi
  if [ "$userns" = 1 ]; then ns="unshare --user --map-root-user --mount"; else ns=; fi
  cd "$d" || return 1
  ip=
  if [ "$started" = 1 ] && { [ -p "$d/started" ] || mkfifo -m 600 "$d/started" 2>/dev/null; }; then
    # Woken, not polling: config.json's poststart hook (STARTED_HOOK_SCRIPT) writes the
    # container's pid into the fifo once it runs; the supervisor holds the fifo's write end
    # (fd 8) until its first run ends, so a run that ends before (or a supervisor that dies)
    # gives end of file here instead.
    $s $ns sh "$2" "$d" >/dev/null 2>&1 </dev/null 9>&- 8>"$d/started" &
    read -r ip < "$d/started" || :
  else
    $s $ns sh "$2" "$d" >/dev/null 2>&1 </dev/null 9>&- &
    # runc writes --pid-file once the container's process runs; or the run has ended already.
    i=0
    while [ $i -lt 6000 ]; do
      [ -s "$d/initpid" ] && break
      if [ -s "$d/exit" ]; then ctr_rd ss "$d/state"; [ "$ss" != running ] && break; fi
      ctr_rd sp "$d/supervisor.pid"
      if [ -n "$sp" ] && ! ctr_alive "$sp"; then break; fi
      sleep 0.01 2>/dev/null || sleep 1; i=$((i + 1))
    done
  fi
  case $ip in *[!0-9]*) ip= ;; esac
  ctr_status "$1" "$ip"
}
`;

/**
 * `sh -c STARTED_HOOK_SCRIPT FIFO`: the container's `poststart` hook (config.json), run by the
 * runtime once the container's process has started: reads the state the runtime gives on stdin,
 * and writes the container's pid (as the host sees it) into the `started` fifo, opened
 * read-write so that it never blocks: a launch waiting there wakes at once (no polling); after a
 * restart by the supervisor, nobody reads and the line goes with the pipe. Always exits 0 (a
 * failing poststart hook would make the runtime kill the container).
 */
export const STARTED_HOOK_SCRIPT = `s=; read -r s || :
p=\${s#*'"pid":'}; p=\${p#"\${p%%[! ]*}"}; p=\${p%%[!0-9]*}
{ printf '%s\\n' "$p" 1<>"$0"; } 2>/dev/null
exit 0
`;

/**
 * `sh -c OWNERS_HOOK_SCRIPT flotilla-owners DIR`: the `createRuntime` hook of a container run
 * rootful through sudo. The host program unpacked its layers as the host user, so every file of
 * the rootfs copy is the user's; the runtime runs this hook as root, before the container's
 * process starts, and it gives the rootfs the owners the layers say: everything root's, then
 * each line of `DIR/owners` (`uid gid mode path`, see `ownerLine`; later lines win) — chown
 * (never following a symlink: `-h`, and no path through one: each parent must be a real
 * directory, so an image's symlink cannot point a root chown at the host's files), then chmod
 * (chown clears set-id bits). Once per container directory (`.owners-applied`).
 */
export const OWNERS_HOOK_SCRIPT = `d=$1; r="$d/bundle/rootfs"
[ -f "$d/owners" ] || exit 0
[ -e "$d/.owners-applied" ] && exit 0
[ -d "$r" ] && [ ! -L "$r" ] || exit 1
chown -hR 0:0 "$r" || exit 1
while read -r u g m p; do
  f=$(printf '%b' "$p") || continue
  [ -n "$f" ] || continue
  x=$r; rest=$f; ok=1
  while :; do
    case $rest in */*) ;; *) break ;; esac
    x="$x/\${rest%%/*}"; rest=\${rest#*/}
    if [ -L "$x" ] || [ ! -d "$x" ]; then ok=0; break; fi
  done
  [ $ok = 1 ] || continue
  t="$r/$f"
  [ -e "$t" ] || [ -L "$t" ] || continue
  chown -h "$u:$g" "$t" 2>/dev/null
  [ "$m" = l ] || [ -L "$t" ] || chmod "$m" "$t" 2>/dev/null
done < "$d/owners"
: > "$d/.owners-applied"
`;
