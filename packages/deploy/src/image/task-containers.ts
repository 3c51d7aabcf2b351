/**
 * Containers from a deployfile: `await c.runContainer({ image: './web.oci.tar', name, ports })`
 * on a task's {@link Connection}. An image given as a reference (`oci-archive:`, `oci:`,
 * `docker-archive:` or a bare path, relative to the current directory) is read once per run
 * into a local content store — `store`, else `$FLOTILLA_IMAGES`, else `~/.flotilla/images` —
 * and every host of the run gets it from there.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Connection } from '../connection.js';
import { containerStatuses, execInContainer, runContainer, stopContainer, type ContainerOptions, type ContainerStatus } from './container.js';
import { FileContentStore } from './content-store.js';
import type { PushResult } from './distribute.js';
import { loadImage, type Image } from './load.js';

/** {@link ContainerOptions} with the image as a reference, and the store optional. */
export interface TaskContainerOptions extends Omit<ContainerOptions, 'image' | 'store'> {
  /** An image reference (`./web.oci.tar`, `oci-archive:…`, `oci:dir[:tag]`, `docker-archive:…`) or an {@link Image}. */
  image: string | Image;
  /** The local content store, or its directory. @default $FLOTILLA_IMAGES, else ~/.flotilla/images */
  store?: FileContentStore | string;
}

const loads = new Map<string, Promise<Image>>();

function storeOf(s: FileContentStore | string | undefined): FileContentStore {
  if (s instanceof FileContentStore) return s;
  return new FileContentStore(resolve(s ?? process.env.FLOTILLA_IMAGES ?? join(homedir(), '.flotilla/images')));
}

/** Loads (once per process, store and reference) and runs; see {@link runContainer}. */
export async function runContainerTask(c: Connection, o: TaskContainerOptions): Promise<ContainerStatus & { push: PushResult }> {
  const store = storeOf(o.store);
  let image: Image;
  if (typeof o.image === 'string') {
    const key = `${store.root}\0${process.cwd()}\0${o.image}`;
    let p = loads.get(key);
    if (!p) {
      p = loadImage(o.image, { store });
      loads.set(key, p);
      p.catch(() => loads.delete(key));
    }
    image = await p;
  } else image = o.image;
  return runContainer(c, { ...o, image, store });
}

export { containerStatuses, execInContainer, stopContainer };
