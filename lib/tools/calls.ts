/**
 * A parsed tool call checked against the tools offered: the name must be one
 * of them and the arguments must validate against its schema. A call that
 * fails is never handed to a client as a call.
 */
import { randomBytes } from 'node:crypto'
import type { ToolSpec } from '../neutral.ts'
import type { ParsedCall } from './parse.ts'
import { validateValue } from './schema.ts'

/**
 * Checks one call; returns `undefined` when it may go out, else why not.
 *
 * @example
 * checkToolCall({ name: 'get_weather', arguments: { city: 5 } }, tools) // "the arguments of 'get_weather' are invalid: arguments/city must be string"
 */
export function checkToolCall(call: ParsedCall, offered: ToolSpec[]): string | undefined {
  const tool = offered.find((t) => t.name === call.name)
  if (!tool) return `'${call.name}' is not one of the functions offered (${offered.map((t) => t.name).join(', ')})`
  const error = validateValue(tool.parameters, call.arguments, 'arguments')
  return error === undefined ? undefined : `the arguments of '${call.name}' are invalid: ${error}`
}

/** A fresh tool call id as OpenAI makes them: `call_` and 24 random characters. */
export function createToolCallId(): string {
  return `call_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`
}

function _canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(_canonical)
  if (!value || typeof value !== 'object') return value
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, _canonical((value as Record<string, unknown>)[k])]))
}

/** The same call written twice (keys in another order) gives the same key. */
export function callKey(call: { name: string; arguments: Record<string, unknown> | string }): string {
  const args = typeof call.arguments === 'string' ? (JSON.parse(call.arguments) as unknown) : call.arguments
  return `${call.name} ${JSON.stringify(_canonical(args))}`
}
