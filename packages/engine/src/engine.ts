import type { EventSource, Job } from "@kex/db";
import { ChainSystem, type RetryChainResult } from "./systems/chain-system";
import { FinishSystem } from "./systems/finish-system";
import { OutboxSystem } from "./systems/outbox-system";
import type { EngineResources } from "./systems/systems";
import { TransitionSystem, type ApplyEventArgs, type ApplyResult } from "./systems/transition-system";
import type { UpstreamTaskReport } from "./upstream-report";

/**
 * The job lifecycle: the one way anything (callback receiver, cancel routes, submit processor,
 * reconciler) changes a job's state. Each call decides the transition, writes the columns and the
 * event row, and does what follows a finish (FinishSystem). The api and the worker each make one.
 */
export class Engine {
  private readonly transitions: TransitionSystem;
  private readonly chains: ChainSystem;

  constructor(resources: EngineResources) {
    this.chains = new ChainSystem(resources);
    const finish = new FinishSystem(resources, new OutboxSystem(resources), this.chains);
    this.transitions = new TransitionSystem(resources, finish);
  }

  applyEvent(args: ApplyEventArgs): Promise<ApplyResult> {
    return this.transitions.applyEvent(args);
  }

  applyUpstreamReport(args: { jobId: string; task: UpstreamTaskReport; source: EventSource; payload?: unknown; now?: Date }): Promise<ApplyResult> {
    return this.transitions.applyUpstreamReport(args);
  }

  adoptUpstreamTask(args: { jobId: string; task: UpstreamTaskReport; source: EventSource; detail?: string; now?: Date; current?: Job }): Promise<ApplyResult> {
    return this.transitions.adoptUpstreamTask(args);
  }

  cancelJob(jobId: string, now?: Date): Promise<ApplyResult> {
    return this.transitions.cancelJob(jobId, now);
  }

  cancelBatch(batchId: string, now?: Date): Promise<{ canceled: string[] }> {
    return this.transitions.cancelBatch(batchId, now);
  }

  retryChain(args: { tenantId: string; chainId: string; now?: Date }): Promise<RetryChainResult> {
    return this.chains.retry(args);
  }
}
