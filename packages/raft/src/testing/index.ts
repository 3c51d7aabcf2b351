/**
 * @flotilla/raft/testing — the simulator, the linearizability checker and an instant
 * in-process cluster, shipped with the library (as etcd-io/raft ships rafttest).
 */
export { InstantCluster } from './cluster.js';
export type { ClusterMember, InstantClusterOptions } from './cluster.js';
export { Simulation, SimulationFailure, runSimulation, randomSimulationOptions } from './simulation.js';
export type { SimulationOptions, SimulationResult } from './simulation.js';
export { checkLinearizable, checkPartition, registerModel } from './linearizability.js';
export type { Operation, Model, LinearizabilityResult, CheckOptions } from './linearizability.js';
export { freePort, freePorts, isAddressInUse, withFreePorts } from './net.js';
export type { WithFreePortsOptions } from './net.js';
