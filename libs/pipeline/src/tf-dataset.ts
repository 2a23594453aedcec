import type { DeliveredBatch } from './core/collector.js';
import type { PipelineRun } from './pipeline-run.js';

/**
 * A `tf.data.Dataset` over a run's results, in order, for `model.fitDataset`; pass `tf.data.generator`
 * (no TensorFlow.js import here). `toElement` turns
 * each delivered batch into what the model takes, e.g. `{ xs: tf.tensor4d(b.data, b.shape), ys }`
 * (creating a tensor copies the data, so this also works with reused result buffers). Every epoch
 * continues the same ordered stream: with several epochs, give fitDataset `batchesPerEpoch`.
 */
export function pipelineDataset<E, D>(
  // `any`: tfjs's generator is generic over TensorContainer, a type this lib does not import.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  generator: (make: () => AsyncIterator<any>) => D,
  run: PipelineRun,
  toElement: (batch: DeliveredBatch) => E,
): D {
  // tfjs may ask for an iterator more than once (each epoch); all of them read the one ordered stream.
  let results: AsyncGenerator<DeliveredBatch, void, undefined> | null = null;
  return generator(() => {
    results ??= run.results();
    const stream = results;
    return {
      next: async (): Promise<IteratorResult<E>> => {
        const r = await stream.next();
        return r.done ? { done: true, value: undefined } : { done: false, value: toElement(r.value) };
      },
    };
  });
}
