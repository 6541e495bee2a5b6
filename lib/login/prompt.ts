/**
 * config.ts's questions: the XJTLU username (prefilled with the saved one)
 * and the password, hidden; both saved into `.env` only when both are given.
 */
import { cancel, intro, isCancel, outro, password, text } from '@clack/prompts'
import { saveCredentials } from './credentials.ts'

/**
 * Asks in the terminal and saves; resolves false when the user cancelled
 * (Ctrl-C or Esc), with nothing saved.
 *
 * @example
 * if (!(await askForCredentials(envFile, savedUsername))) return 1
 */
export async function askForCredentials(envFile: string, initialUsername?: string, options: { next?: string } = {}): Promise<boolean> {
  intro('XIPU AI: your XJTLU login')
  const username = await text({
    message: 'XJTLU username',
    placeholder: 'e.g. San.Zhang21',
    initialValue: initialUsername,
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
  outro(`Saved to ${envFile}. Next: ${options.next ?? 'npx tsx auth.ts'}`)
  return true
}

function _cancelled(): false {
  cancel('Cancelled: nothing was saved.')
  return false
}
