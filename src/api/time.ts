/**
 * Time formats on the wire: the RFC 3339 timestamps of Kubernetes objects, termination messages and
 * `metadata.json`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** An RFC 3339 UTC timestamp, with or without a fraction of a second (`2026-11-23T20:46:44Z`). */
export const Timestamp = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/u))
