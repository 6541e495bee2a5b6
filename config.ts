/**
 * Saves your XJTLU username and password into `.env` (or the file
 * `XIPU_ENV_FILE` names), for auth.ts to log in with.
 *
 *   npx tsx config.ts                                      asks, password hidden
 *   npx tsx config.ts --username NAME --password-stdin     for scripts: password on stdin
 */
import { cancel, intro, isCancel, outro, password, text } from '@clack/prompts'
import { parseFlags, runMain } from './lib/cli.ts'
import { readPasswordFromStream, saveCredentials } from './lib/login/credentials.ts'
import { readEnvFile } from './lib/env-file.ts'
import { XipuError } from './lib/errors.ts'
import { createLogger } from './lib/log.ts'
import { resolveEnvFile } from './lib/settings.ts'

const USAGE = 'npx tsx config.ts [--username NAME] [--password-stdin]'
const log = createLogger('config')

runMain(async () => {
  const flags = parseFlags({ username: { type: 'string' }, 'password-stdin': { type: 'boolean' } }, USAGE)
  const envFile = resolveEnvFile()
  const savedUsername = readEnvFile(envFile).XJTLU_USERNAME

  if (flags['password-stdin']) {
    const username = flags.username ?? savedUsername
    if (!username) throw new XipuError('E_CONFIG', `--password-stdin needs --username NAME.\nUsage: ${USAGE}`, { exitCode: 2 })
    saveCredentials(envFile, { username, password: await readPasswordFromStream(process.stdin) })
    log.success(`Saved XJTLU_USERNAME=${username.trim()} and XJTLU_PASSWORD (hidden) to ${envFile}`)
    log.info('Next: npx tsx auth.ts')
    return 0
  }
  if (!process.stdin.isTTY) {
    throw new XipuError('E_CONFIG', `No terminal to ask in: pipe the password in instead.\nUsage: ${USAGE}`, { exitCode: 2 })
  }

  intro('XIPU AI: your XJTLU login')
  const username = await text({
    message: 'XJTLU username',
    placeholder: 'e.g. San.Zhang21',
    initialValue: flags.username ?? savedUsername,
    validate: (value) => (value?.trim() ? undefined : 'The username cannot be empty'),
  })
  if (isCancel(username)) return _cancelled()
  const secret = await password({
    message: 'XJTLU password (hidden)',
    mask: '•',
    validate: (value) => (value ? undefined : 'The password cannot be empty'),
  })
  if (isCancel(secret)) return _cancelled()
  saveCredentials(envFile, { username, password: secret })
  outro(`Saved to ${envFile}. Next: npx tsx auth.ts`)
  return 0
}, log)

function _cancelled(): number {
  cancel('Cancelled: nothing was saved.')
  return 1
}
