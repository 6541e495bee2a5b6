/**
 * What keeps web pages away from the account: the `Host` check against DNS
 * rebinding, the `Origin` check against cross-site requests, and the JSON
 * content type that a browser cannot send without asking first. Each runs
 * before the API key, the body and the platform.
 *
 * The Host check follows Ollama's fix for CVE-2024-28224: a page on a domain
 * the attacker controls can point that domain at 127.0.0.1 after it loaded
 * (DNS rebinding) and then read our answers as same-origin. The browser still
 * sends the attacker's name in `Host`, so a server on loopback answers only
 * names that can never be rebound: loopback addresses, `localhost`,
 * `*.localhost` (RFC 6761: browsers resolve them to loopback themselves).
 */
import { hostname as osHostname, networkInterfaces } from 'node:os'
import ipaddr from 'ipaddr.js'
import { XipuError } from '../errors.ts'

export interface GuardSettings {
  /** The address the server listens on (`HOST`). */
  bindHost: string
  /** `XIPU_ALLOWED_HOSTS`: more names to answer; `*` turns the Host check off. */
  allowedHosts: string[]
  /** `XIPU_CORS_ORIGINS` as in force (without `*` when there is no API key). */
  corsOrigins: string[]
}

/** Methods whose request may carry a body that a handler reads. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Throws 403 `E_HOST_NOT_ALLOWED` unless the `Host` header names this
 * machine in a way no other site can take over. A request without `Host`
 * (HTTP/1.0) comes from no browser and passes.
 *
 * @example
 * checkHost('localhost:8000', { bindHost: '127.0.0.1', allowedHosts: [], corsOrigins: [] }) // passes
 * checkHost('evil.example:8000', { bindHost: '127.0.0.1', allowedHosts: [], corsOrigins: [] }) // throws
 */
export function checkHost(hostHeader: string | null | undefined, settings: GuardSettings): void {
  if (settings.allowedHosts.includes('*') || hostHeader == null) return
  if (isHostAllowed(hostHeader, settings)) return
  const shown = hostHeader.slice(0, 200)
  throw new XipuError(
    'E_HOST_NOT_ALLOWED',
    `Host '${shown}' is not allowed: the adapter answers only requests addressed to ${_describeBind(settings.bindHost)}, ` +
      `so that a web page on another name cannot reach it through DNS rebinding. ` +
      `To use this name (a reverse proxy, a container name), add it to XIPU_ALLOWED_HOSTS (comma separated; * turns the check off).`,
  )
}

/** Whether `hostHeader` (with or without a port) is one this server answers. */
export function isHostAllowed(hostHeader: string, settings: Pick<GuardSettings, 'bindHost' | 'allowedHosts'>): boolean {
  const name = _hostName(hostHeader)
  if (name === undefined) return false
  if (_isLoopbackName(name)) return true
  if (settings.allowedHosts.some((entry) => _matchesEntry(name, entry))) return true
  const bind = _hostName(settings.bindHost) ?? settings.bindHost.toLowerCase()
  if (_isLoopbackName(bind)) return false
  // Bound to another address: that address, and the machine's own names and addresses.
  if (name === bind) return true
  return _machineNames().has(_normalizeIp(name) ?? name)
}

/**
 * Throws 403 `E_ORIGIN_NOT_ALLOWED` for a browser request from a page whose
 * origin is not listed in `XIPU_CORS_ORIGINS` (`Origin: null` included).
 * Without this the browser would block only the reading of the answer, after
 * the completion had already spent the account. A page served by the adapter
 * itself (same origin as an allowed Host) passes.
 *
 * @example
 * checkOrigin('https://evil.example', 'localhost:8000', settings) // throws
 */
export function checkOrigin(origin: string | null | undefined, hostHeader: string | null | undefined, settings: GuardSettings): void {
  if (origin == null) return
  const wanted = normalizeOrigin(origin)
  if (settings.corsOrigins.includes('*')) return
  if (settings.corsOrigins.some((o) => normalizeOrigin(o) === wanted)) return
  if (hostHeader && _isSameOrigin(wanted, hostHeader, settings)) return
  const listed = settings.corsOrigins.length > 0 ? `listed there: ${settings.corsOrigins.join(', ')}` : 'none is listed now'
  throw new XipuError(
    'E_ORIGIN_NOT_ALLOWED',
    `Origin '${origin.slice(0, 200)}' is not allowed: web pages may call the adapter only from the origins in XIPU_CORS_ORIGINS (${listed}). ` +
      `Add this origin there if the page is yours.`,
  )
}

/**
 * Throws 415 `E_UNSUPPORTED_MEDIA_TYPE` for a request that carries a body
 * not declared `application/json`. Browsers send `text/plain` and form types
 * cross-site without a preflight; `application/json` always needs one.
 *
 * @example
 * checkContentType('POST', { get: (n) => ({ 'content-type': 'text/plain', 'content-length': '12' })[n] ?? null }) // throws
 */
export function checkContentType(method: string, headers: { get(name: string): string | null }): void {
  if (!BODY_METHODS.has(method.toUpperCase())) return
  const length = headers.get('content-length')
  const hasBody = headers.get('transfer-encoding') != null || (length != null && length.trim() !== '0')
  if (!hasBody) return
  const type = headers.get('content-type')
  if (type != null && isJsonContentType(type)) return
  throw new XipuError(
    'E_UNSUPPORTED_MEDIA_TYPE',
    `The request body must be JSON sent with 'content-type: application/json' (got ${type ? `'${type.slice(0, 100)}'` : 'no content type'}). ` +
      `Other types are refused because any web page can send them without asking.`,
    { param: 'content-type' },
  )
}

/** Whether a content type is JSON: `application/json`, with any parameters. */
export function isJsonContentType(type: string): boolean {
  return type.split(';')[0]!.trim().toLowerCase() === 'application/json'
}

/** An origin as browsers send it: lower case, no trailing slash. */
export function normalizeOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '')
}

/** The host name of a `Host` header or an address: lower case, no port, no brackets, no trailing dot. */
function _hostName(host: string): string | undefined {
  let name = host.trim().toLowerCase()
  if (name === '') return undefined
  if (name.startsWith('[')) {
    const end = name.indexOf(']')
    if (end === -1) return undefined
    const rest = name.slice(end + 1)
    if (rest !== '' && !/^:\d*$/.test(rest)) return undefined
    name = name.slice(1, end)
  } else if (name.split(':').length === 2) {
    const [bare, port] = name.split(':') as [string, string]
    if (!/^\d*$/.test(port)) return undefined
    name = bare
  }
  name = name.replace(/\.$/, '')
  // Anything but a name or an address (spaces, slashes, '@') is not a Host we serve.
  return /^[a-z0-9._:%-]+$/.test(name) ? name : undefined
}

function _isLoopbackName(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  const ip = _parseIp(name)
  return ip !== undefined && ip.range() === 'loopback'
}

function _parseIp(name: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = name.replace(/%.*$/, '')
  if (!ipaddr.isValid(bare)) return undefined
  try {
    // IPv4-mapped IPv6 (::ffff:127.0.0.1) counts as the IPv4 address it carries.
    return ipaddr.process(bare)
  } catch {
    return undefined
  }
}

function _normalizeIp(name: string): string | undefined {
  return _parseIp(name)?.toNormalizedString()
}

/** An `XIPU_ALLOWED_HOSTS` entry: a name or address (a port is ignored), or `*.example.com` for its subdomains. */
function _matchesEntry(name: string, entry: string): boolean {
  if (entry.startsWith('*.')) {
    const suffix = entry.slice(1).toLowerCase()
    return name.endsWith(suffix) && name.length > suffix.length
  }
  const wanted = _hostName(entry)
  if (wanted === undefined) return false
  if (wanted === name) return true
  const ip = _normalizeIp(wanted)
  return ip !== undefined && ip === _normalizeIp(name)
}

/** The machine's names and the addresses of its interfaces (read on each call: addresses change). */
function _machineNames(): Set<string> {
  const names = new Set<string>()
  const host = osHostname().toLowerCase()
  if (host) {
    names.add(host)
    // The mDNS name other machines on the LAN use.
    if (!host.includes('.')) names.add(`${host}.local`)
    else names.add(host.split('.')[0]!)
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const ip = _normalizeIp(info.address)
      if (ip) names.add(ip)
    }
  }
  return names
}

function _isSameOrigin(origin: string, hostHeader: string, settings: GuardSettings): boolean {
  // Only for a Host the built-in rules accept: with XIPU_ALLOWED_HOSTS=* a rebound name would pass as its own origin.
  if (!isHostAllowed(hostHeader, { ...settings, allowedHosts: settings.allowedHosts.filter((h) => h !== '*') })) return false
  const host = hostHeader.trim().toLowerCase()
  return origin === `http://${host}` || origin === `https://${host}`
}

function _describeBind(bindHost: string): string {
  const bind = _hostName(bindHost) ?? bindHost
  if (_isLoopbackName(bind)) return 'localhost (loopback addresses, localhost, *.localhost)'
  return `${bindHost}, this machine's names and addresses, and localhost`
}
