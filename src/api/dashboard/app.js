// The meshsync dashboard: polls the node's read routes every 2 s and follows its event stream (SSE).
import { bandwidthChart, bytes, copiesHistogram, diskBar, duration, h } from './charts.js'

const EVENT_TYPES = [
  'node_started', 'node_stopping', 'peer_joined', 'peer_suspect', 'peer_down', 'node_recovered', 'file_announced', 'file_removed',
  'sync_started', 'sync_completed', 'sync_failed', 'sync_cancelled', 'sync_deferred', 'sync_stalled', 'quarantined', 'chunk_rejected',
  'invalid_message', 'backpressure_activated', 'backpressure_released', 'model_promoted', 'model_distributed', 'npz_export_complete',
  'repair_started', 'file_deleted', 'cleanup_refused', 'disk_level_changed', 'evacuation_started', 'evacuation_finished',
]
const POLL_MS = 2000
const PAGE = 50
const state = { csrf: null, offset: 0, total: 0, selected: null, events: [], overview: null, names: new Map() }
const $ = (id) => document.getElementById(id)

class ApiError extends Error {}

async function api(method, path, body) {
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && state.csrf != null) headers['x-csrf-token'] = state.csrf
  const res = await fetch(path, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, credentials: 'same-origin' })
  const json = await res.json().catch(() => null)
  if (!res.ok) {
    const e = new ApiError(json?.error ?? `HTTP ${res.status}`)
    e.status = res.status
    throw e
  }
  return json
}

function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null))
}

function say(text, bad = false) {
  const m = $('action-msg')
  m.textContent = text
  m.className = bad ? 'under' : 'muted'
}

async function initAuth() {
  const params = new URLSearchParams(location.search)
  const token = params.get('token')
  if (token != null) {
    history.replaceState(null, '', location.pathname)
    try {
      state.csrf = (await api('POST', '/auth/exchange', { token })).csrf
    } catch (e) {
      $('login-msg').textContent = e.message
    }
  }
  const s = await api('GET', '/auth/session')
  if (s.authenticated && s.csrf != null) state.csrf = s.csrf
  showSession()
  return s
}

function showSession() {
  $('login').hidden = state.csrf != null
  $('session').hidden = state.csrf == null
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  try {
    state.csrf = (await api('POST', '/auth/login', { key: $('login-key').value })).csrf
    $('login-key').value = ''
    $('login-msg').textContent = ''
    showSession()
    if (state.onLogin != null) state.onLogin()
    else refresh()
  } catch (e) {
    $('login-msg').textContent = e.message
  }
})
$('logout').addEventListener('click', async () => {
  await api('POST', '/auth/logout', {}).catch(() => {})
  state.csrf = null
  showSession()
})

function renderVerdict(o) {
  const v = o.verdict
  const el = $('verdict')
  el.className = `verdict ${v.ok ? 'ok' : 'bad'}`
  el.dataset.ok = String(v.ok)
  if (v.ok) replace(el, h('strong', {}, 'All data has its copies'), ` · ${v.files} files`)
  else {
    const sole = v.soleHolders.map((s) => `${s.name} (${s.files})`).join(', ')
    replace(el, h('strong', {}, `${v.filesUnderMin} file(s) under their minimum`), ` · ${bytes(v.bytesAtRisk)} at risk · sync lag ${duration(v.syncLagMs)}`, sole ? ` · only copy on ${sole}` : '')
  }
  replace($('problems'), o.health.problems.map((p) => h('li', {}, `${p.message} → ${p.action}`)))
}

function since(ms, now) {
  return `${new Date(ms).toLocaleTimeString()} (${duration(now - ms)})`
}

function renderNodes(o) {
  const rows = o.nodes.map((n) =>
    h(
      'tr',
      { class: n.state, 'data-node': n.name, 'data-state': n.state },
      h('td', {}, n.name, n.self ? ' (this node)' : ''),
      h('td', {}, n.role),
      h('td', {}, n.provider),
      h('td', { class: `state-${n.state}` }, n.state, h('span', { class: 'muted' }, ` since ${since(n.stateSinceMs, o.nowMs)}`)),
      h('td', {}, n.disk ? diskBar(n.disk.usedFraction, o.thresholds) : '–'),
      h('td', {}, n.disk ? bytes(n.disk.free) : '–'),
      h('td', {}, n.accepting ? 'yes' : 'backpressure'),
      h('td', {}, n.files),
      h('td', {}, n.rate ? `${bytes(n.rate.in)}/s / ${bytes(n.rate.out)}/s` : `${n.transfersActive} active`),
      h('td', {}, n.version),
    ),
  )
  replace($('nodes').tBodies[0], rows)
  for (const n of o.nodes) state.names.set(n.peerId, n.name)
}

function setOptions(select, values, first) {
  const cur = select.value
  const want = [first, ...values]
  const have = [...select.options].map((o) => o.value)
  if (have.join('\n') === ['', ...values].join('\n')) return
  replace(select, want.map((v, i) => h('option', { value: i === 0 ? '' : v }, v)))
  select.value = values.includes(cur) ? cur : ''
}

function renderPolicies(o) {
  replace(
    $('policies'),
    o.policies.map((p) =>
      h('div', { class: 'policy', 'data-policy': p.name }, h('strong', {}, p.name), h('div', { class: 'muted' }, `${p.files} files · ${bytes(p.bytes)} · min ${p.minCopies} / max ${p.maxCopies}`), copiesHistogram(p)),
    ),
  )
  const form = $('file-filter')
  setOptions(form.elements.policy, o.policies.map((p) => p.name), 'any')
  setOptions(form.elements.holder, o.nodes.map((n) => n.name), 'anyone')
}

function filterQuery() {
  const f = $('file-filter').elements
  const q = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE) })
  for (const k of ['kind', 'policy', 'glob', 'holder']) if (f[k].value !== '') q.set(k, f[k].value)
  if (f.under.checked) q.set('under', 'true')
  return q
}

async function loadFiles() {
  const r = await api('GET', `/ui/files?${filterQuery()}`)
  state.total = r.total
  const rows = r.items.map((f) =>
    h(
      'tr',
      { 'data-sha': f.sha256, 'data-path': f.path, 'data-copies': f.copies },
      h('td', { class: 'path' }, h('button', { type: 'button', class: 'link', onclick: () => showFile(f.sha256) }, f.path)),
      h('td', {}, f.kind),
      h('td', {}, f.policy),
      h('td', {}, bytes(f.size)),
      h('td', { class: f.under ? 'under' : '' }, `${f.copies} / ${f.minCopies}`),
      h('td', {}, f.holders.join(', ')),
    ),
  )
  replace($('files').tBodies[0], rows)
  const last = Math.min(state.offset + PAGE, r.total)
  $('page-info').textContent = r.total === 0 ? 'no files match' : `${state.offset + 1}–${last} of ${r.total}`
  $('prev').disabled = state.offset === 0
  $('next').disabled = last >= r.total
}

async function showFile(sha) {
  state.selected = sha
  const d = await api('GET', `/ui/file?sha256=${sha}`)
  const box = $('file-detail')
  const held = d.holders.some((x) => x.name === state.overview?.node.name)
  replace(
    box,
    h('h3', {}, d.path, ' ', h('button', { type: 'button', onclick: () => { box.hidden = true; state.selected = null } }, 'Close')),
    h('p', {}, `${bytes(d.size)} · ${d.kind} · policy ${d.policy.name} (min ${d.policy.minCopies}, max ${d.policy.maxCopies}) · ${d.verifiedCopies} verified copies · origin ${d.origin}${d.promoted ? ' · promoted' : ''}`),
    h('p', { class: 'muted' }, `sha256 ${d.sha256}`, d.infoHash ? ` · infoHash ${d.infoHash}` : ''),
    h('p', {}, 'Holders: ', d.holders.map((x) => `${x.name} (${x.state}${x.counts ? ', counts' : ', does not count'})`).join(', ') || 'none'),
    h('p', {}, 'Placement wants: ', d.desired.join(', ') || '–'),
    held ? null : h('button', { type: 'button', onclick: () => doFetch(d.sha256) }, 'Fetch to this node'),
    h('h4', {}, 'Events (attestations are on file_deleted)'),
    h('ol', { class: 'events' }, d.events.map((e) => h('li', {}, eventLine(e)))),
  )
  box.hidden = false
}

function renderTransfers(o) {
  replace($('bandwidth'), bandwidthChart(o.bandwidth))
  const active = o.transfers.filter((t) => t.state !== 'failed')
  const failed = o.transfers.filter((t) => t.state === 'failed')
  const line = (t) => {
    const p = t.progress
    const pct = p ? (p.bytes / Math.max(1, p.total)) * 100 : 0
    const eta = p && p.rate > 0 ? duration(((p.total - p.bytes) / p.rate) * 1000) : '–'
    const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(0), 'aria-label': `${t.path} progress` }, h('div', {}))
    bar.firstChild.style.width = `${pct}%`
    return h(
      'div',
      { class: 'transfer', 'data-sha': t.sha256, 'data-state': t.state },
      h('div', {}, h('strong', {}, t.path), ` · ${t.state} · ${t.priority} · ${t.reason}`),
      bar,
      h('div', { class: 'muted' }, p ? `${bytes(p.bytes)} of ${bytes(p.total)} · ${bytes(p.rate)}/s · ETA ${eta} · ${p.sources.length} source(s) via ${p.via}` : `${bytes(t.size)} · attempts ${t.attempts}${t.lastError ? ` · ${t.lastError}` : ''}`),
    )
  }
  replace(
    $('transfers'),
    h('h3', {}, `Queue (${active.length}${o.transfersTotal > o.transfers.length ? ` of ${o.transfersTotal}` : ''})`),
    active.length === 0 ? h('p', { class: 'muted' }, 'nothing moving') : active.map(line),
    failed.length > 0 ? [h('h3', {}, 'Recent failures'), failed.map((t) => h('div', { class: 'transfer' }, h('strong', {}, t.path), ` · ${t.lastError ?? 'failed'} (after ${t.attempts} attempts)`))] : null,
  )
}

async function confirmThen(text, fn) {
  const dlg = $('confirm')
  $('confirm-text').textContent = text
  dlg.returnValue = ''
  dlg.showModal()
  $('confirm-ok').focus()
  await new Promise((r) => dlg.addEventListener('close', r, { once: true }))
  if (dlg.returnValue === 'ok') await fn()
}

function needLogin() {
  if (state.csrf != null) return false
  say('log in with the API key first (the key is in DATA_DIR/.meshsync/api.key; `meshsync dashboard` prints a link)', true)
  $('login-key').focus()
  return true
}

async function action(label, fn) {
  if (needLogin()) return
  try {
    say(`${label}: ${await fn()}`)
  } catch (e) {
    say(`${label} failed: ${e.message}`, true)
  }
  refresh()
}

async function loadQuarantine() {
  const list = await api('GET', '/quarantine')
  const rows = list.map((q) =>
    h(
      'tr',
      { 'data-id': q.id, 'data-path': q.path },
      h('td', { class: 'path' }, q.path),
      h('td', { class: 'path' }, q.reason),
      h('td', {}, q.foundAt),
      h('td', {}, bytes(q.size)),
      h(
        'td',
        {},
        h('button', { type: 'button', onclick: () => confirmThen(`Release ${q.path}? It goes back under its name and is announced as good.`, () => action('release', async () => `released to ${(await api('POST', '/quarantine/release', { id: q.id })).path}`)) }, 'Release'),
        ' ',
        h('button', { type: 'button', class: 'danger', onclick: () => confirmThen(`Delete ${q.path} for good?`, () => action('purge', async () => `purged ${(await api('POST', '/quarantine/purge', { id: q.id })).length} file(s)`)) }, 'Purge'),
      ),
    ),
  )
  replace($('quarantine').tBodies[0], rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'nothing in quarantine'))])
}

function doFetch(sha256) {
  return action('fetch', async () => `${(await api('POST', '/fetch', { sha256 })).state} ${sha256.slice(0, 12)}…`)
}

$('fetch-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  doFetch($('fetch-sha').value.trim())
})
$('promote-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const v = $('promote-file').value.trim()
  action('promote', async () => `promoted ${(await api('POST', '/promote', /^[0-9a-f]{64}$/.test(v) ? { sha256: v } : { path: v })).path}`)
})
$('file-filter').addEventListener('input', () => {
  state.offset = 0
  loadFiles().catch(() => {})
})
$('file-filter').addEventListener('submit', (ev) => ev.preventDefault())
$('prev').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - PAGE)
  loadFiles().catch(() => {})
})
$('next').addEventListener('click', () => {
  state.offset += PAGE
  loadFiles().catch(() => {})
})

function eventLine(e) {
  const who = e.peer ? ` ${state.names.get(e.peer) ?? e.peer.slice(0, 12)}` : ''
  const data = e.data ? ` ${JSON.stringify(e.data)}` : ''
  return `${new Date(e.timeMs).toLocaleTimeString()} ${e.type}${who}${e.path ? ` ${e.path}` : ''}${data}`
}

function renderEvents() {
  const f = $('event-filter').elements
  const type = f.type.value
  const peer = f.peer.value.trim().toLowerCase()
  const shown = state.events.filter((e) => (type === '' || e.type === type) && (peer === '' || (e.peer ?? '').toLowerCase().includes(peer) || (state.names.get(e.peer) ?? '').toLowerCase().includes(peer)))
  replace($('events'), shown.slice(-300).reverse().map((e) => h('li', { 'data-type': e.type }, eventLine(e))))
}

function followEvents(sinceId) {
  const es = new EventSource(`/events/stream?since=${sinceId}`)
  let pending = false
  const onEvent = (m) => {
    const e = JSON.parse(m.data)
    state.events.push(e)
    if (state.events.length > 1000) state.events.splice(0, state.events.length - 1000)
    if (!pending) {
      pending = true
      requestAnimationFrame(() => {
        pending = false
        renderEvents()
      })
    }
  }
  for (const t of EVENT_TYPES) es.addEventListener(t, onEvent)
}

setOptions($('event-filter').elements.type, EVENT_TYPES, 'all')
$('event-filter').addEventListener('input', renderEvents)
$('event-filter').addEventListener('submit', (ev) => ev.preventDefault())

// while something moves, its progress bars follow every 500 ms (the rest of the page every 2 s)
let fastBusy = false
async function refreshTransfers() {
  const o = state.overview
  if (fastBusy || o == null || !o.transfers.some((t) => t.state === 'active')) return
  fastBusy = true
  try {
    const list = await api('GET', '/transfers')
    o.transfers = list.slice(0, 200)
    o.transfersTotal = list.length
    renderTransfers(o)
  } catch {
    // the next full refresh says what is wrong
  } finally {
    fastBusy = false
  }
}

let busy = false
async function refresh() {
  if (busy) return
  busy = true
  try {
    const o = await api('GET', '/ui/overview')
    state.overview = o
    $('self-name').textContent = `${o.node.name} · ${o.node.version}`
    renderVerdict(o)
    renderNodes(o)
    renderPolicies(o)
    renderTransfers(o)
    await Promise.all([loadFiles(), loadQuarantine(), state.selected != null && !$('file-detail').hidden ? showFile(state.selected) : null])
    document.body.dataset.updatedAt = String(Date.now())
  } catch (e) {
    if (e.status === 401) {
      $('login').hidden = false
      replace($('verdict'), h('strong', {}, 'log in with the API key to see this node'))
    } else replace($('verdict'), h('strong', {}, `node unreachable: ${e.message}`))
  } finally {
    busy = false
  }
}

async function main() {
  const session = await initAuth()
  if (state.csrf == null && session.beyondLoopback) {
    // beyond loopback every read needs the key: ask for it before asking for anything else
    replace($('verdict'), h('strong', {}, 'log in with the API key to see this node'))
    $('login-key').focus()
    await new Promise((resolve) => {
      state.onLogin = resolve
    })
    state.onLogin = null
  }
  await refresh()
  const backlog = await api('GET', '/events?limit=200').catch(() => [])
  state.events = backlog
  renderEvents()
  followEvents(backlog.length > 0 ? backlog[backlog.length - 1].id : 0)
  setInterval(refresh, POLL_MS)
  setInterval(refreshTransfers, 500)
}

main()
