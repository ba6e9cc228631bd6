/**
 * One probe attempt, as the kubelet's prober makes it (Configure liveness, readiness and startup probes):
 * `httpGet` (2xx/3xx succeeds; `host` defaults to the Pod IP; HTTPS without verification), `tcpSocket` (a
 * connection opens), `exec` (exit code 0, run with `nsenter` in the container's namespaces and root, as its
 * user, with its environment). Failure messages are the kubelet's, as they appear in `Unhealthy` events.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { createConnection } from "node:net"
import { Effect } from "effect"
import type { Container, Handler, Probe } from "./podSpec.ts"

export interface ProbeResult {
  readonly success: boolean
  readonly message: string
}

/** Where and as whom a probe or hook runs. */
export interface ProbeTarget {
  readonly podIP: string
  readonly container: Container
  readonly env: Readonly<Record<string, string>>
  readonly uid: number
  readonly gid: number
  readonly initPid: Effect.Effect<number | undefined>
}

const portOf = (port: number | string, container: Container): number | undefined => {
  if (typeof port === "number") return port
  const named = container.ports?.find((candidate) => candidate.name === port)?.containerPort
  if (named !== undefined) return named
  const numeric = Number(port)
  return Number.isInteger(numeric) ? numeric : undefined
}

/**
 * Resolves where a network probe dials (`host` defaults to the Pod IP; `port` is a number or a container port's
 * name) and runs `dial` there; an unresolvable port fails the attempt with the kubelet's message.
 */
const atEndpoint = (
  action: { readonly host?: string | undefined; readonly port: number | string },
  target: ProbeTarget,
  dial: (host: string, port: number) => Effect.Effect<ProbeResult>
): Effect.Effect<ProbeResult> => {
  const port = portOf(action.port, target.container)
  return port === undefined
    ? Effect.succeed({ success: false, message: `unable to resolve port ${action.port}` })
    : dial(action.host ?? target.podIP, port)
}

const httpProbe = (
  action: NonNullable<Handler["httpGet"]>,
  target: ProbeTarget,
  timeoutMs: number
): Effect.Effect<ProbeResult> =>
  atEndpoint(action, target, (host, port) =>
    Effect.callback<ProbeResult>((resume) => {
      const https = action.scheme === "HTTPS"
      const path = action.path ?? "/"
      const url = `${https ? "https" : "http"}://${host}:${port}${path}`
      const headers: Record<string, string> = { "User-Agent": "kube-probe/1.32", Accept: "*/*" }
      for (const header of action.httpHeaders ?? []) headers[header.name] = header.value
      const request = (https ? httpsRequest : httpRequest)(
        { host, port, path, method: "GET", headers, timeout: timeoutMs, rejectUnauthorized: false },
        (response) => {
          response.resume()
          const code = response.statusCode ?? 0
          resume(
            Effect.succeed(
              code >= 200 && code < 400
                ? { success: true, message: "" }
                : { success: false, message: `HTTP probe failed with statuscode: ${code}` }
            )
          )
        }
      )
      request.on("timeout", () => {
        request.destroy()
        resume(
          Effect.succeed({
            success: false,
            message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
          })
        )
      })
      request.on("error", (error: NodeJS.ErrnoException) => {
        const reason = error.code === "ECONNREFUSED" ? "connect: connection refused" : error.message
        resume(Effect.succeed({ success: false, message: `Get "${url}": dial tcp ${host}:${port}: ${reason}` }))
      })
      request.end()
      return Effect.sync(() => request.destroy())
    })
  )

const tcpProbe = (
  action: NonNullable<Handler["tcpSocket"]>,
  target: ProbeTarget,
  timeoutMs: number
): Effect.Effect<ProbeResult> =>
  atEndpoint(action, target, (host, port) =>
    Effect.callback<ProbeResult>((resume) => {
      const socket = createConnection({ host, port, timeout: timeoutMs })
      socket.once("connect", () => {
        socket.destroy()
        resume(Effect.succeed({ success: true, message: "" }))
      })
      socket.once("timeout", () => {
        socket.destroy()
        resume(Effect.succeed({ success: false, message: `dial tcp ${host}:${port}: i/o timeout` }))
      })
      socket.once("error", (error: NodeJS.ErrnoException) => {
        const reason = error.code === "ECONNREFUSED" ? "connect: connection refused" : error.message
        resume(Effect.succeed({ success: false, message: `dial tcp ${host}:${port}: ${reason}` }))
      })
      return Effect.sync(() => socket.destroy())
    })
  )

/** SIGKILL to `child`'s process group (it leads one): nsenter, the command, and what the command started. */
const killGroup = (child: ChildProcess): void => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
  } catch {
    // the group is gone already
  }
}

/** Runs `command` inside the container (its mount, PID and UTS namespaces and root) and collects its output. */
export const execInContainer = (
  command: ReadonlyArray<string>,
  target: ProbeTarget,
  timeoutMs: number
): Effect.Effect<ProbeResult> =>
  Effect.gen(function* () {
    const init = yield* target.initPid
    if (init === undefined) return { success: false, message: "container is not running" }
    return yield* Effect.callback<ProbeResult>((resume) => {
      const child = spawn(
        "/usr/bin/nsenter",
        [
          "--target",
          String(init),
          "--mount",
          "--pid",
          "--uts",
          "--root",
          "--wd",
          "--setuid",
          String(target.uid),
          "--setgid",
          String(target.gid),
          "--",
          ...command
        ],
        // its own process group: nsenter forks the command (to enter the PID namespace), so killing nsenter alone
        // would leave the command running, reparented to init
        { env: { ...target.env }, stdio: ["ignore", "pipe", "pipe"], detached: true }
      )
      let output = ""
      const collect = (chunk: Buffer) => {
        output = `${output}${chunk.toString("utf8")}`.slice(-10_240)
      }
      child.stdout?.on("data", collect)
      child.stderr?.on("data", collect)
      child.once("exit", (code) => resume(Effect.succeed({ success: code === 0, message: output.trim() })))
      child.once("error", (error) => resume(Effect.succeed({ success: false, message: error.message })))
      // interrupted (the timeout below, or the probe loop stopping): the command must not outlive the attempt
      return Effect.sync(() => killGroup(child))
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () => Effect.succeed({ success: false, message: `command "${command.join(" ")}" timed out` })
      })
    )
  })

/** One attempt of a probe or lifecycle handler. */
export const runHandler = (
  handler: Handler | Probe,
  target: ProbeTarget,
  timeoutMs: number
): Effect.Effect<ProbeResult> => {
  if (handler.httpGet !== undefined) return httpProbe(handler.httpGet, target, timeoutMs)
  if (handler.tcpSocket !== undefined) return tcpProbe(handler.tcpSocket, target, timeoutMs)
  if (handler.exec !== undefined) return execInContainer(handler.exec.command ?? [], target, timeoutMs)
  if ("sleep" in handler && handler.sleep !== undefined) {
    return Effect.as(Effect.sleep(`${handler.sleep.seconds} seconds`), { success: true, message: "" })
  }
  return Effect.succeed({ success: false, message: "probe has no handler" })
}
