/**
 * Finds the user's own Chrome, Chromium or Edge: we drive the installed
 * browser through puppeteer-core and never download one. `CHROME_PATH` wins;
 * otherwise chrome-launcher's locator (Chrome and Chromium on Windows, macOS,
 * Linux and WSL), then the usual Edge and distribution paths it does not know.
 */
import { statSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Launcher } from 'chrome-launcher'
import { XipuError } from '../errors.ts'

const CHROME_PATH_HINT = {
  win32: String.raw`CHROME_PATH=C:\Program Files\Google\Chrome\Application\chrome.exe`,
  darwin: 'CHROME_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"',
  linux: 'CHROME_PATH=/usr/bin/chromium',
} as Record<string, string>

/**
 * The browser executable to use. Throws `E_NO_CHROME`, saying how to set
 * `CHROME_PATH`, when `chromePath` does not exist or nothing is installed.
 *
 * @example
 * const executablePath = findChrome(settings.chromePath)
 */
export function findChrome(chromePath?: string): string {
  const hint = `Install Chrome, Chromium or Edge, or add the path of its executable to .env, e.g. ${CHROME_PATH_HINT[process.platform] ?? CHROME_PATH_HINT.linux}`
  if (chromePath) {
    if (_isFile(chromePath)) return chromePath
    throw new XipuError('E_NO_CHROME', `CHROME_PATH=${chromePath} is not a browser executable (no such file). ${hint}`)
  }
  const found = listBrowserCandidates().find(_isFile)
  if (found) return found
  throw new XipuError('E_NO_CHROME', `No Chrome, Chromium or Edge was found. ${hint}`)
}

/** Every known place a browser may be, best first (they may not exist). */
export function listBrowserCandidates(): string[] {
  let installations: string[] = []
  try {
    installations = Launcher.getInstallations()
  } catch {
    // chrome-launcher throws when it finds nothing, or on an unknown platform.
  }
  return [...new Set([...installations, ..._extraCandidates()])]
}

// Edge (chrome-launcher knows only Chrome and Chromium) and distribution
// packages that its `which` lookup can miss (no `which`, or a snap).
function _extraCandidates(): string[] {
  if (process.platform === 'win32') {
    const roots = [process.env['PROGRAMFILES(X86)'] ?? 'C:\\Program Files (x86)', process.env.PROGRAMFILES ?? 'C:\\Program Files', process.env.LOCALAPPDATA]
    return roots.filter((root): root is string => !!root).map((root) => join(root, 'Microsoft', 'Edge', 'Application', 'msedge.exe'))
  }
  if (process.platform === 'darwin') {
    const app = join('Microsoft Edge.app', 'Contents', 'MacOS', 'Microsoft Edge')
    return [join('/Applications', app), join(homedir(), 'Applications', app)]
  }
  const onPath = ['google-chrome-stable', 'google-chrome', 'chromium', 'chromium-browser', 'microsoft-edge-stable', 'microsoft-edge']
  return [
    ...onPath.flatMap(_findOnPath),
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/snap/bin/chromium',
    '/usr/bin/microsoft-edge',
    '/opt/microsoft/msedge/msedge',
  ]
}

function _findOnPath(name: string): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name)).filter(_isFile)
}

function _isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
