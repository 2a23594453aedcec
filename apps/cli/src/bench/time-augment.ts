import {
  FusedBackend,
  type KernelBackend,
  makePlan,
  type SelfNormConfig,
  type Shape4,
  WebGpuBackend,
} from '@cnsn/kernels';

/**
 * 'worker': the way a worker runs the fused backend, decoding straight into its buffer and
 * augmenting in place (the decode itself is not kernel time). 'copies': a plain Float32Array in, a
 * separate one out. On webgpu, 'worker' writes the input into a slot's staging before the clock and
 * leaves the result in its mapped read-back, as a worker does. Other backends always take an input
 * array and fill a preallocated output.
 */
export async function timeAugment(
  backend: KernelBackend,
  input: Float32Array,
  shape: Shape4,
  plans: ReturnType<typeof makePlan>[],
  selfnorm: SelfNormConfig | null,
  warmup: number,
  mode: 'worker' | 'copies',
): Promise<number[]> {
  const times: number[] = [];
  const out = new Float32Array(input.length);
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i] as (typeof plans)[number];
    let data: Float32Array = input;
    let target: Float32Array = out;
    if (backend instanceof FusedBackend && mode === 'worker') {
      data = backend.borrow(shape);
      data.set(input);
      target = data;
    }
    const gpu = backend instanceof WebGpuBackend && mode === 'worker' ? backend : null;
    // On webgpu the worker receives into slot 0's staging and sends from its read-back.
    if (gpu) (data = await gpu.inputFloats(0, shape)).set(input);
    const t0 = performance.now();
    if (gpu) await gpu.augmentIn(0, { data, shape }, { plan, selfnorm });
    else await backend.augment({ data, shape }, { plan, selfnorm }, target);
    const dt = performance.now() - t0;
    if (i >= warmup) times.push(dt);
  }
  return times;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
