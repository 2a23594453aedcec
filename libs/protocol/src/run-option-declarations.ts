import { CROPS, DATA_PLANES, ON_ERROR, SELFNORM_MODES } from './choices.js';
import { WIRE_DTYPES } from './wire-dtype.js';

/** How an option is written on the command line, and parsed. */
export type OptionKind =
  | 'choice' // --x <v> from `choices`
  | 'flag' // --x (false without it)
  | 'negatable' // --x and --no-x (default true)
  | 'number' // --x <n>, finite
  | 'optional-number' // --x <n>, absent: null
  | 'count' // --x <k>, integer >= 0
  | 'positive' // --x <k>, integer >= 1; absent: the API's own choice
  | 'text'; // --x <s>; absent: the API's own choice

/** One option of a run: its name in each client, its default, what it means. */
export interface RunOptionDeclaration {
  /** openRun's name (camelCase); crossnorm options sit under `crossnorm`. */
  readonly key: string;
  readonly group: 'crossnorm' | 'selfnorm' | 'stream' | 'run';
  /** The Python client's name (docs/python.md). */
  readonly python: string;
  /** The command line's flag, with its value placeholder. */
  readonly flag: string;
  readonly kind: OptionKind;
  /** openRun's default (null: none, or computed as the description says). */
  readonly default: string | number | boolean | null;
  /** The command line's default where it differs (SelfNorm: on, with PyTorch's seeded init). */
  readonly cliDefault?: string;
  readonly choices?: readonly string[];
  readonly description: string;
  /** What the `--no-` spelling of a negatable flag says. */
  readonly negated?: string;
}

/**
 * The run options, declared once: the protocol's defaults, the CLI's flags (`run`, `plan`, `bench`,
 * `start`), the README's option table and the Python client's names come from here, or are checked
 * against it by a test (the kernels' CrossNorm defaults: test/contracts.test.ts).
 */
export const RUN_OPTIONS: readonly RunOptionDeclaration[] = [
  {
    key: 'crop',
    group: 'crossnorm',
    python: 'crop',
    flag: '--crop <mode>',
    kind: 'choice',
    choices: CROPS,
    default: 'both',
    description: 'which regions CrossNorm crops',
  },
  {
    key: 'chan',
    group: 'crossnorm',
    python: 'chan',
    flag: '--chan',
    kind: 'negatable',
    default: true,
    description: 'shuffle channels too',
    negated: 'do not shuffle channels',
  },
  {
    key: 'beta',
    group: 'crossnorm',
    python: 'beta',
    flag: '--beta <b>',
    kind: 'number',
    default: 1,
    description: 'Beta(b, b) of the box sampler',
  },
  {
    key: 'bbxThres',
    group: 'crossnorm',
    python: 'bbx_thres',
    flag: '--bbx-thres <t>',
    kind: 'number',
    default: 0.1,
    description: 'minimum box area ratio (exclusive)',
  },
  {
    key: 'lam',
    group: 'crossnorm',
    python: 'lam',
    flag: '--lam <l>',
    kind: 'optional-number',
    default: null,
    description: 'out = lam * x + (1 - lam) * crossnormed; none by default',
  },
  {
    key: 'cnProb',
    group: 'crossnorm',
    python: 'cn_prob',
    flag: '--cn-prob <p>',
    kind: 'number',
    default: 1,
    description: 'probability that CrossNorm fires on a batch',
  },
  {
    key: 'selfnorm',
    group: 'selfnorm',
    python: 'selfnorm',
    flag: '--selfnorm <mode>',
    kind: 'choice',
    choices: ['off', ...SELFNORM_MODES],
    default: 'off',
    cliDefault: 'train',
    description:
      "SelfNorm after CrossNorm, with the model's parameters (the CLI: PyTorch's init, seeded, or `--selfnorm-params`)",
  },
  {
    key: 'seed',
    group: 'stream',
    python: 'seed',
    flag: '--seed <s>',
    kind: 'count',
    default: 0,
    description: 'run seed: of every plan (and of synthetic data)',
  },
  {
    key: 'rank',
    group: 'stream',
    python: 'rank',
    flag: '--rank <r>',
    kind: 'count',
    default: 0,
    description: 'data-parallel rank: a plan stream of its own',
  },
  {
    key: 'epoch',
    group: 'stream',
    python: 'epoch',
    flag: '--epoch <e>',
    kind: 'count',
    default: 0,
    description: 'epoch: a plan stream of its own (rank 0, epoch 0: the historical one)',
  },
  {
    key: 'start',
    group: 'stream',
    python: 'start',
    flag: '--start <k>',
    kind: 'count',
    default: 0,
    description: "position in the stream of the first batch (a trainer's checkpoint)",
  },
  {
    key: 'onError',
    group: 'run',
    python: 'on_error',
    flag: '--on-error <policy>',
    kind: 'choice',
    choices: ON_ERROR,
    default: 'fail',
    description: 'what a failed batch does to the run',
  },
  {
    key: 'dataPlane',
    group: 'run',
    python: 'data_plane',
    flag: '--data-plane <plane>',
    kind: 'choice',
    choices: [...DATA_PLANES, 'auto'],
    default: 'auto',
    description:
      'how tensors travel: straight between driver and workers, through Redis, or as files in /dev/shm (workers on this host)',
  },
  {
    key: 'wire',
    group: 'run',
    python: 'wire',
    flag: '--wire <dtype>',
    kind: 'choice',
    choices: WIRE_DTYPES,
    default: 'float32',
    description: 'precision of tensors on the wire, both ways',
  },
  {
    key: 'returnStats',
    group: 'run',
    python: 'return_stats',
    flag: '--return-stats',
    kind: 'flag',
    default: false,
    description:
      "each batch's per-(instance, channel) mean and std of the CrossNorm output (float64); needs SelfNorm off",
  },
  {
    key: 'allowNonFinite',
    group: 'run',
    python: 'allow_non_finite',
    flag: '--allow-non-finite',
    kind: 'flag',
    default: false,
    description: 'let NaN/Inf batches through instead of failing them',
  },
  {
    key: 'maxInFlight',
    group: 'run',
    python: 'max_in_flight',
    flag: '--max-in-flight <n>',
    kind: 'positive',
    default: null,
    description:
      "batches enqueued and not yet delivered, at most (default 4 x the live workers' slots, 8 to 64)",
  },
  {
    key: 'runId',
    group: 'run',
    python: 'run_id',
    flag: '--run-id <id>',
    kind: 'text',
    default: null,
    description: 'run id (default random)',
  },
  {
    key: 'resume',
    group: 'run',
    python: 'resume',
    flag: '--resume',
    kind: 'flag',
    default: false,
    description: 'continue run `--run-id` from its first batch not yet delivered',
  },
];

/** The declaration of `key` (a typo is an error at once, not a silent undefined). */
export function runOption(key: string): RunOptionDeclaration {
  const found = RUN_OPTIONS.find((o) => o.key === key);
  if (!found) throw new Error(`no run option named ${key}`);
  return found;
}

/** The API default of `key`, typed by the caller. */
export function runOptionDefault<T>(key: string): T {
  return runOption(key).default as T;
}
