/**
 * Parsing of the `mariadb`/`mysql` client's `--batch` output: a header row, then one tab-separated row per
 * result row, with `\t`, `\n`, `\\` and `\0` escaped and SQL NULL printed as `NULL`.
 *
 * We use the CLI rather than a wire-protocol client: the instance manager issues a handful of tiny queries per
 * status request, the CLI ships in the same image as the server, and no maintained MySQL client library is a
 * dependency of this project.
 *
 * @since 0.1.0
 */
import type { SqlRow } from "./flavor.ts"

const unescapeField = (field: string): string =>
  field.replace(/\\(.)/gu, (_, c: string) => (c === "t" ? "\t" : c === "n" ? "\n" : c === "0" ? "\0" : c))

/** Rows of one result set printed by `--batch`; an empty output (a statement without result set) gives `[]`. */
export const parseBatchOutput = (output: string): Array<SqlRow> => {
  const lines = output.split("\n")
  if (lines.at(-1) === "") lines.pop()
  const [header, ...rows] = lines
  if (header === undefined) return []
  const names = header.split("\t").map(unescapeField)
  return rows.map((line) => {
    const fields = line.split("\t")
    return Object.fromEntries(
      names.map((name, i) => [name, fields[i] === "NULL" ? null : unescapeField(fields[i] ?? "")])
    )
  })
}
