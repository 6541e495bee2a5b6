/**
 * Saves your XJTLU username and password into `.env` (or the file
 * `XIPU_ENV_FILE` names), for auth.ts to log in with.
 *
 *   npx tsx config.ts                                      asks, password hidden
 *   npx tsx config.ts --username NAME --password-stdin     for scripts: password on stdin
 */
import { runScript, usageError } from './lib/cli.ts'
import { readPasswordFromStream, saveCredentials } from './lib/login/credentials.ts'
import { askForCredentials } from './lib/login/prompt.ts'
import { readEnvFile } from './lib/env-file.ts'
import { resolveEnvFile } from './lib/settings.ts'

runScript({
  script: 'config.ts',
  about: 'Saves your XJTLU username and password into .env (mode 0600), for auth.ts to log in with. Asks, with the password hidden, unless --password-stdin.',
  flags: {
    username: { type: 'string', valueName: 'NAME', description: 'your XJTLU username (asked for when missing)' },
    'password-stdin': { type: 'boolean', description: 'read the password from standard input, for scripts (needs --username once)' },
  },
  async main({ flags, log }) {
    const envFile = resolveEnvFile()
    const username = flags.username ?? readEnvFile(envFile).XJTLU_USERNAME
    if (flags['password-stdin']) {
      if (!username) throw usageError('--password-stdin needs --username NAME.')
      saveCredentials(envFile, { username, password: await readPasswordFromStream(process.stdin) })
      log.success(`Saved XJTLU_USERNAME=${username.trim()} and XJTLU_PASSWORD (hidden) to ${envFile}`)
      log.info('Next: npx tsx auth.ts')
      return 0
    }
    if (!process.stdin.isTTY) throw usageError('No terminal to ask in: pipe the password in with --password-stdin instead.')
    return (await askForCredentials(envFile, username)) ? 0 : 1
  },
})
