import type { ApiServer } from './server.js'
import { BadRequestError, RawResponse } from './server.js'
import { ApiRefusedError, type RequestGuard } from './guard.js'

function field(body: unknown, name: string): string {
  const v = body != null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  if (typeof v !== 'string' || v === '') throw new BadRequestError(`expected a JSON object with '${name}'`)
  return v
}

/**
 * The dashboard's session: a login with the key (or the one-time token in the
 * URL that `meshsync dashboard` prints) sets an HttpOnly, SameSite=Strict
 * cookie; the answer carries the session's CSRF token, which the page sends
 * back in X-CSRF-Token on every change.
 */
export function registerAuthRoutes(api: ApiServer, guard: RequestGuard): void {
  const session = (s: { sid: string; csrf: string }): RawResponse =>
    new RawResponse(200, 'application/json; charset=utf-8', JSON.stringify({ authenticated: true, csrf: s.csrf }), { 'set-cookie': guard.sessionCookie(s.sid), 'cache-control': 'no-store' })
  api
    .route('POST', '/auth/login', (req) => session(guard.login(req.raw.socket.remoteAddress ?? 'unknown', field(req.body, 'key'))), { public: true })
    .route('POST', '/auth/exchange', (req) => session(guard.exchange(field(req.body, 'token'))), { public: true })
    .route(
      'GET',
      '/auth/session',
      (req) => (req.caller.via === 'session' ? { authenticated: true, csrf: req.caller.csrf } : { authenticated: req.caller.via === 'key', beyondLoopback: guard.beyondLoopback }),
      { public: true },
    )
    .route(
      'POST',
      '/auth/logout',
      (req) => {
        guard.logout(req.raw)
        return new RawResponse(200, 'application/json; charset=utf-8', '{"authenticated":false}', { 'set-cookie': `${guard.cookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict` })
      },
      { public: true },
    )
    .route('POST', '/auth/token', (req) => {
      // only with the key itself: a session cannot mint links
      if (req.caller.via !== 'key') throw new ApiRefusedError('ERR_NO_KEY', 'POST /auth/token needs the API key itself', 401)
      return { token: guard.oneTimeToken(), expiresInSeconds: 120 }
    })
}
