/**
 * The simulator's credentials: JWTs signed with its own HMAC key (so a
 * tampered or foreign token is refused, as on the real platform) and opaque
 * `sdp-app-session` strings bound to the token they were issued with.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export interface IssuedCredentials {
  jmToken: string
  sdpSession: string
  /** The gateway cookie set on login (`name=value`). */
  cookie: string
  username: string
  expiresAt: Date
}

export interface TokenCheck {
  ok: boolean
  username?: string
  /** Why it was refused, for the simulator's own log. */
  reason?: string
}

/**
 * Issues and checks credentials for one simulated platform.
 *
 * @example
 * const tokens = createTokenIssuer({ ttlMs: 3 * 3600_000 })
 * const { jmToken, sdpSession } = tokens.issue('alice')
 */
export function createTokenIssuer(options: { ttlMs: number; now?: () => number }) {
  const key = randomBytes(32)
  const now = options.now ?? Date.now
  // sdp-app-session → token id (jti) it was issued with.
  const sessions = new Map<string, string>()
  const revoked = new Set<string>()
  let ttlMs = options.ttlMs

  const sign = (data: string) => createHmac('sha256', key).update(data).digest('base64url')

  function issue(username: string, ttl = ttlMs): IssuedCredentials {
    const iat = Math.floor(now() / 1000)
    const exp = Math.floor((now() + ttl) / 1000)
    const jti = randomBytes(8).toString('hex')
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
    const payload = Buffer.from(
      JSON.stringify({
        iat,
        exp,
        jti,
        sub: username,
        extend: { account: username, email: `${username}@student.xjtlu.edu.cn`, name: `Simulated ${username}` },
      }),
    ).toString('base64url')
    const jmToken = `${header}.${payload}.${sign(`${header}.${payload}`)}`
    const sdpSession = `sdp-${randomBytes(24).toString('hex')}`
    sessions.set(sdpSession, jti)
    return {
      jmToken,
      sdpSession,
      cookie: `sdp_app_session=${sdpSession}`,
      username,
      expiresAt: new Date(exp * 1000),
    }
  }

  function check(jmToken: string | undefined, sdpSession: string | undefined): TokenCheck {
    if (!jmToken) return { ok: false, reason: 'no jm-token header' }
    const [header, payload, signature] = jmToken.split('.')
    if (!header || !payload || !signature) return { ok: false, reason: 'jm-token is not a JWT' }
    const expected = Buffer.from(sign(`${header}.${payload}`))
    const given = Buffer.from(signature)
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad signature' }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp: number; jti: string; sub: string }
    if (claims.exp * 1000 <= now()) return { ok: false, reason: 'token expired' }
    if (revoked.has(claims.jti)) return { ok: false, reason: 'token revoked' }
    if (!sdpSession || sessions.get(sdpSession) !== claims.jti) return { ok: false, reason: 'sdp-app-session does not belong to this token' }
    return { ok: true, username: claims.sub }
  }

  return {
    issue,
    check,
    /** Invalidates every token issued so far (a logout elsewhere, a server restart). */
    revokeAll(): void {
      for (const jti of sessions.values()) revoked.add(jti)
    },
    /** Changes the lifetime of tokens issued from now on. */
    setTtl(ms: number): void {
      ttlMs = ms
    },
  }
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>
