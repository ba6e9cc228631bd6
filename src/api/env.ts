/**
 * Decoding a process's environment with a Schema: what every subcommand does first. Only the variables the
 * Schema names are read (so a secret elsewhere in the environment can never end up in an error message), empty
 * values count as unset, and a failure is the taxonomy's `InvalidConfiguration` naming the variable.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { InvalidConfiguration } from "./failures.ts"

/** Decodes the variables `schema` names from `env`. */
export const decodeEnv =
  <Fields extends Schema.Struct.Fields>(schema: Schema.Struct<Fields>) =>
  (env: Readonly<Record<string, string | undefined>>) =>
    Schema.decodeUnknownEffect(schema)(
      Object.fromEntries(Object.keys(schema.fields).flatMap((k) => (env[k] ? [[k, env[k]]] : [])))
    ).pipe(Effect.mapError((error) => new InvalidConfiguration({ detail: error.message })))
