/**
 * The keepalive renews the token, against the simulator with short token
 * lifetimes: before expiry (real Chromium through the simulated SSO) while a
 * running adapter keeps serving, at once with --force-login, a warning
 * instead without saved credentials, and backoff after failed logins.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { startAdapter } from '../lib/adapter/start.ts'
import { updateEnvFile } from '../lib/env-file.ts'
import { getTokenLifetime } from '../lib/jwt.ts'
import { planRenewal } from '../lib/keepalive/renewal.ts'
import { askAcross, createCapturingLogger, PASSWORD, startAccount } from './support/account.ts'
import { runScript, spawnScript } from './support/processes.ts'
import { startKeepaliveJobs, stopGracefully } from './support/keepalive.ts'

describe('token renewal', { concurrency: 2 }, () => {
  test('renewal is due a margin before expiry, but never later than half-way through a short token\'s life', async (t) => {
    const account = await startAccount(t)
    const iat = Date.now()
    const fourHours = account.sim.issueCredentials('demo', 4 * 3600_000).jmToken
    const exp = getTokenLifetime(fourHours).expiresAt!.getTime()
    const margin = 10 * 60_000
    const plan = planRenewal(fourHours, margin, { now: iat })
    assert.equal(plan.due, false)
    assert.equal(!plan.due && plan.at, exp - margin)
    assert.deepEqual(planRenewal(fourHours, margin, { now: exp - margin + 1000 }), { due: true, reason: 'JM_TOKEN expires in 9m 59s', expired: false })
    assert.equal(planRenewal(fourHours, margin, { now: exp + 61_000 }).reason, 'JM_TOKEN expired 1m 01s ago')

    // A token that lives 8 minutes, with a 10-minute margin: renewed after 4, not at once (and so on for ever).
    const short = account.sim.issueCredentials('demo', 8 * 60_000).jmToken
    const shortLife = getTokenLifetime(short)
    const half = (shortLife.issuedAt!.getTime() + shortLife.expiresAt!.getTime()) / 2
    const shortPlan = planRenewal(short, margin, { now: shortLife.issuedAt!.getTime() })
    assert.equal(!shortPlan.due && shortPlan.at, half)
    assert.equal(planRenewal(short, margin, { now: shortLife.issuedAt!.getTime(), halfLife: false }).due, true, 'a warning needs no half-life rule')
    assert.deepEqual(planRenewal(undefined, margin), { due: true, reason: 'there is no JM_TOKEN yet', expired: true })
    assert.equal(planRenewal('not-a-jwt', margin).due, true)
  })

  test('a token near expiry is renewed before it expires, and a running adapter serves with the new one without a failed request', async (t) => {
    // The first token lives 40 s. A margin longer than half its life renews it half-way (never
    // earlier), 20 s before the expiry: a login on a loaded CI machine has taken up to 16 s.
    const account = await startAccount(t, { tokenTtlMs: 40_000, env: { XIPU_REAUTH_BEFORE: '35s', XIPU_WARM_IDLE: '0' } })
    const oldToken = account.env().JM_TOKEN!
    const oldExpiry = getTokenLifetime(oldToken).expiresAt!.getTime()
    const quiet = createCapturingLogger()
    // No self-healing in this adapter: only the keepalive's renewal can keep it working.
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, log: quiet.log })
    t.after(() => adapter.close(1000))
    const keepalive = spawnScript(t, 'keepalive.ts', { envFile: account.envFile })

    let renewedAt: number | undefined
    // Watched apart from the requests, so that a renewal just before the expiry is seen before it.
    const watch = setInterval(() => {
      if (renewedAt === undefined && account.env().JM_TOKEN !== oldToken) renewedAt = Date.now()
    }, 25)
    t.after(() => clearInterval(watch))
    const { failures, afterExpiry } = await askAcross(adapter.baseURL, oldExpiry)
    clearInterval(watch)

    assert.deepEqual(failures, [], 'no request failed across the expiry')
    assert.ok(afterExpiry > 0, 'requests were served after the old token expired')
    assert.ok(renewedAt !== undefined && renewedAt < oldExpiry, 'the token was renewed before the old one expired')
    const newToken = account.env().JM_TOKEN!
    assert.equal(account.sim.state.tokens.check(newToken, account.env().SDP_SESSION).ok, true, 'the saved pair is valid')
    assert.equal(account.sim.state.calls.filter((c) => c.status === 403).length, 0, 'the platform never refused a token')
    const late = account.sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)
    assert.equal(late?.headers['jm-token'], newToken, 'the adapter serves with the new token')
    assert.match(keepalive.output(), /login step 4\/4/)
    assert.ok(!keepalive.output().includes(PASSWORD) && !keepalive.output().includes(newToken), 'no secret is printed in full')

    await stopGracefully(keepalive, account.envFile)
  })

  test('--force-login logs in now, whatever the expiry', async (t) => {
    const account = await startAccount(t, { env: { XIPU_SWEEP_INTERVAL: '0' } })
    const before = account.env().JM_TOKEN
    const run = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once', '--force-login'] })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, /Logging in again as demo \(--force-login\)/)
    assert.notEqual(account.env().JM_TOKEN, before)
    assert.equal(account.sim.state.tokens.check(account.env().JM_TOKEN, account.env().SDP_SESSION).ok, true)
  })

  test('without saved credentials it warns ahead of expiry instead of logging in', async (t) => {
    const account = await startAccount(t, { credentials: false, tokenTtlMs: 5 * 60_000, env: { XIPU_REAUTH_BEFORE: '10m' } })
    const before = account.env()
    const run = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, /JM_TOKEN expires in 4m \d\ds, and no XJTLU_USERNAME and XJTLU_PASSWORD are saved.*npx tsx auth\.ts/)
    assert.deepEqual(account.env(), before, '.env is untouched')

    updateEnvFile(account.envFile, { JM_TOKEN: account.sim.issueCredentials('demo', -60_000).jmToken })
    const expired = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.equal(expired.code, 1, 'an expired token nobody can renew is a failure')
    assert.match(expired.output, /JM_TOKEN expired 1m \d\ds ago, and no XJTLU_USERNAME/)
  })

  test('a failed login is retried with backoff, and the log says so', async (t) => {
    const account = await startAccount(t, { tokenTtlMs: -1000, password: 'wrong-password', env: { XIPU_SWEEP_INTERVAL: '0', XIPU_WARM_IDLE: '0' } })
    const { waitForLine } = startKeepaliveJobs(t, account.envFile, { timing: { loginRetryBaseMs: 1000 } })

    await waitForLine(/^Login failed \(The SSO page rejected the login[\s\S]*\); retrying in 1s \(attempt 2\)\.$/)
    await waitForLine(/^Login failed [\s\S]*; retrying in 2s \(attempt 3\)\.$/)
    const before = account.env().JM_TOKEN
    updateEnvFile(account.envFile, { XJTLU_PASSWORD: PASSWORD })
    await waitForLine(/Logged in; the new token is valid/)
    assert.notEqual(account.env().JM_TOKEN, before)
    assert.equal(account.sim.state.tokens.check(account.env().JM_TOKEN, account.env().SDP_SESSION).ok, true)
  })
})
