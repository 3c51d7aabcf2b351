/**
 * `@flotilla/deploy/network`: the host side of Flotilla's networking, over any
 * `Connection` (ssh, or the local transport): which tools a host has, host-gw routes
 * between pod subnets, service virtual IPs as kernel DNAT rules (nftables or iptables), and
 * IPv4/CIDR helpers. A sub-path of its own so that commands which do not network never load it.
 */
export { detectNetworkTools, parseNetworkTools, assertNetworkTools, CNI_PLUGINS, DEFAULT_CNI_BIN_DIR } from './tools.js';
export type { NetworkTools, DetectNetworkToolsOptions, CniPluginName } from './tools.js';
export { syncRoutes, syncRoutesScript, parseRoutes, diffRoutes, subnetAddress, ROUTE_PROTO } from './routes.js';
export type { PodRoute, SyncRoutesOptions, SyncRoutesResult } from './routes.js';
export {
  applyServiceRules,
  removeServiceRules,
  readServiceRules,
  planServiceRules,
  renderNftRules,
  renderNftRemoval,
  renderIptablesRules,
  iptablesApplyScript,
  NFT_TABLE,
  IPTABLES_PREFIX,
  MASQ_MARK,
} from './service-rules.js';
export type { ServiceVip, ServiceEndpoint, ServiceRulesInput, ApplyServiceRulesOptions, IptablesRules } from './service-rules.js';
export { parseIPv4, formatIPv4, isIPv4, parseCidr, formatCidr, cidrContains, cidrsOverlap, cidrAddress, cidrSize } from './ip.js';
export type { Cidr } from './ip.js';
export { runPrivileged, NOT_PRIVILEGED } from './privileged.js';
export { cniAdd, cniDel, cniCheck, cniAddScript, cniDelScript, cniCheckScript, pluginInputs, podNetworkConfig, CniError, isCniError, HOME_TOKEN } from './cni.js';
export type { CniNetworkConfig, CniResult, CniAttachment, PodNetworkConfigOptions } from './cni.js';
export { attachPodNetwork, detachPodNetwork, checkPodNetwork, podNetnsPath, podResolvConf, bridgeWithFixedAddress } from './pod-network.js';
export type { PodNetworkOptions, PodAttachment } from './pod-network.js';
