import { it } from 'vitest'
import { validateFile } from '../../src/validate/index.js'
async function measure(path: string) {
  const start = process.memoryUsage.rss(); let peak = start
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 2)
  const t0 = performance.now()
  const v = await validateFile(path, 'npz', { depth: 'deep' })
  clearInterval(t)
  return `${v.ok} ${((performance.now() - t0)/1000).toFixed(2)}s +${((peak - start) / 2 ** 20).toFixed(0)}`
}
it('bench', async () => {
  const r = []
  for (let i = 0; i < 8; i++) r.push(await measure('/tmp/bench_h_deflate.npz'))
  console.log('BENCH', process.env.CHUNK, r.join(' | '))
}, 300000)
