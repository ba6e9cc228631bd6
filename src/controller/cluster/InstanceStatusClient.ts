/**
 * How the Cluster reconciler asks each instance manager for `GET /cluster/status` over mTLS. Every Cluster has
 * its own CA, so the client material comes with each request (from the Cluster's `-client-tls` Secret), and the
 * reconciler dials the Pod IP while verifying the Pod's DNS name (`servername`): the controller process need
 * not resolve cluster DNS names.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { InstanceManagerTLSFailed } from "../../api/failures.ts"
import { type ClientTls, getStatus } from "../../instance/client.ts"
import type { InstanceStatus } from "../../instance/protocol.ts"

/** One instance manager to ask. */
export interface InstanceEndpoint {
  /** The Pod's name (what test scripts key their answers by). */
  readonly instance: string
  /** `https://<pod IP>:<api port>` */
  readonly url: string
  readonly tls: ClientTls
}

/** The instance managers' status API. */
export class InstanceStatusClient extends Context.Service<
  InstanceStatusClient,
  { readonly status: (endpoint: InstanceEndpoint) => Effect.Effect<InstanceStatus, InstanceManagerTLSFailed> }
>()("cloudnative-mysql/controller/cluster/InstanceStatusClient") {
  /** Over mTLS; a request that takes longer than 5 s counts as a failed one. */
  static readonly layer: Layer.Layer<InstanceStatusClient> = Layer.succeed(InstanceStatusClient, {
    status: (endpoint) =>
      getStatus(endpoint.url, endpoint.tls).pipe(
        Effect.timeoutOrElse({
          duration: "5 seconds",
          orElse: () =>
            Effect.fail(new InstanceManagerTLSFailed({ url: endpoint.url, detail: "no answer within 5 seconds" }))
        })
      )
  })

  /** Answers from `script` by instance name; an instance it has no answer for is unreachable. */
  static readonly layerTest = (script: (instance: string) => InstanceStatus | undefined) =>
    Layer.succeed(InstanceStatusClient, {
      status: (endpoint) => {
        const answer = script(endpoint.instance)
        return answer === undefined
          ? Effect.fail(new InstanceManagerTLSFailed({ url: endpoint.url, detail: "connect ECONNREFUSED" }))
          : Effect.succeed(answer)
      }
    })
}
