/**
 * Content-addressed artifacts on a host: what `flo apply`'s instances run from. An artifact
 * is uploaded once per host to `~/.flotilla/artifacts/incoming/<sha256>` (skipped when the
 * host has it), its checksum and — where the host has `~/.flotilla/allowed_signers` — its
 * signature checked ({@link VERIFY_SNIPPET}), then unpacked once into
 * `~/.flotilla/artifacts/releases/<sha256>/` (a tarball, gzipped or not; any other file is
 * copied there as an executable `artifact`) through a temporary directory and a rename. A
 * `{url, sha256}` artifact is downloaded by the host itself (curl or wget), with its `.sig`.
 */
import { access } from 'node:fs/promises';
import type { Connection } from './connection.js';
import { shellQuote } from './quote.js';
import { VERIFY_SNIPPET } from './signing.js';

/** An artifact to install: a local file (with its sha256) or a URL the host downloads. */
export type HostArtifact = { path: string; sha256: string } | { url: string; sha256: string };

const ARTIFACTS = '"$HOME"/.flotilla/artifacts';

/** Where an installed artifact is unpacked, relative to the login directory (a service's `cwd`). */
export function artifactReleaseDir(sha256: string): string {
  return `.flotilla/artifacts/releases/${sha256}`;
}

const INSTALL = (sha: string): string => `set -e
base=${ARTIFACTS}; sha=${shellQuote(sha)}; f="$base/incoming/$sha"
[ -d "$base/releases/$sha" ] && exit 0
actual=$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -d' ' -f1)
if [ "$actual" != "$sha" ]; then echo "artifact checksum mismatch: expected $sha, got $actual" >&2; rm -f "$f"; exit 3; fi
art="$f"
${VERIFY_SNIPPET}
mkdir -p "$base/releases"; tmp="$base/releases/.tmp-$sha-$$"; rm -rf "$tmp"; mkdir -p "$tmp"
if tar -tzf "$f" >/dev/null 2>&1; then tar -C "$tmp" -xzf "$f"
elif tar -tf "$f" >/dev/null 2>&1; then tar -C "$tmp" -xf "$f"
else cp "$f" "$tmp/artifact"; chmod +x "$tmp/artifact"; fi
mv "$tmp" "$base/releases/$sha" 2>/dev/null || rm -rf "$tmp"
`;

const DOWNLOAD = (url: string, sha: string): string => `set -e
base=${ARTIFACTS}; mkdir -p "$base/incoming"; f="$base/incoming/${sha}"
[ -d "$base/releases/${sha}" ] && exit 0
if [ ! -f "$f" ]; then
  if command -v curl >/dev/null 2>&1; then curl -fsSL ${shellQuote(url)} -o "$f.tmp"; else wget -q -O "$f.tmp" ${shellQuote(url)}; fi
  mv -f "$f.tmp" "$f"
  if [ -f "$HOME/.flotilla/allowed_signers" ]; then
    if command -v curl >/dev/null 2>&1; then curl -fsSL ${shellQuote(`${url}.sig`)} -o "$f.sig" || rm -f "$f.sig"; else wget -q -O "$f.sig" ${shellQuote(`${url}.sig`)} || rm -f "$f.sig"; fi
  fi
fi
`;

/**
 * Installs an artifact on the host (once: an installed one is not uploaded again) and returns
 * its release directory ({@link artifactReleaseDir}). A signature beside a local artifact
 * (`<path>.sig`, from `flo sign`) travels with it. Throws a `CommandFailedError` when the
 * checksum or the signature is refused.
 */
export async function installArtifact(c: Connection, artifact: HostArtifact, options: { signal?: AbortSignal } = {}): Promise<string> {
  const { signal } = options;
  const opts = { hide: true, ...(signal ? { signal } : {}) };
  const done = await c.run(`[ -d ${ARTIFACTS}/releases/${shellQuote(artifact.sha256)} ]`, { ...opts, warn: true });
  if (done.exitCode === 0) return artifactReleaseDir(artifact.sha256);
  if ('url' in artifact) {
    await c.run(DOWNLOAD(artifact.url, artifact.sha256), opts);
  } else {
    await c.run(`mkdir -p ${ARTIFACTS}/incoming`, opts);
    await c.put(artifact.path, `.flotilla/artifacts/incoming/${artifact.sha256}`, { mode: 0o644, ...(signal ? { signal } : {}) });
    // a signature beside the artifact (`flo sign`) travels with it; hosts with allowed_signers require one
    const signed = await access(`${artifact.path}.sig`).then(
      () => true,
      () => false,
    );
    if (signed) await c.put(`${artifact.path}.sig`, `.flotilla/artifacts/incoming/${artifact.sha256}.sig`, { mode: 0o644, ...(signal ? { signal } : {}) });
    else await c.run(`rm -f ${ARTIFACTS}/incoming/${shellQuote(artifact.sha256)}.sig`, opts);
  }
  await c.run(INSTALL(artifact.sha256), opts);
  return artifactReleaseDir(artifact.sha256);
}
