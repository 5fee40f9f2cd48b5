import { ConfigError } from '../errors.js'

/**
 * Maps deprecated option names onto their current names (`{ oldName: 'newName' }`), so a tier reads only
 * the current names. Passing both names with different values is a ConfigError naming the one to keep.
 */
export function renameDeprecatedOptions<T extends object>(
  options: T,
  renames: Readonly<Partial<Record<keyof T, keyof T>>>,
  factory: string,
): T {
  const result = { ...options } as Record<PropertyKey, unknown>
  for (const [old, current] of Object.entries(renames) as [keyof T, keyof T][]) {
    const value = result[old as PropertyKey]
    if (value === undefined) continue
    const given = result[current as PropertyKey]
    if (given !== undefined && given !== value) {
      throw new ConfigError(
        `${factory}: pass only ${String(current)} (${String(old)} is its deprecated name, and the two differ)`,
      )
    }
    result[current as PropertyKey] = value
    delete result[old as PropertyKey]
  }
  return result as T
}
