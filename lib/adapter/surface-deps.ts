/**
 * What a route module of an API surface (/v1/responses, /v1/messages) needs
 * from the adapter: a subset of the app's own dependencies, kept here so that
 * the route modules and lib/adapter/app.ts do not import each other.
 */
import type { ConsolaInstance } from 'consola'
import type { ChatPipeline } from '../chat/pipeline.ts'
import type { Settings } from '../settings.ts'
import type { StatusRecorder } from '../status/recorder.ts'

export interface SurfaceDeps {
  settings: () => Settings
  chat: ChatPipeline
  log: ConsolaInstance
  /** True once shutdown began: new requests get 503 (529 on /v1/messages). */
  isShuttingDown?: () => boolean
  /** The status page's request list: `createRequestLine` (lib/adapter/event-stream.ts) records each request in it. */
  status?: StatusRecorder
}
