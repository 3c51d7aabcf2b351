/**
 * `@flotilla/cluster/demo`: what `flo demo` runs — a sample app (a tiny HTTP server, as an
 * artifact or as an OCI image built on the spot), local demo hosts, and the scripted tour. Apart
 * from the front door: a library user's cluster has no need of it, and tests and guides that
 * want the sample app import it from here.
 *
 * @packageDocumentation
 */
export { SAMPLE_SERVER_JS, writeSampleArtifact } from './sample-app.js';
export { buildSampleImage } from './sample-image.js';
export type { SampleImageOptions } from './sample-image.js';
export { runDemo, localDemoHosts } from './demo.js';
export type { DemoOptions } from './demo.js';
export { runNetworkDemo, networkDemoNetwork, NETWORK_DEMO_SERVICES } from './network-demo.js';
export type { NetworkDemoOptions, NetworkDemoRanges } from './network-demo.js';
