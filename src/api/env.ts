/**
 * Decoding a process's environment with a Schema: what every subcommand does first. Only the variables the
 * Schema names are read (so a secret elsewhere in the environment can never end up in an error message), empty
 * values count as unset, and a failure is the taxonomy's `InvalidConfiguration` naming the variable.
 *
 * The atoms below are the value types environment variables use, so each process contract spells them once.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { InvalidConfiguration } from "./failures.ts"

/** A variable that must not be empty. */
export const NonEmpty = Schema.NonEmptyString

/** An integer above zero, written in decimal. */
export const PositiveIntFromString = Schema.NumberFromString.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThan(0)))

/** An integer of zero or more, written in decimal (a byte count). */
export const NonNegativeIntFromString = Schema.NumberFromString.pipe(
  Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
)

/** Decodes the variables `schema` names from `env`. */
export const decodeEnv =
  <Fields extends Schema.Struct.Fields>(schema: Schema.Struct<Fields>) =>
  (env: Readonly<Record<string, string | undefined>>) =>
    Schema.decodeUnknownEffect(schema)(
      Object.fromEntries(Object.keys(schema.fields).flatMap((k) => (env[k] ? [[k, env[k]]] : [])))
    ).pipe(Effect.mapError((error) => new InvalidConfiguration({ detail: error.message })))

/** A container's `env` list (`[{ name, value }]`) from an encoded environment; unset variables are left out. */
export const envVarList = (
  env: Readonly<Record<string, string | undefined>>
): Array<{ readonly name: string; readonly value: string }> =>
  Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [{ name, value }]))
