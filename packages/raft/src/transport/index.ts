export { TcpTransport } from './tcp-transport.js';
export type { TcpTransportOptions, PeerTlsOptions } from './tcp-transport.js';
export { encodeMessage, decodeMessage, FrameReader, FrameDecodeError, frame, MAX_FRAME_BYTES } from './codec.js';
