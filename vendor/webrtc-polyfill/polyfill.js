// The real `webrtc-polyfill/polyfill` installs RTCPeerConnection & co. on globalThis.
// meshsync ships no WebRTC: fail loudly instead of leaving a half-working global.
throw new Error(
  'webrtc-polyfill is replaced by a stub in meshsync (vendor/webrtc-polyfill): WebRTC is not available on cluster nodes; use TCP peers',
)
