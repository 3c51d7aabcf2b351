/**
 * What to do about a store error a person cannot act on alone: a refused token, a plain-http
 * request to an https member, a certificate that is not trusted. Appended to the one-line error.
 */

/** A hint for `message` (an error from a store or `flo kv`), or `''`. */
export function storeErrorHint(message: string): string {
  if (message.includes('valid bearer token is required')) return ' Give the store\'s token: --store-token-file FILE (or $FLO_STORE_TOKEN_FILE), a file only you can read.';
  if (/socket hang up|ECONNRESET/.test(message) && message.includes('http://'))
    return ' If the store is served over https, give its CA: --store-ca FILE (or $FLO_STORE_CA).';
  if (/TLS handshake failed|self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(message) && !message.includes('--store-ca'))
    return ' Trust the store\'s CA: --store-ca FILE (or $FLO_STORE_CA).';
  if (/alert bad certificate|alert certificate required|certificate required/i.test(message)) return ' The store wants a client certificate it trusts: --store-cert FILE --store-key FILE (or $FLO_STORE_CERT, $FLO_STORE_KEY).';
  if (/^etcd: .*Failed to connect/.test(message)) return ' If etcd serves TLS, give its CA: --store-ca FILE (or $FLO_STORE_CA).';
  if (/UNAUTHENTICATED|authentication failed|invalid auth token|user name is empty/i.test(message)) return ' Check the user and password in the store URL (etcd://user:password@host:port; $FLO_STORE keeps them out of argv).';
  if (/PERMISSION_DENIED|permission denied/i.test(message) && /etcd/i.test(message)) return ' The etcd user lacks a role allowing this: grant it one (etcdctl role grant-permission).';
  return '';
}
