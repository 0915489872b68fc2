import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Request {
  sha256: Uint8Array<ArrayBuffer>
  meta: boolean
  have: boolean
  chunks: number[]
  offset?: number
  length?: number
  priority: number
  copies: number
  lane: boolean
}

export namespace Request {
  let _codec: Codec<Request>

  export const codec = (): Codec<Request> => {
    if (_codec == null) {
      _codec = message<Request>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.sha256 != null && obj.sha256.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.sha256)
        }

        if ((obj.meta != null && obj.meta !== false)) {
          w.uint32(16)
          w.bool(obj.meta)
        }

        if ((obj.have != null && obj.have !== false)) {
          w.uint32(24)
          w.bool(obj.have)
        }

        if (obj.chunks != null && obj.chunks.length > 0) {
          for (const value of obj.chunks) {
            w.uint32(32)
            w.uint32(value)
          }
        }

        if (obj.offset != null) {
          w.uint32(40)
          w.uint64Number(obj.offset)
        }

        if (obj.length != null) {
          w.uint32(48)
          w.uint64Number(obj.length)
        }

        if ((obj.priority != null && obj.priority !== 0)) {
          w.uint32(56)
          w.uint32(obj.priority)
        }

        if ((obj.copies != null && obj.copies !== 0)) {
          w.uint32(64)
          w.uint32(obj.copies)
        }

        if ((obj.lane != null && obj.lane !== false)) {
          w.uint32(72)
          w.bool(obj.lane)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sha256: uint8ArrayAlloc(0),
          meta: false,
          have: false,
          chunks: [],
          priority: 0,
          copies: 0,
          lane: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.sha256 = reader.bytes()
              break
            }
            case 2: {
              obj.meta = reader.bool()
              break
            }
            case 3: {
              obj.have = reader.bool()
              break
            }
            case 4: {
              if (opts.limits?.chunks != null && obj.chunks.length === opts.limits.chunks) {
                throw new MaxLengthError('Decode error - repeated field "chunks" had too many elements')
              }

              obj.chunks.push(reader.uint32())
              break
            }
            case 5: {
              obj.offset = reader.uint64Number()
              break
            }
            case 6: {
              obj.length = reader.uint64Number()
              break
            }
            case 7: {
              obj.priority = reader.uint32()
              break
            }
            case 8: {
              obj.copies = reader.uint32()
              break
            }
            case 9: {
              obj.lane = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          chunks: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.sha256`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.meta`,
                value: reader.bool()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.have`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              if (opts.limits?.chunks != null && obj.chunks === opts.limits.chunks) {
                throw new MaxLengthError('Streaming decode error - repeated field "chunks" had too many elements')
              }

              yield {
                field: `${prefix}.chunks[]`,
                index: obj.chunks,
                value: reader.uint32()
              }

              obj.chunks++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64Number()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.length`,
                value: reader.uint64Number()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.priority`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.copies`,
                value: reader.uint32()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.lane`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RequestSha256FieldEvent {
    field: '$.sha256'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestMetaFieldEvent {
    field: '$.meta'
    value: boolean
  }

  export interface RequestHaveFieldEvent {
    field: '$.have'
    value: boolean
  }

  export interface RequestChunksFieldEvent {
    field: '$.chunks[]'
    index: number
    value: number
  }

  export interface RequestOffsetFieldEvent {
    field: '$.offset'
    value: number
  }

  export interface RequestLengthFieldEvent {
    field: '$.length'
    value: number
  }

  export interface RequestPriorityFieldEvent {
    field: '$.priority'
    value: number
  }

  export interface RequestCopiesFieldEvent {
    field: '$.copies'
    value: number
  }

  export interface RequestLaneFieldEvent {
    field: '$.lane'
    value: boolean
  }

  export function encode (obj: Partial<Request>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Request.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Request {
    return decodeMessage(buf, Request.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Generator<RequestSha256FieldEvent | RequestMetaFieldEvent | RequestHaveFieldEvent | RequestChunksFieldEvent | RequestOffsetFieldEvent | RequestLengthFieldEvent | RequestPriorityFieldEvent | RequestCopiesFieldEvent | RequestLaneFieldEvent> {
    return streamMessage(buf, Request.codec(), opts)
  }
}

export interface Meta {
  size: number
  sha256: Uint8Array<ArrayBuffer>
  chunkSize: number
  chunkHashes: Uint8Array<ArrayBuffer>
  kind: string
  facts: string
  complete: boolean
  lane?: LaneOffer
}

export namespace Meta {
  let _codec: Codec<Meta>

  export const codec = (): Codec<Meta> => {
    if (_codec == null) {
      _codec = message<Meta>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.size != null && obj.size !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.size)
        }

        if ((obj.sha256 != null && obj.sha256.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.sha256)
        }

        if ((obj.chunkSize != null && obj.chunkSize !== 0)) {
          w.uint32(24)
          w.uint32(obj.chunkSize)
        }

        if ((obj.chunkHashes != null && obj.chunkHashes.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.chunkHashes)
        }

        if ((obj.kind != null && obj.kind !== '')) {
          w.uint32(42)
          w.string(obj.kind)
        }

        if ((obj.facts != null && obj.facts !== '')) {
          w.uint32(50)
          w.string(obj.facts)
        }

        if ((obj.complete != null && obj.complete !== false)) {
          w.uint32(56)
          w.bool(obj.complete)
        }

        if (obj.lane != null) {
          w.uint32(66)
          LaneOffer.codec().encode(obj.lane, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          size: 0,
          sha256: uint8ArrayAlloc(0),
          chunkSize: 0,
          chunkHashes: uint8ArrayAlloc(0),
          kind: '',
          facts: '',
          complete: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.size = reader.uint64Number()
              break
            }
            case 2: {
              obj.sha256 = reader.bytes()
              break
            }
            case 3: {
              obj.chunkSize = reader.uint32()
              break
            }
            case 4: {
              obj.chunkHashes = reader.bytes()
              break
            }
            case 5: {
              obj.kind = reader.string()
              break
            }
            case 6: {
              obj.facts = reader.string()
              break
            }
            case 7: {
              obj.complete = reader.bool()
              break
            }
            case 8: {
              obj.lane = LaneOffer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.lane
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.sha256`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.chunkSize`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.chunkHashes`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.kind`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.facts`,
                value: reader.string()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.complete`,
                value: reader.bool()
              }
              break
            }
            case 8: {
              yield * LaneOffer.codec().stream(reader, reader.uint32(), `${prefix}.lane`, {
                limits: opts.limits?.lane
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface MetaSizeFieldEvent {
    field: '$.size'
    value: number
  }

  export interface MetaSha256FieldEvent {
    field: '$.sha256'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MetaChunkSizeFieldEvent {
    field: '$.chunkSize'
    value: number
  }

  export interface MetaChunkHashesFieldEvent {
    field: '$.chunkHashes'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MetaKindFieldEvent {
    field: '$.kind'
    value: string
  }

  export interface MetaFactsFieldEvent {
    field: '$.facts'
    value: string
  }

  export interface MetaCompleteFieldEvent {
    field: '$.complete'
    value: boolean
  }

  export interface MetaLanePortFieldEvent {
    field: '$.lane.port'
    value: number
  }

  export interface MetaLaneFingerprintFieldEvent {
    field: '$.lane.fingerprint'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MetaLaneTokenFieldEvent {
    field: '$.lane.token'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MetaLaneTtlMsFieldEvent {
    field: '$.lane.ttlMs'
    value: number
  }

  export function encode (obj: Partial<Meta>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Meta.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Meta>): Meta {
    return decodeMessage(buf, Meta.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Meta>): Generator<MetaSizeFieldEvent | MetaSha256FieldEvent | MetaChunkSizeFieldEvent | MetaChunkHashesFieldEvent | MetaKindFieldEvent | MetaFactsFieldEvent | MetaCompleteFieldEvent | MetaLanePortFieldEvent | MetaLaneFingerprintFieldEvent | MetaLaneTokenFieldEvent | MetaLaneTtlMsFieldEvent> {
    return streamMessage(buf, Meta.codec(), opts)
  }
}

export interface LaneOffer {
  port: number
  fingerprint: Uint8Array<ArrayBuffer>
  token: Uint8Array<ArrayBuffer>
  ttlMs: number
}

export namespace LaneOffer {
  let _codec: Codec<LaneOffer>

  export const codec = (): Codec<LaneOffer> => {
    if (_codec == null) {
      _codec = message<LaneOffer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.port != null && obj.port !== 0)) {
          w.uint32(8)
          w.uint32(obj.port)
        }

        if ((obj.fingerprint != null && obj.fingerprint.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.fingerprint)
        }

        if ((obj.token != null && obj.token.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.token)
        }

        if ((obj.ttlMs != null && obj.ttlMs !== 0)) {
          w.uint32(32)
          w.uint32(obj.ttlMs)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          port: 0,
          fingerprint: uint8ArrayAlloc(0),
          token: uint8ArrayAlloc(0),
          ttlMs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.port = reader.uint32()
              break
            }
            case 2: {
              obj.fingerprint = reader.bytes()
              break
            }
            case 3: {
              obj.token = reader.bytes()
              break
            }
            case 4: {
              obj.ttlMs = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.port`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.fingerprint`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.token`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.ttlMs`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface LaneOfferPortFieldEvent {
    field: '$.port'
    value: number
  }

  export interface LaneOfferFingerprintFieldEvent {
    field: '$.fingerprint'
    value: Uint8Array<ArrayBuffer>
  }

  export interface LaneOfferTokenFieldEvent {
    field: '$.token'
    value: Uint8Array<ArrayBuffer>
  }

  export interface LaneOfferTtlMsFieldEvent {
    field: '$.ttlMs'
    value: number
  }

  export function encode (obj: Partial<LaneOffer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, LaneOffer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<LaneOffer>): LaneOffer {
    return decodeMessage(buf, LaneOffer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<LaneOffer>): Generator<LaneOfferPortFieldEvent | LaneOfferFingerprintFieldEvent | LaneOfferTokenFieldEvent | LaneOfferTtlMsFieldEvent> {
    return streamMessage(buf, LaneOffer.codec(), opts)
  }
}

export interface Response {
  status: Status
  message: string
  meta?: Meta
  have?: Uint8Array<ArrayBuffer>
  chunk?: number
  length: number
  missing?: number
}

export namespace Response {
  let _codec: Codec<Response>

  export const codec = (): Codec<Response> => {
    if (_codec == null) {
      _codec = message<Response>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          Status.codec().encode(obj.status, w)
        }

        if ((obj.message != null && obj.message !== '')) {
          w.uint32(18)
          w.string(obj.message)
        }

        if (obj.meta != null) {
          w.uint32(26)
          Meta.codec().encode(obj.meta, w)
        }

        if (obj.have != null) {
          w.uint32(34)
          w.bytes(obj.have)
        }

        if (obj.chunk != null) {
          w.uint32(40)
          w.uint32(obj.chunk)
        }

        if ((obj.length != null && obj.length !== 0)) {
          w.uint32(48)
          w.uint32(obj.length)
        }

        if (obj.missing != null) {
          w.uint32(56)
          w.uint32(obj.missing)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          message: '',
          length: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.message = reader.string()
              break
            }
            case 3: {
              obj.meta = Meta.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.meta
              })
              break
            }
            case 4: {
              obj.have = reader.bytes()
              break
            }
            case 5: {
              obj.chunk = reader.uint32()
              break
            }
            case 6: {
              obj.length = reader.uint32()
              break
            }
            case 7: {
              obj.missing = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.message`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield * Meta.codec().stream(reader, reader.uint32(), `${prefix}.meta`, {
                limits: opts.limits?.meta
              })

              break
            }
            case 4: {
              yield {
                field: `${prefix}.have`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.chunk`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.length`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.missing`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResponseStatusFieldEvent {
    field: '$.status'
    value: Status
  }

  export interface ResponseMessageFieldEvent {
    field: '$.message'
    value: string
  }

  export interface ResponseMetaSizeFieldEvent {
    field: '$.meta.size'
    value: number
  }

  export interface ResponseMetaSha256FieldEvent {
    field: '$.meta.sha256'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseMetaChunkSizeFieldEvent {
    field: '$.meta.chunkSize'
    value: number
  }

  export interface ResponseMetaChunkHashesFieldEvent {
    field: '$.meta.chunkHashes'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseMetaKindFieldEvent {
    field: '$.meta.kind'
    value: string
  }

  export interface ResponseMetaFactsFieldEvent {
    field: '$.meta.facts'
    value: string
  }

  export interface ResponseMetaCompleteFieldEvent {
    field: '$.meta.complete'
    value: boolean
  }

  export interface ResponseMetaLanePortFieldEvent {
    field: '$.meta.lane.port'
    value: number
  }

  export interface ResponseMetaLaneFingerprintFieldEvent {
    field: '$.meta.lane.fingerprint'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseMetaLaneTokenFieldEvent {
    field: '$.meta.lane.token'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseMetaLaneTtlMsFieldEvent {
    field: '$.meta.lane.ttlMs'
    value: number
  }

  export interface ResponseHaveFieldEvent {
    field: '$.have'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseChunkFieldEvent {
    field: '$.chunk'
    value: number
  }

  export interface ResponseLengthFieldEvent {
    field: '$.length'
    value: number
  }

  export interface ResponseMissingFieldEvent {
    field: '$.missing'
    value: number
  }

  export function encode (obj: Partial<Response>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Response.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Response {
    return decodeMessage(buf, Response.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Generator<ResponseStatusFieldEvent | ResponseMessageFieldEvent | ResponseMetaSizeFieldEvent | ResponseMetaSha256FieldEvent | ResponseMetaChunkSizeFieldEvent | ResponseMetaChunkHashesFieldEvent | ResponseMetaKindFieldEvent | ResponseMetaFactsFieldEvent | ResponseMetaCompleteFieldEvent | ResponseMetaLanePortFieldEvent | ResponseMetaLaneFingerprintFieldEvent | ResponseMetaLaneTokenFieldEvent | ResponseMetaLaneTtlMsFieldEvent | ResponseHaveFieldEvent | ResponseChunkFieldEvent | ResponseLengthFieldEvent | ResponseMissingFieldEvent> {
    return streamMessage(buf, Response.codec(), opts)
  }
}

export enum Status {
  OK = 'OK',
  NOT_FOUND = 'NOT_FOUND',
  BUSY = 'BUSY',
  OVER_LIMIT = 'OVER_LIMIT',
  BAD_REQUEST = 'BAD_REQUEST',
  INTERNAL = 'INTERNAL'
}

enum __StatusValues {
  OK = 0,
  NOT_FOUND = 1,
  BUSY = 2,
  OVER_LIMIT = 3,
  BAD_REQUEST = 4,
  INTERNAL = 5
}

export namespace Status {
  export const codec = (): Codec<Status> => {
    return enumeration<Status>(__StatusValues)
  }
}
