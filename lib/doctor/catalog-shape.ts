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

  const read = _readEntries(models)
  const { ids, multimodal, unknownFields, multimodalKinds } = read
  const oddities = _oddities(read, body.code)

  const details = {
    models: ids.length,
    multimodal: multimodal.length,
    entries: { strings: read.strings, objects: read.objects, skipped: read.skipped },
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

/** The catalog's entries read as the client reads them: bare ids, or objects with `value`, `model` or `name`. */
function _readEntries(models: unknown[]) {
  const read = { ids: [] as string[], multimodal: [] as string[], unknownFields: new Set<string>(), multimodalKinds: new Set<string>(), strings: 0, objects: 0, skipped: 0 }
  for (const entry of models) {
    if (typeof entry === 'string' && entry !== '') {
      read.strings++
      read.ids.push(entry)
      continue
    }
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      read.skipped++
      continue
    }
    read.objects++
    const e = entry as Record<string, unknown>
    const id = [e.value, e.model, e.name].find((v): v is string => typeof v === 'string' && v !== '')
    for (const key of Object.keys(e)) if (!KNOWN_FIELDS.has(key)) read.unknownFields.add(key)
    if (e.multimodal !== undefined) read.multimodalKinds.add(_kind(e.multimodal))
    if (!id) {
      read.skipped++
      continue
    }
    read.ids.push(id)
    if (e.multimodal === true || e.multimodal === 1) read.multimodal.push(id)
  }
  return read
}

/** What differs from the protocol document, beside unknown fields: skipped entries, odd `multimodal` kinds, duplicates, the `code`. */
function _oddities(read: ReturnType<typeof _readEntries>, code: unknown): string[] {
  const oddities: string[] = []
  if (read.skipped > 0) oddities.push(`${read.skipped} entr${read.skipped === 1 ? 'y' : 'ies'} without an id (value, model or name) were skipped`)
  const odd = [...read.multimodalKinds].filter((k) => k !== 'boolean' && k !== 'number')
  if (odd.length > 0) oddities.push(`multimodal given as ${odd.join(', ')} (read only true or 1)`)
  const duplicates = read.ids.filter((id, i) => read.ids.indexOf(id) !== i)
  if (duplicates.length > 0) oddities.push(`listed twice: ${[...new Set(duplicates)].join(', ')}`)
  if (typeof code !== 'number' && typeof code !== 'string') oddities.push(`code is ${_kind(code)}`)
  return oddities
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
