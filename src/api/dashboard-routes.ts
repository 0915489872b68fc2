import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MeshsyncNode } from '../node.js'
import { NotFoundError } from '../util/errors.js'
import { clusterHealth } from './cluster-health.js'
import { DashboardModel } from './dashboard-model.js'
import { BadRequestError, RawResponse, type ApiServer } from './server.js'

const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/dashboard/app.js': 'app.js',
  '/dashboard/style.css': 'style.css',
  '/dashboard/charts.js': 'charts.js',
  '/favicon.ico': 'favicon.svg',
}
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
}
/** The page loads nothing but its own files and talks only to this node; it cannot be framed. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

/** The page's files, next to this module in the source tree (dist/ reads them from src/api/dashboard). */
function assetDir(): string {
  const here = import.meta.dirname
  for (const d of [join(here, 'dashboard'), join(here, '..', '..', '..', 'src', 'api', 'dashboard')]) if (existsSync(join(d, 'index.html'))) return d
  throw new NotFoundError(`the dashboard's files are not next to ${here}`)
}

function int(v: string | null, dflt: number, max: number): number {
  if (v == null || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new BadRequestError(`expected a non-negative integer, got '${v}'`)
  return Math.min(n, max)
}

/** The web dashboard (a static page, no build step) and the read routes it polls. */
export function registerDashboardRoutes(api: ApiServer, node: MeshsyncNode): DashboardModel {
  const model = new DashboardModel(node)
  const dir = assetDir()
  for (const [path, file] of Object.entries(ASSETS)) {
    const body = readFileSync(join(dir, file))
    const type = TYPES[file.slice(file.lastIndexOf('.') + 1)]!
    api.route('GET', path, () => new RawResponse(200, type, body, SECURITY_HEADERS), { public: true })
  }
  api
    .route('GET', '/ui/overview', async () => ({ ...(await model.overview()), health: await clusterHealth(node) }))
    .route('GET', '/ui/files', (req) => {
      const q = req.query
      return model.files({
        kind: q.get('kind') ?? undefined,
        policy: q.get('policy') ?? undefined,
        glob: q.get('glob') ?? undefined,
        under: q.get('under') === 'true',
        holder: q.get('holder') ?? undefined,
        offset: int(q.get('offset'), 0, Number.MAX_SAFE_INTEGER),
        limit: int(q.get('limit'), 50, 500),
      })
    })
    .route('GET', '/ui/file', (req) => {
      const sha = req.query.get('sha256') ?? ''
      if (!/^[0-9a-f]{64}$/.test(sha)) throw new BadRequestError('sha256 must be 64 lower-case hex digits')
      const f = model.file(sha)
      if (f == null) throw new NotFoundError(`no file ${sha} known in the cluster`)
      return f
    })
  return model
}
