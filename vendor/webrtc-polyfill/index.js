// meshsync stand-in for the npm package `webrtc-polyfill` (see README.md).
//
// The real package wraps node-datachannel, whose install script downloads a
// prebuilt binary from GitHub (or git-clones and compiles libdatachannel): that
// fails on machines that reach only the npm registry, and cluster nodes do not
// need WebRTC. Every export is `undefined` on purpose: @thaunknown/simple-peer
// sets `Peer.WEBRTC_SUPPORT = !!RTCPeerConnection`, so webtorrent and
// bittorrent-tracker see "no WebRTC" and never try it (websocket trackers are
// skipped, only TCP peers are used). If code still constructs a simple-peer
// Peer, simple-peer throws its own error with code 'ERR_WEBRTC_SUPPORT'.
// Importing `webrtc-polyfill/polyfill` throws (see polyfill.js).

export const WEBRTC_STUB = true
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export const RTCIceTransport = undefined
export const RTCDataChannel = undefined
export const RTCSctpTransport = undefined
export const RTCDtlsTransport = undefined
export const RTCCertificate = undefined
export const MediaStream = undefined
export const MediaStreamTrack = undefined
export const MediaStreamTrackEvent = undefined
export const RTCPeerConnectionIceEvent = undefined
export const RTCDataChannelEvent = undefined
export const RTCTrackEvent = undefined
export const RTCError = undefined
export const RTCErrorEvent = undefined
export const RTCRtpTransceiver = undefined
export const RTCRtpReceiver = undefined
export const RTCRtpSender = undefined

export default Object.freeze({
  WEBRTC_STUB,
  RTCPeerConnection,
  RTCSessionDescription,
  RTCIceCandidate,
  RTCIceTransport,
  RTCDataChannel,
  RTCSctpTransport,
  RTCDtlsTransport,
  RTCCertificate,
  MediaStream,
  MediaStreamTrack,
  MediaStreamTrackEvent,
  RTCPeerConnectionIceEvent,
  RTCDataChannelEvent,
  RTCTrackEvent,
  RTCError,
  RTCErrorEvent,
  RTCRtpTransceiver,
  RTCRtpReceiver,
  RTCRtpSender,
})
