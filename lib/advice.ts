/**
 * What to tell a user to run for a usable token. auth.ts logs in with the
 * username and password config.ts saved, so without them the advice must
 * start with config.ts, or the user meets a second error on the way.
 */

/** The login a `.env` allows. */
export interface SavedLogin {
  username?: string
  password?: string
}

/**
 * @example
 * loginAdvice({}) // 'run npx tsx config.ts, then npx tsx auth.ts'
 * loginAdvice({ username: 'a', password: 'b' }) // 'run npx tsx auth.ts'
 */
export function loginAdvice(saved: SavedLogin): string {
  return saved.username && saved.password ? 'run npx tsx auth.ts' : 'run npx tsx config.ts, then npx tsx auth.ts'
}
