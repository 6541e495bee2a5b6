/**
 * A login leaves nothing behind: real Chromium logs into the simulator, whose
 * chat page either calls the API as it loads, or needs a click on "New Chat"
 * that lists the chats, or (the stricter stand-in) one that creates a
 * session. In every mode the account holds exactly the sessions it held
 * before, the user's own web chats untouched, and no call broke the rate limit.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { loginWithSettings } from '../lib/login/browser.ts'
import { findChrome } from '../lib/login/find-chrome.ts'
import { loadSettings } from '../lib/settings.ts'
import { CHAT_PAGE_MODES, startSimulator, type ChatPageMode, type RunningSimulator } from '../lib/simulator/index.ts'
import { WEB_CHATS } from './support/platform.ts'
import { runScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const PASSWORD = 'demo-password'
// The platform's gap is kept by the page and by the login's delete alike: a short one keeps the test quick.
const GAP_MS = 300
let chromePath: string
const simulators: RunningSimulator[] = []

before(() => {
  chromePath = findChrome(process.env.CHROME_PATH)
})
after(async () => {
  await Promise.all(simulators.map((sim) => sim.close()))
})

async function startSim(chatPage: ChatPageMode, minGapMs = GAP_MS): Promise<RunningSimulator> {
  const sim = await startSimulator({ users: { demo: PASSWORD }, minGapMs, seedWebChats: WEB_CHATS, chatPage })
  simulators.push(sim)
  return sim
}

function sessionsOf(sim: RunningSimulator): Array<{ id: number; name: string }> {
  return sim.state.sessionsOf('demo').map((s) => ({ id: s.id, name: s.name }))
}

function envFor(envFile: string, sim: RunningSimulator, minGapMs = GAP_MS): void {
  const lines = [`XIPU_WEB_BASE=${sim.webBase}`, `CHROME_PATH=${chromePath}`, 'XJTLU_USERNAME=demo', `XJTLU_PASSWORD=${PASSWORD}`, `XIPU_MIN_GAP_MS=${minGapMs}`]
  writeFileSync(envFile, `${lines.join('\n')}\n`)
}

describe('a login leaves nothing', { concurrency: 2 }, () => {
  for (const mode of CHAT_PAGE_MODES) {
    test(`chat page ${mode}: a login leaves the session count unchanged and the web chats untouched`, async (t) => {
      const sim = await startSim(mode)
      const before = sessionsOf(sim)
      const { envFile } = makeTempDir(t)
      envFor(envFile, sim)
      const settings = loadSettings({ envFile, env: {} })

      const result = await loginWithSettings(settings)
      assert.equal(result.source, 'request')
      assert.equal(sim.state.tokens.check(result.jmToken, result.sdpSession).ok, true, 'the captured credentials work')
      assert.deepEqual(sessionsOf(sim), before, 'exactly the sessions of before: the web chats, nothing added, nothing deleted')
      assert.equal(sim.state.rateLimited, 0, 'the page and the login kept the gap')

      const saves = sim.state.calls.filter((c) => c.endpoint === 'saveSession')
      const deletes = sim.state.calls.filter((c) => c.endpoint === 'delSession')
      if (mode === 'creates-on-click') {
        // The click created one session; exactly that one was deleted.
        assert.equal(saves.length, 1)
        assert.equal(deletes.length, 1)
        assert.equal(deletes[0]!.status, 200)
        const created = result.newChat?.deleted
        assert.equal(created?.length, 1)
        assert.deepEqual((deletes[0]!.body as { ids: number[] }).ids, created)
        assert.ok(!before.some((s) => s.id === created![0]), 'a session of the login, not of the user')
        assert.ok(deletes[0]!.at - Math.max(...sim.state.calls.filter((c) => c !== deletes[0]).map((c) => c.at)) >= GAP_MS, 'the delete kept the gap to the page\'s last call')
        assert.equal(deletes[0]!.headers['jm-token'], result.jmToken, 'with the token the login captured')
      } else {
        // No session was created: a page that calls on load is never clicked; the plain button only lists.
        assert.equal(saves.length, 0)
        assert.equal(deletes.length, 0)
        assert.equal(result.newChat, undefined)
      }
      if (mode === 'calls-on-load') assert.equal(result.createdSessionIds, undefined, 'the login did not click')
    })
  }

  test('auth.ts on the stricter chat page: the login\'s "New chat" is deleted, and it says so', async (t) => {
    // The platform's own one-second gap, as auth.ts keeps it by default.
    const sim = await startSim('creates-on-click', 1000)
    const before = sessionsOf(sim)
    const { envFile } = makeTempDir(t)
    envFor(envFile, sim, 1000)
    const run = await runScript('auth.ts', { envFile })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, /the session the login's click created \(\d+\) was deleted/)
    assert.deepEqual(sessionsOf(sim), before)
    assert.equal(sim.state.rateLimited, 0)
  })

  test('a delete that fails leaves the credentials saved and names the session to delete by hand', async (t) => {
    const sim = await startSim('creates-on-click')
    sim.state.injectFault('delSession', { kind: 'status', status: 500, message: 'Server busy', times: 10 })
    const { envFile } = makeTempDir(t)
    envFor(envFile, sim)
    const result = await loginWithSettings(loadSettings({ envFile, env: {} }))
    assert.equal(sim.state.tokens.check(result.jmToken, result.sdpSession).ok, true)
    assert.equal(result.newChat?.left.length, 1)
    assert.match(result.newChat?.error ?? '', /Server busy/)
    assert.equal(sessionsOf(sim).filter((s) => s.name === 'New Chat').map((s) => s.id).join(), result.newChat!.left.join())
  })
})
