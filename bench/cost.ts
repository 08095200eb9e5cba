/**
 * The cost model: measured figures times AWS list prices. State transitions are counted on the
 * deployed workflow definition itself (the ASL the CDK app synthesizes), walked along its paths.
 */

import type { WorkflowStep } from '../functions/core/workflow/messages.js';
import { stepMemoryMb } from '../infra/constructs/export-functions.js';

/** AWS list prices assumed (us-east-1). */
export const PRICES = {
  lambdaArmGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  stepFunctionsPerThousandTransitions: 0.025,
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  athenaPerTbScanned: 5,
} as const;

/** Lambda gives a full vCPU at 1,769 MB and CPU in proportion to memory below it. */
const FULL_VCPU_MB = 1769;

/** A function as the stack deploys it: its memory in GB and how much slower than one full core it computes. */
function sized(step: WorkflowStep): { readonly mb: number; readonly gb: number; readonly cpuScale: number } {
  const mb = stepMemoryMb(step);
  return { mb, gb: mb / 1024, cpuScale: Math.max(1, FULL_VCPU_MB / mb) };
}

/** Assumed wait of one request to the real Pluto API, as in the network-bound section. */
export const ASSUMED_PLUTO_LATENCY_MS = 250;

interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: readonly { readonly Next: string }[];
  readonly ItemProcessor?: AslMachine;
  readonly Iterator?: AslMachine;
}

interface AslMachine {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}

/** The states one execution enters, taking `branch` at every Choice; Map states name their item machine. */
function walk(
  machine: AslMachine,
  branch: 'first' | 'default',
): { states: string[]; maps: Map<string, AslMachine> } {
  const states: string[] = [];
  const maps = new Map<string, AslMachine>();
  let name: string | undefined = machine.StartAt;
  while (name !== undefined) {
    const state: AslState | undefined = machine.States[name];
    if (state === undefined) throw new Error(`the definition has no state ${name}`);
    if (states.includes(name)) throw new Error(`the walk loops at ${name}`);
    states.push(name);
    const items = state.ItemProcessor ?? state.Iterator;
    if (state.Type === 'Map' && items !== undefined) maps.set(name, items);
    if (state.Type === 'Choice') name = branch === 'first' ? state.Choices?.[0]?.Next : state.Default;
    else if (state.End === true || state.Type === 'Succeed' || state.Type === 'Fail') name = undefined;
    else name = state.Next;
  }
  return { states, maps };
}

export interface WorkflowPaths {
  /** The run's own execution, run started. */
  readonly run: readonly string[];
  /** One experiment's child execution (ExportExperiments item) when it exports. */
  readonly experimentExported: readonly string[];
  /** The same when its fingerprint is unchanged. */
  readonly experimentUnchanged: readonly string[];
  /** One slot's child execution (ExportSlots item). */
  readonly slot: readonly string[];
}

/** Walks the deployed definition: Choice states' first rule is the export path, Default the other. */
export function workflowPaths(definition: unknown): WorkflowPaths {
  const run = walk(definition as AslMachine, 'first');
  const [experimentMachine] = [...run.maps.values()];
  if (experimentMachine === undefined) throw new Error('the run has no Map over experiments');
  const exported = walk(experimentMachine, 'first');
  const [slotMachine] = [...exported.maps.values()];
  if (slotMachine === undefined) throw new Error('the experiment has no Map over slots');
  return {
    run: run.states,
    experimentExported: exported.states,
    experimentUnchanged: walk(experimentMachine, 'default').states,
    slot: walk(slotMachine, 'first').states,
  };
}

/** Measured inputs of the model. */
export interface CostInputs {
  readonly paths: WorkflowPaths;
  /** ExportSlot wall time per million cells, seconds (section 2). */
  readonly slotSecondsPerMillionCells: number;
  /** Per exported experiment (section 3, our exporter). */
  readonly cellsPerExperiment: number;
  readonly slotsPerExperiment: number;
  readonly parquetBytesPerExperiment: number;
  readonly apiRequestsPerExperiment: number;
  readonly s3PutClassPerExperiment: number;
  readonly s3GetClassPerExperiment: number;
  /** Section 4: mean wall time of PlanExperiment and CommitExperiment calls run one at a time, ms. */
  readonly planMs: number;
  readonly commitMs: number;
  /** Section 4: FinalizeRun over the scale run, ms per experiment. */
  readonly finalizeMsPerExperiment: number;
  /** Section 4: requests PlanExperiment makes per experiment. */
  readonly planRequestsPerExperiment: number;
  /** Section 4: store operations per planned experiment (an unchanged day's S3 traffic). */
  readonly planS3PutClass: number;
  readonly planS3GetClass: number;
}

export interface DailyCost {
  readonly experiments: number;
  readonly lambdaGbSeconds: number;
  readonly lambdaInvocations: number;
  readonly transitions: number;
  readonly s3PutClass: number;
  readonly s3GetClass: number;
  readonly lakeBytes: number;
  readonly dollars: {
    readonly lambda: number;
    readonly stepFunctions: number;
    readonly s3: number;
    readonly athenaFullScan: number;
    readonly total: number;
  };
}

export interface CostModel {
  readonly prices: typeof PRICES;
  readonly assumptions: readonly string[];
  readonly transitionsPerRun: number;
  readonly transitionsPerExportedExperiment: number;
  readonly transitionsPerUnchangedExperiment: number;
  readonly transitionsPerMillionCells: number;
  readonly lambdaGbSecondsPerMillionCells: number;
  readonly lambdaComputeGbSecondsPerMillionCells: number;
  readonly exportDay: DailyCost;
  readonly unchangedDay: DailyCost;
}

function daily(
  experiments: number,
  perExperiment: { gbSeconds: number; invocations: number; transitions: number; puts: number; gets: number },
  perRun: { gbSeconds: number; transitions: number; lakeBytes: number },
): DailyCost {
  const lambdaGbSeconds = perRun.gbSeconds + experiments * perExperiment.gbSeconds;
  const lambdaInvocations = 2 + experiments * perExperiment.invocations;
  const transitions = perRun.transitions + experiments * perExperiment.transitions;
  const s3PutClass = experiments * perExperiment.puts;
  // The ItemReaders: one GET for the run's item list, one per experiment for its slot list.
  const s3GetClass = experiments * perExperiment.gets + 1 + experiments;
  const dollars = {
    lambda:
      lambdaGbSeconds * PRICES.lambdaArmGbSecond +
      (lambdaInvocations / 1e6) * PRICES.lambdaPerMillionRequests,
    stepFunctions: (transitions / 1000) * PRICES.stepFunctionsPerThousandTransitions,
    s3: (s3PutClass / 1000) * PRICES.s3PutPerThousand + (s3GetClass / 1000) * PRICES.s3GetPerThousand,
    athenaFullScan: (perRun.lakeBytes / 1e12) * PRICES.athenaPerTbScanned,
  };
  return {
    experiments,
    lambdaGbSeconds,
    lambdaInvocations,
    transitions,
    s3PutClass,
    s3GetClass,
    lakeBytes: perRun.lakeBytes,
    dollars: {
      ...dollars,
      total: dollars.lambda + dollars.stepFunctions + dollars.s3 + dollars.athenaFullScan,
    },
  };
}

export function costModel(inputs: CostInputs, experiments = 1000): CostModel {
  const { paths } = inputs;
  const millionCells = inputs.cellsPerExperiment / 1e6;
  const latency = ASSUMED_PLUTO_LATENCY_MS / 1000;
  const slotRequests = inputs.apiRequestsPerExperiment - inputs.planRequestsPerExperiment;
  const slot = sized('exportSlot');
  const plan = sized('planExperiment');
  const commit = sized('commitExperiment');
  const finalize = sized('finalizeRun');
  const computeSeconds = inputs.slotSecondsPerMillionCells * millionCells * slot.cpuScale;
  // The next page is fetched while the current one is encoded: a slot waits for the longer of the two.
  const slotSeconds = Math.max(computeSeconds, Math.max(0, slotRequests) * latency);
  const planSeconds = (inputs.planMs / 1000) * plan.cpuScale + inputs.planRequestsPerExperiment * latency;
  const commitSeconds = (inputs.commitMs / 1000) * commit.cpuScale;
  const experimentGbSeconds = slotSeconds * slot.gb + planSeconds * plan.gb + commitSeconds * commit.gb;
  const transitionsPerExportedExperiment =
    paths.experimentExported.length + inputs.slotsPerExperiment * paths.slot.length;
  const finalizeSeconds = (inputs.finalizeMsPerExperiment / 1000) * experiments * finalize.cpuScale;
  const exportDay = daily(
    experiments,
    {
      gbSeconds: experimentGbSeconds,
      invocations: 2 + inputs.slotsPerExperiment,
      transitions: transitionsPerExportedExperiment,
      puts: inputs.s3PutClassPerExperiment,
      gets: inputs.s3GetClassPerExperiment,
    },
    {
      gbSeconds: finalizeSeconds * finalize.gb,
      transitions: paths.run.length,
      lakeBytes: inputs.parquetBytesPerExperiment * experiments,
    },
  );
  const unchangedDay = daily(
    experiments,
    {
      gbSeconds: planSeconds * plan.gb,
      invocations: 1,
      transitions: paths.experimentUnchanged.length,
      puts: inputs.planS3PutClass,
      gets: inputs.planS3GetClass,
    },
    {
      gbSeconds: finalizeSeconds * finalize.gb,
      transitions: paths.run.length,
      lakeBytes: inputs.parquetBytesPerExperiment * experiments,
    },
  );
  return {
    prices: PRICES,
    assumptions: [
      `Lambda arm64 at the stack's memory: ExportSlot ${slot.mb} MB (${(slot.mb / FULL_VCPU_MB).toFixed(2)} vCPU, CPU-bound time measured here × ${slot.cpuScale.toFixed(2)}), PlanExperiment ${plan.mb} MB, CommitExperiment ${commit.mb} MB, FinalizeRun ${finalize.mb} MB; Graviton core = this machine's core`,
      `each request to the real Pluto API waits ${ASSUMED_PLUTO_LATENCY_MS} ms (billed Lambda time); a slot's waits overlap its compute (pages fetched one ahead), so it is billed the longer of the two`,
      `every experiment is like the section 4 experiments (${Math.round(inputs.cellsPerExperiment).toLocaleString('en-US')} cells, ${inputs.slotsPerExperiment.toFixed(1)} slots)`,
      'Step Functions standard: every state entered is one transition, child executions of both Distributed Maps included; retries not counted',
      'S3: PUT, LIST and DELETE at the PUT price, GET and HEAD at the GET price (counted on the store in sections 4 and 5; an unchanged day makes the store requests of planning); storage and Glue catalog calls (within the free million) not counted',
      "Athena: one query scanning the whole day's lake (every column of every table)",
    ],
    transitionsPerRun: paths.run.length,
    transitionsPerExportedExperiment,
    transitionsPerUnchangedExperiment: paths.experimentUnchanged.length,
    transitionsPerMillionCells: transitionsPerExportedExperiment / millionCells,
    lambdaGbSecondsPerMillionCells: experimentGbSeconds / millionCells,
    lambdaComputeGbSecondsPerMillionCells: inputs.slotSecondsPerMillionCells * slot.cpuScale * slot.gb,
    exportDay,
    unchangedDay,
  };
}
