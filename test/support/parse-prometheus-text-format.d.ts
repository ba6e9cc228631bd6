/** The parser's output (prom2json's shape); the package ships no types. */
declare module "parse-prometheus-text-format" {
  interface Sample {
    readonly value: string
    readonly labels?: Readonly<Record<string, string>>
  }
  interface Family {
    readonly name: string
    readonly help: string
    readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED"
    readonly metrics: ReadonlyArray<Sample>
  }
  const parse: (text: string) => ReadonlyArray<Family>
  export default parse
}
