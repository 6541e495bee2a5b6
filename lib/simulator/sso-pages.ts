/**
 * The simulated SSO login pages and web app (see the login flow in the
 * protocol document). PLACEHOLDER: the login work replaces this file.
 */
import type { H3 } from 'h3'
import type { SimulatorState } from './state.ts'

/** Registers the web app and SSO pages on the simulator's origin. */
export function registerSsoPages(app: H3, state: SimulatorState): void {
  void app
  void state
}
