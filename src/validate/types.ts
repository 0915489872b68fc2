import type { Kind } from '../config/schema.js'

export type { Kind }

/** What the header of one .npy member of an NPZ says. */
export interface NpyArrayFacts {
  name: string
  dtype: string
  shape: number[]
}

/** What a validator learned about a valid file. */
export type KindFacts =
  | { kind: 'npz'; arrays: NpyArrayFacts[]; samples: number }
  | { kind: 'sqlite'; pageSize: number; pageCount: number; tables: string[] }
  | { kind: 'model'; format: 'safetensors' | 'unknown'; tensors?: number }
  | { kind: 'other' }

/** The outcome of validating one file: facts when valid, a precise human reason when not. */
export type Verdict = { ok: true; kind: Kind; facts: KindFacts } | { ok: false; kind: Kind; reason: string }

/** quick: structure and headers only; deep: also every byte (CRC of every zip member, full integrity_check). */
export type Depth = 'quick' | 'deep'

export interface ValidateOptions {
  depth?: Depth
  signal?: AbortSignal
}
