/**
 * The benchmark: `npm run bench`. Starts the simulator (with the strict gap
 * and with none) in this process, the adapter as a child process (so that its
 * memory and overhead are its own), and clients; prints a table and writes
 * bench/results.json.
 *
 * Targets: first token ≤ 100 ms over the platform's own when the adapter was
 * idle; a burst of 10 within 1.15× the pacing ideal with zero 429s; relaying
 * adds under 1 ms a chunk; under 150 MiB resident; with session reuse, one
 * platform call a request (bench/reuse.ts).
 *
 * Flags: `--duration=60` the seconds the 4 sustained clients run (default 60;
 * 10 for a quick run), `--only=reuse` (or firstToken, burst, relay, memory)
 * runs one part.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSimulator, type RunningSimulator } from '../lib/simulator/index.ts'
import { benchReuse, formatReuseRows } from './reuse.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const STRICT_GAP_MS = 1000
const BURST = 10
const LONG_BYTES = 4 * 1024 * 1024
const CONCURRENT = 100
const USERS = { demo: 'demo-password', bench: 'bench-password' }

interface Adapter {
  url: string
  child: ChildProcess
  dir: string
  stop(): Promise<void>
}

/** Starts adapter.ts as a child process pointed at `sim`, and waits until it answers. */
async function startAdapterProcess(sim: RunningSimulator, env: Record<string, string>): Promise<Adapter> {
  const dir = mkdtempSync(join(tmpdir(), 'xipu-bench-'))
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'adapter.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...sim.adapterEnv(), XIPU_ENV_FILE: join(dir, '.env'), XIPU_STATE_DIR: dir, PORT: String(port), XIPU_LOG_LEVEL: '1', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`The adapter exited with code ${child.exitCode}`)
    try {
      if ((await fetch(`${url}/health`)).ok) break
    } catch {
      await sleep(100)
    }
  }
  return {
    url,
    child,
    dir,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

interface StreamTiming {
  firstTokenMs: number
  totalMs: number
  chunks: number
  contentBytes: number
  text: string
}

/** Reads an SSE body, timing the first content and counting data events and content bytes. */
async function readSse(response: Response, started: number, contentOf: (event: unknown) => string | undefined): Promise<StreamTiming> {
  const reader = response.body!.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader()
  let buffer = ''
  let first = 0
  let chunks = 0
  let contentBytes = 0
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let end: number
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const data = buffer.slice(0, end).replace(/^data: /, '')
      buffer = buffer.slice(end + 2)
      if (data === '[DONE]') continue
      const piece = contentOf(JSON.parse(data))
      if (piece) {
        chunks++
        contentBytes += Buffer.byteLength(piece)
        if (contentBytes <= 65_536) text += piece
        if (!first) first = performance.now()
      }
    }
  }
  return { firstTokenMs: first - started, totalMs: performance.now() - started, chunks, contentBytes, text }
}

const adapterContent = (e: unknown) => (e as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta?.content
const platformContent = (e: unknown) => ((e as { type?: string }).type === 'string' ? (e as { data: string }).data : undefined)

async function viaAdapter(adapter: Adapter, prompt: string, model = 'gpt-4.1'): Promise<StreamTiming> {
  const started = performance.now()
  const response = await fetch(`${adapter.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: prompt }] }),
  })
  if (!response.ok) throw new Error(`adapter answered ${response.status}: ${await response.text()}`)
  return readSse(response, started, adapterContent)
}

/** The platform's own first token: a completion called directly on a session made beforehand. */
async function direct(sim: RunningSimulator, prompt: string): Promise<StreamTiming> {
  // Another account: the platform's rate limit is per user, and the adapter uses `demo`.
  const creds = sim.issueCredentials('bench')
  const headers = { 'jm-token': creds.jmToken, 'sdp-app-session': creds.sdpSession, 'content-type': 'application/json' }
  const saved = (await (await fetch(`${sim.apiBase}/saveSession?sf_request_type=ajax`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench direct', model: 'gpt-4.1', temperature: 0.7, maxToken: 0 }) })).json()) as { data: { id: number } }
  await sleep(sim.state.options.minGapMs + 20)
  const started = performance.now()
  const response = await fetch(`${sim.apiBase}/completions?sf_request_type=fetch`, { method: 'POST', headers, body: JSON.stringify({ text: `User:\n${prompt}`, files: [], sessionId: String(saved.data.id) }) })
  const timing = await readSse(response, started, platformContent)
  await sleep(sim.state.options.minGapMs + 20)
  await fetch(`${sim.apiBase}/delSession?sf_request_type=ajax`, { method: 'POST', headers, body: JSON.stringify({ ids: [saved.data.id] }) })
  await sleep(sim.state.options.minGapMs + 20)
  return timing
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits

async function benchFirstToken() {
  // A platform that takes 150 ms to start answering, with the strict gap.
  const sim = await startSimulator({ minGapMs: STRICT_GAP_MS, firstByteDelayMs: 150, users: USERS })
  const adapter = await startAdapterProcess(sim, { XIPU_MIN_GAP_MS: String(STRICT_GAP_MS) })
  try {
    const platform: number[] = []
    const idle: number[] = []
    await viaAdapter(adapter, 'warm up') // creates the pooled session (with reuse off: teaches which session to keep ready)
    for (let i = 0; i < 5; i++) {
      platform.push((await direct(sim, `direct ${i}`)).firstTokenMs)
      await sleep(3 * STRICT_GAP_MS) // the adapter is idle again: its delete and ready session are done
      idle.push((await viaAdapter(adapter, `idle ${i}`)).firstTokenMs)
    }
    // Under load: a request arriving while three others are queued waits its turn in the pacer.
    await sleep(3 * STRICT_GAP_MS)
    const loaded = await Promise.all([0, 1, 2, 3].map((i) => viaAdapter(adapter, `load ${i}`)))
    return {
      platformMs: round(median(platform)),
      adapterIdleMs: round(median(idle)),
      overheadIdleMs: round(median(idle) - median(platform)),
      underLoadFirstMs: round(Math.min(...loaded.map((t) => t.firstTokenMs))),
      underLoadLastMs: round(Math.max(...loaded.map((t) => t.firstTokenMs))),
      underLoadNote: '4 requests at once, strict gap: each answer starts one gap after its session, the last waits for the calls ahead of it',
      target: 'overhead ≤ 100 ms',
      met: median(idle) - median(platform) <= 100,
    }
  } finally {
    await adapter.stop()
    await sim.close()
  }
}

async function benchBurst() {
  const sim = await startSimulator({ minGapMs: STRICT_GAP_MS, users: USERS })
  const adapter = await startAdapterProcess(sim, { XIPU_MIN_GAP_MS: String(STRICT_GAP_MS) })
  try {
    const callsBefore = sim.state.calls.length
    const started = performance.now()
    const results = await Promise.all(Array.from({ length: BURST }, (_, i) => viaAdapter(adapter, `burst ${i}`)))
    const totalMs = performance.now() - started
    // The simulator runs in this process: its call times share this clock.
    const calls = sim.state.calls.slice(callsBefore).filter((c) => c.at >= started && c.at <= started + totalMs).length
    const idealMs = calls * STRICT_GAP_MS
    return {
      requests: BURST,
      completed: results.length,
      platformCalls: calls,
      totalMs: Math.round(totalMs),
      idealMs,
      ratio: round(totalMs / idealMs, 3),
      platform429s: sim.state.rateLimited,
      target: '≤ 1.15× the ideal, zero 429s',
      met: totalMs / idealMs <= 1.15 && sim.state.rateLimited === 0,
    }
  } finally {
    await adapter.stop()
    await sim.close()
  }
}

async function benchRelay() {
  const sim = await startSimulator({ minGapMs: 0, users: USERS })
  const adapter = await startAdapterProcess(sim, { XIPU_MIN_GAP_MS: '0' })
  try {
    const prompt = `[[sim:long=${LONG_BYTES}]]`
    const platform = await direct(sim, prompt)
    const relayed = await viaAdapter(adapter, prompt)
    const mb = relayed.contentBytes / 1048576
    return {
      answerMiB: round(mb, 2),
      directMBps: round(platform.contentBytes / 1048576 / (platform.totalMs / 1000)),
      adapterMBps: round(mb / (relayed.totalMs / 1000)),
      chunks: relayed.chunks,
      addedMsPerChunk: round((relayed.totalMs - platform.totalMs) / relayed.chunks, 4),
      target: '< 1 ms added per chunk',
      met: (relayed.totalMs - platform.totalMs) / relayed.chunks < 1,
    }
  } finally {
    await adapter.stop()
    await sim.close()
  }
}

// How long a settled adapter has been idle: long enough for V8 to give back the
// garbage of startup (module loading in the main thread and in tsx's loader thread).
const SETTLE_MS = 15_000

async function benchMemory() {
  // 100 streams at once need 100 sessions: above the real platform's cap of 50,
  // so this one simulator allows more. It measures memory, not the cap.
  const sim = await startSimulator({ minGapMs: 0, users: USERS, sessionCap: CONCURRENT + 10 })
  try {
    // Twice: right after startup (the worst case), and on an adapter that has been running (the usual one).
    const fresh = await measureStreams(sim, 0)
    const settled = await measureStreams(sim, SETTLE_MS)
    return {
      idleMiB: fresh.idleMiB,
      peakMiB: fresh.peakMiB,
      settledIdleMiB: settled.idleMiB,
      settledPeakMiB: settled.peakMiB,
      settleMs: SETTLE_MS,
      concurrentStreams: CONCURRENT,
      target: '< 150 MiB resident',
      met: Math.max(fresh.idleMiB, fresh.peakMiB, settled.idleMiB, settled.peakMiB) < 150,
    }
  } finally {
    await sim.close()
  }
}

/** Resident memory of a new adapter idle `settleMs` after its first request, then at its peak while 100 slow streams run at once. */
async function measureStreams(sim: RunningSimulator, settleMs: number): Promise<{ idleMiB: number; peakMiB: number }> {
  const adapter = await startAdapterProcess(sim, { XIPU_MIN_GAP_MS: '0', XIPU_QUEUE_MAX: String(CONCURRENT * 2), XIPU_PREPARE_SESSION: '0' })
  const rss = async () => ((await (await fetch(`${adapter.url}/health`)).json()) as { memory: { rssMiB: number } }).memory.rssMiB
  try {
    await viaAdapter(adapter, 'warm up')
    await sleep(settleMs)
    const idleMiB = await rss()
    let peakMiB = 0
    let open = true
    const sampler = (async () => {
      while (open) {
        peakMiB = Math.max(peakMiB, await rss())
        await sleep(100)
      }
    })()
    // Slow answers keep all streams open at the same time.
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => viaAdapter(adapter, `[[sim:slow=5]] stream ${i} ${'x'.repeat(400)}`)))
    open = false
    await sampler
    return { idleMiB, peakMiB }
  } finally {
    await adapter.stop()
  }
}

/** `--name=value` flags; anything else is an error (exit 2). */
function _readFlags(argv: string[]): { durationMs: number; only?: string } {
  let durationMs = 60_000
  let only: string | undefined
  for (const arg of argv) {
    const [name, value] = arg.split('=', 2)
    if (name === '--duration' && Number(value) > 0) durationMs = Number(value) * 1000
    else if (name === '--only' && value && ['firstToken', 'burst', 'relay', 'memory', 'reuse'].includes(value)) only = value
    else {
      console.error(`bench: unknown or bad flag ${arg}\nUsage: npm run bench [-- --duration=<seconds>] [--only=firstToken|burst|relay|memory|reuse]`)
      process.exit(2)
    }
  }
  return { durationMs, only }
}

async function _runReuse(durationMs: number) {
  return benchReuse({ gapMs: STRICT_GAP_MS, sustainedMs: durationMs, startAdapter: startAdapterProcess, ask: viaAdapter })
}

async function main(): Promise<void> {
  const flags = _readFlags(process.argv.slice(2))
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` }
  console.log(`Benchmark on ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB} GiB), Node ${machine.node}\n`)
  if (flags.only === 'reuse') {
    const reuse = await _runReuse(flags.durationMs)
    _printReuse(reuse)
    process.exitCode = reuse.met ? 0 : 1
    return
  }
  if (flags.only) {
    const run = { firstToken: benchFirstToken, burst: benchBurst, relay: benchRelay, memory: benchMemory }[flags.only as 'burst']
    console.log(JSON.stringify(await run(), null, 2))
    return
  }
  const results = {
    date: new Date().toISOString(),
    machine,
    firstToken: await benchFirstToken(),
    burst: await benchBurst(),
    relay: await benchRelay(),
    memory: await benchMemory(),
    reuse: await _runReuse(flags.durationMs),
  }
  const rows = [
    ['first token, idle', `${results.firstToken.adapterIdleMs} ms vs platform ${results.firstToken.platformMs} ms (+${results.firstToken.overheadIdleMs} ms)`, results.firstToken.target, results.firstToken.met],
    ['first token, under load', `first ${results.firstToken.underLoadFirstMs} ms, last ${results.firstToken.underLoadLastMs} ms (${results.firstToken.underLoadNote})`, 'reported', true],
    [`burst of ${BURST}`, `${results.burst.totalMs} ms for ${results.burst.platformCalls} calls, ideal ${results.burst.idealMs} ms (${results.burst.ratio}×), ${results.burst.platform429s} × 429`, results.burst.target, results.burst.met],
    ['relay', `${results.relay.adapterMBps} MB/s vs direct ${results.relay.directMBps} MB/s, +${results.relay.addedMsPerChunk} ms per chunk (${results.relay.chunks} chunks)`, results.relay.target, results.relay.met],
    [
      'memory',
      `just started: ${results.memory.idleMiB} MiB idle, ${results.memory.peakMiB} MiB with ${CONCURRENT} streams; settled (${results.memory.settleMs / 1000} s idle): ${results.memory.settledIdleMiB} MiB idle, ${results.memory.settledPeakMiB} MiB with ${CONCURRENT} streams`,
      results.memory.target,
      results.memory.met,
    ],
  ] as const
  console.log('| measure | result | target | met |\n| --- | --- | --- | --- |')
  for (const [name, result, target, met] of rows) console.log(`| ${name} | ${result} | ${target} | ${met ? 'yes' : 'NO'} |`)
  console.log('')
  _printReuse(results.reuse)
  const file = join(ROOT, 'bench', 'results.json')
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\nWritten to ${file}`)
  process.exitCode = rows.every((r) => r[3]) && results.reuse.met ? 0 : 1
}

function _printReuse(reuse: Awaited<ReturnType<typeof _runReuse>>): void {
  console.log(`Session reuse at a ${reuse.gapMs} ms gap (target: ${reuse.target}): ${reuse.met ? 'met' : 'NOT met'}`)
  console.log('| measure | reuse on | reuse off |\n| --- | --- | --- |')
  for (const [name, on, off] of formatReuseRows(reuse)) console.log(`| ${name} | ${on} | ${off} |`)
}

main().catch((error: Error) => {
  console.error(error)
  process.exit(1)
})
