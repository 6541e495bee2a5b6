/**
 * Reads the raw reply of the catalog call (`GET config`) the way the
 * protocol document describes it, and says what differs: `data.models` not
 * an array, entries without an id, `multimodal` of an unknown kind, fields
 * nobody has seen before. The client reads the catalog tolerantly and falls
 * back to a built-in list; the doctor is where such a change gets noticed.
 */
import { checkLine, type CheckLine } from './report.ts'

/** Fields the protocol document lists for a catalog entry. */
const KNOWN_FIELDS = new Set(['value', 'model', 'name', 'label', 'multimodal', 'integral', 'online', 'thinking', 'plugin', 'expired'])
const MAX_LISTED = 8

export interface CatalogShape {
  line: CheckLine
  /** Model ids read from the catalog, in its order. */
  ids: string[]
  multimodal: string[]
}

/**
 * @example
 * inspectCatalog({ code: 0, msg: 'success', data: { models: ['gpt-4.1'] } }).ids // ['gpt-4.1']
 */
export function inspectCatalog(raw: unknown): CatalogShape {
  const fail = (seen: string, details: Record<string, unknown> = {}): CatalogShape => ({
    line: checkLine('catalog', 'catalog', 'fail', seen, {
      advice: "The platform's catalog changed shape: the adapter offers its built-in model list instead. Please report it with npx tsx adapter.ts --check --json.",
      details,
    }),
    ids: [],
    multimodal: [],
  })
  const body = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : undefined
  if (!body) return fail(`the reply is not a JSON object (${_kind(raw)})`)
  const data = body.data
  if (!data || typeof data !== 'object' || Array.isArray(data)) return fail(`data is ${_kind(data)}, not an object with "models"`, { dataKind: _kind(data) })
  const models = (data as Record<string, unknown>).models
  const dataKeys = Object.keys(data)
  if (!Array.isArray(models)) return fail(`data.models is ${_kind(models)}, not an array (data holds: ${dataKeys.join(', ') || 'nothing'})`, { modelsKind: _kind(models), dataKeys })
  if (models.length === 0) return fail('data.models is an empty array', { dataKeys })

  const ids: string[] = []
  const multimodal: string[] = []
  const oddities: string[] = []
  const unknownFields = new Set<string>()
  const multimodalKinds = new Set<string>()
  let strings = 0
  let objects = 0
  let skipped = 0
  for (const entry of models) {
    if (typeof entry === 'string' && entry !== '') {
      strings++
      ids.push(entry)
      continue
    }
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      skipped++
      continue
    }
    objects++
    const e = entry as Record<string, unknown>
    const id = [e.value, e.model, e.name].find((v): v is string => typeof v === 'string' && v !== '')
    for (const key of Object.keys(e)) if (!KNOWN_FIELDS.has(key)) unknownFields.add(key)
    if (e.multimodal !== undefined) multimodalKinds.add(_kind(e.multimodal))
    if (!id) {
      skipped++
      continue
    }
    ids.push(id)
    if (e.multimodal === true || e.multimodal === 1) multimodal.push(id)
  }
  if (skipped > 0) oddities.push(`${skipped} entr${skipped === 1 ? 'y' : 'ies'} without an id (value, model or name) were skipped`)
  const odd = [...multimodalKinds].filter((k) => k !== 'boolean' && k !== 'number')
  if (odd.length > 0) oddities.push(`multimodal given as ${odd.join(', ')} (read only true or 1)`)
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i)
  if (duplicates.length > 0) oddities.push(`listed twice: ${[...new Set(duplicates)].join(', ')}`)
  if (typeof body.code !== 'number' && typeof body.code !== 'string') oddities.push(`code is ${_kind(body.code)}`)

  const details = {
    models: ids.length,
    multimodal: multimodal.length,
    entries: { strings, objects, skipped },
    unknownFields: [...unknownFields],
    multimodalKinds: [...multimodalKinds],
    ids,
    multimodalIds: multimodal,
  }
  if (ids.length === 0) return fail(`none of the ${models.length} entries has a model id`, details)
  const listed = multimodal.length > 0 ? `: ${_list(multimodal)}` : ''
  const fields = unknownFields.size > 0 ? `; new fields: ${[...unknownFields].join(', ')}` : ''
  const seen = `${ids.length} models, ${multimodal.length} multimodal${listed}${fields}`
  if (oddities.length > 0) {
    return { line: checkLine('catalog', 'catalog', 'warn', `${seen}; ${oddities.join('; ')}`, { advice: 'The catalog differs from what is known: please report it (npx tsx adapter.ts --check --json).', details }), ids, multimodal }
  }
  return { line: checkLine('catalog', 'catalog', 'ok', seen, { details }), ids, multimodal }
}

function _kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value === undefined) return 'missing'
  return typeof value === 'object' ? 'an object' : typeof value
}

function _list(ids: string[]): string {
  return ids.length > MAX_LISTED ? `${ids.slice(0, MAX_LISTED).join(', ')}, … (${ids.length - MAX_LISTED} more)` : ids.join(', ')
}
