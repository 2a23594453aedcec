import type { DeliveredBatch } from './collector.js';
import type { PipelineRun } from './pipeline-run.js';

/** The part of the TensorFlow.js namespace the adapter uses (pass `tf` from @tensorflow/tfjs). */
export interface TfDataNamespace<D> {
  data: { generator<T>(make: () => AsyncIterator<T> | Iterator<T>): D };
}

/**
 * A `tf.data.Dataset` over a run's results, in order, for `model.fitDataset`: `toElement` turns
 * each delivered batch into what the model takes, e.g. `{ xs: tf.tensor4d(b.data, b.shape), ys }`
 * (creating a tensor copies the data, so this also works with reused result buffers). A run is
 * one pass: iterate it once (one epoch), and enqueue the next epoch's batches in a new run.
 */
export function pipelineDataset<D, T>(
  tf: TfDataNamespace<D>,
  run: PipelineRun,
  toElement: (batch: DeliveredBatch) => T,
): D {
  let used = false;
  return tf.data.generator<T>(() => {
    if (used) throw new Error(`run ${run.id}: a pipeline dataset can be iterated once (one epoch per run)`);
    used = true;
    const results = run.results();
    return {
      next: async (): Promise<IteratorResult<T>> => {
        const r = await results.next();
        return r.done ? { done: true, value: undefined } : { done: false, value: toElement(r.value) };
      },
    };
  });
}
