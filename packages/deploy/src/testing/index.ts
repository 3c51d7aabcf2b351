/**
 * Test kits for @flotilla/deploy: a fleet of real sshd hosts on loopback addresses.
 */
export { startFleet, fleetAvailability, NETNS_NET } from './fleet.js';
export type { Fleet, FleetHost, FleetOptions, FrozenSshd } from './fleet.js';
