import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface FileEntry {
  path: string
  sha256: Uint8Array<ArrayBuffer>
  size: number
  kind: FileKind
  origin: string
  version: number
  mtimeMs: number
  chunkRoot: Uint8Array<ArrayBuffer>
  infoHash?: Uint8Array<ArrayBuffer>
  promoted: boolean
}

export namespace FileEntry {
  let _codec: Codec<FileEntry>

  export const codec = (): Codec<FileEntry> => {
    if (_codec == null) {
      _codec = message<FileEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.path != null && obj.path !== '')) {
          w.uint32(10)
          w.string(obj.path)
        }

        if ((obj.sha256 != null && obj.sha256.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.sha256)
        }

        if ((obj.size != null && obj.size !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.size)
        }

        if (obj.kind != null && __FileKindValues[obj.kind] !== 0) {
          w.uint32(32)
          FileKind.codec().encode(obj.kind, w)
        }

        if ((obj.origin != null && obj.origin !== '')) {
          w.uint32(42)
          w.string(obj.origin)
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(48)
          w.uint64Number(obj.version)
        }

        if ((obj.mtimeMs != null && obj.mtimeMs !== 0)) {
          w.uint32(56)
          w.uint64Number(obj.mtimeMs)
        }

        if ((obj.chunkRoot != null && obj.chunkRoot.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.chunkRoot)
        }

        if (obj.infoHash != null) {
          w.uint32(74)
          w.bytes(obj.infoHash)
        }

        if ((obj.promoted != null && obj.promoted !== false)) {
          w.uint32(80)
          w.bool(obj.promoted)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          path: '',
          sha256: uint8ArrayAlloc(0),
          size: 0,
          kind: FileKind.OTHER,
          origin: '',
          version: 0,
          mtimeMs: 0,
          chunkRoot: uint8ArrayAlloc(0),
          promoted: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.path = reader.string()
              break
            }
            case 2: {
              obj.sha256 = reader.bytes()
              break
            }
            case 3: {
              obj.size = reader.uint64Number()
              break
            }
            case 4: {
              obj.kind = FileKind.codec().decode(reader)
              break
            }
            case 5: {
              obj.origin = reader.string()
              break
            }
            case 6: {
              obj.version = reader.uint64Number()
              break
            }
            case 7: {
              obj.mtimeMs = reader.uint64Number()
              break
            }
            case 8: {
              obj.chunkRoot = reader.bytes()
              break
            }
            case 9: {
              obj.infoHash = reader.bytes()
              break
            }
            case 10: {
              obj.promoted = reader.bool()
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
                field: `${prefix}.path`,
                value: reader.string()
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
                field: `${prefix}.size`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.kind`,
                value: FileKind.codec().decode(reader)
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.origin`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint64Number()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.mtimeMs`,
                value: reader.uint64Number()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.chunkRoot`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.infoHash`,
                value: reader.bytes()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.promoted`,
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

  export interface FileEntryPathFieldEvent {
    field: '$.path'
    value: string
  }

  export interface FileEntrySha256FieldEvent {
    field: '$.sha256'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileEntrySizeFieldEvent {
    field: '$.size'
    value: number
  }

  export interface FileEntryKindFieldEvent {
    field: '$.kind'
    value: FileKind
  }

  export interface FileEntryOriginFieldEvent {
    field: '$.origin'
    value: string
  }

  export interface FileEntryVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface FileEntryMtimeMsFieldEvent {
    field: '$.mtimeMs'
    value: number
  }

  export interface FileEntryChunkRootFieldEvent {
    field: '$.chunkRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileEntryInfoHashFieldEvent {
    field: '$.infoHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileEntryPromotedFieldEvent {
    field: '$.promoted'
    value: boolean
  }

  export function encode (obj: Partial<FileEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileEntry>): FileEntry {
    return decodeMessage(buf, FileEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileEntry>): Generator<FileEntryPathFieldEvent | FileEntrySha256FieldEvent | FileEntrySizeFieldEvent | FileEntryKindFieldEvent | FileEntryOriginFieldEvent | FileEntryVersionFieldEvent | FileEntryMtimeMsFieldEvent | FileEntryChunkRootFieldEvent | FileEntryInfoHashFieldEvent | FileEntryPromotedFieldEvent> {
    return streamMessage(buf, FileEntry.codec(), opts)
  }
}

export enum FileKind {
  OTHER = 'OTHER',
  SQLITE = 'SQLITE',
  NPZ = 'NPZ',
  MODEL = 'MODEL'
}

enum __FileKindValues {
  OTHER = 0,
  SQLITE = 1,
  NPZ = 2,
  MODEL = 3
}

export namespace FileKind {
  export const codec = (): Codec<FileKind> => {
    return enumeration<FileKind>(__FileKindValues)
  }
}

export interface ManifestDelta {
  seq: number
  prevSeq: number
  timeMs: number
  upserts: FileEntry[]
  removed: string[]
}

export namespace ManifestDelta {
  let _codec: Codec<ManifestDelta>

  export const codec = (): Codec<ManifestDelta> => {
    if (_codec == null) {
      _codec = message<ManifestDelta>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seq != null && obj.seq !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.seq)
        }

        if ((obj.prevSeq != null && obj.prevSeq !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.prevSeq)
        }

        if ((obj.timeMs != null && obj.timeMs !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.timeMs)
        }

        if (obj.upserts != null && obj.upserts.length > 0) {
          for (const value of obj.upserts) {
            w.uint32(34)
            FileEntry.codec().encode(value, w)
          }
        }

        if (obj.removed != null && obj.removed.length > 0) {
          for (const value of obj.removed) {
            w.uint32(42)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0,
          prevSeq: 0,
          timeMs: 0,
          upserts: [],
          removed: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.seq = reader.uint64Number()
              break
            }
            case 2: {
              obj.prevSeq = reader.uint64Number()
              break
            }
            case 3: {
              obj.timeMs = reader.uint64Number()
              break
            }
            case 4: {
              if (opts.limits?.upserts != null && obj.upserts.length === opts.limits.upserts) {
                throw new MaxLengthError('Decode error - repeated field "upserts" had too many elements')
              }

              obj.upserts.push(FileEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.upserts$
              }))
              break
            }
            case 5: {
              if (opts.limits?.removed != null && obj.removed.length === opts.limits.removed) {
                throw new MaxLengthError('Decode error - repeated field "removed" had too many elements')
              }

              obj.removed.push(reader.string())
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
          upserts: 0,
          removed: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.prevSeq`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.timeMs`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              if (opts.limits?.upserts != null && obj.upserts === opts.limits.upserts) {
                throw new MaxLengthError('Streaming decode error - repeated field "upserts" had too many elements')
              }

              for (const evt of FileEntry.codec().stream(reader, reader.uint32(), `${prefix}.upserts[]`, {
                limits: opts.limits?.upserts$
              })) {
                yield {
                  ...evt,
                  index: obj.upserts
                }
              }

              obj.upserts++

              break
            }
            case 5: {
              if (opts.limits?.removed != null && obj.removed === opts.limits.removed) {
                throw new MaxLengthError('Streaming decode error - repeated field "removed" had too many elements')
              }

              yield {
                field: `${prefix}.removed[]`,
                index: obj.removed,
                value: reader.string()
              }

              obj.removed++

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

  export interface ManifestDeltaSeqFieldEvent {
    field: '$.seq'
    value: number
  }

  export interface ManifestDeltaPrevSeqFieldEvent {
    field: '$.prevSeq'
    value: number
  }

  export interface ManifestDeltaTimeMsFieldEvent {
    field: '$.timeMs'
    value: number
  }

  export interface ManifestDeltaUpsertsPathFieldEvent {
    field: '$.upserts[].path'
    value: string
    index: number
  }

  export interface ManifestDeltaUpsertsSha256FieldEvent {
    field: '$.upserts[].sha256'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestDeltaUpsertsSizeFieldEvent {
    field: '$.upserts[].size'
    value: number
    index: number
  }

  export interface ManifestDeltaUpsertsKindFieldEvent {
    field: '$.upserts[].kind'
    value: FileKind
    index: number
  }

  export interface ManifestDeltaUpsertsOriginFieldEvent {
    field: '$.upserts[].origin'
    value: string
    index: number
  }

  export interface ManifestDeltaUpsertsVersionFieldEvent {
    field: '$.upserts[].version'
    value: number
    index: number
  }

  export interface ManifestDeltaUpsertsMtimeMsFieldEvent {
    field: '$.upserts[].mtimeMs'
    value: number
    index: number
  }

  export interface ManifestDeltaUpsertsChunkRootFieldEvent {
    field: '$.upserts[].chunkRoot'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestDeltaUpsertsInfoHashFieldEvent {
    field: '$.upserts[].infoHash'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestDeltaUpsertsPromotedFieldEvent {
    field: '$.upserts[].promoted'
    value: boolean
    index: number
  }

  export interface ManifestDeltaRemovedFieldEvent {
    field: '$.removed[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<ManifestDelta>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ManifestDelta.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestDelta>): ManifestDelta {
    return decodeMessage(buf, ManifestDelta.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestDelta>): Generator<ManifestDeltaSeqFieldEvent | ManifestDeltaPrevSeqFieldEvent | ManifestDeltaTimeMsFieldEvent | ManifestDeltaUpsertsPathFieldEvent | ManifestDeltaUpsertsSha256FieldEvent | ManifestDeltaUpsertsSizeFieldEvent | ManifestDeltaUpsertsKindFieldEvent | ManifestDeltaUpsertsOriginFieldEvent | ManifestDeltaUpsertsVersionFieldEvent | ManifestDeltaUpsertsMtimeMsFieldEvent | ManifestDeltaUpsertsChunkRootFieldEvent | ManifestDeltaUpsertsInfoHashFieldEvent | ManifestDeltaUpsertsPromotedFieldEvent | ManifestDeltaRemovedFieldEvent> {
    return streamMessage(buf, ManifestDelta.codec(), opts)
  }
}

export interface ManifestPageRequest {
  after: string
  limit: number
}

export namespace ManifestPageRequest {
  let _codec: Codec<ManifestPageRequest>

  export const codec = (): Codec<ManifestPageRequest> => {
    if (_codec == null) {
      _codec = message<ManifestPageRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.after != null && obj.after !== '')) {
          w.uint32(10)
          w.string(obj.after)
        }

        if ((obj.limit != null && obj.limit !== 0)) {
          w.uint32(16)
          w.uint32(obj.limit)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          after: '',
          limit: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.after = reader.string()
              break
            }
            case 2: {
              obj.limit = reader.uint32()
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
                field: `${prefix}.after`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.limit`,
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

  export interface ManifestPageRequestAfterFieldEvent {
    field: '$.after'
    value: string
  }

  export interface ManifestPageRequestLimitFieldEvent {
    field: '$.limit'
    value: number
  }

  export function encode (obj: Partial<ManifestPageRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ManifestPageRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestPageRequest>): ManifestPageRequest {
    return decodeMessage(buf, ManifestPageRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestPageRequest>): Generator<ManifestPageRequestAfterFieldEvent | ManifestPageRequestLimitFieldEvent> {
    return streamMessage(buf, ManifestPageRequest.codec(), opts)
  }
}

export interface ManifestPage {
  seq: number
  entries: FileEntry[]
  more: boolean
  digest: Uint8Array<ArrayBuffer>
  count: number
}

export namespace ManifestPage {
  let _codec: Codec<ManifestPage>

  export const codec = (): Codec<ManifestPage> => {
    if (_codec == null) {
      _codec = message<ManifestPage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seq != null && obj.seq !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.seq)
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(18)
            FileEntry.codec().encode(value, w)
          }
        }

        if ((obj.more != null && obj.more !== false)) {
          w.uint32(24)
          w.bool(obj.more)
        }

        if ((obj.digest != null && obj.digest.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.digest)
        }

        if ((obj.count != null && obj.count !== 0)) {
          w.uint32(40)
          w.uint32(obj.count)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0,
          entries: [],
          more: false,
          digest: uint8ArrayAlloc(0),
          count: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.seq = reader.uint64Number()
              break
            }
            case 2: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(FileEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
              }))
              break
            }
            case 3: {
              obj.more = reader.bool()
              break
            }
            case 4: {
              obj.digest = reader.bytes()
              break
            }
            case 5: {
              obj.count = reader.uint32()
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
          entries: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of FileEntry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

              break
            }
            case 3: {
              yield {
                field: `${prefix}.more`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.digest`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.count`,
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

  export interface ManifestPageSeqFieldEvent {
    field: '$.seq'
    value: number
  }

  export interface ManifestPageEntriesPathFieldEvent {
    field: '$.entries[].path'
    value: string
    index: number
  }

  export interface ManifestPageEntriesSha256FieldEvent {
    field: '$.entries[].sha256'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestPageEntriesSizeFieldEvent {
    field: '$.entries[].size'
    value: number
    index: number
  }

  export interface ManifestPageEntriesKindFieldEvent {
    field: '$.entries[].kind'
    value: FileKind
    index: number
  }

  export interface ManifestPageEntriesOriginFieldEvent {
    field: '$.entries[].origin'
    value: string
    index: number
  }

  export interface ManifestPageEntriesVersionFieldEvent {
    field: '$.entries[].version'
    value: number
    index: number
  }

  export interface ManifestPageEntriesMtimeMsFieldEvent {
    field: '$.entries[].mtimeMs'
    value: number
    index: number
  }

  export interface ManifestPageEntriesChunkRootFieldEvent {
    field: '$.entries[].chunkRoot'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestPageEntriesInfoHashFieldEvent {
    field: '$.entries[].infoHash'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ManifestPageEntriesPromotedFieldEvent {
    field: '$.entries[].promoted'
    value: boolean
    index: number
  }

  export interface ManifestPageMoreFieldEvent {
    field: '$.more'
    value: boolean
  }

  export interface ManifestPageDigestFieldEvent {
    field: '$.digest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ManifestPageCountFieldEvent {
    field: '$.count'
    value: number
  }

  export function encode (obj: Partial<ManifestPage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ManifestPage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestPage>): ManifestPage {
    return decodeMessage(buf, ManifestPage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ManifestPage>): Generator<ManifestPageSeqFieldEvent | ManifestPageEntriesPathFieldEvent | ManifestPageEntriesSha256FieldEvent | ManifestPageEntriesSizeFieldEvent | ManifestPageEntriesKindFieldEvent | ManifestPageEntriesOriginFieldEvent | ManifestPageEntriesVersionFieldEvent | ManifestPageEntriesMtimeMsFieldEvent | ManifestPageEntriesChunkRootFieldEvent | ManifestPageEntriesInfoHashFieldEvent | ManifestPageEntriesPromotedFieldEvent | ManifestPageMoreFieldEvent | ManifestPageDigestFieldEvent | ManifestPageCountFieldEvent> {
    return streamMessage(buf, ManifestPage.codec(), opts)
  }
}
