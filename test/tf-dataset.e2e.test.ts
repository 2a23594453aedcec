import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfdata from '@tensorflow/tfjs-data';
import * as tfl from '@tensorflow/tfjs-layers';
import { pipelineDataset } from '@cnsn/pipeline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PipelineEnv, testBatch } from './support/index.js';

let env: PipelineEnv;
beforeAll(async () => {
  await tf.setBackend('cpu');
  env = await PipelineEnv.start();
  await env.startWorkers(1);
});
afterAll(() => env.dispose());

it('feeds a tfjs model through fitDataset, one epoch per run, in order', async () => {
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 4, crossnorm: { crop: 'both' }, reuseResultBuffers: true });
  const seen: number[] = [];
  const dataset = pipelineDataset(tfdata.generator, run, (b) => {
    seen.push(b.seq);
    // Labels from the batch number: the driver knows which batch is which.
    return {
      xs: tf.tensor4d(b.data, b.shape as [number, number, number, number]),
      ys: tf.fill([b.shape[0] as number, 1], b.seq % 2),
    };
  });
  const producing = (async () => {
    for (let i = 0; i < 6; i++) {
      const b = testBatch([4, 3, 6, 6], i);
      // A tf.Tensor goes in as it is.
      const t = tf.tensor4d(b.data, [4, 3, 6, 6]);
      await run.enqueue(t);
      t.dispose();
    }
    await run.end();
  })();
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [3, 6, 6] }),
      tfl.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  model.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
  const before = tf.memory().numTensors;
  const history = await model.fitDataset(dataset, { epochs: 1 });
  await producing;
  await run.close();
  expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
  expect(history.history.loss?.[0]).toBeGreaterThan(0);
  expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2);
});
