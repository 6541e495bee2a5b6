/**
 * JSON Schema validation for tool arguments and structured output, with a
 * real validator (ajv, with formats). Schemas are compiled once and cached by
 * their text: an agent sends the same tools with every request, and compiling
 * is the expensive part.
 */
import { createRequire } from 'node:module'
import type _Ajv from 'ajv'
import type _Ajv2019 from 'ajv/dist/2019.js'
import type _Ajv2020 from 'ajv/dist/2020.js'
import type _addFormats from 'ajv-formats'
import type { ValidateFunction } from 'ajv'

// ajv and its formats cost about 9 MiB resident: they load on the first schema
// (a request with tools or a response format), not with the adapter. They are
// CommonJS, so require() loads them synchronously, and `module.exports.default`
// is the class.
const _require = createRequire(import.meta.url)
const _ajv = () => (_require('ajv') as typeof _Ajv).default
const _ajv2019 = () => (_require('ajv/dist/2019.js') as typeof _Ajv2019).default
const _ajv2020 = () => (_require('ajv/dist/2020.js') as typeof _Ajv2020).default
const _addFormatsTo = <T>(ajv: T): T => (_require('ajv-formats') as typeof _addFormats).default(ajv as never) as T

// Enough for every tool set an agent keeps sending; beyond it the oldest goes (a Map keeps insertion order).
const CACHE_MAX = 512

const _options = {
  // Clients send schemas written for OpenAI, with keywords ajv's strict mode refuses (e.g. "strict", "title" in odd places).
  strict: false,
  allErrors: true,
  // A schema that references a remote $id cannot be fetched: fail its compile, not the process.
  loadSchema: undefined,
}

type Validator = ValidateFunction
let _draft7: InstanceType<typeof _Ajv.default> | undefined
let _draft2019: InstanceType<typeof _Ajv2019.default> | undefined
let _draft2020: InstanceType<typeof _Ajv2020.default> | undefined
const _cache = new Map<string, Validator>()

function _validatorFor(schema: Record<string, unknown>) {
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : ''
  if (dialect.includes('2020-12')) return (_draft2020 ??= _addFormatsTo(new (_ajv2020())(_options)))
  if (dialect.includes('2019-09')) return (_draft2019 ??= _addFormatsTo(new (_ajv2019())(_options)))
  return (_draft7 ??= _addFormatsTo(new (_ajv())(_options)))
}

/**
 * Compiles a schema (or takes it from the cache). Throws an `Error` whose
 * message says what is wrong with the schema.
 *
 * @example
 * const validate = compileSchema({ type: 'object', properties: { city: { type: 'string' } } })
 * validate({ city: 'Suzhou' }) // true
 */
export function compileSchema(schema: Record<string, unknown>): Validator {
  const key = JSON.stringify(schema)
  const cached = _cache.get(key)
  if (cached) return cached
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : ''
  // draft-04/06 and unknown dialects: validate as draft-07 rather than refuse (the keywords clients use are the same).
  const { $schema: _dialect, ...rest } = schema
  const usable = dialect && !/2019-09|2020-12|draft-07/.test(dialect) ? rest : schema
  const validate = _validatorFor(schema).compile(usable)
  _cache.set(key, validate)
  if (_cache.size > CACHE_MAX) _cache.delete(_cache.keys().next().value as string)
  return validate
}

/**
 * Validates `value`; returns `undefined` when it is valid, else one line that
 * names each failing place (`arguments/city must be string`).
 *
 * @example
 * validateValue({ type: 'object', required: ['city'] }, {}, 'arguments') // "arguments must have required property 'city'"
 */
export function validateValue(schema: Record<string, unknown>, value: unknown, name: string): string | undefined {
  const validate = compileSchema(schema)
  if (validate(value)) return undefined
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => {
      const where = `${name}${e.instancePath}`
      const extra = e.keyword === 'additionalProperties' ? ` ('${String((e.params as { additionalProperty?: string }).additionalProperty)}')` : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})` : ''
      return `${where} ${e.message ?? 'is not valid'}${extra}`
    })
    .join('; ')
}
