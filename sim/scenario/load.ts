import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { scenarioSchema, type Scenario } from './schema.js'

/** sim/scenarios in the source tree, whether this runs from sim/ (vitest) or dist/sim/ (the CLI). */
export function scenariosDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '..', 'scenarios'), join(here, '..', '..', '..', 'sim', 'scenarios')]
  return candidates.find((d) => existsSync(d)) ?? candidates[0]!
}

export function listScenarios(): string[] {
  try {
    return readdirSync(scenariosDir())
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -5))
      .sort()
  } catch {
    return []
  }
}

export class ScenarioError extends Error {}

/** A scenario by name (sim/scenarios/NAME.yaml) or by path to a YAML file. */
export function loadScenario(nameOrFile: string): { scenario: Scenario; file: string } {
  const byName = join(scenariosDir(), `${nameOrFile}.yaml`)
  const file = /[/\\]|\.ya?ml$/.test(nameOrFile) ? resolve(nameOrFile) : byName
  if (!existsSync(file)) {
    throw new ScenarioError(`no scenario '${nameOrFile}' (${file} does not exist); built in: ${listScenarios().join(', ')}`)
  }
  return { scenario: parseScenario(readFileSync(file, 'utf8'), basename(file)), file }
}

export function parseScenario(text: string, where = 'scenario'): Scenario {
  let doc: unknown
  try {
    doc = parseYaml(text, { uniqueKeys: true })
  } catch (err) {
    throw new ScenarioError(`${where} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  const parsed = scenarioSchema.safeParse(doc ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = issue.path.map(String).join('.') || '(top level)'
    const keys = issue.code === 'unrecognized_keys' ? ` ${(issue as { keys: string[] }).keys.map((k) => `'${k}'`).join(', ')}` : ''
    throw new ScenarioError(`${where}: ${path}: ${issue.message}${keys}`)
  }
  return parsed.data
}
