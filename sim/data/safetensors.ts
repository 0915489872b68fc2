import { byteStream } from '../harness/prng.js'
import { floatsFrom, writeAtomically } from './write.js'

/**
 * Writes a valid safetensors checkpoint of about `size` bytes: a policy
 * network's worth of F32 tensors (conv trunk, policy and value heads) whose
 * byte ranges tile the data section exactly. The bytes depend only on
 * (seed, label, size).
 */
export async function writeSafetensors(path: string, size: number, seed: number, label: string): Promise<void> {
  const tensors = layout(Math.max(4096, size - 1024))
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', producer: 'meshsync-sim', label } }
  let offset = 0
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8)
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  const random = byteStream(seed, `model:${label}`)
  await writeAtomically(path, async (w) => {
    await w.write(len)
    await w.write(Buffer.from(json))
    for (let left = offset; left > 0; ) {
      const piece = floatsFrom(random.next(Math.min(left, 1 << 20)))
      await w.write(piece)
      left -= piece.length
    }
  })
}

interface Tensor {
  name: string
  shape: number[]
}

/** Residual blocks of 3x3 convolutions with C channels, sized so the whole is about `bytes`. */
function layout(bytes: number): Tensor[] {
  const C = 64
  const block = 2 * C * C * 9 * 4 + 4 * C * 4
  const heads: Tensor[] = [
    { name: 'policy_head.weight', shape: [C, 81] },
    { name: 'value_head.weight', shape: [C, 2] },
  ]
  const headBytes = (C * 81 + C * 2) * 4
  const blocks = Math.max(0, Math.floor((bytes - headBytes) / block))
  const out: Tensor[] = []
  for (let b = 0; b < blocks; b++) {
    out.push({ name: `trunk.${b}.conv1.weight`, shape: [C, C, 3, 3] }, { name: `trunk.${b}.bn1.weight`, shape: [C] }, { name: `trunk.${b}.bn1.bias`, shape: [C] })
    out.push({ name: `trunk.${b}.conv2.weight`, shape: [C, C, 3, 3] }, { name: `trunk.${b}.bn2.weight`, shape: [C] }, { name: `trunk.${b}.bn2.bias`, shape: [C] })
  }
  // the rest as one embedding so the size lands close to what was asked
  const rest = Math.floor((bytes - headBytes - blocks * block) / 4)
  if (rest > 0) out.push({ name: 'embedding.weight', shape: [rest] })
  return [...out, ...heads]
}
