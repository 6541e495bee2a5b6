/**
 * The XJTLU username and password, as config.ts saves them: checked, then
 * written into `.env` together in one atomic write. The password is
 * registered as a secret the moment it is read, so no log can show it.
 */
import { updateEnvFile } from '../env-file.ts'
import { XipuError } from '../errors.ts'
import { registerSecret } from '../redact.ts'

/**
 * Saves `XJTLU_USERNAME` and `XJTLU_PASSWORD`, keeping every other line of
 * the file. Refuses (`E_CONFIG`, nothing written) an empty username or
 * password, or one that spans lines.
 *
 * @example
 * saveCredentials('.env', { username: 'San.Zhang21', password })
 */
export function saveCredentials(envFile: string, credentials: { username: string; password: string }): void {
  registerSecret(credentials.password)
  const username = credentials.username.trim()
  if (username === '') throw new XipuError('E_CONFIG', 'The username is empty: nothing was saved.')
  if (credentials.password === '') throw new XipuError('E_CONFIG', 'The password is empty: nothing was saved.')
  if (/[\r\n]/.test(username) || /[\r\n]/.test(credentials.password)) {
    throw new XipuError('E_CONFIG', 'The username and password must each be one line: nothing was saved.')
  }
  updateEnvFile(envFile, { XJTLU_USERNAME: username, XJTLU_PASSWORD: credentials.password })
}

/**
 * Reads a password piped to standard input (`--password-stdin`): all of it,
 * minus the one line ending that `echo` and most files add.
 *
 * @example
 * const password = await readPasswordFromStream(process.stdin)
 */
export async function readPasswordFromStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  registerSecret(password)
  return password
}
