// meshsync stand-in: every WebRTC class is absent (see index.js).
export declare const WEBRTC_STUB: true
export declare const RTCPeerConnection: undefined
export declare const RTCSessionDescription: undefined
export declare const RTCIceCandidate: undefined
export declare const RTCIceTransport: undefined
export declare const RTCDataChannel: undefined
export declare const RTCSctpTransport: undefined
export declare const RTCDtlsTransport: undefined
export declare const RTCCertificate: undefined
export declare const MediaStream: undefined
export declare const MediaStreamTrack: undefined
export declare const MediaStreamTrackEvent: undefined
export declare const RTCPeerConnectionIceEvent: undefined
export declare const RTCDataChannelEvent: undefined
export declare const RTCTrackEvent: undefined
export declare const RTCError: undefined
export declare const RTCErrorEvent: undefined
export declare const RTCRtpTransceiver: undefined
export declare const RTCRtpReceiver: undefined
export declare const RTCRtpSender: undefined
declare const all: Readonly<Record<string, undefined | true>>
export default all
