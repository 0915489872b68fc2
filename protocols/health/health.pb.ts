import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Health {
  seq: number
  timeMs: number
  name: string
  role: string
  provider: string
  tags: string[]
  ephemeral: boolean
  diskTotal: number
  diskFree: number
  diskUsedPpm: number
  diskState: DiskState
  loadMilli: number
  accepting: boolean
  version: string
  uptimeMs: number
  addrs: string[]
  btPort: number
  transports: string[]
  manifestSeq: number
  manifestDigest: Uint8Array<ArrayBuffer>
  manifestCount: number
  evacuating: boolean
  evacuateDeadlineMs: number
  downloading: Uint8Array<ArrayBuffer>[]
  transfersActive: number
  lanePort: number
  sinks: string[]
}

export namespace Health {
  let _codec: Codec<Health>

  export const codec = (): Codec<Health> => {
    if (_codec == null) {
      _codec = message<Health>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seq != null && obj.seq !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.seq)
        }

        if ((obj.timeMs != null && obj.timeMs !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.timeMs)
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(26)
          w.string(obj.name)
        }

        if ((obj.role != null && obj.role !== '')) {
          w.uint32(34)
          w.string(obj.role)
        }

        if ((obj.provider != null && obj.provider !== '')) {
          w.uint32(42)
          w.string(obj.provider)
        }

        if (obj.tags != null && obj.tags.length > 0) {
          for (const value of obj.tags) {
            w.uint32(50)
            w.string(value)
          }
        }

        if ((obj.ephemeral != null && obj.ephemeral !== false)) {
          w.uint32(56)
          w.bool(obj.ephemeral)
        }

        if ((obj.diskTotal != null && obj.diskTotal !== 0)) {
          w.uint32(64)
          w.uint64Number(obj.diskTotal)
        }

        if ((obj.diskFree != null && obj.diskFree !== 0)) {
          w.uint32(72)
          w.uint64Number(obj.diskFree)
        }

        if ((obj.diskUsedPpm != null && obj.diskUsedPpm !== 0)) {
          w.uint32(80)
          w.uint32(obj.diskUsedPpm)
        }

        if (obj.diskState != null && __DiskStateValues[obj.diskState] !== 0) {
          w.uint32(88)
          DiskState.codec().encode(obj.diskState, w)
        }

        if ((obj.loadMilli != null && obj.loadMilli !== 0)) {
          w.uint32(96)
          w.uint32(obj.loadMilli)
        }

        if ((obj.accepting != null && obj.accepting !== false)) {
          w.uint32(104)
          w.bool(obj.accepting)
        }

        if ((obj.version != null && obj.version !== '')) {
          w.uint32(114)
          w.string(obj.version)
        }

        if ((obj.uptimeMs != null && obj.uptimeMs !== 0)) {
          w.uint32(120)
          w.uint64Number(obj.uptimeMs)
        }

        if (obj.addrs != null && obj.addrs.length > 0) {
          for (const value of obj.addrs) {
            w.uint32(130)
            w.string(value)
          }
        }

        if ((obj.btPort != null && obj.btPort !== 0)) {
          w.uint32(136)
          w.uint32(obj.btPort)
        }

        if (obj.transports != null && obj.transports.length > 0) {
          for (const value of obj.transports) {
            w.uint32(146)
            w.string(value)
          }
        }

        if ((obj.manifestSeq != null && obj.manifestSeq !== 0)) {
          w.uint32(152)
          w.uint64Number(obj.manifestSeq)
        }

        if ((obj.manifestDigest != null && obj.manifestDigest.byteLength > 0)) {
          w.uint32(162)
          w.bytes(obj.manifestDigest)
        }

        if ((obj.manifestCount != null && obj.manifestCount !== 0)) {
          w.uint32(168)
          w.uint32(obj.manifestCount)
        }

        if ((obj.evacuating != null && obj.evacuating !== false)) {
          w.uint32(176)
          w.bool(obj.evacuating)
        }

        if ((obj.evacuateDeadlineMs != null && obj.evacuateDeadlineMs !== 0)) {
          w.uint32(184)
          w.uint64Number(obj.evacuateDeadlineMs)
        }

        if (obj.downloading != null && obj.downloading.length > 0) {
          for (const value of obj.downloading) {
            w.uint32(194)
            w.bytes(value)
          }
        }

        if ((obj.transfersActive != null && obj.transfersActive !== 0)) {
          w.uint32(200)
          w.uint32(obj.transfersActive)
        }

        if ((obj.lanePort != null && obj.lanePort !== 0)) {
          w.uint32(208)
          w.uint32(obj.lanePort)
        }

        if (obj.sinks != null && obj.sinks.length > 0) {
          for (const value of obj.sinks) {
            w.uint32(218)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0,
          timeMs: 0,
          name: '',
          role: '',
          provider: '',
          tags: [],
          ephemeral: false,
          diskTotal: 0,
          diskFree: 0,
          diskUsedPpm: 0,
          diskState: DiskState.DISK_OK,
          loadMilli: 0,
          accepting: false,
          version: '',
          uptimeMs: 0,
          addrs: [],
          btPort: 0,
          transports: [],
          manifestSeq: 0,
          manifestDigest: uint8ArrayAlloc(0),
          manifestCount: 0,
          evacuating: false,
          evacuateDeadlineMs: 0,
          downloading: [],
          transfersActive: 0,
          lanePort: 0,
          sinks: []
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
              obj.timeMs = reader.uint64Number()
              break
            }
            case 3: {
              obj.name = reader.string()
              break
            }
            case 4: {
              obj.role = reader.string()
              break
            }
            case 5: {
              obj.provider = reader.string()
              break
            }
            case 6: {
              if (opts.limits?.tags != null && obj.tags.length === opts.limits.tags) {
                throw new MaxLengthError('Decode error - repeated field "tags" had too many elements')
              }

              obj.tags.push(reader.string())
              break
            }
            case 7: {
              obj.ephemeral = reader.bool()
              break
            }
            case 8: {
              obj.diskTotal = reader.uint64Number()
              break
            }
            case 9: {
              obj.diskFree = reader.uint64Number()
              break
            }
            case 10: {
              obj.diskUsedPpm = reader.uint32()
              break
            }
            case 11: {
              obj.diskState = DiskState.codec().decode(reader)
              break
            }
            case 12: {
              obj.loadMilli = reader.uint32()
              break
            }
            case 13: {
              obj.accepting = reader.bool()
              break
            }
            case 14: {
              obj.version = reader.string()
              break
            }
            case 15: {
              obj.uptimeMs = reader.uint64Number()
              break
            }
            case 16: {
              if (opts.limits?.addrs != null && obj.addrs.length === opts.limits.addrs) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              obj.addrs.push(reader.string())
              break
            }
            case 17: {
              obj.btPort = reader.uint32()
              break
            }
            case 18: {
              if (opts.limits?.transports != null && obj.transports.length === opts.limits.transports) {
                throw new MaxLengthError('Decode error - repeated field "transports" had too many elements')
              }

              obj.transports.push(reader.string())
              break
            }
            case 19: {
              obj.manifestSeq = reader.uint64Number()
              break
            }
            case 20: {
              obj.manifestDigest = reader.bytes()
              break
            }
            case 21: {
              obj.manifestCount = reader.uint32()
              break
            }
            case 22: {
              obj.evacuating = reader.bool()
              break
            }
            case 23: {
              obj.evacuateDeadlineMs = reader.uint64Number()
              break
            }
            case 24: {
              if (opts.limits?.downloading != null && obj.downloading.length === opts.limits.downloading) {
                throw new MaxLengthError('Decode error - repeated field "downloading" had too many elements')
              }

              obj.downloading.push(reader.bytes())
              break
            }
            case 25: {
              obj.transfersActive = reader.uint32()
              break
            }
            case 26: {
              obj.lanePort = reader.uint32()
              break
            }
            case 27: {
              if (opts.limits?.sinks != null && obj.sinks.length === opts.limits.sinks) {
                throw new MaxLengthError('Decode error - repeated field "sinks" had too many elements')
              }

              obj.sinks.push(reader.string())
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
          tags: 0,
          addrs: 0,
          transports: 0,
          downloading: 0,
          sinks: 0
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
                field: `${prefix}.timeMs`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.role`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.provider`,
                value: reader.string()
              }
              break
            }
            case 6: {
              if (opts.limits?.tags != null && obj.tags === opts.limits.tags) {
                throw new MaxLengthError('Streaming decode error - repeated field "tags" had too many elements')
              }

              yield {
                field: `${prefix}.tags[]`,
                index: obj.tags,
                value: reader.string()
              }

              obj.tags++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.ephemeral`,
                value: reader.bool()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.diskTotal`,
                value: reader.uint64Number()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.diskFree`,
                value: reader.uint64Number()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.diskUsedPpm`,
                value: reader.uint32()
              }
              break
            }
            case 11: {
              yield {
                field: `${prefix}.diskState`,
                value: DiskState.codec().decode(reader)
              }
              break
            }
            case 12: {
              yield {
                field: `${prefix}.loadMilli`,
                value: reader.uint32()
              }
              break
            }
            case 13: {
              yield {
                field: `${prefix}.accepting`,
                value: reader.bool()
              }
              break
            }
            case 14: {
              yield {
                field: `${prefix}.version`,
                value: reader.string()
              }
              break
            }
            case 15: {
              yield {
                field: `${prefix}.uptimeMs`,
                value: reader.uint64Number()
              }
              break
            }
            case 16: {
              if (opts.limits?.addrs != null && obj.addrs === opts.limits.addrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              yield {
                field: `${prefix}.addrs[]`,
                index: obj.addrs,
                value: reader.string()
              }

              obj.addrs++

              break
            }
            case 17: {
              yield {
                field: `${prefix}.btPort`,
                value: reader.uint32()
              }
              break
            }
            case 18: {
              if (opts.limits?.transports != null && obj.transports === opts.limits.transports) {
                throw new MaxLengthError('Streaming decode error - repeated field "transports" had too many elements')
              }

              yield {
                field: `${prefix}.transports[]`,
                index: obj.transports,
                value: reader.string()
              }

              obj.transports++

              break
            }
            case 19: {
              yield {
                field: `${prefix}.manifestSeq`,
                value: reader.uint64Number()
              }
              break
            }
            case 20: {
              yield {
                field: `${prefix}.manifestDigest`,
                value: reader.bytes()
              }
              break
            }
            case 21: {
              yield {
                field: `${prefix}.manifestCount`,
                value: reader.uint32()
              }
              break
            }
            case 22: {
              yield {
                field: `${prefix}.evacuating`,
                value: reader.bool()
              }
              break
            }
            case 23: {
              yield {
                field: `${prefix}.evacuateDeadlineMs`,
                value: reader.uint64Number()
              }
              break
            }
            case 24: {
              if (opts.limits?.downloading != null && obj.downloading === opts.limits.downloading) {
                throw new MaxLengthError('Streaming decode error - repeated field "downloading" had too many elements')
              }

              yield {
                field: `${prefix}.downloading[]`,
                index: obj.downloading,
                value: reader.bytes()
              }

              obj.downloading++

              break
            }
            case 25: {
              yield {
                field: `${prefix}.transfersActive`,
                value: reader.uint32()
              }
              break
            }
            case 26: {
              yield {
                field: `${prefix}.lanePort`,
                value: reader.uint32()
              }
              break
            }
            case 27: {
              if (opts.limits?.sinks != null && obj.sinks === opts.limits.sinks) {
                throw new MaxLengthError('Streaming decode error - repeated field "sinks" had too many elements')
              }

              yield {
                field: `${prefix}.sinks[]`,
                index: obj.sinks,
                value: reader.string()
              }

              obj.sinks++

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

  export interface HealthSeqFieldEvent {
    field: '$.seq'
    value: number
  }

  export interface HealthTimeMsFieldEvent {
    field: '$.timeMs'
    value: number
  }

  export interface HealthNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface HealthRoleFieldEvent {
    field: '$.role'
    value: string
  }

  export interface HealthProviderFieldEvent {
    field: '$.provider'
    value: string
  }

  export interface HealthTagsFieldEvent {
    field: '$.tags[]'
    index: number
    value: string
  }

  export interface HealthEphemeralFieldEvent {
    field: '$.ephemeral'
    value: boolean
  }

  export interface HealthDiskTotalFieldEvent {
    field: '$.diskTotal'
    value: number
  }

  export interface HealthDiskFreeFieldEvent {
    field: '$.diskFree'
    value: number
  }

  export interface HealthDiskUsedPpmFieldEvent {
    field: '$.diskUsedPpm'
    value: number
  }

  export interface HealthDiskStateFieldEvent {
    field: '$.diskState'
    value: DiskState
  }

  export interface HealthLoadMilliFieldEvent {
    field: '$.loadMilli'
    value: number
  }

  export interface HealthAcceptingFieldEvent {
    field: '$.accepting'
    value: boolean
  }

  export interface HealthVersionFieldEvent {
    field: '$.version'
    value: string
  }

  export interface HealthUptimeMsFieldEvent {
    field: '$.uptimeMs'
    value: number
  }

  export interface HealthAddrsFieldEvent {
    field: '$.addrs[]'
    index: number
    value: string
  }

  export interface HealthBtPortFieldEvent {
    field: '$.btPort'
    value: number
  }

  export interface HealthTransportsFieldEvent {
    field: '$.transports[]'
    index: number
    value: string
  }

  export interface HealthManifestSeqFieldEvent {
    field: '$.manifestSeq'
    value: number
  }

  export interface HealthManifestDigestFieldEvent {
    field: '$.manifestDigest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface HealthManifestCountFieldEvent {
    field: '$.manifestCount'
    value: number
  }

  export interface HealthEvacuatingFieldEvent {
    field: '$.evacuating'
    value: boolean
  }

  export interface HealthEvacuateDeadlineMsFieldEvent {
    field: '$.evacuateDeadlineMs'
    value: number
  }

  export interface HealthDownloadingFieldEvent {
    field: '$.downloading[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface HealthTransfersActiveFieldEvent {
    field: '$.transfersActive'
    value: number
  }

  export interface HealthLanePortFieldEvent {
    field: '$.lanePort'
    value: number
  }

  export interface HealthSinksFieldEvent {
    field: '$.sinks[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<Health>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Health.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Health>): Health {
    return decodeMessage(buf, Health.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Health>): Generator<HealthSeqFieldEvent | HealthTimeMsFieldEvent | HealthNameFieldEvent | HealthRoleFieldEvent | HealthProviderFieldEvent | HealthTagsFieldEvent | HealthEphemeralFieldEvent | HealthDiskTotalFieldEvent | HealthDiskFreeFieldEvent | HealthDiskUsedPpmFieldEvent | HealthDiskStateFieldEvent | HealthLoadMilliFieldEvent | HealthAcceptingFieldEvent | HealthVersionFieldEvent | HealthUptimeMsFieldEvent | HealthAddrsFieldEvent | HealthBtPortFieldEvent | HealthTransportsFieldEvent | HealthManifestSeqFieldEvent | HealthManifestDigestFieldEvent | HealthManifestCountFieldEvent | HealthEvacuatingFieldEvent | HealthEvacuateDeadlineMsFieldEvent | HealthDownloadingFieldEvent | HealthTransfersActiveFieldEvent | HealthLanePortFieldEvent | HealthSinksFieldEvent> {
    return streamMessage(buf, Health.codec(), opts)
  }
}

export enum DiskState {
  DISK_OK = 'DISK_OK',
  DISK_PUSH = 'DISK_PUSH',
  DISK_URGENT = 'DISK_URGENT',
  DISK_FULL = 'DISK_FULL'
}

enum __DiskStateValues {
  DISK_OK = 0,
  DISK_PUSH = 1,
  DISK_URGENT = 2,
  DISK_FULL = 3
}

export namespace DiskState {
  export const codec = (): Codec<DiskState> => {
    return enumeration<DiskState>(__DiskStateValues)
  }
}
