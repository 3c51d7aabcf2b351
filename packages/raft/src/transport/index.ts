export { TcpTransport } from './tcp-transport.js';
export type { TcpTransportOptions, PeerTlsOptions } from './tcp-transport.js';
export { encodeMessage, decodeMessage, checkPeerMessage, FrameReader, FrameDecodeError, frame, MAX_FRAME_BYTES, MAX_CONTEXT_BYTES } from './codec.js';
