/**
 * Which addresses the adapter may fetch an image from. A client's image URL
 * is fetched by the adapter, on the user's machine: without this check a
 * request could make it read the router's admin page, a cloud metadata
 * service or anything else on the local network (server-side request
 * forgery). Only public unicast addresses are fetched, unless the user allows
 * private ones (`XIPU_IMAGE_FETCH_PRIVATE`) or names a host
 * (`XIPU_IMAGE_FETCH_ALLOW`).
 */
import ipaddr from 'ipaddr.js'

/** Ranges never fetched, even with private addresses allowed: they name no single host. */
const NEVER = new Set(['unspecified', 'broadcast', 'multicast'])

export interface AddressPolicy {
  /** Loopback, private, link-local, unique-local and the other non-public ranges are allowed too. */
  allowPrivate: boolean
}

/**
 * Why `ip` may not be fetched from (the name of its range, like `loopback`),
 * or undefined when it may. An IPv4 address mapped into IPv6 is judged as
 * the IPv4 address it is.
 *
 * @example
 * refusedRange('127.0.0.1', { allowPrivate: false }) // 'loopback'
 * refusedRange('93.184.216.34', { allowPrivate: false }) // undefined
 */
export function refusedRange(ip: string, policy: AddressPolicy): string | undefined {
  let range: string
  try {
    range = ipaddr.process(ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '')).range()
  } catch {
    return 'unparsable'
  }
  if (NEVER.has(range)) return range
  if (range === 'unicast' || policy.allowPrivate) return undefined
  return range
}

/**
 * Whether `hostname` (as in a URL, IPv6 in brackets or not) is one the user
 * listed in `XIPU_IMAGE_FETCH_ALLOW`: fetched whatever it resolves to.
 *
 * @example
 * isAllowedHost('Intranet.example.edu', ['intranet.example.edu']) // true
 */
export function isAllowedHost(hostname: string, allowed: readonly string[]): boolean {
  const bare = _bare(hostname)
  return allowed.some((entry) => _bare(entry) === bare)
}

/** Whether `hostname` is an IP address rather than a name (a name goes through DNS). */
export function isIpLiteral(hostname: string): boolean {
  return ipaddr.isValid(hostname.replace(/^\[|\]$/g, ''))
}

function _bare(host: string): string {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
  // One spelling per address: ::ffff:127.0.0.1 and 127.0.0.1 are the same host.
  return ipaddr.isValid(h) ? ipaddr.process(h).toString() : h
}
