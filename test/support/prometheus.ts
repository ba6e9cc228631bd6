/**
 * Reads a `/metrics` body with a Prometheus text-format parser (parse-prometheus-text-format, prom2json's output),
 * never with regexes, and checks the naming conventions on the way: every family has HELP and TYPE, counters end
 * in `_total`, and units are base units in the name's suffix (`_seconds`, `_bytes`), never milliseconds.
 */
import parse from "parse-prometheus-text-format"

export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Families by name, their samples as numbers; throws on a malformed body or a naming convention broken. */
export const parseExposition = (
  text: string
): ReadonlyMap<string, { type: string; samples: ReadonlyArray<Sample> }> => {
  const families = new Map<string, { type: string; samples: ReadonlyArray<Sample> }>()
  for (const family of parse(text)) {
    if (family.help === "") throw new Error(`${family.name} has no HELP`)
    if (family.type === "UNTYPED") throw new Error(`${family.name} has no TYPE`)
    if (family.type === "COUNTER" && !family.name.endsWith("_total"))
      throw new Error(`counter ${family.name} must end in _total`)
    if (/_(milliseconds|ms|kilobytes|mb)(_|$)/u.test(family.name))
      throw new Error(`${family.name} is not in base units`)
    const samples = family.metrics.map((sample) => {
      const value = Number(sample.value)
      if (Number.isNaN(value) && sample.value !== "NaN")
        throw new Error(`${family.name}: ${sample.value} is not a number`)
      return { labels: sample.labels ?? {}, value }
    })
    families.set(family.name, { type: family.type, samples })
  }
  return families
}

/** The value of the one sample of `name` whose labels include `labels`. */
export const sampleOf = (
  families: ReturnType<typeof parseExposition>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number | undefined =>
  families.get(name)?.samples.find((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))?.value
