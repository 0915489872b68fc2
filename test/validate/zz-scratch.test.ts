import { writeFileSync } from 'node:fs'
import { it } from 'vitest'
import { buildZip, minimalNpz, npy } from './helpers.js'
it('writes', () => {
  writeFileSync('/tmp/h_zip64.npz', minimalNpz(4, { zip64: true, method: 8 }))
  writeFileSync('/tmp/h_zip64s.npz', minimalNpz(4, { zip64: true, method: 0 }))
  writeFileSync('/tmp/h_dd.npz', buildZip([{ name: 'features.npy', data: npy('>f4', [2, 3], { version: 2, fortran: true }), method: 8, dataDescriptor: true }, { name: 'values.npy', data: npy('<f4', [2], { version: 3 }), dataDescriptor: true }]))
})
