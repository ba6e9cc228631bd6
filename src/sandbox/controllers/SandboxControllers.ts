/**
 * The sandbox's kube-controller-manager: one layer that starts, against whatever API server the `KubeApi` in
 * context talks to, every controller the sandbox needs — Job (with TTL-after-finished), PVC provisioner,
 * garbage collector, Deployment and ReplicaSet, Endpoints and EndpointSlices. They run until the layer's
 * scope closes. `synced` completes once every controller's informers have listed their kinds, which is when
 * `npm run sandbox` can say it is ready.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { KubeApi } from "../../kube/KubeApi.ts"
import { startDeploymentController } from "./DeploymentController.ts"
import { startEndpointsController } from "./EndpointsController.ts"
import { startGarbageCollector } from "./GarbageCollector.ts"
import { SharedInformers } from "./informer.ts"
import { startJobController } from "./JobController.ts"
import { startReplicaSetController } from "./ReplicaSetController.ts"
import { startVolumeProvisioner } from "./VolumeProvisioner.ts"

/** Settings of the sandbox's controllers. */
export interface SandboxControllersOptions {
  /** The sandbox's state directory: each claim's volume is a directory under `<stateDirectory>/volumes`. */
  readonly stateDirectory: string
  /** Delay before the first replacement of a failed Job Pod; doubles per failure (Kubernetes: 10 s). */
  readonly jobPodBackoff?: Duration.Input | undefined
  /** Upper bound of that delay (Kubernetes: 6 minutes). */
  readonly jobPodBackoffCap?: Duration.Input | undefined
}

/** The running controllers. */
export interface SandboxControllersService {
  /** Completes once every controller has listed what it watches. */
  readonly synced: Effect.Effect<void>
}

const make = (options: SandboxControllersOptions) =>
  Effect.gen(function* () {
    const informers = yield* SharedInformers.make
    // every controller registers its informers while it starts; they all start together afterwards
    const controllers = yield* Effect.all([
      startGarbageCollector,
      startVolumeProvisioner(options.stateDirectory),
      startDeploymentController,
      startReplicaSetController,
      startEndpointsController,
      startJobController({
        podBackoffMillis: Duration.toMillis(options.jobPodBackoff ?? "10 seconds"),
        podBackoffCapMillis: Duration.toMillis(options.jobPodBackoffCap ?? "6 minutes")
      })
    ]).pipe(Effect.provideService(SharedInformers, informers))
    yield* informers.run
    return SandboxControllers.of({
      synced: Effect.forEach(controllers, (controller) => controller.synced, { discard: true })
    })
  })

/** The sandbox's controllers, running for the lifetime of the layer. */
export class SandboxControllers extends Context.Service<SandboxControllers, SandboxControllersService>()(
  "cloudnative-mysql/sandbox/SandboxControllers"
) {
  /** Starts every controller against the `KubeApi` in context; they stop when the layer's scope closes. */
  static readonly layer = (options: SandboxControllersOptions): Layer.Layer<SandboxControllers, never, KubeApi> =>
    Layer.effect(SandboxControllers, make(options))
}
